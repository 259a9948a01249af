"""Fitting an SDE: the drift and diffusion of an Ornstein-Uhlenbeck process from one path.

One path of dX = theta (mu - X) dt + sigma dW (theta = 1.5, mu = 0.8, sigma = 0.4,
X0 = 0) is simulated with `solvers.solve_sde` (SRA1, dt = 0.01) and observed every
Delta = 0.02 time units. From these observations alone, theta, mu and sigma are
recovered by maximum likelihood with Optax (Adam on log theta, mu, log sigma):

* the exact transition density of the OU process, X_{k+1} | X_k ~
  N(mu + (X_k - mu) e^(-theta Delta), sigma^2 (1 - e^(-2 theta Delta)) / (2 theta)),
  gives the exact maximum-likelihood estimate; its standard errors come from the
  inverse Hessian of the negative log-likelihood (jax.hessian), and the recovered
  values must lie within 4 standard errors of the truth;
* the Euler transition density, X_{k+1} | X_k ~ N(X_k + theta (mu - X_k) Delta,
  sigma^2 Delta), is the quasi-likelihood one uses when no closed form exists; its
  estimate carries a discretisation bias of order Delta (theta and sigma low by about
  theta Delta / 2 = 1.5 %), printed for comparison.

Reference: G. E. Uhlenbeck, L. S. Ornstein, Phys. Rev. 36 (1930) 823-841; for the
estimators, S. M. Iacus, Simulation and Inference for Stochastic Differential
Equations, Springer (2008), 3.3 (exact likelihood) and 3.3.2 (Euler
pseudo-likelihood).

Prints the table of true, initial and recovered values and writes ``fit_ou.png`` into
``--out`` (default ``out/``). Exits with an error if a check fails. ``--quick`` observes
200 time units instead of 3,000.

Run:  python examples/sde_fit_ou.py [--out DIR] [--quick]
"""

from __future__ import annotations

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import matplotlib  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from _report import Timer, parse_arguments, print_table, save_figure  # noqa: E402

import problems  # noqa: E402

TRUE = {"theta": 1.5, "mu": 0.8, "sigma": 0.4}
GUESS = {"theta": 0.5, "mu": 0.0, "sigma": 1.0}
NAMES = ("theta", "mu", "sigma")
DELTA = 0.02  # observation spacing
DT = 0.01  # simulation step
STEPS = 2000  # Adam iterations


def simulate(horizon, key):
    prob = problems.ornstein_uhlenbeck(**TRUE, y0=[0.0], t_span=(0.0, horizon))
    ts = DELTA * np.arange(round(horizon / DELTA) + 1)
    sol = prob.solve_sde(key=key, dt=DT, method="sra1", ts=ts)
    return ts, np.asarray(sol.ys[:, 0])


def to_natural(raw):
    return {"theta": jnp.exp(raw[0]), "mu": raw[1], "sigma": jnp.exp(raw[2])}


def exact_nll(params, x):
    """Negative log-likelihood of the exact Gaussian transitions (per observation)."""
    decay = jnp.exp(-params["theta"] * DELTA)
    mean = params["mu"] + (x[:-1] - params["mu"]) * decay
    variance = params["sigma"] ** 2 * (1 - decay**2) / (2 * params["theta"])
    return jnp.mean(0.5 * (x[1:] - mean) ** 2 / variance + 0.5 * jnp.log(2 * jnp.pi * variance))


def euler_nll(params, x):
    """Negative log-likelihood of the Euler transitions (per observation)."""
    mean = x[:-1] + params["theta"] * (params["mu"] - x[:-1]) * DELTA
    variance = params["sigma"] ** 2 * DELTA
    return jnp.mean(0.5 * (x[1:] - mean) ** 2 / variance + 0.5 * jnp.log(2 * jnp.pi * variance))


def fit(nll, x):
    """Adam on (log theta, mu, log sigma) from GUESS: the fitted values and the losses."""
    optimizer = optax.adam(optax.exponential_decay(0.05, STEPS, 0.05))
    raw0 = jnp.array([np.log(GUESS["theta"]), GUESS["mu"], np.log(GUESS["sigma"])])

    def loss(raw):
        return nll(to_natural(raw), x)

    @jax.jit
    def run(raw):
        def step(carry, _):
            raw, state = carry
            value, grad = jax.value_and_grad(loss)(raw)
            updates, state = optimizer.update(grad, state)
            return (optax.apply_updates(raw, updates), state), value

        (raw, _), losses = jax.lax.scan(step, (raw, optimizer.init(raw)), None, length=STEPS)
        return raw, losses

    raw, losses = run(raw0)
    return to_natural(raw), np.asarray(losses)


def standard_errors(nll, params, x):
    """sqrt of the diagonal of the inverse Hessian of the total negative log-likelihood."""
    vector = jnp.array([params[name] for name in NAMES])

    def total(v):
        return (x.shape[0] - 1) * nll(dict(zip(NAMES, v)), x)

    covariance = jnp.linalg.inv(jax.hessian(total)(vector))
    return np.sqrt(np.diag(np.asarray(covariance)))


def main(argv=None):
    args, out = parse_arguments(__doc__, argv, "observe 200 time units instead of 3,000")
    horizon = 200.0 if args.quick else 3000.0
    failures = []
    with Timer() as total:
        with Timer() as timer:
            ts, x = simulate(horizon, jax.random.key(42))
        print(
            f"One Ornstein-Uhlenbeck path, theta = {TRUE['theta']}, mu = {TRUE['mu']}, "
            f"sigma = {TRUE['sigma']}: SRA1, dt = {DT}, on [0, {horizon:g}] in "
            f"{timer.seconds:.2f} s; observed every {DELTA} ({x.size - 1:,} transitions)"
        )
        x = jnp.asarray(x)
        true = np.array([TRUE[n] for n in NAMES])
        guess = np.array([GUESS[n] for n in NAMES])

        with Timer() as timer:
            fitted, losses = fit(exact_nll, x)
        values = np.array([float(fitted[n]) for n in NAMES])
        errors = standard_errors(exact_nll, fitted, x)
        print(
            f"1. maximum likelihood, exact transition density: Adam, {STEPS} steps, "
            f"{timer.seconds:.2f} s (with compilation); final loss {losses[-1]:.6f}"
        )
        tolerance = 25.0 if args.quick else 8.0
        if not print_table(NAMES, true, guess, values, tolerance=tolerance):
            failures.append(f"exact MLE not within {tolerance} %")
        z = (values - true) / errors
        for name, value, error, score in zip(NAMES, values, errors, z):
            print(
                f"  {name:>9} = {value:.4f} +- {error:.4f} (truth {TRUE[name]}; z = {score:+.2f})"
            )
        within = bool(np.all(np.abs(z) < 4))
        print(f"  all within 4 standard errors of the truth: {'yes' if within else 'NO'}")
        if not within:
            failures.append("exact MLE not within 4 standard errors")

        euler, euler_losses = fit(euler_nll, x)
        euler_values = np.array([float(euler[n]) for n in NAMES])
        print("2. Euler pseudo-likelihood (biased by O(Delta)):")
        print_table(NAMES, true, guess, euler_values, tolerance=tolerance)
        print(
            f"   relative bias against the exact MLE: theta "
            f"{euler_values[0] / values[0] - 1:+.2%}, sigma {euler_values[2] / values[2] - 1:+.2%} "
            f"(expected about -theta Delta / 2 = {-TRUE['theta'] * DELTA / 2:+.2%})"
        )
        figure(out, ts, np.asarray(x), values, losses, euler_losses)
    print(f"done in {total.seconds:.1f} s; figure in {out}/")
    if failures:
        raise SystemExit("check failed: " + "; ".join(failures))


def figure(out, ts, x, values, losses, euler_losses):
    theta, mu, sigma = values
    fig, (left, middle, right) = plt.subplots(1, 3, figsize=(15, 4.3))
    window = ts <= 20
    left.plot(ts[window], x[window], lw=0.8, label="observed path")
    spread = sigma / np.sqrt(2 * theta)
    left.axhline(mu, color="k", lw=1, label=r"fitted $\mu$")
    left.axhspan(mu - 2 * spread, mu + 2 * spread, color="k", alpha=0.1,
                 label=r"fitted $\mu \pm 2\sigma/\sqrt{2\theta}$")  # fmt: skip
    left.set(xlabel="t", ylabel="X(t)", title="the observations (first 20 time units)")
    left.legend(fontsize=8)
    for history, label in ((losses, "exact likelihood"), (euler_losses, "Euler pseudo-likelihood")):
        middle.semilogy(history - history.min() + 1e-12, label=label)
    middle.set(
        xlabel="Adam step",
        ylabel="loss - final loss (per transition)",
        title="optimisation (Optax Adam)",
    )
    middle.legend()
    decay = np.exp(-theta * DELTA)
    mean = mu + (x[:-1] - mu) * decay
    scale = np.sqrt(sigma**2 * (1 - decay**2) / (2 * theta))
    residuals = (x[1:] - mean) / scale
    grid = np.linspace(-4, 4, 200)
    right.hist(residuals, bins=80, density=True, alpha=0.5, label="standardised residuals")
    right.plot(grid, np.exp(-(grid**2) / 2) / np.sqrt(2 * np.pi), "k", label="N(0, 1)")
    right.set(xlabel="residual", ylabel="density", title="fitted transition law")
    right.legend(fontsize=8)
    path = save_figure(fig, out, "fit_ou.png")
    print(f"   wrote {path}")


if __name__ == "__main__":
    main()
