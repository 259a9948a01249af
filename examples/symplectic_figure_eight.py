"""Symplectic methods: the figure-eight orbit of three equal masses.

Chenciner and Montgomery proved that three equal masses under Newtonian gravity can
chase each other along one figure-eight curve, a third of a period apart (a
"choreography"); Simó computed its initial conditions, which the catalogue problem
``figure_eight`` uses (G = m = 1, period T = 6.32591398):

    q1 = -q2 = (0.97000436, -0.24308753),  q3 = 0,
    q3' = -2 q1' = -2 q2' = (-0.93240737, -0.86473146).

The state is (q, p) with q and p of shape (3, 2), and H = sum |p_i|^2 / 2 -
sum_{i<j} 1 / |q_i - q_j| is separable, so ``yoshida4`` applies. The orbit is
integrated over 100 periods with a fixed step of T / 600; the script prints how far
each body is from where the choreography puts it (after a third of a period, body 1 is
where body 3 started, and so on) and the energy error, which stays bounded, and
draws the three bodies' paths over the first period (dots a twelfth of a period apart).

Reference: A. Chenciner and R. Montgomery, "A remarkable periodic solution of the
three-body problem in the case of equal masses", Ann. Math. 152 (2000) 881-901.

Writes ``figure_eight.png`` into ``--out`` (default ``out/``); ``--quick`` integrates
10 periods instead of 100.

Run:  python examples/symplectic_figure_eight.py [--out DIR] [--quick]
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

STEPS_PER_PERIOD = 600  # divisible by 3 and 120: thirds and saves on the grid
# How closely the choreography must be followed: the method's phase error at this step
# (about 2.5e-7 per period, growing linearly) and Simó's 8-digit data.
TOLERANCE = 1e-4


def main(argv=None):
    args, out = parse_arguments(__doc__, argv, "10 periods instead of 100")
    periods = 10 if args.quick else 100
    prob = problems.figure_eight()
    period = problems.FIGURE_EIGHT_PERIOD
    dt = period / STEPS_PER_PERIOD
    # Every 120th of a period, on the step grid.
    grid = np.arange(0, periods * 120 + 1) * (STEPS_PER_PERIOD // 120)
    ts = grid * dt
    with Timer() as timer:
        sol = solvers.solve(
            prob.vector_field,
            prob.y0,
            (0.0, ts[-1]),
            prob.params,
            method="yoshida4",
            dt=dt,
            ts=ts,
        )
        q, p = jax.block_until_ready(sol.ys)
    q, p = np.asarray(q), np.asarray(p)
    energy = np.asarray(
        jax.vmap(prob.hamiltonian, (0, 0, None))(jnp.asarray(q), jnp.asarray(p), prob.params)
    )
    print(
        f"Figure eight (Chenciner-Montgomery), yoshida4 with dt = T/{STEPS_PER_PERIOD}, "
        f"{periods} periods ({int(sol.stats['num_steps']):,} steps) in {timer.seconds:.2f} s "
        "with compilation."
    )
    # Choreography: after k thirds of a period, body i is where body i - k started.
    third = STEPS_PER_PERIOD // 3
    worst = 0.0
    for index in np.flatnonzero(grid % third == 0):
        expected = np.roll(np.asarray(prob.y0[0]), (grid[index] // third) % 3, axis=0)
        worst = max(worst, float(np.abs(q[index] - expected).max()))
    drift = float(np.abs(q[-1] - np.asarray(prob.y0[0])).max())
    print(
        f"  after {periods} periods every body is within {drift:.1e} of its start; over "
        f"all {3 * periods} thirds of a period, the largest distance from the "
        f"choreography is {worst:.1e}"
    )
    energy_error = np.abs(energy - energy[0])
    tenth = len(energy_error) // 10
    print(
        f"  energy {energy[0]:.10f}: max |H - H0| {energy_error.max():.2e} "
        f"(first tenth {energy_error[:tenth].max():.2e}, last tenth "
        f"{energy_error[-tenth:].max():.2e}); total momentum "
        f"{np.abs(p.sum(axis=1)).max():.1e}"
    )
    ok = worst < TOLERANCE and drift < TOLERANCE
    print(f"  choreography followed to {TOLERANCE:g}: {'yes' if ok else 'NO'}")
    figure(out, q, ts, period, energy_error)
    if not ok:
        raise SystemExit("the bodies left the figure eight")


def figure(out, q, ts, period, energy_error):
    fig, (orbit, energy) = plt.subplots(1, 2, figsize=(12, 4.2), width_ratios=(1.6, 1))
    one = ts <= period + 1e-9
    orbit.plot(q[one, 0, 0], q[one, 0, 1], "-", color="0.7", lw=1.2, label="the curve (one period)")
    colors = ("C0", "C1", "C2")
    # The bodies at t = 0, T/12, 2T/12, 3T/12 (saves are T/120 apart): each follows the
    # one ahead of it along the same curve.
    for k, index in enumerate((0, 10, 20, 30)):
        for body in range(3):
            orbit.plot(
                q[index, body, 0],
                q[index, body, 1],
                "*" if k == 0 else "o",
                color=colors[body],
                ms=14 if k == 0 else 8 - 1.5 * k,
                mec="k" if k == 0 else None,
                zorder=3 if k == 0 else 2,
                label=f"body {body + 1}" if k == 0 else None,
            )
    orbit.set(
        xlabel="x",
        ylabel="y",
        aspect="equal",
        title="Figure eight: bodies at t = 0 (stars), T/12, T/6, T/4",
    )
    orbit.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=4, fontsize=8)
    energy.semilogy(ts / period, np.maximum(energy_error, 1e-17), "-", color="C1", lw=0.8)
    energy.set(
        xlabel="time (periods)",
        ylabel="$|H(t) - H(0)|$",
        title=f"yoshida4, dt = T/{STEPS_PER_PERIOD}: bounded energy error",
    )
    path = save_figure(fig, out, "figure_eight.png")
    print(f"  wrote {path}")


if __name__ == "__main__":
    main()
