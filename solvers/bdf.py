"""Variable-order, variable-step BDF (NDF) for stiff problems, as in ode15s and scipy.

The method keeps the backward differences of the solution at equally spaced points
and changes the step size by re-interpolating them (the *quasi-constant step size*
form of Byrne & Hindmarsh, 1975). At order ``k``, with ``h`` the current step and
``D^j`` the ``j``-th backward difference of the interpolating polynomial at
``t_n, t_n - h, ..., t_n - k h`` (the rows of the difference array ``D``), one step is

.. math::

    y^{(0)}_{n+1} = \\sum_{j=0}^{k} D^j y_n, \\qquad
    \\psi = \\frac{1}{\\alpha_k} \\sum_{j=1}^{k} \\gamma_j D^j y_n, \\qquad
    y_{n+1} - y^{(0)}_{n+1} + \\psi = \\frac{h}{\\alpha_k} f(t_{n+1}, y_{n+1}),

with ``gamma_j = sum_{i<=j} 1/i`` and ``alpha_k = (1 - kappa_k) gamma_k``. The
constants ``kappa_k`` (-0.185, -1/9, -0.0823, -0.0415, 0) turn the BDF into Klopfenstein's
and Shampine's *numerical differentiation formulas* (NDF), which are more accurate at
a small loss of stability (Shampine & Reichelt, 1997); ``kappa = 0`` is the plain BDF.
The corrector is solved with simplified Newton on ``W = (alpha_k / h) I - J`` (the
factors are reused while ``h`` and ``k`` stay put; ``J`` is recomputed only when Newton
fails with an old one, as in scipy). The local error is ``C_k (y_{n+1} - y^{(0)}_{n+1})``
with ``C_k = kappa_k gamma_k + 1/(k + 1)``; after ``k + 1`` steps of equal size the
errors at orders ``k - 1`` and ``k + 1`` (from ``D^k`` and ``D^{k+2}``) are compared and
the order with the largest admissible step is chosen.

How it plugs into the loop: everything lives in the method's state (the difference
array, order, the step size ``D`` is scaled to, the count of equal steps, the Jacobian
and factors). The controller (:class:`BDFController`) proposes ``h``; a step of any
other size first rescales ``D``. The step returns a :class:`BDFError` that carries the
error of the current order and the step-size factor the order selection suggests, and
the controller applies it. Because the history is part of the state, reverse-mode
replays carry it (``replay_state = True``).

References:
    G. D. Byrne and A. C. Hindmarsh, "A polyalgorithm for the numerical solution of
    ordinary differential equations", ACM TOMS 1 (1975) 71-96.
    L. F. Shampine and M. W. Reichelt, "The MATLAB ODE suite", SIAM J. Sci. Comput.
    18 (1997) 1-22.
    E. Hairer, S. P. Norsett and G. Wanner, *Solving Ordinary Differential Equations I*,
    2nd ed., Springer 1993, section III.2 (error estimation of constant-step BDF).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np
from jax import lax

from . import _linsolve, _newton
from ._control import PIDController, error_ratio
from ._solution import NEWTON_DIVERGENCE, SUCCESS
from .explicit import Step
from .implicit import _maybe

MAX_ORDER = 5
# Klopfenstein-Shampine NDF constants kappa_k, k = 0..5 (Shampine & Reichelt, Table 1);
# order 5 is the plain BDF.
NDF_KAPPA = np.array([0.0, -0.1850, -1.0 / 9.0, -0.0823, -0.0415, 0.0])
# Largest step-size increase after the order selection (scipy's MAX_FACTOR).
MAX_FACTOR = 10.0


def _coefficients(ndf: bool):
    """``(gamma, alpha, error_constant)`` for orders ``0..MAX_ORDER`` (numpy)."""
    kappa = NDF_KAPPA if ndf else np.zeros(MAX_ORDER + 1)
    gamma = np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, MAX_ORDER + 1))])
    alpha = (1.0 - kappa) * gamma
    error_constant = kappa * gamma + 1.0 / np.arange(1, MAX_ORDER + 2)
    return gamma, alpha, error_constant


def _difference_change_matrix(factor, size):
    """The matrix ``R`` of Byrne & Hindmarsh (1975) for a step-size ratio ``factor``:
    ``R[i, j] = prod_{l=1}^{i} (l - 1 - factor j) / l`` (``R[0, j] = 1``, ``R[i, 0] = 0``
    for ``i > 0``), ``size x size``, for the largest order; the leading
    ``(k + 1) x (k + 1)`` block is the matrix of order ``k``."""
    rows = jnp.arange(1, size, dtype=factor.dtype)[:, None]
    columns = jnp.arange(1, size, dtype=factor.dtype)[None, :]
    body = (rows - 1 - factor * columns) / rows
    first_column = jnp.zeros((size - 1, 1), factor.dtype)
    lower = jnp.concatenate([first_column, body], axis=1)
    matrix = jnp.concatenate([jnp.ones((1, size), factor.dtype), lower], axis=0)
    return jnp.cumprod(matrix, axis=0)


def change_differences(D, order, factor):
    """Rescale the difference array from step ``h`` to ``factor * h`` at ``order``.

    The backward differences ``D^0..D^k`` at spacing ``h`` become those of the same
    interpolating polynomial at spacing ``factor * h``: ``D <- (R U)^T D`` with ``R``
    from :func:`_difference_change_matrix` at ``factor`` and ``U`` the same at 1
    (Byrne & Hindmarsh, 1975; Shampine & Reichelt, 1997). Rows above ``order`` are
    left alone.

    Args:
        D: ``(K + 3, n)`` difference array (``K`` the largest order).
        order: current order (an integer array, ``1 <= order <= K``).
        factor: the ratio of the new step size to the old one (real scalar).

    Returns:
        The rescaled ``(K + 3, n)`` array.
    """
    size = D.shape[0] - 2
    inside = jnp.arange(size, dtype=jnp.int32) <= order
    block = inside[:, None] & inside[None, :]
    ratio = _difference_change_matrix(factor, size)
    unit = _difference_change_matrix(jnp.ones((), factor.dtype), size)
    transform = jnp.matmul(
        jnp.where(block, ratio, 0), jnp.where(block, unit, 0), precision=lax.Precision.HIGHEST
    )
    head = D[:size]
    changed = jnp.matmul(transform.T.astype(D.dtype), head, precision=lax.Precision.HIGHEST)
    return D.at[:size].set(jnp.where(inside[:, None], changed, head))


def _scaled_rms(error, scale):
    """RMS of ``|error| / scale``, with a finite derivative at zero error."""
    square = jnp.mean(jnp.square(jnp.abs(error) / scale))
    positive = square > 0
    return jnp.where(positive, jnp.sqrt(jnp.where(positive, square, 1)), 0)


def _step_factor(norm, exponent):
    """``norm^(-1/exponent)``: ``inf`` for a zero norm, ``0`` for an infinite one (with
    finite derivatives either way)."""
    regular = (norm > 0) & jnp.isfinite(norm)
    value = jnp.where(regular, norm, 1) ** (-1 / exponent)
    return jnp.where(regular, value, jnp.where(norm > 0, 0, jnp.inf))


class BDFState(NamedTuple):
    """What :class:`BDF` carries between steps.

    Attributes:
        D: ``(max_order + 3, n)`` backward differences at spacing ``h``.
        order: current order (``int32``).
        h: the step size ``D`` is scaled to.
        num_equal: steps taken at this ``h`` and order since the last change.
        jacobian: ``J`` in the linear solver's storage.
        factors: factors of ``W = shift I - J``.
        shift: the ``alpha_k / h`` the factors belong to (NaN: none yet).
        rtol, atol: the solve's tolerances.
    """

    D: Any
    order: Any
    h: Any
    num_equal: Any
    jacobian: Any
    factors: Any
    shift: Any
    rtol: Any
    atol: Any


class BDFError(NamedTuple):
    """A BDF step's error report for :class:`BDFController`.

    Attributes:
        error: ``(n,)`` local error estimate of the order used (``inf`` if Newton failed).
        order: the order used.
        factor: step-size factor for the next step if this one is accepted (1 while the
            order selection waits for ``order + 1`` equal steps).
        safety: the safety factor ``0.9 (2 m + 1) / (2 m + i)`` for ``i`` Newton
            iterations out of at most ``m`` (scipy's): a step that needed more
            iterations is trusted less, in the order selection and after a rejection.
    """

    error: Any
    order: Any
    factor: Any
    safety: Any


@dataclasses.dataclass(frozen=True)
class BDF:
    """Variable-order (1 to ``max_order``), variable-step BDF/NDF method for stiff
    problems, in the quasi-constant step size form of MATLAB's ``ode15s`` and scipy's
    ``BDF`` (see the module docstring for the formulas).

    Use it with its own controller (:class:`BDFController`, the default): the step
    reports the step-size factor of its order selection. Dense output is the BDF
    interpolating polynomial through the last ``k + 1`` points.

    Attributes:
        linear_solver: ``None``/``solvers.Dense()``, ``solvers.Banded(lower, upper)``
            or ``solvers.MatrixFree(...)``: how ``W = (alpha_k / h) I - J`` is solved.
        jacobian: optional ``jacobian(t, y, params_and_consts) -> (n, n)``; by
            default ``jax.jacfwd`` of the vector field (or grouped JVPs, banded).
        max_order: highest order, 1 to 5.
        ndf: use the numerical differentiation formulas (``True``, as ode15s and scipy
            do) or the plain BDF (``False``).
        max_iterations: Newton iterations per attempt (scipy: 4).

    References:
        Byrne & Hindmarsh, ACM TOMS 1 (1975) 71-96; Shampine & Reichelt, SIAM J. Sci.
        Comput. 18 (1997) 1-22.
    """

    linear_solver: Any = None
    jacobian: Callable | None = None
    max_order: int = MAX_ORDER
    ndf: bool = True
    max_iterations: int = 4

    uses_tolerances = True
    replay_state = True
    name = "bdf"
    error_order = 1  # the starting order: the initial-step heuristic uses it
    dense_fevals = 0

    def __post_init__(self):
        if not (isinstance(self.max_order, int) and 1 <= self.max_order <= MAX_ORDER):
            raise ValueError(
                f"BDF max_order must be an integer from 1 to 5, got {self.max_order!r}."
            )
        if not (isinstance(self.max_iterations, int) and self.max_iterations >= 1):
            raise ValueError(
                f"BDF max_iterations must be a positive integer, got {self.max_iterations!r}."
            )
        _linsolve.structure_of(self.linear_solver)

    @property
    def order(self) -> int:
        return self.max_order

    @property
    def adaptive(self) -> bool:
        return True

    @property
    def default_controller(self):
        return BDFController()

    @property
    def structure(self):
        return _linsolve.structure_of(self.linear_solver)

    def _jacobian(self, f, t, y, args):
        # J only steers Newton: no derivatives of it (forward mode would differentiate
        # jacfwd otherwise).
        t, y, args = _newton.stop((t, y, args))
        return _newton.stop(_linsolve.jacobian(self.structure, f, t, y, args, self.jacobian))

    def _jacobian_fevals(self, y):
        return _linsolve.jacobian_cost(self.structure, self.jacobian, y.shape[0])

    def _factor(self, jacobian, shift):
        return _newton.stop(_linsolve.factor(self.structure, jacobian, _newton.stop(shift)))

    def init(self, f, t0, y0, args, f0, tolerances=(1e-6, 1e-9)) -> BDFState:
        """Order 1, with ``D = [y0, f0, 0, ...]`` scaled to a unit step (the first step
        rescales it) and ``J`` at ``(t0, y0)``."""
        D = jnp.zeros((self.max_order + 3,) + y0.shape, y0.dtype)
        D = D.at[0].set(y0).at[1].set(f0.astype(y0.dtype))
        one = jnp.ones((), jnp.int32)
        past = (D, one, jnp.ones((), jnp.asarray(t0).dtype), 0 * one)
        return self.resume(f, t0, y0, args, f0, past, tolerances)

    def history(self, state: BDFState):
        """What a step depends on besides ``(t, y)``: ``(D, order, h, num_equal)``. The
        reverse-mode adjoints record it for every accepted step and differentiate
        through ``D`` (``replay_state = True``)."""
        return (state.D, state.order, state.h, state.num_equal)

    def resume(self, f, t, y, args, f0, past, tolerances) -> BDFState:
        """The state at ``(t, y)`` with the history ``past`` (from :meth:`history`); the
        Jacobian is evaluated afresh at ``(t, y)`` and factorised at the first step."""
        D, order, h, num_equal = past
        rtol, atol = tolerances
        real = jnp.real(y).dtype
        jacobian = self._jacobian(f, t, y, args)
        return BDFState(
            D=D,
            order=order,
            h=h,
            num_equal=num_equal,
            jacobian=jacobian,
            factors=self._factor(jacobian, jnp.ones((), real)),
            shift=jnp.full((), jnp.nan, real),
            rtol=jnp.asarray(rtol, real),
            atol=jnp.asarray(atol, real),
        )

    def step(self, f, t, y, h, args, state: BDFState) -> Step:
        dtype = y.dtype
        real = jnp.real(y).dtype
        structure = self.structure
        max_order = self.max_order
        gamma_np, alpha_np, error_constant_np = _coefficients(self.ndf)
        alpha = jnp.asarray(alpha_np, real)
        error_constant = jnp.asarray(error_constant_np, real)
        order = state.order
        rows = jnp.arange(max_order + 3, dtype=jnp.int32)

        # Rescale the history to the step the controller chose.
        changed = h != state.h
        ratio = (h / state.h).astype(real)
        D = jnp.where(changed, change_differences(state.D, order, ratio), state.D)
        num_equal = jnp.where(changed, 0, state.num_equal)

        t_new = t + h
        h_real = jnp.asarray(h).astype(real)
        predictor = jnp.sum(jnp.where((rows <= order)[:, None], D, 0), axis=0)
        gamma_rows = jnp.asarray(np.pad(gamma_np[: max_order + 1], (0, 2)), real)
        weights = jnp.where(rows <= order, gamma_rows, 0)  # gamma_0 = 0
        psi = jnp.sum(weights.astype(dtype)[:, None] * D, axis=0) / alpha[order].astype(dtype)
        shift = alpha[order] / h_real
        scale = state.atol + state.rtol * jnp.abs(predictor)
        tol = _newton.tolerance(state.rtol, real)

        def attempt(jacobian, factors):
            def residual(z):
                return shift.astype(dtype) * (z - predictor + psi) - f(t_new, z, args)

            def newton(residual, z0):
                return _newton.iterate(
                    residual,
                    lambda b: _linsolve.solve(structure, factors, b, f, args).astype(dtype),
                    z0,
                    scale,
                    tol,
                    # No contraction rate yet: the first iteration never stops the
                    # loop (as in scipy), so the rate is measured on every step.
                    jnp.asarray(1e30, real),
                    self.max_iterations,
                )

            z, (converged, iterations, _) = _newton.solve(residual, predictor, newton, structure)
            return z, converged, iterations

        jacobian = _newton.stop(state.jacobian)
        factors = _maybe(
            shift != state.shift, lambda: self._factor(jacobian, shift), _newton.stop(state.factors)
        )
        y1, converged, iterations = attempt(jacobian, factors)
        fevals = iterations
        # Newton failed with an old J: recompute it at the prediction and try again.
        retry = ~converged

        def again():
            fresh = self._jacobian(f, t_new, predictor, args)
            fresh_factors = self._factor(fresh, shift)
            return (fresh, fresh_factors) + attempt(fresh, fresh_factors)

        jacobian, factors, y1, converged, iterations = _maybe(
            retry, again, (jacobian, factors, y1, converged, iterations)
        )
        fevals = fevals + jnp.where(retry, iterations + self._jacobian_fevals(y), 0)

        correction = y1 - predictor
        error = error_constant[order].astype(dtype) * correction

        # D^{k+2} y_{n+1} = d - D^{k+1} y_n, D^{k+1} y_{n+1} = d, and D^j += D^{j+1} below.
        above = D[jnp.minimum(order + 1, max_order + 2)]
        D = jnp.where((rows == order + 2)[:, None], correction - above, D)
        D = jnp.where((rows == order + 1)[:, None], correction, D)
        for j in reversed(range(max_order + 1)):
            D = D.at[j].set(jnp.where(j <= order, D[j] + D[j + 1], D[j]))
        num_equal = num_equal + 1

        # Order selection after order + 1 equal steps: compare orders k - 1, k, k + 1.
        y_scale = state.atol + state.rtol * jnp.maximum(jnp.abs(y), jnp.abs(y1))
        norm = _scaled_rms(error, y_scale)
        lower_norm = jnp.where(
            order > 1,
            _scaled_rms(error_constant[order - 1].astype(dtype) * D[order], y_scale),
            jnp.inf,
        )
        upper_norm = jnp.where(
            order < max_order,
            _scaled_rms(
                error_constant[jnp.minimum(order + 1, MAX_ORDER)].astype(dtype)
                * D[jnp.minimum(order + 2, max_order + 2)],
                y_scale,
            ),
            jnp.inf,
        )
        norms = jnp.stack([lower_norm, norm, upper_norm])
        exponents = (order + jnp.arange(3, dtype=jnp.int32)).astype(real)
        factors_by_order = _step_factor(norms, exponents)
        best = jnp.argmax(factors_by_order)
        # Fewer Newton iterations: more trust in the step (scipy's safety factor).
        safety = (0.9 * (2 * self.max_iterations + 1)) / (
            2 * self.max_iterations + iterations.astype(real)
        )
        proposal = safety * factors_by_order[best]
        proposal = jnp.where(proposal > MAX_FACTOR, MAX_FACTOR, proposal)
        select = num_equal >= order + 1
        factor = jnp.where(select, proposal, 1).astype(real)
        new_order = jnp.where(select, order + best.astype(jnp.int32) - 1, order)
        num_equal = jnp.where(select, 0, num_equal)

        status = jnp.where(converged, SUCCESS, NEWTON_DIVERGENCE).astype(jnp.int32)
        report = BDFError(jnp.where(converged, error, jnp.inf), order, factor, safety)
        new_state = BDFState(
            D=D,
            order=new_order.astype(jnp.int32),
            h=jnp.asarray(h).astype(state.h.dtype),
            num_equal=num_equal.astype(jnp.int32),
            jacobian=jacobian,
            factors=factors,
            shift=shift,
            rtol=state.rtol,
            atol=state.atol,
        )
        return Step(y1, report, (D[1 : max_order + 1], order), new_state, status, fevals)

    def dense(self, f, t, h, y0, y1, dense_info, args):
        """Coefficients ``c_j`` of ``y(t + theta h) = y0 + sum_j c_j phi_j(theta)``:
        ``c_1 = y1 - y0`` (``= D^1 y_{n+1}``) and ``c_j = D^j y_{n+1}`` for
        ``2 <= j <= k`` (zero above the order used). Shape ``(max_order, n)``."""
        differences, order = dense_info
        used = (jnp.arange(1, self.max_order + 1, dtype=jnp.int32) <= order)[:, None]
        coefficients = jnp.where(used, differences, 0)
        return coefficients.at[0].set(y1 - y0)

    def interpolate(self, y0, coefficients, theta):
        """The BDF interpolating polynomial through ``y_{n+1}, y_n, ..., y_{n+1-k}`` at
        ``t_{n+1} - m h`` (Newton's backward-difference form, scipy's
        ``BdfDenseOutput``):

        .. math::

            p(\\theta) = y_{n+1} + \\sum_{j=1}^{k} D^j y_{n+1}
                \\prod_{m=0}^{j-1} \\frac{\\theta - 1 + m}{m + 1}
            = y_0 + \\sum_{j=1}^{k} c_j \\phi_j(\\theta),

        with ``phi_1 = theta`` (using ``y_{n+1} = y_0 + D^1 y_{n+1}``) and
        ``phi_j = prod_{m<j} (theta - 1 + m)/(m + 1)`` for ``j >= 2``, all zero at
        ``theta = 0``; every ``phi_j`` with ``j >= 2`` is zero at ``theta = 1`` too."""
        theta = jnp.asarray(theta).astype(y0.dtype)
        basis = [theta]
        product = theta - 1
        for j in range(2, self.max_order + 1):
            product = product * (theta - 1 + (j - 1)) / j
            basis.append(product)
        return y0 + sum(phi * coefficients[j] for j, phi in enumerate(basis))


@dataclasses.dataclass(frozen=True)
class BDFController:
    """Step-size control for :class:`BDF`: the step reports the factor its order
    selection chose, the controller applies it.

    * accept when ``||e / (atol + rtol max(|y_0|, |y_1|))||_rms <= 1``;
    * after an accepted step: ``h <- factor h`` (``factor`` from :class:`BDFError`: 1
      while the method waits for ``k + 1`` equal steps, else
      ``min(10, safety max_q ||e_q||^{-1/(q+1)})`` over ``q = k - 1, k, k + 1``);
    * after a rejection: ``h <- h clip(s ratio^{-1/(k+1)}, factormin, safety)`` with
      ``s = min(safety, BDFError.safety)``, the method's safety factor, which is smaller
      when Newton needed more iterations (scipy's rule; a flat 0.9 here lets the step
      creep back to the size that was just rejected, and on Van der Pol a fifth of
      the steps were rejections). A Newton failure reports ``e = inf``: the smallest
      factor.

    A step shortened to land on ``t1`` or a jump time keeps the longer proposal;
    ``max_step`` caps every proposal. The first step is Hairer's starting step for an
    order-1 method (scipy's choice for BDF).

    Shampine & Reichelt, SIAM J. Sci. Comput. 18 (1997) 1-22.

    State: the proposed step size ``h``.
    """

    safety: float = 0.9
    factormin: float = 0.2

    def __post_init__(self):
        if not (0 < self.safety <= 1 and 0 < self.factormin <= self.safety):
            raise ValueError("BDFController needs 0 < factormin <= safety <= 1.")

    def init(self, method, f, t0, t1, y0, f0, args, dt, rtol, atol, max_step):
        (h, _, _), fevals = PIDController().init(
            method, f, t0, t1, y0, f0, args, dt, rtol, atol, max_step
        )
        return h, fevals

    def propose(self, t, t1, state):
        return state

    def adapt(self, method, t, y0, y1, error, h, clipped, state, rtol, atol, max_step):
        if not isinstance(error, BDFError):
            raise TypeError(
                "BDFController works with solvers.BDF only (its steps report a BDFError); "
                f"got an error estimate of type {type(error).__name__}."
            )
        ratio = error_ratio(error.error, y0, y1, rtol, atol)
        accept = ratio <= 1
        positive = (ratio > 0) & jnp.isfinite(ratio)
        exponent = -1.0 / (error.order + 1).astype(ratio.dtype)
        safety = jnp.minimum(error.safety.astype(ratio.dtype), self.safety)
        shrink = safety * jnp.where(positive, ratio, 1) ** exponent
        shrink = jnp.where(positive, shrink, self.factormin)
        shrink = jnp.clip(shrink, self.factormin, self.safety)
        factor = jnp.where(accept, error.factor.astype(ratio.dtype), shrink)
        h_next = h * factor.astype(h.dtype)
        h_next = jnp.where(clipped & accept, jnp.maximum(state, h_next), h_next)
        if max_step is not None:
            h_next = jnp.minimum(h_next, max_step)
        return accept, h_next.astype(state.dtype)
