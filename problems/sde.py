"""Stochastic differential equations: Ornstein-Uhlenbeck, geometric Brownian motion,
an overdamped double well (Kramers' escape problem) and a stochastic Lotka-Volterra
model.

Each problem's ``vector_field`` is the drift $f(t, y)$ and ``diffusion`` the diffusion
$g(t, y)$ of the Ito SDE $dy = f\\,dt + g\\,dW$; ``noise`` says how $g$ acts (see
``solvers.solve_sde``), and ``prob.solve_sde(key=..., dt=...)`` integrates it. The
closed forms that exist (moments, the solution as a function of the Brownian path, the
escape rate) are module functions, exported from ``problems``.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from ._problem import Problem, as_params, as_state, as_t_span, register

# ------------------------------------------------------------------- Ornstein-Uhlenbeck


def _ornstein_uhlenbeck_drift(t, y, params):
    return params["theta"] * (params["mu"] - y)


def _ornstein_uhlenbeck_diffusion(t, y, params):
    return params["sigma"] * jnp.ones_like(y)


@register("ornstein_uhlenbeck")
def ornstein_uhlenbeck(*, theta=1.0, mu=1.0, sigma=0.5, y0=(-1.0,), t_span=(0.0, 5.0)) -> Problem:
    r"""The Ornstein-Uhlenbeck process: mean reversion with additive noise.

    $$dX_t = \theta(\mu - X_t)\,dt + \sigma\,dW_t .$$

    $X_t$ is Gaussian with mean $\mu + (X_0 - \mu)e^{-\theta t}$ and variance
    $\frac{\sigma^2}{2\theta}(1 - e^{-2\theta t})$ (`ornstein_uhlenbeck_moments`);
    the stationary law is $N(\mu, \sigma^2/(2\theta))$. Noise: ``"additive"``.

    Args:
        theta: mean-reversion rate $\theta > 0$. Default 1.0.
        mu: long-run mean $\mu$. Default 1.0.
        sigma: noise amplitude $\sigma$. Default 0.5.
        y0: ``[X_0]``. Default ``[-1.0]``.
        t_span: default ``(0.0, 5.0)``.

    Returns:
        The `Problem` ``"ornstein_uhlenbeck"`` (shape ``(1,)``), with ``diffusion`` and
        ``noise="additive"``.

    Reference:
        G. E. Uhlenbeck and L. S. Ornstein, "On the theory of the Brownian motion",
        Physical Review 36 (1930) 823-841.
    """
    return Problem(
        name="ornstein_uhlenbeck",
        vector_field=_ornstein_uhlenbeck_drift,
        y0=as_state(y0),
        t_span=as_t_span(t_span),
        params=as_params(theta=theta, mu=mu, sigma=sigma),
        description="Ornstein-Uhlenbeck process (mean-reverting, additive noise).",
        reference="G. E. Uhlenbeck, L. S. Ornstein, Phys. Rev. 36 (1930) 823-841.",
        diffusion=_ornstein_uhlenbeck_diffusion,
        noise="additive",
    )


def ornstein_uhlenbeck_moments(t, params, y0, t0=0.0):
    r"""Exact mean and variance of the Ornstein-Uhlenbeck process at time ``t``.

    $$E[X_t] = \mu + (X_0 - \mu)e^{-\theta(t - t_0)}, \qquad
      \mathrm{Var}[X_t] = \frac{\sigma^2}{2\theta}\big(1 - e^{-2\theta(t - t_0)}\big).$$

    Args:
        t: time(s), any shape.
        params: the problem's ``params`` (``theta``, ``mu``, ``sigma``).
        y0: ``X_0`` at ``t0`` (broadcasts against ``t``).
        t0: the start time.

    Returns:
        ``(mean, variance)``, arrays broadcast from ``t`` and ``y0``.
    """
    theta, mu, sigma = params["theta"], params["mu"], params["sigma"]
    elapsed = jnp.asarray(t) - t0
    mean = mu + (jnp.asarray(y0) - mu) * jnp.exp(-theta * elapsed)
    variance = sigma**2 / (2 * theta) * (1 - jnp.exp(-2 * theta * elapsed))
    return mean, variance + jnp.zeros_like(mean)


# ----------------------------------------------------------- geometric Brownian motion


def _gbm_drift(t, y, params):
    return params["mu"] * y


def _gbm_diffusion(t, y, params):
    return params["sigma"] * y


@register("geometric_brownian_motion")
def geometric_brownian_motion(*, mu=1.0, sigma=0.5, y0=(1.0,), t_span=(0.0, 1.0)) -> Problem:
    r"""Geometric Brownian motion: multiplicative (diagonal) noise with a closed form.

    $$dX_t = \mu X_t\,dt + \sigma X_t\,dW_t, \qquad
      X_t = X_0 \exp\!\big((\mu - \tfrac{\sigma^2}{2})(t - t_0) + \sigma W_t\big).$$

    The solution is an explicit function of the Brownian path
    (`geometric_brownian_motion_exact`), so strong errors are measured exactly;
    $E[X_t] = X_0 e^{\mu t}$, $\mathrm{Var}[X_t] = X_0^2 e^{2\mu t}(e^{\sigma^2 t} - 1)$.
    Noise: ``"diagonal"``.

    Args:
        mu: drift rate $\mu$. Default 1.0.
        sigma: volatility $\sigma$. Default 0.5.
        y0: ``[X_0]``. Default ``[1.0]``.
        t_span: default ``(0.0, 1.0)``.

    Returns:
        The `Problem` ``"geometric_brownian_motion"`` (shape ``(1,)``), with
        ``diffusion`` and ``noise="diagonal"``.

    Reference:
        P. E. Kloeden and E. Platen, Numerical Solution of Stochastic Differential
        Equations, Springer (1992), section 4.4 (the test equation of chapter 10);
        F. Black and M. Scholes, J. Political Economy 81 (1973) 637-654.
    """
    return Problem(
        name="geometric_brownian_motion",
        vector_field=_gbm_drift,
        y0=as_state(y0),
        t_span=as_t_span(t_span),
        params=as_params(mu=mu, sigma=sigma),
        description="Geometric Brownian motion (multiplicative noise, exact from the path).",
        reference="Kloeden & Platen (1992), 4.4; Black & Scholes (1973).",
        diffusion=_gbm_diffusion,
        noise="diagonal",
    )


def geometric_brownian_motion_exact(t, w, params, y0, t0=0.0):
    r"""Geometric Brownian motion as a function of its Brownian path.

    $$X_t = X_0 \exp\!\big((\mu - \tfrac{\sigma^2}{2})(t - t_0) + \sigma W_t\big),
      \qquad W_{t_0} = 0 .$$

    With ``path = solvers.brownian_path(key, t_span, dt)``, ``w = path.w[k]`` is the
    $W_{t_k}$ that ``solve_sde(..., key=key, dt=dt)`` used.

    Args:
        t: time(s).
        w: $W_t$ at those times (same shape as ``t``, or broadcastable).
        params: the problem's ``params`` (``mu``, ``sigma``).
        y0: $X_0$.
        t0: the start time.

    Returns:
        $X_t$, broadcast from ``t``, ``w`` and ``y0``.
    """
    mu, sigma = params["mu"], params["sigma"]
    elapsed = jnp.asarray(t) - t0
    return jnp.asarray(y0) * jnp.exp((mu - sigma**2 / 2) * elapsed + sigma * jnp.asarray(w))


# ------------------------------------------------------------------ double well (Kramers)


def _double_well_drift(t, y, params):
    # -V'(x) for V(x) = h (x^2 - 1)^2
    return -4 * params["barrier"] * y * (y**2 - 1)


def _double_well_diffusion(t, y, params):
    return jnp.sqrt(2 * params["temperature"]) * jnp.ones_like(y)


@register("double_well_langevin")
def double_well_langevin(
    *, barrier=1.0, temperature=0.25, y0=(-1.0,), t_span=(0.0, 100.0)
) -> Problem:
    r"""Overdamped Langevin dynamics in a symmetric double well: Kramers' escape problem.

    $$dX_t = -V'(X_t)\,dt + \sqrt{2D}\,dW_t, \qquad V(x) = h\,(x^2 - 1)^2 ,$$

    with minima at $x = \pm 1$, a barrier of height $h$ at $x = 0$, and noise
    intensity $D = k_B T/\gamma$ (mobility 1). For $h/D \gg 1$ the rate of escape from
    one well (Kramers 1940; Smoluchowski limit) is

    $$k = \frac{\sqrt{V''(\pm 1)\,|V''(0)|}}{2\pi}\,e^{-h/D}
        = \frac{\sqrt{32}\,h}{2\pi}\,e^{-h/D}$$

    (`double_well_kramers_rate`); the exact mean first-passage time from one minimum to
    the other is a double integral (`double_well_mean_exit_time`). Noise:
    ``"additive"``.

    Args:
        barrier: barrier height $h$. Default 1.0.
        temperature: noise intensity $D$ (``h/D = 4`` by default). Default 0.25.
        y0: ``[X_0]``. Default ``[-1.0]`` (the left minimum).
        t_span: default ``(0.0, 100.0)``.

    Returns:
        The `Problem` ``"double_well_langevin"`` (shape ``(1,)``), with ``diffusion``
        and ``noise="additive"``.

    Reference:
        H. A. Kramers, "Brownian motion in a field of force and the diffusion model of
        chemical reactions", Physica 7 (1940) 284-304; P. Hanggi, P. Talkner and
        M. Borkovec, "Reaction-rate theory: fifty years after Kramers", Rev. Mod.
        Phys. 62 (1990) 251-341.
    """
    return Problem(
        name="double_well_langevin",
        vector_field=_double_well_drift,
        y0=as_state(y0),
        t_span=as_t_span(t_span),
        params=as_params(barrier=barrier, temperature=temperature),
        description="Overdamped Langevin dynamics in a double well (Kramers escape).",
        reference="H. A. Kramers, Physica 7 (1940) 284-304; Hanggi et al., RMP 62 (1990).",
        diffusion=_double_well_diffusion,
        noise="additive",
    )


def double_well_kramers_rate(params):
    r"""Kramers' escape rate $k = \frac{\sqrt{32}\,h}{2\pi}e^{-h/D}$ of the double well.

    The large-barrier asymptote (relative corrections of order $D/h$). Reference:
    Hanggi, Talkner & Borkovec, Rev. Mod. Phys. 62 (1990), eq. (4.56b).

    Args:
        params: the problem's ``params`` (``barrier`` $h$, ``temperature`` $D$).

    Returns:
        The rate (per unit time), an array.
    """
    h, d = params["barrier"], params["temperature"]
    return jnp.sqrt(32.0) * h / (2 * jnp.pi) * jnp.exp(-h / d)


def double_well_mean_exit_time(params, start=-1.0, end=1.0, points=20001):
    r"""Exact mean first-passage time of the double well from ``start`` to ``end``.

    For a one-dimensional diffusion $dX = -V'(X)dt + \sqrt{2D}dW$ started at $a$, the
    mean time to first reach $b > a$ is (Gardiner, *Handbook of Stochastic Methods*,
    5.2.7)

    $$\tau(a \to b) = \frac1D \int_a^b e^{V(y)/D} \int_{-\infty}^{y} e^{-V(z)/D}\,dz\,dy ,$$

    evaluated here by the trapezoidal rule on ``points`` nodes (the inner integral from
    $z = -3$, where $e^{-V/D}$ is negligible for $h/D > 1/4$), with the exponents
    shifted to avoid overflow. For ``start=-1, end=1`` it tends to $1/k$ (Kramers) as
    $h/D \to \infty$.

    Args:
        params: the problem's ``params`` (host numbers; not traced).
        start: $a$. Default -1 (the left minimum).
        end: $b > a$. Default 1 (the right minimum).
        points: quadrature nodes.

    Returns:
        The mean first-passage time, a Python float.
    """
    h, d = float(params["barrier"]), float(params["temperature"])
    if not end > start:
        raise ValueError(f"end must be > start, got start={start}, end={end}.")
    z = np.linspace(min(-3.0, start), end, points)
    potential = h * (z**2 - 1) ** 2
    inner_log_shift = -potential.min() / d
    inner = np.exp(-potential / d - inner_log_shift)
    cumulative = np.concatenate([[0.0], np.cumsum(0.5 * (inner[1:] + inner[:-1]) * np.diff(z))])
    mask = z >= start
    zs = z[mask]
    values = np.exp(potential[mask] / d + inner_log_shift) * cumulative[mask]
    return float(np.sum(0.5 * (values[1:] + values[:-1]) * np.diff(zs)) / d)


# ------------------------------------------------------------- stochastic Lotka-Volterra


def _stochastic_lotka_volterra_drift(t, y, params):
    prey, predator = y[0], y[1]
    return jnp.stack(
        [
            params["alpha"] * prey - params["beta"] * prey * predator,
            params["delta"] * prey * predator - params["gamma"] * predator,
        ]
    )


def _stochastic_lotka_volterra_diffusion(t, y, params):
    return jnp.stack([params["sigma_prey"] * y[0], params["sigma_predator"] * y[1]])


@register("stochastic_lotka_volterra")
def stochastic_lotka_volterra(
    *,
    alpha=1.5,
    beta=1.0,
    gamma=3.0,
    delta=1.0,
    sigma_prey=0.1,
    sigma_predator=0.1,
    y0=(10.0, 5.0),
    t_span=(0.0, 15.0),
) -> Problem:
    r"""Lotka-Volterra predator-prey dynamics with environmental (multiplicative) noise.

    $$dx = (\alpha x - \beta xy)\,dt + \sigma_x x\,dW^{(1)}, \qquad
      dy = (\delta xy - \gamma y)\,dt + \sigma_y y\,dW^{(2)} ,$$

    each growth rate perturbed by its own white noise. Populations stay positive; the
    deterministic cycles of `lotka_volterra` become a random walk across the
    family of orbits. Noise: ``"diagonal"`` (component $i$ depends on $y_i$ only, so
    Milstein applies).

    Args:
        alpha: prey growth rate $\alpha$. Default 1.5.
        beta: predation rate $\beta$. Default 1.0.
        gamma: predator death rate $\gamma$. Default 3.0.
        delta: predator growth per prey eaten $\delta$. Default 1.0.
        sigma_prey: noise intensity $\sigma_x$ on the prey. Default 0.1.
        sigma_predator: noise intensity $\sigma_y$ on the predator. Default 0.1.
        y0: ``[prey, predator]``. Default ``[10.0, 5.0]``.
        t_span: default ``(0.0, 15.0)``.

    Returns:
        The `Problem` ``"stochastic_lotka_volterra"`` (shape ``(2,)``), with
        ``diffusion`` and ``noise="diagonal"``.

    Reference:
        R. Rudnicki, "Long-time behaviour of a stochastic prey-predator model",
        Stochastic Processes and their Applications 108 (2003) 93-107.
    """
    return Problem(
        name="stochastic_lotka_volterra",
        vector_field=_stochastic_lotka_volterra_drift,
        y0=as_state(y0),
        t_span=as_t_span(t_span),
        params=as_params(
            alpha=alpha,
            beta=beta,
            gamma=gamma,
            delta=delta,
            sigma_prey=sigma_prey,
            sigma_predator=sigma_predator,
        ),
        description="Lotka-Volterra predator-prey model with multiplicative noise.",
        reference="R. Rudnicki, Stoch. Proc. Appl. 108 (2003) 93-107.",
        diffusion=_stochastic_lotka_volterra_diffusion,
        noise="diagonal",
    )
