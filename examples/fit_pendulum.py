"""Recover a damped pendulum's length and damping from its angle alone with ``solvers.fit``.

    theta'' = -(g / L) sin(theta) - c theta',    g = 9.81 m/s^2 (known),

the nonlinear pendulum with linear (viscous) damping (S. H. Strogatz, *Nonlinear
Dynamics and Chaos*, 2nd ed., Westview, 2015, sections 6.7 and 8.5; J. R. Taylor,
*Classical Mechanics*, University Science Books, 2005, section 5.4). The true
pendulum has L = 0.75 m and c = 0.25 /s and swings from theta(0) = 1.2 rad (69
degrees, well outside the small-angle regime) at rest; the amplitude decays to about
a third over the 8 s recorded.

Observed: the angle only (a video tracker or an angle encoder), 20 times a second for
8 s (161 samples); the angular velocity is never measured. Noise model: additive
Gaussian, theta_obs = theta + 0.03 z with z ~ N(0, 1) (0.03 rad = 1.7 degrees, 2.5 %
of the initial amplitude), drawn with an explicit ``jax.random`` key.

The state is y = (theta, omega) and the fit compares only ``observe(y) = y[0]`` with
the data. The parameters are a dict ``{"L": ..., "c": ...}`` (any pytree works; g is a
constant closed over in the vector field, so it is not fitted). The initial state is
fitted too (``fit_y0=True``), started from the first, noisy, angle and omega = 0: the
unobserved initial angular velocity is then constrained only through the dynamics.
The fit starts 33 % off in L and 28 % off in c, with
``optax.chain(optax.clip_by_global_norm(1.0), optax.adam(cosine schedule))``, and
differentiates through the adaptive ``tsit5`` solve (``adjoint="direct"``).

Prints the recovered parameters against the truth and writes ``fit_pendulum.png``
into ``--out`` (default ``out/``): the measured angles with the fitted and the true
motion, and the loss history. ``--quick`` runs the same fit with fewer
steps (it need not reach 5 %); most of its time is then the one-off compilation.

Run:  python examples/fit_pendulum.py [--out DIR] [--quick]
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

G = 9.81  # m/s^2, known
TRUE = {"L": 0.75, "c": 0.25}  # m, 1/s
GUESS = {"L": 1.0, "c": 0.18}  # 33 % and 28 % off
UNITS = {"L": "m", "c": "1/s"}
Y0 = np.array([1.2, 0.0])  # rad, rad/s
DURATION, RATE = 8.0, 20  # s, samples per second
NOISE = 0.03  # rad
SOLVE = dict(method="tsit5", rtol=1e-8, atol=1e-8, adjoint="direct", max_steps=4096)


def pendulum(t, y, params):
    theta, omega = y[0], y[1]
    return jnp.stack([omega, -(G / params["L"]) * jnp.sin(theta) - params["c"] * omega])


def angle(y):
    """What is measured: the angle, not the angular velocity."""
    return y[0]


def make_data(seed):
    """The true motion on a fine grid, and noisy angles at every 5th point of it."""
    samples = int(DURATION * RATE) + 1
    fine = jnp.linspace(0.0, DURATION, 5 * (samples - 1) + 1)
    true_path = solvers.solve(pendulum, Y0, (0.0, DURATION), TRUE, ts=fine, **SOLVE).ys
    ts, clean = fine[::5], true_path[::5, 0]
    noise = NOISE * jax.random.normal(jax.random.key(seed), clean.shape)
    return fine, true_path, ts, clean + noise


def main(argv=None):
    args, out = parse_arguments(__doc__, argv, "fewer fit steps (mostly compilation)", seed=True)
    start = time.perf_counter()

    steps = 40 if args.quick else 300
    fine, true_path, ts, angles = make_data(args.seed)
    print(
        f"Damped pendulum (g = {G} known): {ts.size} angle samples over {DURATION:g} s "
        f"({RATE} Hz), Gaussian noise {NOISE} rad (seed {args.seed}); angular velocity "
        "not observed"
    )

    optimizer = optax.chain(
        optax.clip_by_global_norm(1.0),
        optax.adam(optax.cosine_decay_schedule(0.05, steps, alpha=0.01)),
    )
    with_fit = time.perf_counter()
    result = solvers.fit(
        pendulum,
        jnp.array([angles[0], 0.0]),  # first measured angle, at rest; refined by fit_y0
        ts,
        angles,
        GUESS,
        optimizer=optimizer,
        steps=steps,
        observe=angle,
        fit_y0=True,
        progress=False,
        **SOLVE,
    )
    fit_seconds = time.perf_counter() - with_fit
    print(
        f"  solvers.fit: {result.num_steps} Adam steps (clipped, cosine schedule), loss "
        f"{float(result.losses[0]):.4g} -> {float(result.losses[-1]):.4g} (noise variance "
        f"{NOISE**2:.4g}), {fit_seconds:.1f} s (compilation included)"
    )
    names = list(TRUE)
    fitted = np.array([float(result.params[name]) for name in names])
    print_table(
        names, np.array([TRUE[n] for n in names]), np.array([GUESS[n] for n in names]), fitted
    )
    theta0, omega0 = np.asarray(result.y0)
    print(
        f"  initial state: true ({Y0[0]:g} rad, {Y0[1]:g} rad/s), first sample "
        f"{float(angles[0]):.3f} rad, fitted ({theta0:.3f} rad, {omega0:.3f} rad/s)"
    )

    # Same f, options and argument types as the solve in make_data (params as Python
    # floats, like TRUE): no new compilation.
    plain = {name: float(value) for name, value in result.params.items()}
    fitted_path = solvers.solve(pendulum, result.y0, (0.0, DURATION), plain, ts=fine, **SOLVE).ys
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.6), width_ratios=(1.7, 1))
    left.plot(ts, angles, "o", color="C0", ms=3, alpha=0.8, label="measured angle")
    left.plot(fine, fitted_path[:, 0], "-", color="C3", lw=1.6, label="fit")
    left.plot(fine, true_path[:, 0], "--", color="k", lw=0.8, label="true")
    left.set(
        xlabel="time (s)",
        ylabel=r"$\theta$ (rad)",
        title=r"angle data and fit ($\dot\theta$ not observed)",
        ylim=(-1.45, 1.75),
    )
    left.legend(ncol=3, fontsize=8, loc="upper right")
    right.semilogy(np.arange(result.num_steps), result.losses)
    right.axhline(NOISE**2, color="k", ls=":", lw=0.8, label=r"noise variance $\sigma^2$")
    right.set(xlabel="optimiser step", ylabel=r"loss (mean squared residual, rad$^2$)")
    right.set(title="loss")
    right.legend(fontsize=8)
    right.grid(True, which="both", alpha=0.3)
    figure.suptitle(
        r"Damped pendulum $\ddot\theta = -(g/L)\sin\theta - c\dot\theta$ with solvers.fit: "
        + ", ".join(
            f"{name} {value:.3g} {UNITS[name]} (true {TRUE[name]:g})"
            for name, value in zip(names, fitted)
        ),
        fontsize=10,
    )
    path = save_figure(figure, out, "fit_pendulum.png")
    print(f"  wrote {path}; total {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
