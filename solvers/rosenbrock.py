r"""Rosenbrock (linearly implicit) methods for stiff problems: Rodas5.

A Rosenbrock method replaces the Newton iterations of an implicit Runge-Kutta method
by a fixed number of linear solves with one matrix per step,

$$ W = \frac{1}{\gamma h} I - J, \qquad J = \frac{\partial f}{\partial y}(t, y), $$

so a step costs one Jacobian, one factorisation and ``s`` solves, and never fails to
converge. In the form of Hairer & Wanner II, (7.4'), which avoids products with
``J``, the stages ``U_i`` solve

$$ W U_i = f\Big(t + c_i h,\; y + \sum_{j<i} a_{ij} U_j\Big)
          + \sum_{j<i} \frac{C_{ij}}{h} U_j + d_i\, h\, \frac{\partial f}{\partial t}(t, y), $$

and ``y_1 = y + \sum_i m_i U_i``. The price is that the result depends on ``J``
itself: it must be the exact Jacobian at ``(t, y)`` (no reuse across steps), and a
derivative of the step goes through ``J`` (second derivatives of ``f``) and through
the linear solves, which here are differentiable (lineax's ``linear_solve`` with the
factorisation passed in, for dense ``W``; the banded LU and the Krylov solves are
differentiable as they are).

References:
    Hairer & Wanner, *Solving Ordinary Differential Equations II: Stiff and
    Differential-Algebraic Problems*, 2nd ed., Springer 1996, section IV.7.
    G. Di Marzo, "RODAS5(4) - Methodes de Rosenbrock d'ordre 5(4) adaptees aux problemes
    differentiels-algebriques", Memoire de diplome, Universite de Geneve, 1993.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import lineax as lx
import numpy as np
from jax import lax

from . import _linsolve
from ._control import PredictiveController
from ._solution import SUCCESS
from .explicit import Step


@dataclasses.dataclass(frozen=True)
class RosenbrockTableau:
    """A Rosenbrock method in the ``W``-transformed form (Hairer & Wanner II, (7.4')).

    Attributes:
        name: the method's name.
        gamma: the diagonal ``gamma`` of ``W = I/(gamma h) - J``.
        a: ``(s, s)`` strictly lower triangular: stage ``i`` evaluates ``f`` at
            ``y + sum_j a_ij U_j``.
        C: ``(s, s)`` strictly lower triangular: the ``sum_j C_ij U_j / h`` term.
        c: ``(s,)`` stage times ``t + c_i h``.
        d: ``(s,)`` coefficients of ``h df/dt``.
        m: ``(s,)`` weights of the solution ``y_1 = y + sum_i m_i U_i``.
        m_error: ``(s,)`` weights of the error estimate ``sum_i m_error_i U_i``.
        dense: ``(r, s)`` rows of the continuous extension (see :meth:`Rosenbrock.interpolate`).
        order: order of ``y_1``.
        error_order: order of the embedded solution ``y_1 - error``.
    """

    name: str
    gamma: float
    a: np.ndarray
    C: np.ndarray
    c: np.ndarray
    d: np.ndarray
    m: np.ndarray
    m_error: np.ndarray
    dense: np.ndarray
    order: int
    error_order: int

    @property
    def num_stages(self) -> int:
        return len(self.c)

    def __hash__(self):
        return hash(self.name)

    def __eq__(self, other):
        return isinstance(other, RosenbrockTableau) and other.name == self.name

    def __repr__(self):
        return f"RosenbrockTableau({self.name!r})"


def _rodas5_tableau() -> RosenbrockTableau:
    # Di Marzo's RODAS5(4) (1993) in the W-transformed form: the coefficients a_ij,
    # C_ij, c_i, d_i = gamma_i as printed in OrdinaryDiffEq.jl's Rodas5Tableau
    # (lib/OrdinaryDiffEqRosenbrock/src/rosenbrock_tableaus.jl), 16 digits. The dense
    # output rows (order 4) are the `H` matrix of that same tableau (the Rodas-family
    # continuous extensions added to OrdinaryDiffEq.jl with Steinebach's Rodas5P, BIT
    # Numer. Math. 63 (2023) 27). tests/test_rosenbrock.py checks them against the
    # Rosenbrock order conditions (all 17 trees of order <= 5 for y_1, order 4 for
    # the embedded solution and for the dense output at every theta).
    gamma = 0.19
    a = np.zeros((8, 8))
    a_rows = [
        [],
        [2.0],
        [3.040894194418781, 1.041747909077569],
        [2.576417536461461, 1.622083060776640, -0.9089668560264532],
        [2.760842080225597, 1.446624659844071, -0.3036980084553738, 0.2877498600325443],
        [
            -14.09640773051259,
            6.925207756232704,
            -41.47510893210728,
            2.343771018586405,
            24.13215229196062,
        ],
    ]
    for i, row in enumerate(a_rows):
        a[i, : len(row)] = row
    # Stages 7 and 8 evaluate f at the previous stage's solution (stiffly accurate).
    a[6, :5], a[6, 5] = a[5, :5], 1.0
    a[7, :5], a[7, 5], a[7, 6] = a[5, :5], 1.0, 1.0
    C = np.zeros((8, 8))
    C_rows = [
        [],
        [-10.31323885133993],
        [-21.04823117650003, -7.234992135176716],
        [32.22751541853323, -4.943732386540191, 19.44922031041879],
        [-20.69865579590063, -8.816374604402768, 1.260436877740897, -0.7495647613787146],
        [
            -46.22004352711257,
            -17.49534862857472,
            -289.6389582892057,
            93.60855400400906,
            318.3822534212147,
        ],
        [
            34.20013733472935,
            -14.15535402717690,
            57.82335640988400,
            25.83362985412365,
            1.408950972071624,
            -6.551835421242162,
        ],
        [
            42.57076742291101,
            -13.80770672017997,
            93.98938432427124,
            18.77919633714503,
            -31.58359187223370,
            -6.685968952921985,
            -5.810979938412932,
        ],
    ]
    for i, row in enumerate(C_rows):
        C[i, : len(row)] = row
    c = np.array(
        [0.0, 0.38, 0.3878509998321533, 0.4839718937873840, 0.4570477008819580, 1.0, 1.0, 1.0]
    )
    d = np.array(
        [
            gamma,
            -0.1823079225333714636,
            -0.319231832186874912,
            0.3449828624725343,
            -0.377417564392089818,
            0.0,
            0.0,
            0.0,
        ]
    )
    # y_1 = Y_8 + U_8 with Y_8 = y + sum_j a_8j U_j, the embedded 4th-order solution.
    m = np.append(a[7, :7], 1.0)
    m_error = np.zeros(8)
    m_error[7] = 1.0
    dense = np.array(
        [
            [
                27.354592673333357,
                -6.925207756232857,
                26.40037733258859,
                0.5635230501052979,
                -4.699151156849391,
                -1.6008677469422725,
                -1.5306074446748028,
                -1.3929872940716344,
            ],
            [
                44.19024239501722,
                1.3677947663381929e-13,
                202.93261852171622,
                -35.5669339789154,
                -181.91095152160645,
                3.4116351403665033,
                2.5793540257308067,
                2.2435122582734066,
            ],
            [
                -44.0988150021747,
                -5.755396159656812e-13,
                -181.26175034586677,
                56.99302194811676,
                183.21182741427398,
                -7.480257918273637,
                -5.792426076169686,
                -5.32503859794143,
            ],
        ]
    )
    return RosenbrockTableau("rodas5", gamma, a, C, c, d, m, m_error, dense, 5, 4)


RODAS5 = _rodas5_tableau()


class RosenbrockState(NamedTuple):
    """What a Rosenbrock method carries between steps.

    Attributes:
        f0: ``f(t, y)`` at the start of the next step.
    """

    f0: Any


@dataclasses.dataclass(frozen=True)
class Rosenbrock:
    r"""A Rosenbrock method: one Jacobian, one factorisation of ``W``, ``s`` solves.

    The stages ``U_i`` solve (Hairer & Wanner II, (7.4'))

    $$ \Big(\frac{1}{\gamma h} I - J\Big) U_i
       = f\Big(t + c_i h,\; y + \sum_{j<i} a_{ij} U_j\Big)
       + \sum_{j<i} \frac{C_{ij}}{h} U_j + d_i\, h\, \partial_t f(t, y), $$

    with ``J = df/dy(t, y)`` (recomputed every step: a Rosenbrock method is only
    accurate with the exact Jacobian) and ``df/dt`` by a Jacobian-vector product in
    ``t``. Then ``y_1 = y + sum_i m_i U_i`` and the error estimate is
    ``sum_i m_error_i U_i``. A step whose result is not finite gets an infinite error
    estimate, so the controller shrinks the step.

    Dense output: with ``D = y_1 - y_0`` and ``K_r = sum_i H_ri U_i`` (the tableau's
    ``dense`` rows),

    $$ y(t + \theta h) = y_0 + \theta D + \theta (1 - \theta)\,
       (K_1 + \theta K_2 + \theta^2 K_3), $$

    linear in ``(y_0, D, K)``; ``theta = 0`` gives ``y_0`` and ``theta = 1`` gives ``y_1``.

    Attributes:
        tableau: the :class:`RosenbrockTableau`.
        linear_solver: ``None``/``solvers.Dense()``, ``solvers.Banded(lower, upper)`` or
            ``solvers.MatrixFree(...)``: how ``W`` is formed and solved.
        jacobian: optional ``jacobian(t, y, args) -> (n, n)``; by default ``jax.jacfwd``
            of the vector field (or grouped products for a banded structure).
    """

    tableau: RosenbrockTableau = RODAS5
    linear_solver: Any = None
    jacobian: Callable | None = None

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

    @property
    def adaptive(self) -> bool:
        return True

    @property
    def default_controller(self):
        # Gustafsson's predictive controller, without the step-size hold of the
        # implicit Runge-Kutta methods (W is refactorised every step anyway): fewer
        # steps than the PI controller, and than the I controller on Robertson and Van
        # der Pol (about as many on HIRES).
        return PredictiveController(hold=(1.0, 1.0))

    @property
    def structure(self):
        return _linsolve.structure_of(self.linear_solver)

    def _real_form(self, y) -> bool:
        """Whether ``W`` is formed for the real view of a complex state (see
        :meth:`_linear_solve`)."""
        return jnp.iscomplexobj(y) and self.jacobian is None

    def _jacobian_fevals(self, y) -> int:
        width = 2 if self._real_form(y) else 1
        cost = _linsolve.jacobian_cost(self.structure, self.jacobian, y.shape[0])
        if isinstance(self.structure, _linsolve.Banded) and cost:
            return width * cost + width - 1
        return width * cost

    def init(self, f, t0, y0, args, f0) -> RosenbrockState:
        """The state at ``t0``: the loop's ``f0 = f(t0, y0)``."""
        return RosenbrockState(f0)

    def _linear_solve(self, f, t, y, args, shift):
        """``rhs -> W^{-1} rhs`` for ``W = shift I - J``, ``J = df/dy(t, y)``, factorised
        once and differentiable in ``J``, ``shift`` and ``rhs``.

        A complex state is handled in its real view ``(Re y_1, Im y_1, Re y_2, ...)``:
        the derivative of a vector field that is not holomorphic (``conj``, ``abs``) is
        only real-linear, and a Rosenbrock method needs it exactly. (A banded band
        widens to ``2 lower + 1``, ``2 upper + 1``.) A user ``jacobian`` is taken as the
        complex Jacobian of a holomorphic field.
        """
        structure = self.structure
        if not self._real_form(y):
            jacobian = _linsolve.jacobian(structure, f, t, y, args, self.jacobian)
            return self._solver(structure, f, args, jacobian, shift.astype(y.dtype))
        dtype = y.dtype

        def real_field(t, z, args):
            return _real_view(f(t, _complex_view(z, dtype), args))

        if isinstance(structure, _linsolve.Banded):
            structure = _linsolve.Banded(2 * structure.lower + 1, 2 * structure.upper + 1)
        z = _real_view(y)
        jacobian = _linsolve.jacobian(structure, real_field, t, z, args)
        solve = self._solver(structure, real_field, args, jacobian, shift.astype(z.dtype))
        return lambda rhs: _complex_view(solve(_real_view(rhs)), dtype)

    @staticmethod
    def _solver(structure, f, args, jacobian, shift):
        factors = _linsolve.factor(structure, jacobian, shift)
        if isinstance(structure, _linsolve.Dense):
            n = jacobian.shape[0]
            dtype = factors[0][0].dtype
            matrix = shift.astype(dtype) * jnp.eye(n, dtype=dtype) - jacobian.astype(dtype)
            operator = lx.MatrixLinearOperator(matrix)

            def solve(rhs):
                # lineax differentiates through the operator, reusing the factors.
                return lx.linear_solve(
                    operator, rhs.astype(dtype), lx.LU(), state=factors, throw=False
                ).value

            return solve
        return lambda rhs: _linsolve.solve(structure, factors, rhs, f, args)

    def step(self, f, t, y, h, args, state) -> Step:
        """One Rosenbrock step of size ``h`` from ``(t, y)``."""
        tableau = self.tableau
        dtype = y.dtype
        h_state = jnp.asarray(h).astype(dtype)
        shift = (1.0 / (tableau.gamma * h)).astype(jnp.real(y).dtype)
        solve = self._linear_solve(f, t, y, args, shift)
        _, dfdt = jax.jvp(lambda s: f(s, y, args), (t,), (jnp.ones_like(t),))
        # Stage 1 uses the carried f(t, y); stages 2..s run in one scan (one copy of
        # f and of the solve in the program: compile time).
        num_stages = tableau.num_stages
        first = solve(state.f0 + (float(tableau.d[0]) * h_state) * dfdt).astype(dtype)
        stages = jnp.zeros((num_stages,) + y.shape, dtype).at[0].set(first)
        coefficients = (
            jnp.asarray(tableau.a[1:], dtype),
            jnp.asarray(tableau.C[1:], dtype),
            jnp.asarray(tableau.c[1:], jnp.real(y).dtype),
            jnp.asarray(tableau.d[1:], dtype),
            jnp.arange(1, num_stages),
        )

        def stage(stages, row):
            a_row, C_row, c_i, d_i, i = row
            value = f(t + c_i * h, y + a_row @ stages, args)
            rhs = value + (C_row / h_state) @ stages + (d_i * h_state) * dfdt
            return stages.at[i].set(solve(rhs).astype(dtype)), None

        stages, _ = lax.scan(stage, stages, coefficients)
        y1 = y + jnp.asarray(tableau.m, dtype) @ stages
        error = jnp.asarray(tableau.m_error, dtype) @ stages
        finite = jnp.all(jnp.isfinite(y1)) & jnp.all(jnp.isfinite(error))
        error = jnp.where(finite, error, jnp.inf)
        f1 = f(t + h, y1, args)
        dense_info = jnp.asarray(tableau.dense, dtype) @ stages
        # f: s - 1 stages, f(t + h, y_1) for the next step, the df/dt product, J.
        fevals = tableau.num_stages + 1 + self._jacobian_fevals(y)
        status = jnp.asarray(SUCCESS, jnp.int32)
        return Step(y1, error, dense_info, RosenbrockState(f1), status, fevals)

    def dense(self, f, t, h, y0, y1, dense_info, args):
        """``(D, K_1, K_2, K_3)`` stacked, ``(4, n)``."""
        return jnp.concatenate([(y1 - y0)[None], dense_info])

    def interpolate(self, y0, coefficients, theta):
        """``y0 + theta D + theta (1 - theta) (K_1 + theta K_2 + theta^2 K_3)``."""
        theta = jnp.asarray(theta).astype(y0.dtype)
        difference, k1, k2, k3 = (coefficients[r] for r in range(4))
        return y0 + theta * difference + theta * (1 - theta) * (k1 + theta * (k2 + theta * k3))


def _real_view(y):
    """``(Re y_1, Im y_1, Re y_2, Im y_2, ...)``: ``(2n,)`` real."""
    return jnp.stack([jnp.real(y), jnp.imag(y)], axis=-1).reshape(-1)


def _complex_view(z, dtype):
    pairs = z.reshape(-1, 2)
    return lax.complex(pairs[:, 0], pairs[:, 1]).astype(dtype)


def Rodas5(**options) -> Rosenbrock:
    r"""Rodas5: Di Marzo's RODAS5(4), an 8-stage Rosenbrock method of order 5.

    L-stable and stiffly accurate (the last two stages give the embedded 4th-order
    solution and ``y_1``, so ``y_1`` satisfies algebraic constraints); the error
    estimate is the last stage ``U_8`` (``y_1`` minus the embedded solution). Dense
    output of order 4 (the Rodas5 continuous extension of OrdinaryDiffEq.jl). Per step:
    one Jacobian, one ``df/dt`` product, one factorisation of
    ``W = I/(0.19 h) - J``, 8 solves and 8 evaluations of ``f`` (7 stages and
    ``f(t + h, y_1)``, which starts the next step).

    The default step-size controller is the predictive (Gustafsson) one without a
    step-size hold, ``solvers.PredictiveController(hold=(1.0, 1.0))``: on Robertson
    (to ``t = 1e5``, ``rtol = 1e-6``) it takes fewer steps than the I and PI
    controllers (the step counts are in the documentation page "Rosenbrock (Rodas5)").

    Args:
        **options: ``linear_solver`` (``solvers.Dense()`` by default,
            ``solvers.Banded(lower, upper)`` or ``solvers.MatrixFree(...)``) and
            ``jacobian`` (a callable ``(t, y, args) -> (n, n)``; by default ``jax.jacfwd``).

    Returns:
        The method object (a frozen dataclass), e.g. for ``solvers.solve(..., method=...)``.

    References:
        G. Di Marzo, "RODAS5(4) - Methodes de Rosenbrock d'ordre 5(4) adaptees aux
        problemes differentiels-algebriques", Universite de Geneve, 1993; Hairer &
        Wanner, *Solving ODEs II*, 2nd ed. (1996), section IV.7.
    """
    return Rosenbrock(tableau=RODAS5, **options)
