"""Recover the Lotka-Volterra parameters from noisy prey and predator counts with ``solvers.fit``.

    x' = alpha x - beta x y,    y' = delta x y - gamma y,

with x the prey and y the predators, both in thousands of animals (A. J. Lotka,
*Elements of Physical Biology*, Williams & Wilkins, 1925; V. Volterra, "Fluctuations
in the abundance of a species considered mathematically", Nature 118 (1926) 558-560).
The true rates are of the size fitted to the Hudson's Bay Company hare and lynx pelt
records: alpha = 0.55 /yr (prey growth), beta = 0.028 /(thousand predators yr)
(predation), gamma = 0.84 /yr (predator death), delta = 0.026 /(thousand prey yr)
(predator growth per prey eaten), from x(0) = 30, y(0) = 4; the cycles last about
9 years.

Observed: both populations, twice a year for 30 years (61 surveys). Noise model:
multiplicative, count = true * exp(0.05 z) with z ~ N(0, 1) (a 5 % survey error),
independent for every count; 10 % of the counts (not the first survey) are missing
(NaN). The noise and the gaps are drawn with explicit ``jax.random`` keys
(``jax.random.key(seed)``, split into one key per use), so a seed fixes the data set.

The fit estimates the logarithms of the four rates (they stay positive, and one
learning rate suits rates of different sizes), and the initial state too
(``fit_y0=True``, started from the first, noisy, survey): fixing y0 at a noisy
observation would bias every rate. It starts 25-35 % off every rate and uses
``optax.chain(optax.clip_by_global_norm(1.0), optax.adam(cosine schedule))``; the
gradient flows through the adaptive ``tsit5`` solve (``adjoint="direct"``, which
compiles fast for a small problem with many fit steps). The missing counts are simply
NaN in ``data``: the ``"l2"`` loss leaves them out.

Prints the recovered rates against the truth and writes ``fit_lotka_volterra.png``
into ``--out`` (default ``out/``): the counts with the fitted and the true
trajectories, and the loss history. ``--quick`` runs the same fit with fewer
steps (it need not reach 5 %); most of its time is then the one-off compilation.

Run:  python examples/fit_lotka_volterra.py [--out DIR] [--quick]
"""

from __future__ import annotations

import time

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import matplotlib  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from _report import parse_arguments, print_table, save_figure  # noqa: E402

import solvers  # noqa: E402

NAMES = ("alpha", "beta", "gamma", "delta")
TRUE = np.array([0.55, 0.028, 0.84, 0.026])  # 1/yr, 1/(thousand yr), 1/yr, 1/(thousand yr)
GUESS = TRUE * np.array([1.3, 0.7, 0.75, 1.35])  # 25-35 % off
Y0 = np.array([30.0, 4.0])  # thousands of prey, predators
YEARS, SURVEYS = 30.0, 61
NOISE = 0.05  # multiplicative survey error
MISSING = 0.10  # fraction of missing counts
SOLVE = dict(method="tsit5", rtol=1e-8, atol=1e-8, adjoint="direct", max_steps=2048)


def lotka_volterra(t, y, log_rates):
    alpha, beta, gamma, delta = jnp.exp(log_rates)
    prey, predator = y[0], y[1]
    return jnp.stack(
        [alpha * prey - beta * prey * predator, delta * prey * predator - gamma * predator]
    )


def make_data(seed):
    """The true trajectory on a fine grid, and noisy counts at every 10th point of it
    (twice a year), with some counts missing (NaN)."""
    fine = jnp.linspace(0.0, YEARS, 10 * (SURVEYS - 1) + 1)
    true_path = solvers.solve(lotka_volterra, Y0, (0.0, YEARS), jnp.log(TRUE), ts=fine, **SOLVE).ys
    ts, clean = fine[::10], true_path[::10]
    noise_key, missing_key = jax.random.split(jax.random.key(seed))
    counts = clean * jnp.exp(NOISE * jax.random.normal(noise_key, clean.shape))
    missing = jax.random.bernoulli(missing_key, MISSING, clean.shape).at[0].set(False)
    return fine, true_path, ts, jnp.where(missing, jnp.nan, counts)


def main(argv=None):
    args, out = parse_arguments(__doc__, argv, "fewer fit steps (mostly compilation)", seed=True)
    start = time.perf_counter()

    steps = 50 if args.quick else 500
    fine, true_path, ts, data = make_data(args.seed)
    observed = int(jnp.sum(~jnp.isnan(data)))
    print(
        f"Lotka-Volterra: {SURVEYS} surveys of prey and predators over {YEARS:.0f} years, "
        f"{100 * NOISE:.0f} % multiplicative noise, {data.size - observed} of {data.size} "
        f"counts missing (seed {args.seed})"
    )

    optimizer = optax.chain(
        optax.clip_by_global_norm(1.0),
        optax.adam(optax.cosine_decay_schedule(0.05, steps, alpha=0.01)),
    )
    with_fit = time.perf_counter()
    result = solvers.fit(
        lotka_volterra,
        data[0],  # the first survey; refined with fit_y0=True
        ts,
        data,
        jnp.log(GUESS),
        optimizer=optimizer,
        steps=steps,
        fit_y0=True,
        progress=False,
        **SOLVE,
    )
    fit_seconds = time.perf_counter() - with_fit
    fitted = np.exp(np.asarray(result.params))
    print(
        f"  solvers.fit: {result.num_steps} Adam steps (clipped, cosine schedule), loss "
        f"{float(result.losses[0]):.4g} -> {float(result.losses[-1]):.4g}, "
        f"{fit_seconds:.1f} s (compilation included)"
    )
    print_table(NAMES, TRUE, GUESS, fitted)
    fitted_y0 = np.asarray(result.y0)
    print(
        f"  initial state: true ({Y0[0]:g}, {Y0[1]:g}), first survey "
        f"({float(data[0, 0]):.2f}, {float(data[0, 1]):.2f}), fitted "
        f"({fitted_y0[0]:.2f}, {fitted_y0[1]:.2f})"
    )

    # Same f, options and shapes as the solve in make_data: no new compilation.
    fitted_path = solvers.solve(
        lotka_volterra, result.y0, (0.0, YEARS), result.params, ts=fine, **SOLVE
    ).ys
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.6), width_ratios=(1.7, 1))
    for index, (label, colour) in enumerate((("prey", "C0"), ("predators", "C3"))):
        left.plot(ts, data[:, index], "o", color=colour, ms=4, label=f"{label}: counts")
        left.plot(fine, fitted_path[:, index], "-", color=colour, lw=1.6, label=f"{label}: fit")
        left.plot(fine, true_path[:, index], "--", color="k", lw=0.8)
    left.plot([], [], "--", color="k", lw=0.8, label="true")
    left.set(
        xlabel="time (years)",
        ylabel="thousands of animals",
        title=f"survey counts ({data.size - observed} of {data.size} missing) and fit",
        ylim=(0, 1.3 * float(jnp.nanmax(data))),
    )
    left.legend(ncol=3, fontsize=8, loc="upper right")
    right.semilogy(np.arange(result.num_steps), result.losses)
    right.set(xlabel="optimiser step", ylabel="loss (mean squared residual)", title="loss")
    right.grid(True, which="both", alpha=0.3)
    figure.suptitle(
        "Lotka-Volterra rates from noisy counts with solvers.fit: "
        + ", ".join(
            rf"$\{name}$ {value:.3g} (true {true:.3g})"
            for name, value, true in zip(NAMES, fitted, TRUE)
        ),
        fontsize=10,
    )
    path = save_figure(figure, out, "fit_lotka_volterra.png")
    print(f"  wrote {path}; total {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
