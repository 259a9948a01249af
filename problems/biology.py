"""Biological and chemical models: predator-prey, epidemics, neurons, oscillating reactions.

Also the Van der Pol oscillator (here because FitzHugh-Nagumo generalises it, and Van der
Pol proposed it as a model of the heartbeat).
"""

from __future__ import annotations

import jax.numpy as jnp

from ._problem import Problem, as_params, as_state, as_t_span, register


def _lotka_volterra_field(t, y, params):
    prey, predator = y[0], y[1]
    return jnp.stack(
        [
            params["alpha"] * prey - params["beta"] * prey * predator,
            params["delta"] * prey * predator - params["gamma"] * predator,
        ]
    )


@register("lotka_volterra")
def lotka_volterra(
    *,
    alpha=1.5,
    beta=1.0,
    gamma=3.0,
    delta=1.0,
    y0=(10.0, 5.0),
    t_span=(0.0, 15.0),
) -> Problem:
    r"""The Lotka-Volterra predator-prey model.

    $$\dot x = \alpha x - \beta x y, \qquad \dot y = \delta x y - \gamma y,
      \qquad \text{state } [x, y] = [\text{prey}, \text{predator}].$$

    The orbits are closed: $V = \delta x - \gamma\ln x + \beta y - \alpha\ln y$ is
    conserved (for positive populations).

    Args:
        alpha: prey growth rate $\alpha$. Default 1.5.
        beta: predation rate $\beta$. Default 1.0.
        gamma: predator death rate $\gamma$. Default 3.0.
        delta: predator growth per prey eaten $\delta$. Default 1.0.
        y0: ``[prey, predator]``. Default ``[10.0, 5.0]``.
        t_span: default ``(0.0, 15.0)``.

    Returns:
        The `Problem` ``"lotka_volterra"`` (shape ``(2,)``).

    Reference:
        A. J. Lotka, Elements of Physical Biology, Williams & Wilkins (1925);
        V. Volterra, "Fluctuations in the abundance of a species considered
        mathematically", Nature 118 (1926) 558-560.
    """
    return Problem(
        name="lotka_volterra",
        vector_field=_lotka_volterra_field,
        y0=as_state(y0),
        t_span=as_t_span(t_span),
        params=as_params(alpha=alpha, beta=beta, gamma=gamma, delta=delta),
        description="Lotka-Volterra predator-prey model.",
        reference="A. J. Lotka (1925); V. Volterra, Nature 118 (1926) 558-560.",
    )


def _sir_field(t, y, params):
    susceptible, infected = y[0], y[1]
    infection = params["beta"] * susceptible * infected
    recovery = params["gamma"] * infected
    return jnp.stack([-infection, infection - recovery, recovery])


@register("sir")
def sir(*, beta=0.3, gamma=0.1, y0=(0.99, 0.01, 0.0), t_span=(0.0, 160.0)) -> Problem:
    r"""The SIR epidemic model (Kermack-McKendrick), normalised population.

    $$\dot S = -\beta S I, \qquad \dot I = \beta S I - \gamma I, \qquad
      \dot R = \gamma I, \qquad \text{state } [S, I, R].$$

    $S + I + R$ is conserved (1 for the default start); the basic reproduction number
    is $R_0 = \beta/\gamma$ (3 for the defaults).

    Args:
        beta: transmission rate $\beta$ (1/day). Default 0.3.
        gamma: recovery rate $\gamma$ (1/day). Default 0.1.
        y0: ``[S, I, R]`` as fractions of the population. Default ``[0.99, 0.01, 0.0]``.
        t_span: default ``(0.0, 160.0)`` (days).

    Returns:
        The `Problem` ``"sir"`` (shape ``(3,)``).

    Reference:
        W. O. Kermack and A. G. McKendrick, "A contribution to the mathematical theory
        of epidemics", Proceedings of the Royal Society A 115 (1927) 700-721.
    """
    return Problem(
        name="sir",
        vector_field=_sir_field,
        y0=as_state(y0),
        t_span=as_t_span(t_span),
        params=as_params(beta=beta, gamma=gamma),
        description="SIR epidemic model with a normalised population.",
        reference="W. O. Kermack, A. G. McKendrick, Proc. R. Soc. A 115 (1927) 700-721.",
    )


def _fitzhugh_nagumo_field(t, y, params):
    v, w = y[0], y[1]
    return jnp.stack(
        [
            v - v**3 / 3.0 - w + params["I"],
            (v + params["a"] - params["b"] * w) / params["tau"],
        ]
    )


@register("fitzhugh_nagumo")
def fitzhugh_nagumo(
    *,
    a=0.7,
    b=0.8,
    tau=12.5,
    I=0.5,
    y0=(-1.0, 1.0),
    t_span=(0.0, 100.0),
) -> Problem:
    r"""The FitzHugh-Nagumo model of a spiking neuron.

    $$\dot v = v - \frac{v^3}{3} - w + I, \qquad \tau\dot w = v + a - b w,
      \qquad \text{state } [v, w].$$

    For the defaults the rest state is unstable and the neuron fires periodically
    (a relaxation limit cycle).

    Args:
        a: recovery offset $a$. Default 0.7.
        b: recovery feedback $b$. Default 0.8.
        tau: recovery time scale $\tau$. Default 12.5.
        I: external stimulus current $I$. Default 0.5.
        y0: ``[v, w]`` (membrane potential, recovery variable). Default ``[-1.0, 1.0]``.
        t_span: default ``(0.0, 100.0)``.

    Returns:
        The `Problem` ``"fitzhugh_nagumo"`` (shape ``(2,)``).

    Reference:
        R. FitzHugh, "Impulses and physiological states in theoretical models of nerve
        membrane", Biophysical Journal 1 (1961) 445-466; J. Nagumo, S. Arimoto and
        S. Yoshizawa, "An active pulse transmission line simulating nerve axon",
        Proceedings of the IRE 50 (1962) 2061-2070.
    """
    return Problem(
        name="fitzhugh_nagumo",
        vector_field=_fitzhugh_nagumo_field,
        y0=as_state(y0),
        t_span=as_t_span(t_span),
        params=as_params(a=a, b=b, tau=tau, I=I),
        description="FitzHugh-Nagumo neuron model (periodic spiking for the defaults).",
        reference="R. FitzHugh, Biophys. J. 1 (1961) 445-466; Nagumo et al., Proc. IRE 50 (1962).",
    )


def _brusselator_field(t, y, params):
    x, u = y[0], y[1]
    A, B = params["A"], params["B"]
    return jnp.stack([A + x**2 * u - (B + 1.0) * x, B * x - x**2 * u])


@register("brusselator")
def brusselator(*, A=1.0, B=3.0, y0=(1.5, 3.0), t_span=(0.0, 20.0)) -> Problem:
    r"""The Brusselator, a model of an autocatalytic oscillating reaction (two species).

    $$\dot x = A + x^2 y - (B + 1) x, \qquad \dot y = B x - x^2 y,
      \qquad \text{state } [x, y].$$

    The fixed point $(A, B/A)$ is unstable for $B > 1 + A^2$, and orbits approach a limit
    cycle (as for the defaults).

    Args:
        A: feed concentration $A$. Default 1.0.
        B: feed concentration $B$. Default 3.0.
        y0: ``[x, y]``. Default ``[1.5, 3.0]``.
        t_span: default ``(0.0, 20.0)``.

    Returns:
        The `Problem` ``"brusselator"`` (shape ``(2,)``).

    Reference:
        I. Prigogine and R. Lefever, "Symmetry breaking instabilities in dissipative
        systems. II", Journal of Chemical Physics 48 (1968) 1695-1700; E. Hairer,
        S. P. Nørsett and G. Wanner, Solving Ordinary Differential Equations I, 2nd ed.,
        Springer (1993), where this form with $y_0 = (1.5, 3)$ on $[0, 20]$ is a
        running example (the defaults here).
    """
    return Problem(
        name="brusselator",
        vector_field=_brusselator_field,
        y0=as_state(y0),
        t_span=as_t_span(t_span),
        params=as_params(A=A, B=B),
        description="Brusselator oscillating reaction (two-variable ODE).",
        reference=(
            "I. Prigogine, R. Lefever, J. Chem. Phys. 48 (1968); Hairer-Norsett-Wanner I (1993)."
        ),
    )


def _van_der_pol_field(t, y, params):
    x, v = y[0], y[1]
    return jnp.stack([v, params["mu"] * (1.0 - x**2) * v - x])


@register("van_der_pol")
def van_der_pol(*, mu=1.0, y0=(2.0, 0.0), t_span=(0.0, 20.0)) -> Problem:
    r"""The Van der Pol oscillator.

    $$\ddot x = \mu (1 - x^2)\dot x - x, \qquad \text{state } y = [x, \dot x].$$

    Every orbit approaches one limit cycle (period about 6.66 for $\mu = 1$). The problem
    becomes stiff as $\mu$ grows: a concrete ``mu >= 100`` marks the problem
    ``stiff=True``; the default $\mu = 1$ is not stiff.

    Args:
        mu: nonlinear damping strength $\mu$. Default 1.0.
        y0: ``[x0, v0]``. Default ``[2.0, 0.0]``.
        t_span: default ``(0.0, 20.0)`` (about three periods for $\mu = 1$).

    Returns:
        The `Problem` ``"van_der_pol"`` (shape ``(2,)``).

    Reference:
        B. van der Pol, "On relaxation-oscillations", The London, Edinburgh and Dublin
        Philosophical Magazine 2 (1926) 978-992; E. Hairer and G. Wanner, Solving
        Ordinary Differential Equations II, 2nd ed., Springer (1996), section IV.1.
    """
    return Problem(
        name="van_der_pol",
        vector_field=_van_der_pol_field,
        y0=as_state(y0),
        t_span=as_t_span(t_span),
        params=as_params(mu=mu),
        stiff=isinstance(mu, (int, float)) and mu >= 100,
        description="Van der Pol oscillator (relaxation limit cycle).",
        reference="B. van der Pol, Phil. Mag. 2 (1926) 978-992; Hairer-Wanner II, IV.1.",
    )
