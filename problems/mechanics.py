"""Mechanical problems: decay, oscillators, pendulums and the Kepler two-body problem."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from ._problem import Problem, as_params, as_state, as_t_span, register

# ---------------------------------------------------------------------------------------
# Exponential decay


def _exponential_decay_field(t, y, params):
    return -params["k"] * y


@register("exponential_decay")
def exponential_decay(*, k=1.0, y0=(1.0,), t_span=(0.0, 5.0)) -> Problem:
    r"""Exponential decay, the linear test equation.

    $$y' = -k\,y, \qquad y(t) = y_0\, e^{-k (t - t_0)}.$$

    The state is an array of any shape (default shape ``(1,)``); every component decays
    with the same rate. Has an exact solution.

    Args:
        k: decay rate (1/time). Default 1.0.
        y0: initial state. Default ``[1.0]``.
        t_span: default ``(0.0, 5.0)``.

    Returns:
        The `Problem` ``"exponential_decay"``.

    Reference:
        G. Dahlquist, "A special stability problem for linear multistep methods",
        BIT 3 (1963) 27-43.
    """
    y0 = as_state(y0)
    t_span = as_t_span(t_span)
    t0 = t_span[0]

    def exact(t, params):
        return y0 * jnp.exp(-params["k"] * (t - t0))

    return Problem(
        name="exponential_decay",
        vector_field=_exponential_decay_field,
        y0=y0,
        t_span=t_span,
        params=as_params(k=k),
        exact=exact,
        description="Linear decay y' = -k y.",
        reference="G. Dahlquist, BIT 3 (1963) 27-43.",
    )


# ---------------------------------------------------------------------------------------
# Harmonic oscillator


def _harmonic_oscillator_field(t, y, params):
    x, v = y[0], y[1]
    return jnp.stack([v, -(params["omega"] ** 2) * x])


@register("harmonic_oscillator")
def harmonic_oscillator(*, omega=1.0, y0=(1.0, 0.0), t_span=(0.0, 10.0)) -> Problem:
    r"""The undamped harmonic oscillator.

    $$\ddot x = -\omega^2 x, \qquad \text{state } y = [x, v],\ v = \dot x.$$

    Exact solution, with $\tau = t - t_0$:
    $x = x_0 \cos\omega\tau + (v_0/\omega)\sin\omega\tau$,
    $v = -x_0\omega\sin\omega\tau + v_0\cos\omega\tau$.

    Args:
        omega: angular frequency (rad/time), must be positive. Default 1.0.
        y0: ``[x0, v0]``. Default ``[1.0, 0.0]``.
        t_span: default ``(0.0, 10.0)``.

    Returns:
        The `Problem` ``"harmonic_oscillator"`` (shape ``(2,)``, has ``exact``).

    Reference:
        L. D. Landau and E. M. Lifshitz, Mechanics, 3rd ed., Pergamon (1976), section 21.
    """
    y0 = as_state(y0)
    t_span = as_t_span(t_span)
    t0 = t_span[0]

    def exact(t, params):
        omega = params["omega"]
        x0, v0 = y0[0], y0[1]
        phase = omega * (t - t0)
        cos, sin = jnp.cos(phase), jnp.sin(phase)
        return jnp.stack([x0 * cos + v0 / omega * sin, -x0 * omega * sin + v0 * cos])

    return Problem(
        name="harmonic_oscillator",
        vector_field=_harmonic_oscillator_field,
        y0=y0,
        t_span=t_span,
        params=as_params(omega=omega),
        exact=exact,
        description="Undamped harmonic oscillator x'' = -omega^2 x.",
        reference="L. D. Landau, E. M. Lifshitz, Mechanics, 3rd ed. (1976), sec. 21.",
    )


# ---------------------------------------------------------------------------------------
# Damped, driven harmonic oscillator


def _damped_driven_oscillator_field(t, y, params):
    x, v = y[0], y[1]
    omega, zeta = params["omega"], params["zeta"]
    force = params["F"] * jnp.cos(params["Omega"] * t)
    return jnp.stack([v, force - 2.0 * zeta * omega * v - omega**2 * x])


def _safe_sqrt(x):
    # sqrt with a finite derivative at 0 (the branch that uses it is masked out there).
    positive = x > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, x, 1.0)), 0.0)


@register("damped_driven_oscillator")
def damped_driven_oscillator(
    *,
    omega=1.0,
    zeta=0.1,
    F=0.5,
    Omega=0.8,
    y0=(1.0, 0.0),
    t_span=(0.0, 40.0),
) -> Problem:
    r"""The damped harmonic oscillator driven by a cosine force.

    $$\ddot x + 2\zeta\omega\,\dot x + \omega^2 x = F\cos(\Omega t),
      \qquad \text{state } y = [x, v].$$

    Exact solution (transient plus steady state). The steady state is
    $x_p = R\cos\Omega t + S\sin\Omega t$ with
    $D = (\omega^2-\Omega^2)^2 + (2\zeta\omega\Omega)^2$,
    $R = F(\omega^2-\Omega^2)/D$, $S = 2\zeta\omega\Omega F/D$.
    With $\tau = t - t_0$, $s = \omega^2(1-\zeta^2)$, and
    $C(\tau) = \cos\sqrt{s}\,\tau$, $\Sigma(\tau) = \sin(\sqrt{s}\,\tau)/\sqrt{s}$
    (underdamped, $\zeta < 1$; the hyperbolic functions for $\zeta > 1$ and
    $C = 1$, $\Sigma = \tau$ at critical damping), the transient is
    $x_h = e^{-\zeta\omega\tau}\,(A\,C + B\,\Sigma)$ with
    $A = x_0 - x_p(t_0)$ and $B = v_0 - \dot x_p(t_0) + \zeta\omega A$.
    The closed form is undefined only at undamped resonance ($\zeta = 0$,
    $\Omega = \omega$).

    Args:
        omega: natural angular frequency $\omega$ (rad/time). Default 1.0.
        zeta: damping ratio $\zeta$ (dimensionless; < 1 underdamped). Default 0.1.
        F: forcing amplitude per unit mass (length/time^2). Default 0.5.
        Omega: driving angular frequency $\Omega$ (rad/time). Default 0.8.
        y0: ``[x0, v0]`` at ``t_span[0]``. Default ``[1.0, 0.0]``.
        t_span: default ``(0.0, 40.0)``.

    Returns:
        The `Problem` ``"damped_driven_oscillator"`` (shape ``(2,)``, has ``exact``).

    Reference:
        L. D. Landau and E. M. Lifshitz, Mechanics, 3rd ed., Pergamon (1976),
        sections 22, 25 and 26.
    """
    y0 = as_state(y0)
    t_span = as_t_span(t_span)
    t0 = t_span[0]

    def exact(t, params):
        omega, zeta = params["omega"], params["zeta"]
        F, Omega = params["F"], params["Omega"]
        gap = omega**2 - Omega**2
        friction = 2.0 * zeta * omega * Omega
        denominator = gap**2 + friction**2
        R, S = F * gap / denominator, F * friction / denominator

        def steady(time):
            cos, sin = jnp.cos(Omega * time), jnp.sin(Omega * time)
            return R * cos + S * sin, Omega * (S * cos - R * sin)

        xp0, vp0 = steady(t0)
        xp, vp = steady(t)
        A = y0[0] - xp0
        B = y0[1] - vp0 + zeta * omega * A

        tau = t - t0
        s = omega**2 * (1.0 - zeta**2)
        k_under, k_over = _safe_sqrt(s), _safe_sqrt(-s)
        k_under_safe = jnp.where(s > 0, k_under, 1.0)
        k_over_safe = jnp.where(s < 0, k_over, 1.0)
        # C(tau), Sigma(tau): C' = -s Sigma, Sigma' = C, C(0) = 1, Sigma(0) = 0.
        C = jnp.where(
            s > 0,
            jnp.cos(k_under * tau),
            jnp.where(s < 0, jnp.cosh(k_over * tau), jnp.ones_like(tau)),
        )
        Sigma = jnp.where(
            s > 0,
            jnp.sin(k_under * tau) / k_under_safe,
            jnp.where(s < 0, jnp.sinh(k_over * tau) / k_over_safe, tau),
        )
        envelope = jnp.exp(-zeta * omega * tau)
        xh = envelope * (A * C + B * Sigma)
        vh = envelope * (-zeta * omega * (A * C + B * Sigma) - A * s * Sigma + B * C)
        return jnp.stack([xh + xp, vh + vp])

    return Problem(
        name="damped_driven_oscillator",
        vector_field=_damped_driven_oscillator_field,
        y0=y0,
        t_span=t_span,
        params=as_params(omega=omega, zeta=zeta, F=F, Omega=Omega),
        exact=exact,
        description="Damped harmonic oscillator driven by F cos(Omega t).",
        reference="L. D. Landau, E. M. Lifshitz, Mechanics, 3rd ed. (1976), secs. 22, 25, 26.",
    )


# ---------------------------------------------------------------------------------------
# Pendulum


def _pendulum_field(t, y, params):
    theta, omega = y[0], y[1]
    acceleration = -params["g"] / params["L"] * jnp.sin(theta) - params["c"] * omega
    return jnp.stack([omega, acceleration])


@register("pendulum")
def pendulum(*, g=9.81, L=1.0, c=0.0, y0=(1.0, 0.0), t_span=(0.0, 10.0)) -> Problem:
    r"""The nonlinear (optionally damped) simple pendulum.

    $$\ddot\theta = -\frac{g}{L}\sin\theta - c\,\dot\theta,
      \qquad \text{state } y = [\theta, \dot\theta].$$

    For ``c = 0`` the energy $\tfrac12 L^2\dot\theta^2 - gL\cos\theta$ (per unit
    mass) is conserved. No exact solution is provided (the closed form needs Jacobi
    elliptic functions).

    Args:
        g: gravitational acceleration (length/time^2). Default 9.81.
        L: pendulum length (length). Default 1.0.
        c: linear damping coefficient (1/time). Default 0.0 (undamped).
        y0: ``[theta0, dtheta0]`` in radians and rad/time. Default ``[1.0, 0.0]``.
        t_span: default ``(0.0, 10.0)``.

    Returns:
        The `Problem` ``"pendulum"`` (shape ``(2,)``).

    Reference:
        S. H. Strogatz, Nonlinear Dynamics and Chaos, 2nd ed., Westview (2015),
        section 6.7.
    """
    return Problem(
        name="pendulum",
        vector_field=_pendulum_field,
        y0=as_state(y0),
        t_span=as_t_span(t_span),
        params=as_params(g=g, L=L, c=c),
        description="Nonlinear pendulum theta'' = -(g/L) sin(theta) - c theta'.",
        reference="S. H. Strogatz, Nonlinear Dynamics and Chaos, 2nd ed. (2015), sec. 6.7.",
    )


# ---------------------------------------------------------------------------------------
# Double pendulum


def _double_pendulum_field(t, y, params):
    theta1, theta2, omega1, omega2 = y[0], y[1], y[2], y[3]
    m1, m2, L1, L2, g = params["m1"], params["m2"], params["L1"], params["L2"], params["g"]
    delta = theta1 - theta2
    denominator = 2.0 * m1 + m2 - m2 * jnp.cos(2.0 * delta)
    alpha1 = (
        -g * (2.0 * m1 + m2) * jnp.sin(theta1)
        - m2 * g * jnp.sin(theta1 - 2.0 * theta2)
        - 2.0 * jnp.sin(delta) * m2 * (omega2**2 * L2 + omega1**2 * L1 * jnp.cos(delta))
    ) / (L1 * denominator)
    alpha2 = (
        2.0
        * jnp.sin(delta)
        * (
            omega1**2 * L1 * (m1 + m2)
            + g * (m1 + m2) * jnp.cos(theta1)
            + omega2**2 * L2 * m2 * jnp.cos(delta)
        )
    ) / (L2 * denominator)
    return jnp.stack([omega1, omega2, alpha1, alpha2])


@register("double_pendulum")
def double_pendulum(
    *,
    m1=1.0,
    m2=1.0,
    L1=1.0,
    L2=1.0,
    g=9.81,
    y0=(math.pi / 2, math.pi / 2, 0.0, 0.0),
    t_span=(0.0, 20.0),
) -> Problem:
    r"""The planar double pendulum: two point masses on massless rigid rods.

    Angles $\theta_i$ are measured from the downward vertical; state
    $y = [\theta_1, \theta_2, \omega_1, \omega_2]$, $\omega_i = \dot\theta_i$.
    The Euler-Lagrange equations of
    $\mathcal L = \tfrac12(m_1+m_2)L_1^2\omega_1^2 + \tfrac12 m_2L_2^2\omega_2^2
    + m_2L_1L_2\omega_1\omega_2\cos(\theta_1-\theta_2)
    + (m_1+m_2)gL_1\cos\theta_1 + m_2gL_2\cos\theta_2$, solved for the accelerations,
    with $\Delta = \theta_1-\theta_2$ and
    $D = 2m_1 + m_2 - m_2\cos 2\Delta$:

    $$\begin{aligned}
      \dot\omega_1 &= \frac{-g(2m_1+m_2)\sin\theta_1 - m_2 g\sin(\theta_1-2\theta_2)
          - 2\sin\Delta\, m_2(\omega_2^2L_2 + \omega_1^2L_1\cos\Delta)}{L_1 D}, \\
      \dot\omega_2 &= \frac{2\sin\Delta\,\big(\omega_1^2L_1(m_1+m_2)
          + g(m_1+m_2)\cos\theta_1 + \omega_2^2L_2m_2\cos\Delta\big)}{L_2 D}.
    \end{aligned}$$

    Chaotic for the default (both arms horizontal, at rest). The energy
    $\tfrac12(m_1+m_2)L_1^2\omega_1^2 + \tfrac12 m_2L_2^2\omega_2^2
    + m_2L_1L_2\omega_1\omega_2\cos\Delta - (m_1+m_2)gL_1\cos\theta_1 - m_2gL_2\cos\theta_2$
    is conserved.

    Args:
        m1: mass of the inner bob. Default 1.0.
        m2: mass of the outer bob. Default 1.0.
        L1: length of the inner rod. Default 1.0.
        L2: length of the outer rod. Default 1.0.
        g: gravitational acceleration. Default 9.81.
        y0: ``[theta1, theta2, omega1, omega2]``. Default ``[pi/2, pi/2, 0, 0]``.
        t_span: default ``(0.0, 20.0)``.

    Returns:
        The `Problem` ``"double_pendulum"`` (shape ``(4,)``).

    Reference:
        T. Shinbrot, C. Grebogi, J. Wisdom and J. A. Yorke, "Chaos in a double
        pendulum", American Journal of Physics 60 (1992) 491-499.
    """
    return Problem(
        name="double_pendulum",
        vector_field=_double_pendulum_field,
        y0=as_state(y0),
        t_span=as_t_span(t_span),
        params=as_params(m1=m1, m2=m2, L1=L1, L2=L2, g=g),
        description="Planar double pendulum (point masses, rigid massless rods).",
        reference=(
            "T. Shinbrot, C. Grebogi, J. Wisdom, J. A. Yorke, Am. J. Phys. 60 (1992) 491-499."
        ),
    )


# ---------------------------------------------------------------------------------------
# Kepler two-body problem

_KEPLER_NEWTON_ITERATIONS = 12


@jax.custom_jvp
def solve_kepler_equation(mean_anomaly, eccentricity):
    r"""The eccentric anomaly $E$ solving $M = E - e\sin E$, for $0 \le e < 1$.

    A fixed number of Newton iterations from Danby's starting value
    $E_0 = M + 0.85\,e\,\mathrm{sign}(\sin M)$ (with $M$ reduced to
    $[-\pi, \pi]$), which reach machine precision for $e \le 0.95$. The
    derivatives come from the implicit function theorem,
    $dE = (dM + \sin E\,de)/(1 - e\cos E)$, so they are exact to all orders
    and independent of the iteration count.

    Args:
        mean_anomaly: $M$, a scalar array.
        eccentricity: $e$, a scalar array.

    Returns:
        $E$, with the same branch as $M$ (``E - M`` is periodic).
    """
    M, e = jnp.asarray(mean_anomaly), jnp.asarray(eccentricity)
    turns = jnp.round(M / (2.0 * jnp.pi))
    reduced = M - 2.0 * jnp.pi * turns

    def newton_step(_, E):
        return E - (E - e * jnp.sin(E) - reduced) / (1.0 - e * jnp.cos(E))

    start = reduced + 0.85 * e * jnp.sign(jnp.sin(reduced))
    E = jax.lax.fori_loop(0, _KEPLER_NEWTON_ITERATIONS, newton_step, start)
    return E + 2.0 * jnp.pi * turns


@solve_kepler_equation.defjvp
def _solve_kepler_equation_jvp(primals, tangents):
    M, e = primals
    dM, de = tangents
    E = solve_kepler_equation(M, e)
    dE = (dM + jnp.sin(E) * de) / (1.0 - e * jnp.cos(E))
    return E, dE


def _kepler_field(t, y, params):
    q, p = y[:2], y[2:]
    radius_cubed = jnp.sum(q**2) ** 1.5
    return jnp.concatenate([p, -params["mu"] * q / radius_cubed])


def kepler_periapsis_state(e, mu=1.0) -> jnp.ndarray:
    """The state ``[qx, qy, px, py]`` at periapsis of the orbit with semi-major axis 1."""
    e = jnp.asarray(e, dtype=float)
    mu = jnp.asarray(mu, dtype=float)
    zero = jnp.zeros_like(e)
    return jnp.stack([1.0 - e, zero, zero, jnp.sqrt(mu * (1.0 + e) / (1.0 - e))])


def kepler_orbit(elapsed, e, mu):
    """The elliptic Kepler orbit (semi-major axis 1) ``elapsed`` time after periapsis:
    ``(x, y, vx, vy)`` from Kepler's equation ``E - e sin E = sqrt(mu) elapsed``."""
    E = solve_kepler_equation(jnp.sqrt(mu) * elapsed, e)
    cos, sin = jnp.cos(E), jnp.sin(E)
    root = jnp.sqrt(1.0 - e**2)
    speed = jnp.sqrt(mu) / (1.0 - e * cos)
    return jnp.stack([cos - e, root * sin, -speed * sin, speed * root * cos])


@register("kepler")
def kepler(*, e=0.6, mu=1.0, y0=None, t_span=(0.0, 20.0 * math.pi)) -> Problem:
    r"""The Kepler (two-body) problem in the plane, in relative coordinates.

    $$\dot q = p, \qquad \dot p = -\mu\,\frac{q}{\lVert q\rVert^3},
      \qquad \text{state } y = [q_x, q_y, p_x, p_y].$$

    The default start is the periapsis of an ellipse of semi-major axis 1 and
    eccentricity ``e``: $q = (1-e, 0)$, $p = (0, \sqrt{\mu(1+e)/(1-e)})$
    (Hairer, Lubich & Wanner, section I.2.3, with $\mu = 1$). The period is
    $2\pi/\sqrt\mu$; energy $H = \tfrac12\lVert p\rVert^2 - \mu/\lVert q\rVert
    = -\mu/2$ and angular momentum $L = q_x p_y - q_y p_x = \sqrt{\mu(1-e^2)}$
    are conserved.

    Exact solution: with the mean anomaly $M = \sqrt\mu\,(t - t_0)$, solve Kepler's
    equation $M = E - e\sin E$ (`solve_kepler_equation`); then
    $q = (\cos E - e,\ \sqrt{1-e^2}\sin E)$ and
    $p = \frac{\sqrt\mu}{1 - e\cos E}(-\sin E,\ \sqrt{1-e^2}\cos E)$.

    ``e`` only sets the initial state and ``exact``; the vector field does not depend on
    it. ``exact(t, params)`` reads ``params["e"]`` and ``params["mu"]``, so it is
    differentiable in both. With ``y0`` overridden there is no ``exact`` (``None``).

    Args:
        e: eccentricity, ``0 <= e < 1`` (``exact`` converges to machine precision up to
            0.95). Default 0.6.
        mu: gravitational parameter $G(m_1+m_2)$. Default 1.0.
        y0: initial state; default ``None``, the periapsis state above.
        t_span: default ``(0.0, 20*pi)``, ten periods.

    Returns:
        The `Problem` ``"kepler"`` (shape ``(4,)``).

    Reference:
        E. Hairer, C. Lubich and G. Wanner, Geometric Numerical Integration, 2nd ed.,
        Springer (2006), section I.2.3.
    """
    if isinstance(e, (int, float)) and not 0.0 <= e < 1.0:
        raise ValueError(f"kepler needs an elliptic orbit, 0 <= e < 1; got e={e}.")
    t_span = as_t_span(t_span)
    t0 = t_span[0]

    def exact(t, params):
        return kepler_orbit(t - t0, params["e"], params["mu"])

    if y0 is None:
        y0 = kepler_periapsis_state(e, mu)
    else:
        y0, exact = as_state(y0), None
    return Problem(
        name="kepler",
        vector_field=_kepler_field,
        y0=y0,
        t_span=t_span,
        params=as_params(e=e, mu=mu),
        exact=exact,
        description="Planar two-body problem, elliptic orbit starting at periapsis.",
        reference="E. Hairer, C. Lubich, G. Wanner, Geometric Numerical Integration (2006), I.2.3.",
    )
