"""Explicit Runge-Kutta methods: fixed-step and embedded adaptive pairs.

A method is data (a :class:`~solvers._tableaus.ButcherTableau` plus the constants of
its step-size controller) and one pure function, :func:`rk_step`, that takes a step

.. math::

    k_i = f\\Big(t + c_i h,\\; y + h \\sum_{j<i} a_{ij} k_j\\Big), \\qquad
    y_1 = y + h \\sum_i b_i k_i, \\qquad
    e = h \\sum_i (b_i - \\hat b_i) k_i .

References:
    Hairer, Norsett & Wanner, *Solving Ordinary Differential Equations I: Nonstiff
    Problems*, 2nd ed., Springer 1993, chapter II.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp

from . import _tableaus
from ._tableaus import ButcherTableau


@dataclasses.dataclass(frozen=True)
class ExplicitRK:
    """An explicit Runge-Kutta method and its step-size controller constants.

    The controller is the PID controller of Soderlind, "Digital filters in adaptive
    time-stepping", ACM TOMS 29 (2003) 1-26: with ``r_n = 1 / error_ratio_n`` and
    ``k = error_order + 1``, the step is scaled by
    ``safety * r_n^((p+i+d)/k) * r_{n-1}^(-(p+2d)/k) * r_{n-2}^(d/k)``, clipped to
    ``[factormin, factormax]`` after an accepted step and ``[factormin, safety]`` after a
    rejected one. The default (``icoeff=1``, others 0) is the classical I controller;
    ``pcoeff=0.4, icoeff=0.3`` gives Hairer's PI controller.

    Attributes:
        tableau: the Butcher tableau.
        pcoeff, icoeff, dcoeff: PID coefficients.
        safety, factormin, factormax: step-size factor safety and bounds.
    """

    tableau: ButcherTableau
    pcoeff: float = 0.0
    icoeff: float = 1.0
    dcoeff: float = 0.0
    safety: float = 0.9
    factormin: float = 0.2
    factormax: float = 10.0

    @property
    def name(self) -> str:
        return self.tableau.name

    @property
    def adaptive(self) -> bool:
        return self.tableau.adaptive

    @property
    def order(self) -> int:
        return self.tableau.order


def _weighted_sum(weights, ks):
    """``sum_i weights[i] * ks[i]`` with compile-time weights, skipping zeros."""
    total = None
    for weight, k in zip(weights, ks):
        if weight != 0.0:
            term = float(weight) * k
            total = term if total is None else total + term
    return jnp.zeros_like(ks[0]) if total is None else total


def rk_stages(tableau: ButcherTableau, f, t, y, h, f0):
    """Evaluate the stages of one explicit RK step.

    Args:
        tableau: the method.
        f: flat vector field ``f(t, y) -> (n,)`` (parameters already bound).
        t: scalar time.
        y: ``(n,)`` state.
        h: scalar step size.
        f0: ``(n,)`` ``f(t, y)`` (carried from the previous step for FSAL methods).

    Returns:
        ``(y1, ks)``: the new state ``(n,)`` and the list of the ``s`` stages.
    """
    ks = [f0]
    for i in range(1, tableau.num_stages):
        if tableau.fsal and i == tableau.num_stages - 1:
            y1 = y + h * _weighted_sum(tableau.b, ks)
            ks.append(f(t + h, y1))
            return y1, ks
        y_stage = y + h * _weighted_sum(tableau.a[i, :i], ks)
        ks.append(f(t + float(tableau.c[i]) * h, y_stage))
    return y + h * _weighted_sum(tableau.b, ks), ks


def error_estimate(tableau: ButcherTableau, h, ks):
    """Local error estimate(s) ``h sum_i b_error_i k_i`` (two for DOP853)."""
    first = h * _weighted_sum(tableau.b_error, ks)
    if tableau.b_error2 is None:
        return first, None
    return first, h * _weighted_sum(tableau.b_error2, ks)


def Euler() -> ExplicitRK:
    """Forward Euler, order 1 (fixed step)."""
    return ExplicitRK(_tableaus.EULER)


def Midpoint() -> ExplicitRK:
    """Explicit midpoint rule, order 2 (fixed step)."""
    return ExplicitRK(_tableaus.MIDPOINT)


def Heun() -> ExplicitRK:
    """Heun's method (explicit trapezoid), order 2 (fixed step)."""
    return ExplicitRK(_tableaus.HEUN)


def Ralston() -> ExplicitRK:
    """Ralston's second-order method with minimal truncation error (fixed step).

    Ralston, "Runge-Kutta methods with minimum error bounds", Math. Comp. 16 (1962).
    """
    return ExplicitRK(_tableaus.RALSTON)


def RK4() -> ExplicitRK:
    """The classical 4th-order Runge-Kutta method (fixed step)."""
    return ExplicitRK(_tableaus.RK4)


def Bosh3(**controller) -> ExplicitRK:
    """Bogacki-Shampine 3(2) pair, FSAL, cubic Hermite dense output.

    Bogacki & Shampine, Appl. Math. Lett. 2 (1989) 321-325.
    """
    return ExplicitRK(_tableaus.BOSH3, **controller)


def Dopri5(**controller) -> ExplicitRK:
    """Dormand-Prince 5(4) pair, FSAL, Shampine's 4th-order dense output.

    Dormand & Prince, J. Comput. Appl. Math. 6 (1980) 19-26.
    """
    return ExplicitRK(_tableaus.DOPRI5, **controller)


def Tsit5(**controller) -> ExplicitRK:
    """Tsitouras 5(4) pair, FSAL, 4th-degree dense output. The default method.

    Tsitouras, Comput. Math. Appl. 62 (2011) 770-775.
    """
    return ExplicitRK(_tableaus.TSIT5, **controller)


def Dopri8(**controller) -> ExplicitRK:
    """Dormand-Prince 8(5,3) (Hairer's DOP853): FSAL, 7th-order dense output.

    Error estimated by Hairer's combination of the 5th- and 3rd-order embedded
    solutions. Hairer, Norsett & Wanner (1993), section II.10.
    """
    return ExplicitRK(_tableaus.DOPRI8, **controller)


METHODS = {
    "euler": Euler,
    "midpoint": Midpoint,
    "heun": Heun,
    "ralston": Ralston,
    "rk4": RK4,
    "bosh3": Bosh3,
    "dopri5": Dopri5,
    "tsit5": Tsit5,
    "dopri8": Dopri8,
}
