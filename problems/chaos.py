"""Chaotic flows: the Lorenz and Rössler attractors and the forced Duffing oscillator."""

from __future__ import annotations

import jax.numpy as jnp

from ._problem import Problem, as_params, as_state, as_t_span, register


def _lorenz63_field(t, y, params):
    x, u, z = y[0], y[1], y[2]
    return jnp.stack(
        [
            params["sigma"] * (u - x),
            x * (params["rho"] - z) - u,
            x * u - params["beta"] * z,
        ]
    )


@register("lorenz63")
def lorenz63(
    *, sigma=10.0, rho=28.0, beta=8.0 / 3.0, y0=(1.0, 1.0, 1.0), t_span=(0.0, 20.0)
) -> Problem:
    r"""The Lorenz (1963) convection model, the classic strange attractor.

    $$\dot x = \sigma (y - x), \qquad \dot y = x(\rho - z) - y, \qquad
      \dot z = x y - \beta z, \qquad \text{state } [x, y, z].$$

    Args:
        sigma: Prandtl number $\sigma$. Default 10.0.
        rho: Rayleigh number ratio $\rho$ (chaotic above about 24.74). Default 28.0.
        beta: geometric factor $\beta$. Default 8/3.
        y0: initial state. Default ``[1.0, 1.0, 1.0]``.
        t_span: default ``(0.0, 20.0)``.

    Returns:
        The `Problem` ``"lorenz63"`` (shape ``(3,)``).

    Reference:
        E. N. Lorenz, "Deterministic nonperiodic flow", Journal of the Atmospheric
        Sciences 20 (1963) 130-141.
    """
    return Problem(
        name="lorenz63",
        vector_field=_lorenz63_field,
        y0=as_state(y0),
        t_span=as_t_span(t_span),
        params=as_params(sigma=sigma, rho=rho, beta=beta),
        description="Lorenz (1963) convection model; chaotic for the default parameters.",
        reference="E. N. Lorenz, J. Atmos. Sci. 20 (1963) 130-141.",
    )


def _rossler_field(t, y, params):
    x, u, z = y[0], y[1], y[2]
    return jnp.stack(
        [
            -u - z,
            x + params["a"] * u,
            params["b"] + z * (x - params["c"]),
        ]
    )


@register("rossler")
def rossler(*, a=0.2, b=0.2, c=5.7, y0=(1.0, 1.0, 1.0), t_span=(0.0, 100.0)) -> Problem:
    r"""The Rössler attractor.

    $$\dot x = -y - z, \qquad \dot y = x + a y, \qquad \dot z = b + z (x - c),
      \qquad \text{state } [x, y, z].$$

    Args:
        a: Default 0.2.
        b: Default 0.2.
        c: Default 5.7 (chaotic band attractor).
        y0: initial state. Default ``[1.0, 1.0, 1.0]``.
        t_span: default ``(0.0, 100.0)`` (about 16 turns around the attractor).

    Returns:
        The `Problem` ``"rossler"`` (shape ``(3,)``).

    Reference:
        O. E. Rössler, "An equation for continuous chaos", Physics Letters A 57 (1976)
        397-398.
    """
    return Problem(
        name="rossler",
        vector_field=_rossler_field,
        y0=as_state(y0),
        t_span=as_t_span(t_span),
        params=as_params(a=a, b=b, c=c),
        description="Rössler (1976) attractor.",
        reference="O. E. Rössler, Phys. Lett. A 57 (1976) 397-398.",
    )


def _duffing_field(t, y, params):
    x, v = y[0], y[1]
    acceleration = (
        params["gamma"] * jnp.cos(params["omega"] * t)
        - params["delta"] * v
        - params["alpha"] * x
        - params["beta"] * x**3
    )
    return jnp.stack([v, acceleration])


@register("duffing")
def duffing(
    *,
    delta=0.3,
    alpha=-1.0,
    beta=1.0,
    gamma=0.5,
    omega=1.2,
    y0=(1.0, 0.0),
    t_span=(0.0, 100.0),
) -> Problem:
    r"""The forced Duffing oscillator.

    $$\ddot x + \delta\dot x + \alpha x + \beta x^3 = \gamma\cos(\omega t),
      \qquad \text{state } y = [x, \dot x].$$

    The defaults ($\alpha = -1$, $\beta = 1$: a double-well potential, with
    $\delta = 0.3$, $\gamma = 0.5$, $\omega = 1.2$) are a common choice in the chaotic
    regime (Guckenheimer and Holmes analyse this double-well form).

    Args:
        delta: damping $\delta$. Default 0.3.
        alpha: linear stiffness $\alpha$. Default -1.0.
        beta: cubic stiffness $\beta$. Default 1.0.
        gamma: forcing amplitude $\gamma$. Default 0.5.
        omega: forcing angular frequency $\omega$. Default 1.2.
        y0: ``[x0, v0]``. Default ``[1.0, 0.0]``.
        t_span: default ``(0.0, 100.0)``.

    Returns:
        The `Problem` ``"duffing"`` (shape ``(2,)``).

    Reference:
        J. Guckenheimer and P. Holmes, Nonlinear Oscillations, Dynamical Systems, and
        Bifurcations of Vector Fields, Springer (1983), section 2.2; G. Duffing,
        Erzwungene Schwingungen bei veränderlicher Eigenfrequenz, Vieweg (1918).
    """
    return Problem(
        name="duffing",
        vector_field=_duffing_field,
        y0=as_state(y0),
        t_span=as_t_span(t_span),
        params=as_params(delta=delta, alpha=alpha, beta=beta, gamma=gamma, omega=omega),
        description="Forced Duffing oscillator (double well, chaotic for the defaults).",
        reference="J. Guckenheimer, P. Holmes, Nonlinear Oscillations... (1983), sec. 2.2.",
    )
