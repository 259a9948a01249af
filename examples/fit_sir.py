"""Recover the SIR transmission and recovery rates from daily case counts with ``solvers.fit``.

    S' = -beta S I / N,    I' = beta S I / N - gamma I,    R' = gamma I,

the Kermack-McKendrick epidemic model (W. O. Kermack and A. G. McKendrick, "A
contribution to the mathematical theory of epidemics", Proc. R. Soc. A 115 (1927)
700-721), in numbers of people in a town of N = 100,000 (fixed, known). The true
epidemic has beta = 0.3 /day and gamma = 0.15 /day (an infectious period of
1/gamma = 6.7 days, R0 = beta/gamma = 2) and starts on day 0 with 10 infectious
people (known) and nobody immune; it peaks near day 55 at about 2,600 new cases a day
and infects about 80 % of the town.

Observed: the number of new infections reported each day, days 1 to 150. Day d's
count is the increase of the cumulative infections C = N - S over (d - 1, d]: the fit
observes ``observe(y) = N - y[0]`` at the daily times, and a custom loss differences
it into daily counts. Noise model: day d's count is Poisson with mean
lambda_d exp(0.05 z_d), z_d ~ N(0, 1), lambda_d the true number of new infections:
Poisson counting noise on a 5 % day-to-day reporting jitter, drawn with explicit
``jax.random`` keys (``jax.random.key(seed)``, split for the jitter and for the Poisson
draws). Day 0 has no count: its entry is NaN.

The loss is the mean Poisson deviance of the daily counts (the natural goodness of fit
for counts; McCullagh & Nelder, *Generalized Linear Models*, 2nd ed., 1989, section
6.2), ``2 (mu - d + d log(d / mu))`` per day with mu the model's and d the reported
count, which weights each day by the size of its count rather than its square. A
callable loss receives ``data`` with its NaNs, so it masks them itself. The fit
estimates the logarithms of beta and gamma, starts 30 % off each (R0 = 3.7 instead of
2) and uses ``optax.chain(optax.clip_by_global_norm(1.0), optax.adam(cosine
schedule))`` through the adaptive ``tsit5`` solve (``adjoint="direct"``).

Prints the recovered rates against the truth and writes ``fit_sir.png`` into ``--out``
(default ``out/``): the daily counts with the fitted and the true incidence, and the
loss history. ``--quick`` runs the same fit with fewer
steps (it need not reach 5 %); most of its time is then the one-off compilation.

Run:  python examples/fit_sir.py [--out DIR] [--quick]
"""

from __future__ import annotations

import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import matplotlib  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from jax.scipy.special import xlogy  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from _report import parse_arguments, print_table, save_figure  # noqa: E402

import solvers  # noqa: E402

N = 100_000.0  # population, known
NAMES = ("beta", "gamma")
TRUE = np.array([0.3, 0.15])  # 1/day
GUESS = TRUE * np.array([1.3, 0.7])  # 30 % off each
Y0 = np.array([N - 10.0, 10.0, 0.0])  # S, I, R on day 0
DAYS = 150
JITTER = 0.05  # multiplicative day-to-day reporting noise, on top of Poisson
SOLVE = dict(method="tsit5", rtol=1e-8, atol=1e-6, adjoint="direct", max_steps=4096)


def sir(t, y, log_rates):
    beta, gamma = jnp.exp(log_rates)
    susceptible, infectious = y[0], y[1]
    infection = beta * susceptible * infectious / N
    recovery = gamma * infectious
    return jnp.stack([-infection, infection - recovery, recovery])


def cumulative_infections(y):
    """What the loss sees of the state at one time: everyone infected so far."""
    return N - y[0]


def poisson_deviance(cumulative, counts):
    """Mean Poisson deviance of the daily counts.

    ``cumulative``: (DAYS + 1,) the model's cumulative infections at days 0..DAYS (the
    prediction after ``observe``); ``counts``: (DAYS + 1,) the reported new cases of
    each day, NaN where there is no report (day 0).
    """
    mu = jnp.maximum(jnp.diff(cumulative), 1e-9)  # model: new cases on days 1..DAYS
    reported = counts[1:]
    observed = ~jnp.isnan(reported)
    d = jnp.where(observed, reported, 0.0)  # replace NaNs before they meet a gradient
    deviance = 2.0 * (mu - d + xlogy(d, d) - xlogy(d, mu))
    return jnp.sum(jnp.where(observed, deviance, 0.0)) / jnp.sum(observed)


def make_data(seed):
    """The true epidemic, and noisy daily case counts (NaN on day 0)."""
    ts = jnp.arange(DAYS + 1.0)
    true_path = solvers.solve(sir, Y0, (0.0, float(DAYS)), jnp.log(TRUE), ts=ts, **SOLVE).ys
    new_cases = jnp.diff(N - true_path[:, 0])
    jitter_key, count_key = jax.random.split(jax.random.key(seed))
    rate = new_cases * jnp.exp(JITTER * jax.random.normal(jitter_key, new_cases.shape))
    counts = jax.random.poisson(count_key, rate).astype(jnp.float64)
    return ts, true_path, jnp.concatenate([jnp.array([jnp.nan]), counts])


def main(argv=None):
    args, out = parse_arguments(__doc__, argv, "fewer fit steps (mostly compilation)", seed=True)
    start = time.perf_counter()

    steps = 40 if args.quick else 300
    ts, true_path, counts = make_data(args.seed)
    print(
        f"SIR epidemic in a population of {N:,.0f}: daily new-case counts on days 1-{DAYS} "
        f"(Poisson on a {100 * JITTER:.0f} % reporting jitter, seed {args.seed}); "
        f"{int(np.nansum(counts)):,} cases reported, at most {int(np.nanmax(counts)):,} a day"
    )

    optimizer = optax.chain(
        optax.clip_by_global_norm(1.0),
        optax.adam(optax.cosine_decay_schedule(0.05, steps, alpha=0.01)),
    )
    with_fit = time.perf_counter()
    result = solvers.fit(
        sir,
        Y0,
        ts,
        counts,
        jnp.log(GUESS),
        optimizer=optimizer,
        steps=steps,
        observe=cumulative_infections,
        loss=poisson_deviance,
        progress=False,
        **SOLVE,
    )
    fit_seconds = time.perf_counter() - with_fit
    fitted = np.exp(np.asarray(result.params))
    print(
        f"  solvers.fit: {result.num_steps} Adam steps (clipped, cosine schedule), Poisson "
        f"deviance per day {float(result.losses[0]):.4g} -> {float(result.losses[-1]):.4g}, "
        f"{fit_seconds:.1f} s (compilation included)"
    )
    print_table(NAMES, TRUE, GUESS, fitted)
    print(
        f"  R0 = beta/gamma: true {TRUE[0] / TRUE[1]:.3f}, initial {GUESS[0] / GUESS[1]:.3f}, "
        f"recovered {fitted[0] / fitted[1]:.3f}"
    )

    # Same f, options and shapes as the solve in make_data: no new compilation.
    fitted_path = solvers.solve(sir, Y0, (0.0, float(DAYS)), result.params, ts=ts, **SOLVE).ys
    days = np.asarray(ts[1:])
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.6), width_ratios=(1.7, 1))
    left.plot(days, counts[1:], "o", color="C0", ms=3, alpha=0.8, label="reported cases")
    left.plot(days, jnp.diff(N - fitted_path[:, 0]), "-", color="C3", lw=1.6, label="fit")
    left.plot(days, jnp.diff(N - true_path[:, 0]), "--", color="k", lw=0.8, label="true")
    left.set(xlabel="day", ylabel="new infections per day", title="daily case counts and fit")
    left.legend(fontsize=8)
    right.semilogy(np.arange(result.num_steps), result.losses)
    right.set(xlabel="optimiser step", ylabel="loss (Poisson deviance per day)", title="loss")
    right.grid(True, which="both", alpha=0.3)
    figure.suptitle(
        f"SIR epidemic, N = {N:,.0f}, with solvers.fit: "
        + ", ".join(
            rf"$\{name}$ {value:.3g}/day (true {true:g})"
            for name, value, true in zip(NAMES, fitted, TRUE)
        ),
        fontsize=10,
    )
    path = save_figure(figure, out, "fit_sir.png")
    print(f"  wrote {path}; total {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
