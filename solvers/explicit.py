"""Explicit Runge-Kutta methods: fixed-step and embedded adaptive pairs.

A method is data (a :class:`~solvers._tableaus.ButcherTableau`) and the pure functions
of the method interface (``init``, ``step``, ``dense``, ``interpolate``; the contract
is written out in ``docs/methods.md``). One step is

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
from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np

from . import _interp, _tableaus
from ._tableaus import ButcherTableau
from ._tableaus import weighted_sum as _weighted_sum


class Step(NamedTuple):
    """What ``method.step`` returns.

    Attributes:
        y: the proposed new state ``(n,)``.
        error: local error estimate ``(n,)`` (a pair of them for DOP853's combined
            norm), or ``None`` for a fixed-step method.
        dense_info: whatever ``method.dense`` needs to build this step's interpolant.
        state: the method's state after the step (used only if the step is accepted).
        status: integer status of the step (0: fine; e.g. a Newton failure otherwise).
        num_fevals: evaluations of ``f`` this step made (a Python int or an array).
        rejected_state: the state to keep if the step is rejected (``None``: the state
            before the step). An implicit method passes on a Jacobian it recomputed, so
            the retry with a smaller step does not compute it again.
    """

    y: Any
    error: Any
    dense_info: Any
    state: Any
    status: Any
    num_fevals: Any
    rejected_state: Any = None


@dataclasses.dataclass(frozen=True)
class ExplicitRK:
    """An explicit Runge-Kutta method given by its Butcher tableau.

    Implements the method interface of ``docs/methods.md``: ``init`` (the FSAL stage
    ``f(t0, y0)``, or nothing), ``step`` (the stages, the new state and the embedded
    error estimate), ``dense`` (the coefficients of the continuous extension, formed
    only for steps that need them) and ``interpolate``.

    Attributes:
        tableau: the Butcher tableau.
    """

    tableau: ButcherTableau

    @property
    def name(self) -> str:
        return self.tableau.name

    @property
    def order(self) -> int:
        return self.tableau.order

    @property
    def error_order(self) -> int | None:
        return self.tableau.error_order

    @property
    def adaptive(self) -> bool:
        return self.tableau.adaptive

    @property
    def dense_fevals(self) -> int:
        """Extra evaluations of ``f`` that ``dense`` makes (DOP853's extra stages)."""
        extra = len(self.tableau.extra_c)
        if self.tableau.dense == "poly":
            return 0
        return extra + (0 if self.tableau.fsal else 1)

    def init(self, f, t0, y0, args, f0):
        """The method's state at ``(t0, y0)`` (``f0 = f(t0, y0, args)``, already
        evaluated by the loop): ``f0`` itself for FSAL tableaus, nothing otherwise."""
        return f0 if self.tableau.fsal else ()

    def step(self, f, t, y, h, args, state) -> Step:
        tableau = self.tableau
        f0 = state if tableau.fsal else f(t, y, args)
        y1, ks = rk_stages(tableau, lambda s, z: f(s, z, args), t, y, h, f0)
        error = error_estimate(tableau, h, ks) if tableau.adaptive else None
        new_state = ks[-1] if tableau.fsal else ()
        fevals = tableau.num_stages - (1 if tableau.fsal else 0)
        return Step(y1, error, tuple(ks), new_state, jnp.zeros((), jnp.int32), fevals)

    def dense(self, f, t, h, y0, y1, dense_info, args):
        """The coefficients of the step's interpolant ``y(t + theta h)``.

        For the polynomial interpolants (``dopri5``, ``tsit5``) these are the scaled
        stages ``h k_i`` ``(s, n)``, and ``interpolate`` weighs them with
        ``b_i(theta) = sum_j P_ij theta^(j+1)``: no work here, ``s`` terms per point.
        Otherwise the coefficients ``C`` ``(d, n)`` of
        ``y(t + theta h) = y0 + sum_j phi_j(theta) C_j`` (see ``solvers._interp``).
        """
        if self.tableau.dense == "poly":
            return jnp.asarray(h).astype(y0.dtype) * jnp.stack(list(dense_info))
        return _interp.dense_coefficients(
            self.tableau, lambda s, z: f(s, z, args), t, y0, y1, h, list(dense_info)
        )

    def interpolate(self, y0, coefficients, theta):
        """``y(t + theta h)`` inside the step, ``0 <= theta <= 1``."""
        if self.tableau.dense == "poly":
            weights = self.tableau.dense_weights
            powers = [theta ** (j + 1) for j in range(weights.shape[1])]
            total = y0
            for i, row in enumerate(weights):
                if np.any(row != 0):
                    b_i = sum(float(p) * power for p, power in zip(row, powers) if p != 0)
                    total = total + jnp.asarray(b_i).astype(y0.dtype) * coefficients[i]
            return total
        return _interp.dense_evaluate(self.tableau, y0, coefficients, theta)


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
    # Times stay real; the state may be complex (h enters it in the state's dtype).
    h_state = jnp.asarray(h).astype(y.dtype)
    ks = [f0]
    for i in range(1, tableau.num_stages):
        if tableau.fsal and i == tableau.num_stages - 1:
            y1 = y + h_state * _weighted_sum(tableau.b, ks)
            ks.append(f(t + h, y1))
            return y1, ks
        y_stage = y + h_state * _weighted_sum(tableau.a[i, :i], ks)
        ks.append(f(t + float(tableau.c[i]) * h, y_stage))
    return y + h_state * _weighted_sum(tableau.b, ks), ks


def error_estimate(tableau: ButcherTableau, h, ks):
    """Local error estimate ``h sum_i b_error_i k_i``; a pair of them for DOP853."""
    h = jnp.asarray(h).astype(ks[0].dtype)
    first = h * _weighted_sum(tableau.b_error, ks)
    if tableau.b_error2 is None:
        return first
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


def Bosh3() -> ExplicitRK:
    """Bogacki-Shampine 3(2) pair, FSAL, cubic Hermite dense output.

    Bogacki & Shampine, Appl. Math. Lett. 2 (1989) 321-325.
    """
    return ExplicitRK(_tableaus.BOSH3)


def Dopri5() -> ExplicitRK:
    """Dormand-Prince 5(4) pair, FSAL, Shampine's 4th-order dense output.

    Dormand & Prince, J. Comput. Appl. Math. 6 (1980) 19-26.
    """
    return ExplicitRK(_tableaus.DOPRI5)


def Tsit5() -> ExplicitRK:
    """Tsitouras 5(4) pair, FSAL, 4th-degree dense output. The default method.

    Tsitouras, Comput. Math. Appl. 62 (2011) 770-775.
    """
    return ExplicitRK(_tableaus.TSIT5)


def Dopri8() -> ExplicitRK:
    """Dormand-Prince 8(5,3) (Hairer's DOP853): FSAL, 7th-order dense output.

    Error estimated by Hairer's combination of the 5th- and 3rd-order embedded
    solutions. Hairer, Norsett & Wanner (1993), section II.10.
    """
    return ExplicitRK(_tableaus.DOPRI8)


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
