"""Events: a bouncing ball, with impact times checked against the closed form.

A ball dropped from rest at height ``h`` falls under gravity ``g``: the state is
(height ``x``, velocity ``v``) with ``x' = v``, ``v' = -g``. A terminal event on the
height (``condition = x``, ``direction = -1``: crossing zero downwards) stops each
solve at the impact. There the velocity is reversed and multiplied by the coefficient
of restitution ``e`` (Newton's experimental law of impact), and a new solve starts
from the impact: the event loop of a hybrid (impact) system.

Closed form. The first impact is at ``t_1 = sqrt(2 h / g)`` with speed
``v_1 = sqrt(2 g h)``, so ``dt_1/dg = -sqrt(2 h) g^(-3/2) / 2``. The ball leaves the
``k``-th impact with speed ``e^k v_1`` and is back after a flight of ``2 e^k v_1 / g``,
hence

    t_k = t_1 + (2 e v_1 / g) (1 + e + ... + e^(k-2))
        = t_1 + (2 e v_1 / g) (1 - e^(k-1)) / (1 - e),

and the energy per unit mass after the ``k``-th bounce is
``E_k = (e^k v_1)^2 / 2 = e^(2k) E_0`` with ``E_0 = g h``: a geometric law (and the
impacts accumulate at ``t_inf = t_1 + 2 e v_1 / (g (1 - e))``, the Zeno point).

The solver (``tsit5``) integrates the quadratic trajectory exactly up to rounding and
locates each zero crossing on its own interpolant, so the impact times agree with the
closed form to ~1e-14; ``jax.grad`` differentiates the event time (implicit function
theorem on the crossing) and, through the chain of restarts, the time of the last
impact with respect to ``g`` and ``e``.

Source: the textbook hybrid-system example, e.g. Goebel, Sanfelice & Teel, "Hybrid
dynamical systems", IEEE Control Systems Magazine 29 (2009) 28-93 (the bouncing ball);
event location as in Shampine & Thompson, Comput. Math. Appl. 39 (2000) 43-54.

Prints the checks and writes ``bouncing_ball.png`` into ``--out`` (default ``out/``).
Exits with an error if a check fails. ``--quick`` does fewer bounces.

Run:  python examples/events_bouncing_ball.py [--out DIR] [--quick]
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
from matplotlib.ticker import MaxNLocator  # noqa: E402

import solvers  # noqa: E402

HEIGHT = 1.0  # h, m
GRAVITY = 9.81  # g, m/s^2
RESTITUTION = 0.8  # e
RTOL, ATOL = 1e-12, 1e-14
SAMPLES = 96  # save times per flight (about 2/3 of them before the impact)


def vector_field(t, y, params):
    return jnp.stack([y[1], -params["g"]])


IMPACT = solvers.Event(lambda t, y, params: y[0], direction=-1, terminal=True)


def _solve_flight(y0, t0, g, ts=None):
    # The horizon only has to lie past the impact (the terminal event ends the solve):
    # 1.5 times the flight time of the state y0. It is not differentiated.
    x, v = jax.lax.stop_gradient(y0)
    bound = (jnp.abs(v) + jnp.sqrt(v**2 + 2 * g * jnp.maximum(x, 0))) / g
    t1 = t0 + 1.5 * jax.lax.stop_gradient(bound)
    if ts is not None:
        ts = t0 + (t1 - t0) * ts
    # A flight takes about ten steps: adjoint="direct" (records every step, here at
    # most max_steps = 200) compiles faster than the default checkpointing adjoint.
    return solvers.solve(
        vector_field,
        y0,
        (t0, t1),
        {"g": g},
        event=IMPACT,
        ts=ts,
        rtol=RTOL,
        atol=ATOL,
        adjoint="direct",
        max_steps=200,
    )


@jax.jit
def flight(y0, t0, g):
    """One flight from the state ``y0`` at ``t0`` to the next impact: the impact time,
    the state there, the number of impacts found (1) and the trajectory on
    ``SAMPLES`` save times (NaN after the impact, where the solve has stopped)."""
    sol = _solve_flight(y0, t0, g, ts=jnp.linspace(0.0, 1.0, SAMPLES))
    record = sol.events[0]
    return record.ts[0], record.ys[0], record.count, sol.ts, sol.ys[:, 0]


def bounce(state, e):
    """The impact law: velocity reversed and scaled by ``e``."""
    return jnp.stack([state[0], -e * state[1]])


def impacts(h, g, e, num_bounces):
    """Impact times, states at impact and the drawn flights of ``num_bounces`` impacts:
    a new solve from each impact (the same compiled ``flight``)."""
    t, y = jnp.zeros(()), jnp.array([h, 0.0])
    times, states, curves = [], [], []
    for _ in range(num_bounces):
        t, at_impact, count, samples_t, samples_x = flight(y, t, g)
        assert int(count) == 1, f"expected one impact per flight, got {int(count)}"
        times.append(float(t))
        states.append(np.asarray(at_impact))
        reached = np.isfinite(np.asarray(samples_x))
        curves.append(
            (
                np.append(np.asarray(samples_t)[reached], float(t)),
                np.append(np.asarray(samples_x)[reached], float(at_impact[0])),
            )
        )
        y = bounce(at_impact, e)
    return np.array(times), np.stack(states), curves


def last_impact(g, e, h, num_bounces):
    """The time of the last of ``num_bounces`` impacts, each flight a solve ended by the
    terminal event, chained by ``lax.scan``: differentiable through every restart."""

    def one_flight(carry, _):
        t, y = carry
        sol = _solve_flight(y, t, g)
        return (sol.ts[-1], bounce(sol.ys[-1], e)), None

    y0 = jnp.stack([jnp.asarray(h, jnp.float64), jnp.zeros((), jnp.float64)])
    (t, _), _ = jax.lax.scan(one_flight, (jnp.zeros((), jnp.float64), y0), None, length=num_bounces)
    return t


def main(argv=None):
    args, out = parse_arguments(__doc__, argv, "4 bounces instead of 15")
    num_bounces = 4 if args.quick else 15
    h, g, e = HEIGHT, GRAVITY, RESTITUTION
    failures = []

    def check(name, error, tolerance):
        ok = error < tolerance
        if not ok:
            failures.append(f"{name}: error {error:.2e} >= {tolerance:g}")
        return "ok" if ok else "FAILED"

    with Timer() as total:
        v1 = np.sqrt(2 * g * h)
        energy0 = g * h
        k = np.arange(1, num_bounces + 1)
        times_exact = np.sqrt(2 * h / g) + 2 * e * v1 / g * (1 - e ** (k - 1)) / (1 - e)
        print(
            f"Ball dropped from h = {h:g} m, g = {g:g} m/s^2, restitution e = {e:g}; tsit5, "
            f"rtol {RTOL:g}, atol {ATOL:g}; terminal event on the height, direction -1."
        )
        with Timer() as timer:
            times, states, curves = impacts(h, g, e, num_bounces)

        # 1. The first impact, and its derivative with respect to g (jax.grad).
        error = abs(times[0] - times_exact[0])
        print(
            f"1. first impact    t_1 = {times[0]:.15f} s, exact sqrt(2h/g) = "
            f"{times_exact[0]:.15f} s, error {error:.1e} [{check('t_1', error, 1e-10)}]"
        )
        first_impact = jax.jit(jax.grad(lambda g: last_impact(g, e, h, 1)))
        dt1_dg = float(first_impact(g))
        dt1_dg_exact = -0.5 * np.sqrt(2 * h) * g**-1.5
        error = abs(dt1_dg - dt1_dg_exact)
        print(
            f"2. jax.grad d t_1 / d g = {dt1_dg:.15f}, closed form -sqrt(2h) g^(-3/2) / 2 = "
            f"{dt1_dg_exact:.15f}, error {error:.1e} [{check('d t_1 / d g', error, 1e-7)}]"
        )

        # 2. The bounces, each a new solve from the previous impact.
        after = np.stack([states[:, 0], -e * states[:, 1]], axis=1)  # state after bounce k
        energy = 0.5 * after[:, 1] ** 2 + g * after[:, 0]
        energy_exact = e ** (2 * k) * energy0
        time_error = np.abs(times - times_exact)
        energy_error = np.abs(energy / energy_exact - 1)
        print(
            f"3. {num_bounces} impacts, a new solve from each (velocity -> -e velocity), "
            f"{timer.seconds:.2f} s; closed form t_k = t_1 + (2 e v_1/g)(1 - e^(k-1))/(1 - e), "
            "E_k = e^(2k) E_0:"
        )
        print(
            f"   {'k':>3} {'t_k (s)':>19} {'closed form':>19} {'error':>8}   "
            f"{'E_k / E_0':>12} {'e^(2k)':>12} {'rel. error':>10}"
        )
        for row in zip(
            k,
            times,
            times_exact,
            time_error,
            energy / energy0,
            energy_exact / energy0,
            energy_error,
        ):
            print(
                f"   {row[0]:>3d} {row[1]:19.15f} {row[2]:19.15f} {row[3]:8.1e}   "
                f"{row[4]:12.6e} {row[5]:12.6e} {row[6]:10.1e}"
            )
        print(
            f"   max impact-time error {time_error.max():.1e} "
            f"[{check('impact times', time_error.max(), 1e-10)}], max relative energy error "
            f"{energy_error.max():.1e} [{check('energies', energy_error.max(), 1e-10)}]; "
            f"the impacts accumulate at t_inf = {times_exact[0] + 2 * e * v1 / (g * (1 - e)):.6f} s"
        )

        # The drawn flights (save times ts=, from the interpolant) against the parabolas.
        flight_error = 0.0
        for j, (samples_t, samples_x) in enumerate(curves):
            start = 0.0 if j == 0 else times_exact[j - 1]
            s = samples_t - start
            exact = (h if j == 0 else 0.0) + (0.0 if j == 0 else e**j * v1) * s - 0.5 * g * s**2
            flight_error = max(flight_error, float(np.max(np.abs(samples_x - exact))))
        print(
            f"4. trajectory on {SAMPLES} save times per flight (ts=): max height error against "
            f"the exact parabolas {flight_error:.1e} m "
            f"[{check('saved trajectory', flight_error, 1e-10)}]"
        )

        # 3. Through every restart: d t_N / d g and d t_N / d e against the closed form
        # t_N = sqrt(2h/g) (1 + 2 S), S = e + ... + e^(N-1).
        gradient = jax.jit(jax.grad(last_impact, argnums=(0, 1)), static_argnums=3)
        with Timer() as timer:
            dtN_dg, dtN_de = (float(d) for d in gradient(g, e, h, num_bounces))
        j = np.arange(1, num_bounces)
        dtN_dg_exact = dt1_dg_exact * (1 + 2 * np.sum(e**j))
        dtN_de_exact = 2 * v1 / g * float(np.sum(j * e ** (j - 1)))
        error_g = abs(dtN_dg / dtN_dg_exact - 1)
        error_e = abs(dtN_de / dtN_de_exact - 1)
        n = num_bounces
        print(
            f"5. jax.grad through all {n} solves (lax.scan over flights), {timer.seconds:.2f} s "
            f"with compilation:\n"
            f"   d t_{n} / d g = {dtN_dg:.12f}, closed form {dtN_dg_exact:.12f}, relative "
            f"error {error_g:.1e} [{check('d t_N / d g', error_g, 1e-9)}]\n"
            f"   d t_{n} / d e = {dtN_de:.12f}, closed form {dtN_de_exact:.12f}, relative "
            f"error {error_e:.1e} [{check('d t_N / d e', error_e, 1e-9)}]"
        )

        figure(out, curves, times, states, energy, energy0, e, num_bounces)
    print(f"done in {total.seconds:.1f} s; figure in {out}/")
    if failures:
        raise SystemExit("accuracy check failed: " + "; ".join(failures))


def figure(out, curves, times, states, energy, energy0, e, num_bounces):
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    for samples_t, samples_x in curves:
        left.plot(samples_t, samples_x, color="C0", lw=1.2)
    left.plot(times, states[:, 0], "o", color="C3", ms=4, label="impacts (terminal event)")
    left.axhline(0.0, color="k", lw=0.8)
    zeno = times[0] + 2 * e * np.sqrt(2 * GRAVITY * HEIGHT) / (GRAVITY * (1 - e))
    left.axvline(zeno, color="k", ls=":", lw=1, label=r"accumulation time $t_\infty$")
    left.set(
        xlabel="t (s)",
        ylabel="height (m)",
        title=f"bouncing ball, h = {HEIGHT:g} m, e = {e:g}: one solve per flight",
    )
    left.legend(loc="upper right")

    k = np.arange(0, num_bounces + 1)
    right.semilogy(
        k, energy0 * e ** (2.0 * k), "-", color="C7", lw=2, alpha=0.6, label=r"$e^{2k} E_0$"
    )
    right.semilogy(
        np.arange(1, num_bounces + 1),
        energy,
        "o",
        color="C0",
        label="solver: energy after bounce $k$",
    )
    right.semilogy([0], [energy0], "s", color="C0", label=r"$E_0 = g h$")
    right.set(
        xlabel="bounce k",
        ylabel="energy per unit mass (J/kg)",
        title="energy per bounce: geometric law",
    )
    right.xaxis.set_major_locator(MaxNLocator(integer=True))
    right.legend()
    path = save_figure(fig, out, "bouncing_ball.png")
    print(f"   wrote {path}")


if __name__ == "__main__":
    main()
