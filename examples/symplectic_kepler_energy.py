"""Symplectic methods: the energy error of Kepler orbits over 10^5 periods.

The Kepler problem in canonical form, H = |p|^2 / 2 - 1 / |q|, on the ellipse of
eccentricity e = 0.5 (semi-major axis 1, period 2 pi, energy -1/2), is integrated by
two symplectic methods with a fixed step, leapfrog (velocity Verlet, order 2) and
yoshida4 (order 4), and by two adaptive Runge-Kutta pairs, tsit5 and dopri5, at the
same cost: 300 evaluations of the force -q / |q|^3 per orbit (leapfrog: 300 steps per
orbit, one force each; yoshida4: 100 steps, three forces each; tsit5 and dopri5: their
tolerance chosen so that they spend about as many).

The symplectic methods conserve a modified energy H + O(h^p) exactly (backward error
analysis), so their energy error oscillates within a band and does not grow; the
Runge-Kutta methods, however accurate per step, let the energy drift linearly with
time and, sooner or later, leave that band (Hairer, Lubich & Wanner, Geometric
Numerical Integration, 2nd ed., Springer 2006, section I.2 and chapter IX).

Prints, for each method, the force evaluations per orbit, the wall time, and the largest
energy error in the first and the last tenth of the run; writes
``symplectic_kepler_energy.png`` (|H - H0| against time, log-log) into ``--out``
(default ``out/``). ``--quick`` runs 200 orbits instead of 10^5 (about 10 s). The full
run takes 5 x 10^7 steps in all: about 1.5 minutes of CPU time (4.5 minutes of wall
time on a busy 2-core machine). The symplectic runs save at step ends only, so no
interpolation error enters their energies.

Run:  python examples/symplectic_kepler_energy.py [--out DIR] [--quick]
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

PERIOD = 2 * math.pi
FORCES_PER_ORBIT = 300
# name -> solve options; the Runge-Kutta tolerances give about 300 evaluations per orbit.
METHODS = {
    "leapfrog": {"method": "leapfrog", "dt": PERIOD / 300},
    "yoshida4": {"method": "yoshida4", "dt": PERIOD / 100},
    "tsit5": {"method": "tsit5", "rtol": 1e-6, "atol": 1e-9},
    "dopri5": {"method": "dopri5", "rtol": 1e-6, "atol": 1e-9},
}
# Force evaluations per f evaluation: every f of a Runge-Kutta stage computes the force;
# a symplectic step computes it only in its kicks (its drift evaluations need p alone).
COLORS = {"leapfrog": "C0", "yoshida4": "C1", "tsit5": "C3", "dopri5": "C2"}


def save_times(orbits):
    """About 400 times spread evenly in log(t), on the step grid of both symplectic
    methods (multiples of a hundredth of the period)."""
    grid = np.unique(np.round(np.logspace(0, math.log10(orbits * 100), 400)))
    return grid * (PERIOD / 100)


def main(argv=None):
    args, out = parse_arguments(__doc__, argv, "200 orbits instead of 10^5")
    orbits = 200 if args.quick else 100_000
    prob = problems.kepler_qp(e=0.5)
    energy0 = float(prob.hamiltonian(*prob.y0, prob.params))
    ts = save_times(orbits)
    t1 = orbits * PERIOD
    print(
        f"Kepler e = 0.5 in (q, p) form, {orbits:,} orbits (t up to {t1:.4g}), about "
        f"{FORCES_PER_ORBIT} force evaluations per orbit for every method."
    )
    print(
        f"  {'method':>9} {'force/orbit':>12} {'steps':>11} {'time s*':>8} "
        f"{'max|dH| first 10%':>18} {'max|dH| last 10%':>17}"
    )
    curves = {}
    with Timer() as total:
        for name, options in METHODS.items():
            with Timer() as timer:
                sol = solvers.solve(
                    prob.vector_field,
                    prob.y0,
                    (0.0, t1),
                    prob.params,
                    ts=ts,
                    max_steps=200 * orbits,
                    **options,
                )
                q, p = jax.block_until_ready(sol.ys)
            error = np.abs(
                np.asarray(jax.vmap(prob.hamiltonian, (0, 0, None))(q, p, prob.params)) - energy0
            )
            curves[name] = error
            steps = int(sol.stats["num_steps"])
            symplectic = name in ("leapfrog", "yoshida4")
            forces = (
                steps
                * getattr(
                    solvers, "Leapfrog" if name == "leapfrog" else "Yoshida4"
                )().force_evaluations
                if symplectic
                else int(sol.stats["num_fevals"])
            )
            first = error[ts <= 0.1 * t1].max()
            last = error[ts >= 0.9 * t1].max()
            print(
                f"  {name:>9} {forces / orbits:>12.0f} {steps:>11,} {timer.seconds:>8.1f} "
                f"{first:>18.2e} {last:>17.2e}"
            )
    bounded = all(
        curves[name][ts >= 0.9 * t1].max() <= curves[name][ts <= 0.1 * t1].max() * (1 + 1e-6)
        for name in ("leapfrog", "yoshida4")
    )
    # A linear drift makes the last tenth about 10 times the first.
    drifting = all(
        curves[name][ts >= 0.9 * t1].max() > 5 * curves[name][ts <= 0.1 * t1].max()
        for name in ("tsit5", "dopri5")
    )
    print("  * wall time of the solve, compilation included")
    print(
        f"  symplectic errors bounded (last tenth <= first tenth): {'yes' if bounded else 'NO'}; "
        f"Runge-Kutta errors drift (last tenth > 5 x first): {'yes' if drifting else 'NO'}"
    )
    figure(out, ts / PERIOD, curves, orbits)
    print(f"done in {total.seconds:.1f} s; figure in {out}/")
    if not bounded:
        raise SystemExit("a symplectic energy error grew")


def figure(out, orbits_axis, curves, orbits):
    fig, axes = plt.subplots(figsize=(8, 5))
    for name, error in curves.items():
        style = "-" if name in ("leapfrog", "yoshida4") else "--"
        axes.loglog(orbits_axis, np.maximum(error, 1e-17), style, color=COLORS[name], label=name)
    axes.set(
        xlabel="time (orbits)",
        ylabel="$|H(t) - H(0)|$",
        title=f"Kepler, e = 0.5, {FORCES_PER_ORBIT} force evaluations per orbit, {orbits:,} orbits",
    )
    axes.grid(True, which="major", alpha=0.3)
    axes.legend()
    path = save_figure(fig, out, "symplectic_kepler_energy.png")
    print(f"  wrote {path}")


if __name__ == "__main__":
    main()
