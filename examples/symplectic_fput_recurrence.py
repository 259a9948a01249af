"""Symplectic methods: the Fermi-Pasta-Ulam-Tsingou recurrence.

In 1953-55 Fermi, Pasta, Ulam and Tsingou put all the energy of a chain of 32 masses
joined by slightly nonlinear springs (the alpha chain, alpha = 1/4, fixed ends) into
its lowest normal mode and expected the nonlinearity to spread it evenly over all 32
modes. Instead the energy went into the next few modes only, and came back: after about
157 periods of the lowest mode nearly all of it (about 98 %) was in mode 1 again.

The catalogue problem ``fput`` is that chain in canonical form (state (q, p), each of
shape (32,); H separable), and ``problems.fput_mode_energies`` gives the harmonic
energies E_k of the normal modes. This script integrates it with ``leapfrog`` at
dt = 0.1 (about 660 steps per period of mode 1; one force evaluation per step) up to
200 periods of mode 1, prints when mode 1 comes back and how much of the energy it then
holds, and plots E_1 ... E_5 against time, with the relative error of H.

Reference: E. Fermi, J. Pasta, S. Ulam, "Studies of nonlinear problems", Los Alamos
report LA-1940 (1955); T. Dauxois, "Fermi, Pasta, Ulam, and a mysterious lady",
Physics Today 61 (2008) 55-57.

Writes ``fput_recurrence.png`` into ``--out`` (default ``out/``); ``--quick`` uses
dt = 0.2 and fewer save points (the same span: the recurrence is the point).

Run:  python examples/symplectic_fput_recurrence.py [--out DIR] [--quick]
"""

from __future__ import annotations

import math

import jax

jax.config.update("jax_enable_x64", True)

import matplotlib  # noqa: E402
import numpy as np  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from _report import Timer, parse_arguments, save_figure  # noqa: E402  (examples/_report.py)

import problems  # noqa: E402
import solvers  # noqa: E402

N = 32
PERIOD = 2 * math.pi / (2 * math.sin(math.pi / (2 * (N + 1))))  # of mode 1, about 66.0


def main(argv=None):
    args, out = parse_arguments(__doc__, argv, "dt = 0.2 and 400 save points")
    dt = 0.2 if args.quick else 0.1
    saves = 401 if args.quick else 2001
    prob = problems.fput(n=N)
    t1 = 200 * PERIOD
    ts = np.linspace(0.0, t1, saves)
    with Timer() as timer:
        sol = solvers.solve(
            prob.vector_field, prob.y0, (0.0, t1), prob.params, method="leapfrog", dt=dt, ts=ts
        )
        q, p = jax.block_until_ready(sol.ys)
    modes = np.asarray(problems.fput_mode_energies(q, p))
    energy = np.asarray(jax.vmap(prob.hamiltonian, (0, 0, None))(q, p, prob.params))
    start = modes[0, 0]
    share = modes[:, 0] / start
    print(
        f"FPUT alpha chain, N = {N}, alpha = {float(prob.params['alpha'])}, all energy in "
        f"mode 1 (T1 = {PERIOD:.2f}); leapfrog, dt = {dt}, "
        f"{int(sol.stats['num_steps']):,} steps in {timer.seconds:.2f} s with compilation."
    )
    away = ts < 130 * PERIOD
    low = int(np.argmin(np.where(away, share, np.inf)))
    late = ts > 130 * PERIOD
    back = int(np.flatnonzero(late)[np.argmax(share[late])])
    print(
        f"  E1 / E1(0): falls to {share[low]:.3f} at t = {ts[low] / PERIOD:.0f} T1; "
        f"comes back to {share[back]:.3f} at t = {ts[back] / PERIOD:.1f} T1 (the recurrence)"
    )
    highest = modes[:, 5:].sum(axis=1).max() / start
    print(
        f"  modes 2-5 hold up to {modes[:, 1:5].sum(axis=1).max() / start:.2f} of it, "
        f"modes 6-32 together never more than {highest:.1e} (no equipartition)"
    )
    relative = np.abs(energy / energy[0] - 1)
    tenth = len(relative) // 10
    print(
        f"  relative energy error: max {relative.max():.1e} (first tenth "
        f"{relative[:tenth].max():.1e}, last tenth {relative[-tenth:].max():.1e})"
    )
    ok = share[back] > 0.9 and 140 < ts[back] / PERIOD < 170
    print(f"  recurrence found: {'yes' if ok else 'NO'}")
    figure(out, ts / PERIOD, modes / start, relative, dt)
    if not ok:
        raise SystemExit("no recurrence")


def figure(out, periods, shares, relative, dt):
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True, height_ratios=(3, 1))
    for k in range(5):
        top.plot(periods, shares[:, k], lw=1.1, label=f"$E_{k + 1}$")
    top.set(
        ylabel="mode energy / $E_1(0)$", title="FPUT alpha chain: energy sharing and recurrence"
    )
    top.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    bottom.semilogy(periods, np.maximum(relative, 1e-17), color="k", lw=0.8)
    bottom.set(xlabel="time (periods of mode 1)", ylabel="$|H/H_0 - 1|$")
    bottom.set_title(f"leapfrog, dt = {dt}", fontsize=9)
    path = save_figure(fig, out, "fput_recurrence.png")
    print(f"  wrote {path}")


if __name__ == "__main__":
    main()
