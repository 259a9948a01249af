"""PDEs: the Kuramoto-Sivashinsky equation with ETDRK4, as in Kassam & Trefethen (2005).

    u_t = -u u_x - u_xx - u_xxxx,   x in [0, 32 pi) periodic,
    u(x, 0) = cos(x/16) (1 + sin(x/16)).

In Fourier space the linear part is diagonal, with symbol k^2 - k^4: the long waves
(0 < |k| < 1) grow, the short ones are damped at rates up to k^4 = 256 on N = 128
points, so the problem is stiff. The exponential integrator ``etdrk4`` (Cox & Matthews'
ETDRK4, its coefficients evaluated by Kassam & Trefethen's contour integral) solves the
linear part exactly and treats only the nonlinear term -(u^2/2)_x explicitly, so that
the step h = 1/4 of their paper integrates the chaotic solution to t = 150 in 600
steps. The catalogue problem ``kuramoto_sivashinsky`` is exactly this set-up.

Two things are done:

1. The space-time diagram of u on [0, 150] (Kassam & Trefethen's KS figure, drawn as
   an image instead of a waterfall): the initial wave organises itself into travelling
   cells by t ~ 20 and turns chaotic after t ~ 40.
2. A temporal convergence check: the solution at t = 2 with steps dt = 1, 1/2, ...,
   against a solve with dt = 1/512 (the reference's own error is below 1e-15). The
   maximum error falls by 16 per halving of dt: the fitted order is printed (4
   expected; at later times the convergence is slower over the same range of dt, the
   error of a chaotic solution growing with t).

Both use one compiled function of (dt, t1): the step size and the final time are traced
arguments, so the space-time run and every step size of the table share a compilation.
Everything is float64.

Reference: A.-K. Kassam and L. N. Trefethen, "Fourth-order time-stepping for stiff
PDEs", SIAM J. Sci. Comput. 26 (2005) 1214-1233, section 6; S. M. Cox and
P. C. Matthews, "Exponential time differencing for stiff systems", J. Comput. Phys. 176
(2002) 430-455.

Writes ``kuramoto_sivashinsky.png`` into ``--out`` (default ``out/``); ``--quick`` saves
fewer frames and uses four step sizes instead of seven (the run time is mostly
compilation). Exits with an error if the fitted order is not within 0.3 of 4 or if the
solution leaves |u| < 4.

Run:  python examples/pde_kuramoto_sivashinsky.py [--out DIR] [--quick]
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

import problems  # noqa: E402
import solvers  # noqa: E402

T_FINAL = 150.0
T_CHECK = 2.0
DT = 0.25


def main(argv=None):
    args, out = parse_arguments(__doc__, argv, "fewer frames and four step sizes")
    frames = 301 if args.quick else 601
    steps = 2.0 ** -np.arange(1, 5) if args.quick else 2.0 ** -np.arange(0, 7)
    reference_dt = 1 / 512
    prob = problems.get("kuramoto_sivashinsky")
    max_steps = int(max(T_FINAL / DT, T_CHECK / reference_dt)) + 1
    failures = []

    # One compilation for every (dt, t1): both are traced, so the loop runs up to
    # max_steps with the step count decided at run time.
    @jax.jit
    def run(dt, t1):
        ts = jnp.linspace(0.0, t1, frames)
        return solvers.solve(
            prob.vector_field,
            prob.y0,
            (0.0, t1),
            prob.params,
            method="etdrk4",
            dt=dt,
            ts=ts,
            max_steps=max_steps,
        ).ys

    with Timer() as total:
        with Timer() as timer:
            u = np.asarray(run(DT, T_FINAL))
        ts = np.linspace(0.0, T_FINAL, frames)
        x = np.asarray(prob.grid.x)
        print(
            f"Kuramoto-Sivashinsky on [0, 32 pi), N = {x.size}, u0 = cos(x/16)(1 + sin(x/16)); "
            f"etdrk4, dt = {DT}, t to {T_FINAL:g} ({int(T_FINAL / DT)} steps, {frames} frames) "
            f"in {timer.seconds:.2f} s with compilation"
        )
        bounded = bool(np.all(np.isfinite(u))) and np.abs(u).max() < 4
        print(
            f"1. max |u| = {np.abs(u).max():.3f} (bounded chaos, |u| < 4: "
            f"{'yes' if bounded else 'NO'}); mean of u at t = {T_FINAL:g}: "
            f"{u[-1].mean():.1e} (conserved: 0)"
        )
        if not bounded:
            failures.append("the solution left |u| < 4")

        with Timer() as timer:
            reference = np.asarray(run(reference_dt, T_CHECK))[-1]
            errors = np.array([np.abs(np.asarray(run(float(h), T_CHECK))[-1] - reference).max()
                               for h in steps])  # fmt: skip
        order = np.polyfit(np.log(steps), np.log(errors), 1)[0]
        print(
            f"2. temporal convergence at t = {T_CHECK:g} against dt = 1/{1 / reference_dt:.0f} "
            f"({timer.seconds:.2f} s):"
        )
        print(f"   {'dt':>8} {'max error':>11} {'ratio':>7} {'order':>6}")
        for i, (h, error) in enumerate(zip(steps, errors)):
            if i == 0:
                print(f"   {h:8.5g} {error:11.3e}")
            else:
                ratio = errors[i - 1] / error
                print(f"   {h:8.5g} {error:11.3e} {ratio:7.2f} {np.log2(ratio):6.2f}")
        ok = abs(order - 4) < 0.3
        print(f"   fitted order {order:.2f} (ETDRK4: 4) [{'ok' if ok else 'FAILED'}]")
        if not ok:
            failures.append(f"fitted order {order:.2f} is not 4")
        figure(out, x, ts, u, steps, errors, order)
    print(f"done in {total.seconds:.1f} s; figure in {out}/")
    if failures:
        raise SystemExit("check failed: " + "; ".join(failures))


def figure(out, x, ts, u, steps, errors, order):
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5.2), width_ratios=(1.6, 1))
    image = left.pcolormesh(x, ts, u, cmap="RdBu_r", shading="nearest", rasterized=True)
    fig.colorbar(image, ax=left, label="u(x, t)")
    left.set(
        xlabel="x",
        ylabel="t",
        title="Kuramoto-Sivashinsky, etdrk4, h = 1/4 (Kassam & Trefethen 2005)",
    )
    right.loglog(steps, errors, "o-", label=f"etdrk4 (fitted order {order:.2f})")
    guide = errors[-1] * (steps / steps[-1]) ** 4
    right.loglog(steps, guide, "k--", lw=0.8, label="slope 4")
    right.set(xlabel="dt", ylabel=f"max |u - u_ref| at t = {T_CHECK:g}",
              title="temporal convergence")  # fmt: skip
    right.legend()
    right.grid(True, which="both", alpha=0.3)
    path = save_figure(fig, out, "kuramoto_sivashinsky.png")
    print(f"   wrote {path}")


if __name__ == "__main__":
    main()
