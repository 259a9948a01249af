"""SDE ensembles: a fan chart of 10^4 Ornstein-Uhlenbeck paths against the exact law.

The Ornstein-Uhlenbeck process dX = theta (mu - X) dt + sigma dW (problems.
ornstein_uhlenbeck: theta = 1, mu = 1, sigma = 0.5, X0 = -1 on [0, 5]) is Gaussian at
every time, with mean mu + (X0 - mu) exp(-theta t) and variance
sigma^2 (1 - exp(-2 theta t)) / (2 theta). The ensemble is one `jax.jit(jax.vmap(...))`
of `solvers.solve_sde` over `jax.random.split(key, N)`: each key is one independent
Brownian path. SRA1 (strong order 1.5, weak order 2 for additive noise) with dt = 0.01
makes the discretisation bias negligible against the Monte Carlo error, so the
ensemble's mean, variance and quantile bands must match the exact ones within it.

The second panel is a fan chart of the stochastic Lotka-Volterra model (multiplicative
noise on each growth rate, problems.stochastic_lotka_volterra, Milstein), with the
deterministic cycle (solvers.solve, tsit5) for comparison: the noise spreads the
ensemble across the family of closed orbits, and the phase of the cycle diffuses.

Reference: G. E. Uhlenbeck, L. S. Ornstein, Phys. Rev. 36 (1930) 823-841; R. Rudnicki,
Stoch. Proc. Appl. 108 (2003) 93-107; A. Rossler, SIAM J. Numer. Anal. 48 (2010) 922-952.

Prints the checks and writes ``fan_chart.png`` into ``--out`` (default ``out/``).
Exits with an error if a check fails. ``--quick`` uses 2,000 paths.

Run:  python examples/sde_ensemble_fan_chart.py [--out DIR] [--quick]
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
from scipy.stats import norm  # noqa: E402

import problems  # noqa: E402

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


def ou_ensemble(prob, keys, ts, dt):
    @jax.jit
    @jax.vmap
    def paths(key):
        return prob.solve_sde(key=key, dt=dt, method="sra1", ts=ts).ys[:, 0]

    return np.asarray(paths(keys))


def lotka_volterra_ensemble(prob, keys, ts, dt):
    @jax.jit
    @jax.vmap
    def paths(key):
        return prob.solve_sde(key=key, dt=dt, method="milstein", ts=ts).ys

    return np.asarray(paths(keys))


def main(argv=None):
    args, out = parse_arguments(__doc__, argv, "2,000 paths instead of 10,000")
    count = 2_000 if args.quick else 10_000
    failures = []

    def check(name, value, bound):
        ok = value < bound
        if not ok:
            failures.append(f"{name}: {value:.3g} >= {bound:g}")
        return "ok" if ok else "FAILED"

    with Timer() as total:
        prob = problems.ornstein_uhlenbeck()
        dt = 0.01
        ts = np.round(np.arange(0, 101) * 0.05, 12)
        keys = jax.random.split(jax.random.key(2024), count)
        print(
            f"Ornstein-Uhlenbeck, theta = 1, mu = 1, sigma = 0.5, X0 = -1 on [0, 5]: {count:,} "
            f"paths, SRA1, dt = {dt}, one jit(vmap) over split keys"
        )
        with Timer() as timer:
            xs = ou_ensemble(prob, keys, ts, dt)
        print(f"1. ensemble of {count:,} x {len(ts)} saved values in {timer.seconds:.2f} s "
              "(with compilation)")  # fmt: skip
        mean, variance = (
            np.asarray(m) for m in problems.ornstein_uhlenbeck_moments(ts, prob.params, prob.y0[0])
        )
        later = ts > 0  # at t = 0 every path starts at X0 (variance 0)
        z_mean = np.abs(xs.mean(axis=0) - mean)[later] / np.sqrt(variance[later] / count)
        z_variance = np.abs(xs.var(axis=0)[later] / variance[later] - 1) / np.sqrt(2 / count)
        inside = (xs >= mean + norm.ppf(0.05) * np.sqrt(variance)) & (
            xs <= mean + norm.ppf(0.95) * np.sqrt(variance)
        )
        coverage = inside[:, later].mean(axis=0)
        z_coverage = np.abs(coverage - 0.9) / np.sqrt(0.09 / count)
        print(
            f"2. mean against mu + (X0 - mu) e^(-theta t): max |z| = {z_mean.max():.2f} over "
            f"{later.sum()} times [{check('mean', z_mean.max(), 4.5)}]\n"
            f"   variance against sigma^2 (1 - e^(-2 theta t))/(2 theta): max |z| = "
            f"{z_variance.max():.2f} [{check('variance', z_variance.max(), 4.5)}]\n"
            f"   fraction inside the exact 5-95 % band: {coverage.min():.4f} .. "
            f"{coverage.max():.4f} (0.9; max |z| = {z_coverage.max():.2f}) "
            f"[{check('coverage', z_coverage.max(), 4.5)}]"
        )
        print(
            f"   at t = 5: mean {xs[:, -1].mean():.4f} (exact {mean[-1]:.4f}), variance "
            f"{xs[:, -1].var():.4f} (exact {variance[-1]:.4f}, stationary "
            f"{0.5**2 / 2:.4f})"
        )

        lv = problems.stochastic_lotka_volterra()
        lv_count = count // 10
        lv_ts = np.round(np.arange(0, 301) * 0.05, 12)
        with Timer() as timer:
            populations = lotka_volterra_ensemble(
                lv, jax.random.split(jax.random.key(7), lv_count), lv_ts, 0.01
            )
        cycle = lv.solve(ts=jnp.asarray(lv_ts), rtol=1e-10, atol=1e-10).ys
        prey = populations[:, :, 0]
        spread = np.quantile(prey[:, -1], [0.05, 0.95])
        print(
            f"3. stochastic Lotka-Volterra (sigma = 0.1 on each rate), {lv_count:,} paths, "
            f"Milstein, dt = 0.01, in {timer.seconds:.2f} s: all populations positive: "
            f"{bool(np.all(populations > 0))}; prey at t = 15: 5-95 % range "
            f"{spread[0]:.2f} .. {spread[1]:.2f} (deterministic cycle: {float(cycle[-1, 0]):.2f})"
        )
        if not np.all(np.isfinite(populations)):
            failures.append("Lotka-Volterra ensemble has non-finite values")

        figure(out, ts, xs, mean, variance, lv_ts, prey, np.asarray(cycle[:, 0]), count, lv_count)
    print(f"done in {total.seconds:.1f} s; figure in {out}/")
    if failures:
        raise SystemExit("check failed: " + "; ".join(failures))


def fan(axis, ts, values, color, label):
    bands = np.quantile(values, QUANTILES, axis=0)
    axis.fill_between(ts, bands[0], bands[4], color=color, alpha=0.2, lw=0, label=f"{label} 5-95 %")
    axis.fill_between(
        ts, bands[1], bands[3], color=color, alpha=0.4, lw=0, label=f"{label} 25-75 %"
    )
    axis.plot(ts, bands[2], color=color, lw=1.5, label=f"{label} median")


def figure(out, ts, xs, mean, variance, lv_ts, prey, cycle, count, lv_count):
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.8))
    fan(left, ts, xs, "C0", "ensemble")
    for q, style in zip(QUANTILES, (":", "--", "-", "--", ":")):
        exact = mean + norm.ppf(q) * np.sqrt(variance)
        left.plot(ts, exact, "k", ls=style, lw=0.9, label="exact quantiles" if q == 0.5 else None)
    for path in xs[:3]:
        left.plot(ts, path, lw=0.6, alpha=0.8)
    left.set(
        xlabel="t",
        ylabel="X(t)",
        title=f"Ornstein-Uhlenbeck: {count:,} paths (SRA1) vs the exact law",
    )
    left.legend(loc="lower right", fontsize=8)
    fan(right, lv_ts, prey, "C2", "prey")
    right.plot(lv_ts, cycle, "k", lw=1, label="deterministic cycle")
    right.set(
        xlabel="t",
        ylabel="prey",
        title=f"stochastic Lotka-Volterra: {lv_count:,} paths (Milstein)",
    )
    right.legend(loc="upper right", fontsize=8)
    path = save_figure(fig, out, "fan_chart.png")
    print(f"   wrote {path}")


if __name__ == "__main__":
    main()
