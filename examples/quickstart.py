"""Quick start: solve, check, differentiate and sweep a few catalogue problems.

1. Lorenz-63: the butterfly attractor (``tsit5``, 5,000 save points).
2. Kepler orbit with eccentricity 0.6 against its exact solution; error over time.
3. Convergence of the fixed-step methods ``euler``, ``midpoint``, ``rk4`` on the
   harmonic oscillator (error vs step size, with the fitted order), and work-precision
   of the adaptive pairs ``bosh3``, ``dopri5``, ``tsit5``, ``dopri8`` on the Kepler
   orbit (error vs evaluations of f over a tolerance sweep).
4. ``jax.grad`` through the solver with respect to a parameter, checked against a
   central finite difference.
5. A ``jax.vmap`` parameter sweep: a damped pendulum's final state against damping.

Prints what it did and writes PNG figures into ``--out`` (default ``out/``).
``--quick`` runs a reduced version in a few seconds.

Run:  python examples/quickstart.py [--out DIR] [--quick]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import matplotlib  # noqa: E402
import numpy as np  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from _report import Timer  # noqa: E402  (examples/_report.py)

import problems  # noqa: E402
import solvers  # noqa: E402


def save(figure, out, name):
    path = out / name
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    print(f"  wrote {path}")


def lorenz(out, quick):
    prob = problems.get("lorenz63")
    t0, t1 = prob.t_span
    if quick:
        t1 = t0 + 10.0
    num_saves = 1_000 if quick else 5_000
    ts = jnp.linspace(t0, t1, num_saves)
    # jit the whole solve: one compiled program, and a second call with new values
    # (y0, params, ts) does not recompile.
    run = jax.jit(
        lambda y0, params, ts: solvers.solve(
            prob.vector_field, y0, (t0, t1), params, ts=ts, rtol=1e-8, atol=1e-10
        )
    )
    with Timer() as first:
        sol = jax.block_until_ready(run(prob.y0, prob.params, ts))
    with Timer() as second:
        jax.block_until_ready(run(prob.y0, prob.params, ts))
    print(
        f"1. Lorenz-63 on [{t0:g}, {t1:g}] with tsit5 (rtol 1e-8): "
        f"{int(sol.stats['num_accepted'])} accepted / {int(sol.stats['num_rejected'])} "
        f"rejected steps, {int(sol.stats['num_fevals'])} f-evals, {num_saves} save points; "
        f"{first.seconds:.2f} s with compilation, {1e3 * second.seconds:.1f} ms after"
    )
    x, y, z = (np.asarray(sol.ys[:, i]) for i in range(3))
    figure = plt.figure(figsize=(6, 5))
    axes = figure.add_subplot(projection="3d")
    axes.plot(x, y, z, lw=0.4)
    axes.set(xlabel="x", ylabel="y", zlabel="z", title="Lorenz-63 attractor (tsit5)")
    save(figure, out, "lorenz63.png")


def kepler(out, quick):
    # Ten periods (two in quick mode), starting at periapsis.
    prob = problems.get("kepler", e=0.6, t_span=(0.0, (4 if quick else 20) * np.pi))
    t0, t1 = prob.t_span
    ts = jnp.linspace(t0, t1, 400 if quick else 2_000)
    sol = jax.jit(lambda ts: prob.solve(ts=ts, rtol=1e-10, atol=1e-12))(ts)
    exact = jax.jit(jax.vmap(prob.exact, in_axes=(0, None)))(ts, prob.params)
    error = np.linalg.norm(np.asarray(sol.ys - exact)[:, :2], axis=1)
    print(
        f"2. Kepler orbit, e = 0.6, t in [{t0:g}, {t1:g}], tsit5 at rtol 1e-10: "
        f"{int(sol.stats['num_accepted'])} steps, max position error {error.max():.2e}, "
        f"at t1 {error[-1]:.2e}"
    )
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    left.plot(exact[:, 0], exact[:, 1], lw=3, alpha=0.4, label="exact")
    left.plot(sol.ys[:, 0], sol.ys[:, 1], "--", lw=1, label="tsit5")
    left.plot([0], [0], "k*", ms=10)
    left.set(xlabel="x", ylabel="y", title="Kepler orbit, e = 0.6", aspect="equal")
    left.legend()
    right.semilogy(ts[1:], error[1:])  # the error at t0 is exactly 0
    right.set(xlabel="t", ylabel="|position error|", title="error against the exact solution")
    save(figure, out, "kepler.png")


def convergence(out, quick):
    # Fixed-step convergence on the harmonic oscillator.
    oscillator = problems.get("harmonic_oscillator")
    t1 = oscillator.t_span[1]
    y_exact = oscillator.exact(t1, oscillator.params)
    step_sizes = np.logspace(np.log10(0.2), np.log10(2e-3), 4 if quick else 9)
    print("3a. Convergence on the harmonic oscillator (error at t1 vs dt; fitted order):")
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    for method, order in (("euler", 1), ("midpoint", 2), ("rk4", 4)):
        # dt as a jit argument: one compilation per method for the whole dt sweep.
        # (A concrete dt gives a lax.scan of static length, compiled once per dt.)
        run = jax.jit(
            lambda dt, method=method: oscillator.solve(method=method, dt=dt, max_steps=10_000)
        )
        errors = [float(jnp.max(jnp.abs(run(dt).ys[-1] - y_exact))) for dt in step_sizes]
        errors = np.array(errors)
        # Fit the order on the smaller half of the step sizes (the asymptotic regime),
        # leaving out errors so small that rounding takes over.
        usable = np.flatnonzero(errors > 1e-10)
        usable = usable[-max(2, usable.size // 2) :]  # step_sizes decrease
        slope = np.polyfit(np.log(step_sizes[usable]), np.log(errors[usable]), 1)[0]
        print(f"    {method:8s} order {order}: fitted slope {slope:.2f}")
        left.loglog(step_sizes, errors, "o-", label=f"{method} (slope {slope:.2f})")
    left.set(xlabel="dt", ylabel="error at t1", title="fixed step: harmonic oscillator")
    left.legend()

    # Work-precision of the adaptive pairs on the Kepler orbit: jit once per method
    # with the tolerance as an argument, so the tolerance sweep does not recompile.
    prob = problems.get("kepler", e=0.6, t_span=(0.0, 4 * np.pi))  # two periods
    t0, t1 = prob.t_span
    y_exact = prob.exact(t1, prob.params)
    tolerances = np.logspace(-3, -9 if quick else -12, 4 if quick else 10)
    print(
        f"3b. Work-precision on the Kepler orbit (e = 0.6, t in [0, {t1:.4g}]), "
        "rtol sweep, atol = rtol / 100:"
    )
    for method in ("bosh3", "dopri5", "tsit5", "dopri8"):
        run = jax.jit(
            lambda rtol, method=method: prob.solve(
                method=method, rtol=rtol, atol=rtol / 100, max_steps=200_000, throw=False
            )
        )
        fevals, errors = [], []
        for rtol in tolerances:
            sol = run(rtol)
            if int(sol.status) != 0:  # e.g. status 1: max_steps reached
                print(f"    {method} at rtol {rtol:.0e}: {sol.message}")
                continue
            fevals.append(int(sol.stats["num_fevals"]))
            errors.append(float(jnp.max(jnp.abs(sol.ys[-1] - y_exact))))
        print(
            f"    {method:7s} f-evals {fevals[0]:>6d} .. {fevals[-1]:>6d}, "
            f"error {errors[0]:.1e} .. {errors[-1]:.1e}"
        )
        right.loglog(fevals, errors, "o-", label=method)
    right.set(xlabel="evaluations of f", ylabel="error at t1", title="adaptive: Kepler e = 0.6")
    right.legend()
    save(figure, out, "convergence.png")


def gradient(quick):
    # d/d rho of a trajectory loss on Lorenz-63 over a short window (before chaos makes
    # the derivative useless), checked against a central finite difference.
    prob = problems.get("lorenz63")
    t0 = prob.t_span[0]
    ts = jnp.linspace(t0, t0 + 1.0, 50)

    def loss(rho):
        params = dict(prob.params, rho=rho)
        sol = solvers.solve(
            prob.vector_field, prob.y0, (t0, t0 + 1.0), params, ts=ts, rtol=1e-10, atol=1e-12
        )
        return jnp.mean(sol.ys[:, 2])  # mean height z over the window

    rho = jnp.asarray(prob.params["rho"])
    value_and_grad = jax.jit(jax.value_and_grad(loss))
    with Timer() as timer:
        value, grad = value_and_grad(rho)
    step = 1e-4
    finite_difference = (value_and_grad(rho + step)[0] - value_and_grad(rho - step)[0]) / (2 * step)
    relative = abs(float(grad - finite_difference)) / abs(float(finite_difference))
    print(
        f"4. Gradient through the solver: loss = mean z(t) on Lorenz-63, t in "
        f"[{t0:g}, {t0 + 1:g}], rho = {float(rho):g}: loss {float(value):.6f}\n"
        f"    jax.grad           d loss / d rho = {float(grad):.10f}  "
        f"({timer.seconds:.2f} s with compilation)\n"
        f"    central difference d loss / d rho = {float(finite_difference):.10f}  "
        f"(step {step:g}); relative difference {relative:.1e}"
    )


def sweep(out, quick):
    # The pendulum released at 2.5 rad; c is the linear damping coefficient.
    prob = problems.get("pendulum", y0=(2.5, 0.0))
    t0, t1 = prob.t_span
    dampings = jnp.linspace(0.0, 3.0, 64 if quick else 1_000)

    def final_state(damping):
        params = dict(prob.params, c=damping)
        return solvers.solve(prob.vector_field, prob.y0, prob.t_span, params).ys[-1]

    batched = jax.jit(jax.vmap(final_state))
    with Timer() as first:
        finals = jax.block_until_ready(batched(dampings))
    with Timer() as second:
        jax.block_until_ready(batched(dampings))
    print(
        f"5. vmap sweep: damped pendulum, final state at t = {t1:g} for "
        f"{dampings.shape[0]} dampings in one jit(vmap(solve)): "
        f"{first.seconds:.2f} s with compilation, {1e3 * second.seconds:.1f} ms after"
    )
    figure, axes = plt.subplots(figsize=(6, 4))
    axes.plot(dampings, finals[:, 0], label="angle")
    axes.plot(dampings, finals[:, 1], label="angular velocity")
    axes.set(xlabel="damping", ylabel=f"state at t = {t1:g}", title="damped pendulum sweep")
    axes.legend()
    save(figure, out, "pendulum_sweep.png")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out", help="folder for the figures (default: out/)")
    parser.add_argument("--quick", action="store_true", help="fewer points, a few seconds")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with Timer() as total:
        lorenz(out, args.quick)
        kepler(out, args.quick)
        convergence(out, args.quick)
        gradient(args.quick)
        sweep(out, args.quick)
    print(f"done in {total.seconds:.1f} s; figures in {out}/")


if __name__ == "__main__":
    main()
