"""PDEs: Gray-Scott reaction-diffusion patterns (spots and stripes) with ETDRK4.

    u_t = D_u lap(u) - u v^2 + F (1 - u),
    v_t = D_v lap(v) + u v^2 - (F + k) v,

on a periodic square, with Pearson's diffusivities D_u = 2e-5, D_v = 1e-5 and his
start: (u, v) = (1, 0) except a small central square at (1/2, 1/4), with 1 % noise.
The catalogue problem ``gray_scott_2d`` is this set-up on a 1 x 1 box with 64^2 Fourier
points. The linear part (diffusion, diagonal in Fourier space) is solved exactly by
``etdrk4``; the reaction, with rates of order 0.1, is the explicit part, so a step of
dt = 4 resolves it (checked below against dt = 2 and dt = 1). The spots fill the box
by t ~ 10000.

Two points of Pearson's (F, k) diagram, integrated side by side (one ``jax.vmap`` over
the parameters, one compilation):

* spots, (F, k) = (0.0367, 0.0649) (the catalogue default, self-replicating spots):
  the square becomes a spot that divides, and its descendants divide until they fill
  the box;
* stripes, (F, k) = (0.046, 0.061): the square grows into a ring whose front breaks
  into a labyrinth of stripes that fills the box.

The snapshots of v show both. Checks printed: the step (dt = 4 against dt = 1 at
t = 1000, and dt = 2 for the order), that u and v stay in [0, 1] (an invariant region
of the equations), and the shape of the final patterns: many separate spots in the
first, one connected labyrinth covering much of the box in the second.

Everything is float64; the state is the tuple (u, v), each (n, n).

Reference: J. E. Pearson, "Complex patterns in a simple system", Science 261 (1993)
189-192; P. Gray and S. K. Scott, Chem. Eng. Sci. 39 (1984) 1087-1097; S. M. Cox and
P. C. Matthews, J. Comput. Phys. 176 (2002) 430-455 (ETDRK4).

Writes ``gray_scott.png`` into ``--out`` (default ``out/``); ``--quick`` stops at
t = 8000 instead of 12000 (the spots have not filled the box yet). Exits with an error
if a check fails.

Run:  python examples/pde_gray_scott.py [--out DIR] [--quick]
"""

from __future__ import annotations

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import matplotlib  # noqa: E402
import numpy as np  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from _report import Timer, parse_arguments, save_figure  # noqa: E402  (examples/_report.py)
from scipy import ndimage  # noqa: E402

import problems  # noqa: E402
import solvers  # noqa: E402

PATTERNS = {"spots": (0.0367, 0.0649), "stripes": (0.046, 0.061)}
DT = 4.0
T_CHECK = 400.0
SNAPSHOTS = 5


def components(mask):
    """Connected components of a boolean field on the torus: labels, then the areas
    (in cells) of the components, largest first. Labels that meet across an edge are
    merged."""
    labels, count = ndimage.label(mask)
    parent = np.arange(count + 1)

    def root(i):
        while parent[i] != i:
            i = parent[i]
        return i

    for a, b in ((labels[0], labels[-1]), (labels[:, 0], labels[:, -1])):
        for i, j in zip(a, b):
            if i and j:
                parent[root(i)] = root(j)
    roots = np.array([root(i) for i in range(count + 1)])
    areas = np.bincount(roots[labels].ravel())[1:]
    return np.sort(areas[areas > 0])[::-1]


def main(argv=None):
    args, out = parse_arguments(__doc__, argv, "t to 8000 instead of 12000")
    t_final = 8000.0 if args.quick else 12000.0
    prob = problems.get("gray_scott_2d")
    n, length = prob.grid.shape[0], prob.grid.lengths[0]
    names = list(PATTERNS)
    params = {
        name: jnp.stack([jnp.full((), value) for value in values])
        for name, values in zip(("F", "k"), zip(*PATTERNS.values()))
    }
    params = {**{key: jnp.full((2,), value) for key, value in prob.params.items()}, **params}
    max_steps = int(t_final / DT) + 1
    failures = []

    def check(name, ok):
        if not ok:
            failures.append(name)
        return "ok" if ok else "FAILED"

    # dt and t1 are traced: the pattern run and the step-size check share one compilation.
    @jax.jit
    @jax.vmap
    def run(params, dt, t1):
        ts = jnp.linspace(0.0, t1, SNAPSHOTS)
        return solvers.solve(
            prob.vector_field,
            prob.y0,
            (0.0, t1),
            params,
            method="etdrk4",
            dt=dt,
            ts=ts,
            max_steps=max_steps,
        ).ys

    def both(dt, t1):
        return run(params, jnp.full((2,), dt), jnp.full((2,), t1))

    with Timer() as total:
        with Timer() as timer:
            u, v = (np.asarray(field) for field in both(DT, t_final))
        ts = np.linspace(0.0, t_final, SNAPSHOTS)
        print(
            f"Gray-Scott on a periodic {length:g} x {length:g} box, {n}^2 Fourier points, "
            f"D_u = 2e-5, D_v = 1e-5; etdrk4, dt = {DT:g}, t to {t_final:g} "
            f"({int(t_final / DT)} steps), spots and stripes in one vmap: "
            f"{timer.seconds:.2f} s with compilation"
        )

        with Timer() as timer:
            coarse = np.asarray(both(DT, T_CHECK)[1][:, -1])
            half = np.asarray(both(DT / 2, T_CHECK)[1][:, -1])
            fine = np.asarray(both(1.0, T_CHECK)[1][:, -1])
        error, error_half = np.abs(coarse - fine).max(), np.abs(half - fine).max()
        print(
            f"1. v at t = {T_CHECK:g} against dt = 1 ({timer.seconds:.2f} s): max error "
            f"{error:.1e} with dt = {DT:g}, {error_half:.1e} with dt = {DT / 2:g} "
            f"(ratio {error / error_half:.1f}; 16 for order 4 with dt = 1 exact) "
            f"[{check('step size', error < 1e-3)}]"
        )
        start = max(u[:, 0].max(), v[:, 0].max())  # 1 + the 1 % noise
        low, high = min(u.min(), v.min()), max(u.max(), v.max())
        ok = low > -1e-3 and high <= start + 1e-6
        print(
            f"2. u and v stay in [0, 1] (up to the start's noise, max {start:.4f}): range "
            f"[{low:.1e}, {high:.4f}] [{check('invariant region', ok)}]"
        )
        for index, name in enumerate(names):
            F, k = PATTERNS[name]
            areas = components(v[index, -1] > 0.2)
            share = areas[0] / v[index, -1].size if areas.size else 0.0
            covered = (v[index, -1] > 0.2).mean()
            if name == "spots":
                ok = areas.size >= 10 and share < 0.02
                shape = f"{areas.size} separate spots, the largest {100 * share:.1f} % of the box"
            else:
                ok = share > 0.25
                shape = (
                    f"{areas.size} component(s), the largest {100 * share:.0f} % of the box "
                    "(a connected labyrinth)"
                )
            print(
                f"3. {name} (F = {F}, k = {k}) at t = {t_final:g}: v > 0.2 on "
                f"{100 * covered:.0f} % of the box, {shape} [{check(name, ok)}]"
            )
        figure(out, names, ts, v, length)
    print(f"done in {total.seconds:.1f} s; figure in {out}/")
    if failures:
        raise SystemExit("check failed: " + "; ".join(failures))


def figure(out, names, ts, v, length):
    fig, axes = plt.subplots(len(names), len(ts), figsize=(2.6 * len(ts), 3.0 * len(names)))
    for row, name in enumerate(names):
        F, k = PATTERNS[name]
        for column, t in enumerate(ts):
            axis = axes[row, column]
            axis.imshow(
                v[row, column].T,
                origin="lower",
                extent=(0, length, 0, length),
                cmap="viridis",
                vmin=0,
                vmax=0.45,
            )
            axis.set_xticks([])
            axis.set_yticks([])
            axis.set_title(f"t = {t:g}", fontsize=9)
        axes[row, 0].set_ylabel(f"{name}\nF = {F}, k = {k}", fontsize=9)
    fig.suptitle("Gray-Scott: v, etdrk4 with dt = 4 (Pearson 1993)")
    path = save_figure(fig, out, "gray_scott.png")
    print(f"   wrote {path}")


if __name__ == "__main__":
    main()
