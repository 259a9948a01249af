"""A universal differential equation: learn the missing physics of Lotka-Volterra.

The predator-prey model

    x' = alpha x - beta x y,    y' = delta x y - gamma y,
    (alpha, beta, gamma, delta) = (1.5, 1.0, 3.0, 1.0),   (x, y)(0) = (1, 1),

is observed at 41 times in [0, 4] (a little more than one period) with 5 % noise
(Gaussian, standard deviation 5 % of each species' mean, drawn with an explicit
``jax.random`` key). Suppose only the linear parts are known: the prey grow at rate
alpha, the predators die at rate gamma. The unknown interaction is replaced by a
small neural network U_theta: R^2 -> R^2 (an ``equinox.nn.MLP``, 2 -> 16 -> 16 -> 2,
softplus), which gives the universal differential equation (UDE)

    x' = alpha x + U_theta(x, y)_1,    y' = -gamma y + U_theta(x, y)_2

(C. Rackauckas, Y. Ma, J. Martensen, C. Warner, K. Zubov, R. Supekar, D. Skinner,
A. Ramadhan and A. Edelman, "Universal Differential Equations for Scientific Machine
Learning", arXiv:2001.04385, 2020). The network's weights are fitted through the
solver with ``solvers.fit``: ``equinox.partition(mlp, eqx.is_inexact_array)`` splits
the MLP into its arrays, which are ``params0`` (any pytree of float arrays), and the
rest, which the vector field closes over and recombines with ``eqx.combine``. Adam
with warm-up, cosine decay and gradient clipping trains in two stages that share one
compiled step: first on the first half of the window only (the later observations
are marked missing with NaN, which ``fit`` leaves out of the loss), then on all of it.

The check that the network learned the missing physics: along the true trajectory its
output is compared with the true interaction (-beta x y, delta x y) (relative L2
error), and a least-squares fit of the outputs against -x y and x y, a one-term
symbolic regression, gives back beta and delta. The fitted UDE is also integrated
beyond the data, to t = 10, and compared with the truth.

Prints what it did and writes ``fit_ude.png`` into ``--out`` (default ``out/``):
(a) data, truth and the UDE, with the extrapolation; (b) the learned against the true
interaction; (c) the loss history. ``--quick`` trains for a few steps only (same code
path, not accurate).

Run:  python examples/fit_ude.py [--out DIR] [--quick]
"""

from __future__ import annotations

import jax

jax.config.update("jax_enable_x64", True)

import equinox as eqx  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import matplotlib  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from _report import Timer, parse_arguments, save_figure  # noqa: E402

import solvers  # noqa: E402

ALPHA, BETA, GAMMA, DELTA = 1.5, 1.0, 3.0, 1.0
Y0 = jnp.array([1.0, 1.0])
T_TRAIN, T_END = 4.0, 10.0  # observed window; extrapolation to T_END
NUM_OBS = 41  # observations in [0, T_TRAIN]
NOISE = 0.05  # standard deviation relative to each species' mean
WIDTH, DEPTH = 16, 2
INPUT_SCALE, OUTPUT_SCALE = 4.0, 10.0  # keep the network's weights of order one
RTOL, ATOL = 1e-6, 1e-8


def lotka_volterra(t, y, params):
    """The true model (the ground truth that generates the data)."""
    x, z = y[0], y[1]
    return jnp.stack([ALPHA * x - BETA * x * z, DELTA * x * z - GAMMA * z])


def main(argv=None):
    args, out = parse_arguments(__doc__, argv, "a few training steps only")
    steps_short, steps_full = (20, 40) if args.quick else (300, 2000)

    with Timer() as total:
        # --- data: one solve of the true model on a fine grid over [0, T_END] ----------
        every = 5  # the observation times are every 5th point of the fine grid
        ts_fine = jnp.linspace(0.0, T_END, every * round(T_END / T_TRAIN * (NUM_OBS - 1)) + 1)
        truth = solvers.solve(lotka_volterra, Y0, (0.0, T_END), ts=ts_fine, rtol=1e-10, atol=1e-12)
        ts = ts_fine[: every * (NUM_OBS - 1) + 1 : every]
        clean = truth.ys[: every * (NUM_OBS - 1) + 1 : every]
        key_noise, key_model = jax.random.split(jax.random.key(0))
        sigma = NOISE * jnp.mean(clean, axis=0)
        data = clean + sigma * jax.random.normal(key_noise, clean.shape)

        # --- the UDE: known linear parts + an MLP for the interaction ----------------
        mlp = eqx.nn.MLP(2, 2, WIDTH, DEPTH, activation=jax.nn.softplus, key=key_model)
        # Start close to U = 0, i.e. from the known part of the model alone.
        mlp = eqx.tree_at(lambda m: m.layers[-1].weight, mlp, 0.1 * mlp.layers[-1].weight)
        params0, static = eqx.partition(mlp, eqx.is_inexact_array)
        num_params = sum(leaf.size for leaf in jax.tree.leaves(params0))

        def network(params, y):
            return OUTPUT_SCALE * eqx.combine(params, static)(y / INPUT_SCALE)

        def ude(t, y, params):
            u = network(params, y)
            return jnp.stack([ALPHA * y[0] + u[0], -GAMMA * y[1] + u[1]])

        print(
            f"Lotka-Volterra (alpha, beta, gamma, delta) = ({ALPHA}, {BETA}, {GAMMA}, {DELTA}): "
            f"{NUM_OBS} observations in [0, {T_TRAIN:g}] with {100 * NOISE:g} % noise "
            f"(sigma = {np.asarray(sigma).round(3)})"
        )
        print(
            f"  UDE: x' = {ALPHA} x + U(x, y)_1, y' = -{GAMMA} y + U(x, y)_2 with U an "
            f"equinox MLP 2 -> {WIDTH} -> {WIDTH} -> 2 (softplus), {num_params} parameters"
        )

        # One optimiser object for both stages: fit caches its compiled step on it (and
        # on f, ts, the solve options), so the second stage does not compile again.
        schedule = optax.warmup_cosine_decay_schedule(
            0.0,
            1e-2,
            warmup_steps=min(50, steps_full // 4),
            decay_steps=steps_full,
            end_value=1e-4,
        )
        optimizer = optax.chain(optax.clip_by_global_norm(1.0), optax.adam(schedule))
        # adjoint="direct" records the (few hundred) accepted steps for the backward
        # pass: here it compiles faster than the default checkpointing, same gradient.
        options = dict(optimizer=optimizer, progress=False, rtol=RTOL, atol=ATOL, adjoint="direct")

        with Timer() as training:
            # Stage 1: only the first half of the window is observed (NaN = missing).
            short = data.at[(NUM_OBS + 1) // 2 :].set(jnp.nan)
            first = solvers.fit(ude, Y0, ts, short, params0, steps=steps_short, **options)
            # Stage 2: the whole window, starting from stage 1's network.
            second = solvers.fit(ude, Y0, ts, data, first.params, steps=steps_full, **options)
        losses = np.concatenate([np.asarray(first.losses), np.asarray(second.losses)])
        print(
            f"  stage 1, t in [0, {float(ts[(NUM_OBS - 1) // 2]):g}]: {first.num_steps} steps, "
            f"loss {first.losses[0]:.4g} -> {first.losses[-1]:.4g}"
        )
        print(
            f"  stage 2, t in [0, {T_TRAIN:g}]: {second.num_steps} steps, loss "
            f"{second.losses[0]:.4g} -> {second.losses[-1]:.4g} (noise variance "
            f"{float(jnp.mean(sigma**2)):.4g}); training {training.seconds:.1f} s "
            "(compilation included)"
        )
        if args.quick:
            print("  (--quick: far too few steps to converge; the numbers below mean nothing)")

        # --- did it learn the missing term? ------------------------------------------
        params = second.params
        window = ts_fine <= T_TRAIN + 1e-12
        states = truth.ys[window]  # the true trajectory over the observed window
        learned = jax.jit(jax.vmap(lambda y: network(params, y)))(states)
        xy = states[:, 0] * states[:, 1]
        true_term = jnp.stack([-BETA * xy, DELTA * xy], axis=1)
        relative = float(jnp.linalg.norm(learned - true_term) / jnp.linalg.norm(true_term))
        # One-term symbolic regression: U_1 ~ -beta x y, U_2 ~ delta x y (least squares).
        beta_fit = float(-jnp.dot(learned[:, 0], xy) / jnp.dot(xy, xy))
        delta_fit = float(jnp.dot(learned[:, 1], xy) / jnp.dot(xy, xy))
        print(
            f"  learned interaction vs (-beta x y, delta x y) along the true trajectory: "
            f"relative L2 error {100 * relative:.2f} %"
        )
        print("  recovered by least squares of U against (-x y, x y):")
        print("      parameter   true   recovered   error")
        for name, true, found in (("beta", BETA, beta_fit), ("delta", DELTA, delta_fit)):
            print(
                f"      {name:<9} {true:6.3f}   {found:9.4f}   "
                f"{100 * (found - true) / true:+5.2f} %"
            )

        # --- extrapolation beyond the data -------------------------------------------
        fitted = solvers.solve(ude, Y0, (0.0, T_END), params, ts=ts_fine, rtol=RTOL, atol=ATOL)
        beyond = ~window
        error = float(
            jnp.linalg.norm(fitted.ys[beyond] - truth.ys[beyond])
            / jnp.linalg.norm(truth.ys[beyond])
        )
        print(
            f"  extrapolation to t in ({T_TRAIN:g}, {T_END:g}]: relative L2 error of the UDE "
            f"{100 * error:.2f} %"
        )

        # --- figure ------------------------------------------------------------------
        figure, (a, b, c) = plt.subplots(1, 3, figsize=(16, 4.8))
        t_plot = np.asarray(ts_fine)
        for i, (name, colour) in enumerate((("prey x", "C0"), ("predator y", "C3"))):
            a.plot(t_plot, truth.ys[:, i], color=colour, lw=1, alpha=0.6, label=f"{name}, truth")
            a.plot(t_plot, fitted.ys[:, i], "--", color=colour, lw=1.6, label=f"{name}, UDE")
            a.plot(ts, data[:, i], "o", color=colour, ms=3.5, label=f"{name}, data")
        a.axvspan(0.0, T_TRAIN, color="0.92", zorder=0, label="observed window")
        a.set(
            xlabel="t",
            ylabel="population",
            ylim=(0.0, 9.8),
            title=f"(a) data, truth and fitted UDE (extrapolation beyond t = {T_TRAIN:g})",
        )
        a.legend(fontsize=7, ncol=3, loc="upper right")

        order = np.argsort(np.asarray(xy))
        xy_sorted = np.asarray(xy)[order]
        b.plot(xy, learned[:, 0], ".", color="C0", ms=4, label=r"$U_1$ (learned)")
        b.plot(xy, learned[:, 1], ".", color="C3", ms=4, label=r"$U_2$ (learned)")
        b.plot(xy_sorted, -BETA * xy_sorted, "k-", lw=1, label=r"true $-\beta xy$, $\delta xy$")
        b.plot(xy_sorted, DELTA * xy_sorted, "k-", lw=1)
        b.plot(
            xy_sorted,
            -beta_fit * xy_sorted,
            ":",
            color="C0",
            lw=1.5,
            label=rf"fit $-{beta_fit:.3f}\,xy$",
        )
        b.plot(
            xy_sorted,
            delta_fit * xy_sorted,
            ":",
            color="C3",
            lw=1.5,
            label=rf"fit ${delta_fit:.3f}\,xy$",
        )
        b.set(
            xlabel=rf"$x\,y$ along the true trajectory, $t \in [0, {T_TRAIN:g}]$",
            ylabel="interaction term",
            title=f"(b) learned vs true interaction (rel. L2 error {100 * relative:.1f} %)",
        )
        b.legend(fontsize=8)

        c.semilogy(np.arange(len(losses)), losses, color="C2", lw=1)
        c.axvline(first.num_steps, color="0.5", ls="--", lw=1)
        c.axhline(float(jnp.mean(sigma**2)), color="0.5", ls=":", lw=1, label="noise variance")
        c.text(first.num_steps, 0.97, " full window", transform=c.get_xaxis_transform(), va="top")
        c.set(xlabel="optimiser step", ylabel="mean squared error", title="(c) training loss")
        c.legend(fontsize=8)
        figure.suptitle(
            r"Universal differential equation: $x' = \alpha x + U_1(x, y)$, "
            r"$y' = -\gamma y + U_2(x, y)$ (Rackauckas et al. 2020)"
        )
        path = save_figure(figure, out, "fit_ude.png")
    print(f"  wrote {path}; total {total.seconds:.1f} s")


if __name__ == "__main__":
    main()
