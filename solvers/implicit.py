"""Implicit Runge-Kutta methods for stiff problems: ESDIRK and Radau IIA.

Both solve their stage equations with simplified Newton iterations on the matrix
``W = shift I - J`` (``J = df/dy``; ``solvers._linsolve`` holds the dense, banded and
matrix-free linear algebra) and differentiate them by the implicit function theorem
(``solvers._newton``). The expensive part of a stiff solve is forming ``J`` and
factorising ``W``, so both are carried in the method's state and reused:

* ``J`` is recomputed at the start of a step only when the previous step's Newton
  iteration converged slowly (contraction rate above ``jacobian_rate``, 1e-3 as in
  Hairer's RADAU5), or within a step whose Newton iteration failed with an old ``J``
  (it is retried once with a fresh one before the step is given up).
* ``W`` is refactorised only when ``J`` or the step size changed; the predictive
  controller holds the step size when the change it wants is small, so the factors
  survive many steps.

A step whose Newton iteration fails (after the retry) is rejected with status
``NEWTON_DIVERGENCE`` and an infinite error estimate: the controller shrinks the step.

References:
    Hairer & Wanner, *Solving Ordinary Differential Equations II: Stiff and
    Differential-Algebraic Problems*, 2nd ed., Springer 1996, sections IV.6 and IV.8.
    Kvaerno, "Singly diagonally implicit Runge-Kutta methods with an explicit first
    stage", BIT 44 (2004) 489-502.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import equinox.internal as eqxi
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from . import _linsolve, _newton
from ._control import PredictiveController
from ._solution import NEWTON_DIVERGENCE, SUCCESS
from .explicit import Step


class ImplicitState(NamedTuple):
    """What an implicit method carries between steps.

    Attributes:
        f0: ``f(t, y)`` at the start of the next step.
        jacobian: ``J`` in the structure's storage (see ``_linsolve.jacobian``).
        factors: the factorisation(s) of ``W`` at ``shift``.
        shift: the shift the factors belong to (NaN: none yet).
        refresh: recompute ``J`` at the start of the next step.
        rate: the last Newton contraction rate (starts the next iteration's estimate).
        rtol, atol: the solve's tolerances (Newton stops relative to them).
        extra: method-specific (Radau: the last step's collocation polynomial).
    """

    f0: Any
    jacobian: Any
    factors: Any
    shift: Any
    refresh: Any
    rate: Any
    rtol: Any
    atol: Any
    extra: Any


def _where(condition, new, old):
    return jax.tree.map(lambda a, b: jnp.where(condition, a, b), new, old)


def _maybe(condition, compute, old):
    """``compute()`` where ``condition``, else ``old``; skipped when no member needs it
    (an unbatched cond, so ``vmap`` does not run it for everybody)."""
    return lax.cond(
        eqxi.unvmap_any(condition), lambda: _where(condition, compute(), old), lambda: old
    )


@dataclasses.dataclass(frozen=True)
class _Implicit:
    """Jacobian and factorisation management shared by the implicit methods."""

    linear_solver: Any = None
    jacobian: Callable | None = None
    jacobian_rate: float = 1e-3
    max_iterations: int = 8

    uses_tolerances = True

    @property
    def adaptive(self) -> bool:
        return True

    @property
    def default_controller(self):
        return PredictiveController()

    @property
    def structure(self):
        return _linsolve.structure_of(self.linear_solver)

    def _jacobian(self, f, t, y, args):
        # J only steers Newton: no derivatives of it (forward mode would otherwise
        # differentiate jacfwd, i.e. take second derivatives of f, for nothing).
        t, y, args = _newton.stop((t, y, args))
        return _linsolve.jacobian(self.structure, f, t, y, args, self.jacobian)

    def _jacobian_fevals(self, y):
        return _linsolve.jacobian_cost(self.structure, self.jacobian, y.shape[0])

    def _factor(self, jacobian, shift):
        raise NotImplementedError

    def _start(self, f, t, y, args, f0, tolerances, extra):
        rtol, atol = tolerances
        jacobian = self._jacobian(f, t, y, args)
        shift = jnp.full((), jnp.nan, jnp.real(y).dtype)
        factors = self._factor(jacobian, jnp.ones((), shift.dtype))
        return ImplicitState(
            f0,
            jacobian,
            factors,
            shift,
            jnp.zeros((), bool),
            jnp.ones((), shift.dtype) * 0.5,
            jnp.asarray(rtol, shift.dtype),
            jnp.asarray(atol, shift.dtype),
            extra,
        )

    def _prepare(self, f, t, y, args, state, shift):
        """``(jacobian, factors, fresh, fevals)`` for a step at ``shift``: ``J``
        recomputed if the state asks for it, ``W`` refactorised if ``J`` or ``shift``
        changed."""
        state = state._replace(
            jacobian=_newton.stop(state.jacobian), factors=_newton.stop(state.factors)
        )
        refresh = state.refresh
        jacobian = _maybe(refresh, lambda: self._jacobian(f, t, y, args), state.jacobian)
        refactor = refresh | (shift != state.shift)
        factors = _maybe(refactor, lambda: self._factor(jacobian, shift), state.factors)
        fevals = jnp.where(refresh, self._jacobian_fevals(y), 0)
        return jacobian, factors, refresh, fevals

    def _with_retry(self, f, t, y, args, state, shift, attempt):
        """Run ``attempt(jacobian, factors) -> (result, converged, rate, fevals)``; if it
        fails with an old ``J``, recompute ``J`` and try once more."""
        jacobian, factors, fresh, fevals = self._prepare(f, t, y, args, state, shift)
        result, converged, rate, used = attempt(jacobian, factors)
        retry = ~converged & ~fresh

        def again():
            new_jacobian = self._jacobian(f, t, y, args)
            new_factors = self._factor(new_jacobian, shift)
            return (new_jacobian, new_factors) + attempt(new_jacobian, new_factors)

        jacobian, factors, result, converged, rate, used_again = _maybe(
            retry, again, (jacobian, factors, result, converged, rate, used)
        )
        fevals = fevals + used + jnp.where(retry, used_again + self._jacobian_fevals(y), 0)
        return jacobian, factors, result, converged, rate, fevals

    @staticmethod
    def _keep(state, jacobian, factors, shift):
        """The state after a rejected step: the same start, with the Jacobian and
        factors this step used (possibly fresh), so the retry reuses them."""
        return state._replace(
            jacobian=jacobian, factors=factors, shift=shift, refresh=jnp.zeros((), bool)
        )

    def _finish(self, state, f1, jacobian, factors, shift, converged, rate, extra):
        return ImplicitState(
            f1,
            jacobian,
            factors,
            shift,
            rate > self.jacobian_rate,
            rate,
            state.rtol,
            state.atol,
            extra,
        )


# ------------------------------------------------------------------------ ESDIRK


@dataclasses.dataclass(frozen=True)
class ESDIRKTableau:
    """A (singly) diagonally implicit Runge-Kutta tableau with one diagonal ``gamma``.

    ``a`` is ``(s, s)`` lower triangular; every stage with ``a[i, i] != 0`` has
    ``a[i, i] = gamma``. ``b_error`` gives the error estimate ``h sum_i b_error_i k_i``
    (``None``: the difference to an explicit Euler step, for the order-1/2 methods).
    Checked on construction: ``sum_j a_ij = c_i``, ``sum b = 1``, ``sum b_error = 0``.
    """

    name: str
    a: np.ndarray
    b: np.ndarray
    c: np.ndarray
    order: int
    error_order: int
    b_error: np.ndarray | None = None

    def __post_init__(self):
        a, b, c = (np.asarray(x, float) for x in (self.a, self.b, self.c))
        if not np.allclose(a.sum(axis=1), c, atol=1e-12):
            raise ValueError(f"{self.name}: row sums of a must equal c.")
        if not np.isclose(b.sum(), 1.0, atol=1e-12):
            raise ValueError(f"{self.name}: sum(b) must be 1.")
        if self.b_error is not None and not np.isclose(np.sum(self.b_error), 0.0, atol=1e-12):
            raise ValueError(f"{self.name}: sum(b_error) must be 0.")
        diagonal = np.diag(a)
        implicit = diagonal[diagonal != 0]
        if implicit.size == 0 or not np.allclose(implicit, implicit[0]):
            raise ValueError(f"{self.name}: the implicit stages must share one diagonal gamma.")

    @property
    def gamma(self) -> float:
        diagonal = np.diag(self.a)
        return float(diagonal[diagonal != 0][0])

    @property
    def num_stages(self) -> int:
        return len(self.c)

    @property
    def explicit_first(self) -> bool:
        return self.a[0, 0] == 0

    def __hash__(self):
        return hash(self.name)

    def __eq__(self, other):
        return isinstance(other, ESDIRKTableau) and other.name == self.name


def _kvaerno3_tableau():
    # gamma: the root in (0, 1/2) of 6 g^3 - 18 g^2 + 9 g - 1 = 0 (L-stability, order 3).
    roots = np.roots([6.0, -18.0, 9.0, -1.0])
    gamma = float(min(r.real for r in roots if abs(r.imag) < 1e-12 and 0.3 < r.real < 0.5))
    g = gamma
    a31 = (-4 * g**2 + 6 * g - 1) / (4 * g)
    a32 = (-2 * g + 1) / (4 * g)
    a41 = (6 * g - 1) / (12 * g)
    a42 = -1 / ((24 * g - 12) * g)
    a43 = (-6 * g**2 + 6 * g - 1) / (6 * g - 3)
    a = np.array([[0, 0, 0, 0], [g, g, 0, 0], [a31, a32, g, 0], [a41, a42, a43, g]], dtype=float)
    b = a[3].copy()
    # The embedded solution is the third stage (order 2).
    b_error = b - np.array([a31, a32, g, 0.0])
    return ESDIRKTableau("kvaerno3", a, b, a.sum(axis=1), 3, 2, b_error)


def _kvaerno5_tableau():
    # Kvaerno (2004), the 7-stage order 5(4) method, gamma = 0.26.
    g = 0.26
    rows = [
        [0.0],
        [g, g],
        [0.13, 0.84033320996790809, g],
        [0.22371961478320505, 0.47675532319799699, -0.06470895363112615, g],
        [0.16648564323248321, 0.10450018841591720, 0.03631482272098715, -0.13090704451073998, g],
        [
            0.13855640231268224,
            0.0,
            -0.04245337201752043,
            0.02446657898003141,
            0.61943039072480676,
            g,
        ],
        [
            0.13659751177640291,
            0.0,
            -0.05496908796538376,
            -0.04118626728321046,
            0.62993304899016403,
            0.06962479448202728,
            g,
        ],
    ]
    a = np.zeros((7, 7))
    for i, row in enumerate(rows):
        a[i, : len(row)] = row
    b = a[6].copy()
    b_error = b - np.concatenate([a[5, :6], [0.0]])
    return ESDIRKTableau("kvaerno5", a, b, a.sum(axis=1), 5, 4, b_error)


IMPLICIT_EULER = ESDIRKTableau(
    "implicit_euler", np.array([[1.0]]), np.array([1.0]), np.array([1.0]), 1, 1
)
TRAPEZOID = ESDIRKTableau(
    "trapezoid",
    np.array([[0.0, 0.0], [0.5, 0.5]]),
    np.array([0.5, 0.5]),
    np.array([0.0, 1.0]),
    2,
    1,
)
KVAERNO3 = _kvaerno3_tableau()
KVAERNO5 = _kvaerno5_tableau()


@dataclasses.dataclass(frozen=True)
class ESDIRK(_Implicit):
    """A singly diagonally implicit Runge-Kutta method (explicit first stage or not).

    Stage ``i`` solves, for ``Z_i``,

    .. math::

        Z_i = y + h \\sum_{j<i} a_{ij} k_j + h \\gamma f(t + c_i h, Z_i), \\qquad
        k_i = f(t + c_i h, Z_i),

    with simplified Newton on ``W = I/(gamma h) - J`` (one factorisation for every
    stage), then ``y_1 = y + h sum_i b_i k_i`` and the error ``h sum_i e_i k_i``. Dense
    output: the cubic Hermite interpolant on ``(y, f(t, y), y_1, f(t + h, y_1))``.

    Attributes:
        tableau: the :class:`ESDIRKTableau`.
        linear_solver: ``None``/``solvers.Dense()``, ``solvers.Banded(lower, upper)`` or
            ``solvers.MatrixFree(...)``: how ``W`` is solved.
        jacobian: optional ``jacobian(t, y, params_and_consts) -> (n, n)``; by default
            ``jax.jacfwd`` of the vector field.
        jacobian_rate: recompute ``J`` after a step whose Newton rate exceeded this.
        max_iterations: Newton iterations per stage.
    """

    tableau: ESDIRKTableau = KVAERNO5

    @property
    def name(self) -> str:
        return self.tableau.name

    @property
    def order(self) -> int:
        return self.tableau.order

    @property
    def error_order(self) -> int:
        return self.tableau.error_order

    @property
    def dense_fevals(self) -> int:
        return 0

    def _factor(self, jacobian, shift):
        return _linsolve.factor(self.structure, jacobian, shift)

    def init(self, f, t0, y0, args, f0, tolerances=(1e-6, 1e-9)):
        return self._start(f, t0, y0, args, f0, tolerances, ())

    def step(self, f, t, y, h, args, state) -> Step:
        tableau = self.tableau
        dtype = y.dtype
        gamma = tableau.gamma
        h_state = jnp.asarray(h).astype(dtype)
        shift = (1.0 / (gamma * h)).astype(jnp.real(y).dtype)
        scale = state.atol + state.rtol * jnp.abs(y)
        tol = _newton.tolerance(state.rtol, jnp.real(y).dtype)
        f0 = state.f0
        structure = self.structure

        def attempt(jacobian, factors):
            ks = [f0] if tableau.explicit_first else []
            converged = jnp.ones((), bool)
            worst_rate = jnp.zeros((), jnp.real(y).dtype)
            iterations = jnp.zeros((), jnp.int32)
            z_previous = y
            for i in range(len(ks), tableau.num_stages):
                t_i = t + float(tableau.c[i]) * h
                known = y
                for j, k in enumerate(ks):
                    if tableau.a[i, j] != 0:
                        known = known + h_state * float(tableau.a[i, j]) * k

                def residual(z, known=known, t_i=t_i):
                    return shift.astype(dtype) * (z - known) - f(t_i, z, args)

                def newton(residual, z0):
                    return _newton.iterate(
                        residual,
                        lambda b: _linsolve.solve(structure, factors, b, f, args).astype(dtype),
                        z0,
                        scale,
                        tol,
                        _first_eta(state.rate),
                        self.max_iterations,
                    )

                guess = z_previous if i > 0 else y + h_state * float(tableau.c[i]) * f0
                z, (ok, used, rate) = _newton.solve(residual, guess, newton, structure)
                ks.append(shift.astype(dtype) * (z - known))
                z_previous = z
                converged = converged & ok
                worst_rate = jnp.maximum(worst_rate, rate)
                iterations = iterations + used
            return tuple(ks), converged, worst_rate, iterations

        jacobian, factors, ks, converged, rate, fevals = self._with_retry(
            f, t, y, args, state, shift, attempt
        )
        ks = list(ks)
        y1 = y + h_state * sum(float(b) * k for b, k in zip(tableau.b, ks) if b != 0)
        # For stiffly accurate tableaus k_s = f(t + h, y1) only up to Newton's
        # tolerance, which the stiff components amplify: evaluate it (Hairer & Wanner).
        f1 = f(t + h, y1, args)
        fevals = fevals + 1
        if tableau.b_error is None:
            # The difference to explicit Euler, filtered through (I - gamma h J)^{-1}
            # so that stiff components (where explicit Euler is meaningless) do not
            # dominate it (Hairer & Wanner II, IV.8, the "error estimate" of (8.19)).
            raw = y1 - (y + h_state * f0)
            error = _linsolve.solve(structure, factors, shift.astype(dtype) * raw, f, args).astype(
                dtype
            )
        else:
            error = h_state * sum(float(e) * k for e, k in zip(tableau.b_error, ks) if e != 0)
        error = jnp.where(converged, error, jnp.inf)
        status = jnp.where(converged, SUCCESS, NEWTON_DIVERGENCE).astype(jnp.int32)
        new_state = self._finish(state, f1, jacobian, factors, shift, converged, rate, ())
        return Step(
            y1,
            error,
            (f0, f1),
            new_state,
            status,
            fevals,
            self._keep(state, jacobian, factors, shift),
        )

    def dense(self, f, t, h, y0, y1, dense_info, args):
        f0, f1 = dense_info
        h = jnp.asarray(h).astype(y0.dtype)
        return jnp.stack([y1 - y0, h * f0, h * f1])

    def interpolate(self, y0, coefficients, theta):
        difference, slope0, slope1 = coefficients[0], coefficients[1], coefficients[2]
        theta = jnp.asarray(theta).astype(y0.dtype)
        # Cubic Hermite: y0 + (3 th^2 - 2 th^3) D + (th - 2 th^2 + th^3) h f0 + (th^3 - th^2) h f1
        return (
            y0
            + (3 * theta**2 - 2 * theta**3) * difference
            + (theta - 2 * theta**2 + theta**3) * slope0
            + (theta**3 - theta**2) * slope1
        )


def ImplicitEuler(**options) -> ESDIRK:
    """Backward Euler, order 1, L-stable; the error is estimated by the difference to
    the explicit Euler step (Hairer & Wanner II, IV.3)."""
    return ESDIRK(tableau=IMPLICIT_EULER, **options)


def Trapezoid(**options) -> ESDIRK:
    """The implicit trapezoidal rule (Crank-Nicolson), order 2, A-stable but not
    L-stable; error by the difference to explicit Euler."""
    return ESDIRK(tableau=TRAPEZOID, **options)


def Kvaerno3(**options) -> ESDIRK:
    """Kvaerno's ESDIRK 3(2), 4 stages, L-stable, stiffly accurate (Kvaerno, BIT 44
    (2004))."""
    return ESDIRK(tableau=KVAERNO3, **options)


def Kvaerno5(**options) -> ESDIRK:
    """Kvaerno's ESDIRK 5(4), 7 stages, L-stable, stiffly accurate (Kvaerno, BIT 44
    (2004))."""
    return ESDIRK(tableau=KVAERNO5, **options)


# --------------------------------------------------------------------- Radau IIA


def _radau_constants():
    """The 3-stage Radau IIA method and the transformation that splits its Newton
    system into one real and one complex ``n x n`` system (Hairer & Wanner II, IV.8).

    ``A^{-1} = T diag(mu_real, [[alpha, beta], [-beta, alpha]]) T^{-1}``; the complex
    system has the shift ``(alpha - i beta) / h``.
    """
    s6 = np.sqrt(6.0)
    c = np.array([(4 - s6) / 10, (4 + s6) / 10, 1.0])
    a = np.array(
        [
            [(88 - 7 * s6) / 360, (296 - 169 * s6) / 1800, (-2 + 3 * s6) / 225],
            [(296 + 169 * s6) / 1800, (88 + 7 * s6) / 360, (-2 - 3 * s6) / 225],
            [(16 - s6) / 36, (16 + s6) / 36, 1 / 9],
        ]
    )
    assert np.allclose(a.sum(axis=1), c)
    a_inverse = np.linalg.inv(a)
    values, vectors = np.linalg.eig(a_inverse)
    real = int(np.argmin(np.abs(values.imag)))
    pair = int(np.argmax(values.imag))
    mu_real = float(values[real].real)
    mu_complex = complex(values[pair])
    transform = np.stack(
        [vectors[:, real].real, vectors[:, pair].real, vectors[:, pair].imag], axis=1
    )
    inverse = np.linalg.inv(transform)
    block = inverse @ a_inverse @ transform
    alpha, beta = mu_complex.real, mu_complex.imag
    expected = np.array([[mu_real, 0, 0], [0, alpha, beta], [0, -beta, alpha]])
    assert np.allclose(block, expected, atol=1e-10)
    # Hairer's embedded error estimate: err = (mu_real/h I - J)^{-1} (f0 + E.Z / h).
    error_weights = np.array([-13 - 7 * s6, -13 + 7 * s6, -1.0]) / 3
    # The collocation polynomial u(theta) = sum_k theta^k Q_k, u(c_i) = Z_i.
    vandermonde = np.stack([c, c**2, c**3], axis=1)
    return {
        "c": c,
        "a_inverse": a_inverse,
        "mu_real": mu_real,
        "shift_complex": complex(alpha, -beta),
        "transform": transform,
        "inverse": inverse,
        "error_weights": error_weights,
        "polynomial": np.linalg.inv(vandermonde),
    }


_RADAU = _radau_constants()


def _mix(matrix, rows):
    """``matrix @ rows`` for a small static matrix and a list/stack of state rows."""
    return [
        sum(float(matrix[i, j]) * rows[j] for j in range(len(rows)) if matrix[i, j] != 0)
        for i in range(matrix.shape[0])
    ]


@dataclasses.dataclass(frozen=True)
class Radau5(_Implicit):
    """Radau IIA of order 5 (3 stages, stiffly accurate, L-stable): Hairer & Wanner's
    RADAU5, the reference method for very stiff problems.

    The collocation system for the stage increments ``Z_i = Y_i - y``,

    .. math::

        Z_i = h \\sum_j a_{ij} f(t + c_i h, y + Z_j), \\qquad y_1 = y + Z_3,

    is solved by simplified Newton iterations, transformed with the eigenvectors of
    ``A^{-1}`` into one real system ``(mu/h I - J)`` and one complex system
    ``((alpha - i beta)/h I - J)``: two ``n x n`` factorisations instead of one
    ``3n x 3n``. The error estimate is Hairer's, filtered through the real system
    (refined once more with an extra evaluation when it exceeds the tolerance); dense
    output is the collocation polynomial (order 3 at any point, 5 at the step ends),
    which also predicts the next step's stages.

    Hairer & Wanner, *Solving ODEs II*, 2nd ed. (1996), section IV.8.

    Attributes:
        linear_solver: ``None``/``solvers.Dense()``, ``solvers.Banded(lower, upper)`` or
            ``solvers.MatrixFree(...)``.
        jacobian: optional ``jacobian(t, y, args) -> (n, n)``.
        jacobian_rate: recompute ``J`` after a step whose Newton rate exceeded this.
        max_iterations: Newton iterations per step (7, as RADAU5).
    """

    max_iterations: int = 7

    name = "radau5"
    order = 5
    error_order = 3

    @property
    def dense_fevals(self) -> int:
        return 0

    def check_state(self, y0):
        if any(jnp.iscomplexobj(leaf) for leaf in jax.tree.leaves(y0)):
            raise NotImplementedError(
                "radau5 integrates real states only (its Newton system is split into "
                "real and complex parts); for a complex state use kvaerno5 or rodas5."
            )

    def _factor(self, jacobian, shift):
        structure = self.structure
        dtype = _linsolve.complex_dtype(jnp.asarray(shift).dtype)
        ratio = jnp.asarray(complex(_RADAU["shift_complex"]) / _RADAU["mu_real"], dtype)
        complex_shift = jnp.asarray(shift).astype(dtype) * ratio
        return (
            _linsolve.factor(structure, jacobian, shift),
            _linsolve.factor(structure, jacobian, complex_shift),
        )

    def init(self, f, t0, y0, args, f0, tolerances=(1e-6, 1e-9)):
        zeros = jnp.zeros((3,) + y0.shape, y0.dtype)
        return self._start(
            f, t0, y0, args, f0, tolerances, (zeros, jnp.ones((), jnp.real(y0).dtype))
        )

    def step(self, f, t, y, h, args, state) -> Step:
        dtype = y.dtype
        real = jnp.real(y).dtype
        n = y.shape[0]
        c = _RADAU["c"]
        h_state = jnp.asarray(h).astype(dtype)
        shift = (_RADAU["mu_real"] / h).astype(real)
        scale = jnp.tile(state.atol + state.rtol * jnp.abs(y), 3)
        tol = _newton.tolerance(state.rtol, real)
        structure = self.structure
        a_inverse, transform, inverse = _RADAU["a_inverse"], _RADAU["transform"], _RADAU["inverse"]
        times = [t + float(ci) * h for ci in c]

        def residual(z):
            rows = [z[i * n : (i + 1) * n] for i in range(3)]
            scaled = _mix(a_inverse, rows)
            return jnp.concatenate(
                [scaled[i] / h_state - f(times[i], y + rows[i], args) for i in range(3)]
            )

        # Start from the previous step's collocation polynomial, extrapolated.
        previous, h_previous = state.extra
        ratio = (h / h_previous).astype(real)
        guess = []
        for ci in c:
            theta = 1 + float(ci) * ratio
            guess.append(sum((theta**k - 1).astype(dtype) * previous[k - 1] for k in (1, 2, 3)))
        guess = jnp.concatenate(guess)

        def attempt(jacobian, factors):
            real_factors, complex_factors = factors

            def apply_inverse(b):
                rows = _mix(inverse, [b[i * n : (i + 1) * n] for i in range(3)])
                first = _linsolve.solve(structure, real_factors, rows[0], f, args)
                pair = _linsolve.solve(
                    structure, complex_factors, lax.complex(rows[1], rows[2]), f, args
                )
                w = [
                    first.astype(dtype),
                    jnp.real(pair).astype(dtype),
                    jnp.imag(pair).astype(dtype),
                ]
                return jnp.concatenate(_mix(transform, w))

            def newton(residual, z0):
                return _newton.iterate(
                    residual,
                    apply_inverse,
                    z0,
                    scale,
                    tol,
                    _first_eta(state.rate),
                    self.max_iterations,
                )

            tangent = (
                structure if isinstance(structure, _linsolve.Dense) else _linsolve.MatrixFree()
            )
            z, (ok, used, rate) = _newton.solve(residual, guess, newton, tangent)
            return z, ok, rate, 3 * used

        jacobian, factors, z, converged, rate, fevals = self._with_retry(
            f, t, y, args, state, shift, attempt
        )
        rows = [z[i * n : (i + 1) * n] for i in range(3)]
        y1 = y + rows[2]
        f1 = f(t + h, y1, args)
        fevals = fevals + 1

        # Error estimate, filtered through (mu/h I - J)^{-1}; refined once if too big.
        weights = _RADAU["error_weights"]
        combination = sum(float(w) * r for w, r in zip(weights, rows)) / h_state
        real_factors = factors[0]

        def filtered(value):
            return _linsolve.solve(structure, real_factors, value + combination, f, args).astype(
                dtype
            )

        error = filtered(state.f0)
        big = _rms(error, state.atol + state.rtol * jnp.maximum(jnp.abs(y), jnp.abs(y1))) > 1
        refine = big & converged
        error = _maybe(refine, lambda: filtered(f(t, y + error, args)), error)
        fevals = fevals + jnp.where(refine, 1, 0)
        error = jnp.where(converged, error, jnp.inf)
        status = jnp.where(converged, SUCCESS, NEWTON_DIVERGENCE).astype(jnp.int32)
        coefficients = self._polynomial(rows)
        new_state = self._finish(
            state,
            f1,
            jacobian,
            factors,
            shift,
            converged,
            rate,
            (jnp.stack(coefficients), jnp.asarray(h, real)),
        )
        return Step(
            y1, error, z, new_state, status, fevals, self._keep(state, jacobian, factors, shift)
        )

    @staticmethod
    def _polynomial(rows):
        return _mix(_RADAU["polynomial"], rows)

    def dense(self, f, t, h, y0, y1, dense_info, args):
        n = y0.shape[0]
        return jnp.stack(self._polynomial([dense_info[i * n : (i + 1) * n] for i in range(3)]))

    def interpolate(self, y0, coefficients, theta):
        theta = jnp.asarray(theta).astype(y0.dtype)
        return (
            y0 + theta * coefficients[0] + theta**2 * coefficients[1] + theta**3 * coefficients[2]
        )


def _rms(x, scale):
    return jnp.sqrt(jnp.mean(jnp.abs(x / scale) ** 2))


def _first_eta(rate):
    """``eta = theta / (1 - theta)`` for the first Newton iteration of a step, from the
    last contraction rate, raised to the power 0.8 (Hairer's ``FACCON**0.8``) so that a
    run of fast convergence does not let one iteration pass unchecked for long."""
    eta = rate / jnp.maximum(1 - rate, 1e-12)
    return jnp.maximum(eta, jnp.finfo(rate.dtype).eps) ** 0.8
