"""Implicit-explicit (IMEX) Runge-Kutta methods for ``u' = L u + N(t, u)``.

The linear part ``L`` (stiff: diffusion, dispersion) is treated implicitly and the
nonlinear part ``N`` explicitly, so a step solves linear systems with the one matrix
``W = I - gamma h L`` and never a nonlinear one. ``L`` may be any linear operator: a
finite-difference stencil with boundary conditions (``solvers.pde.LinearOperator`` with
a ``Banded``, ``Dense`` or ``MatrixFree`` structure: banded LU or a Krylov solve), or a
Fourier multiplier (``solvers.pde.FourierOperator``: the solve is a division in Fourier
space). ``W`` is factorised once per step size.

* ``imex_euler`` (order 1): ``(I - h L) u_{n+1} = u_n + h N(t_n, u_n)``.
* ``imex2``: Ascher, Ruuth & Spiteri's ARS(2,2,2), order 2, L-stable implicit part,
  ``gamma = 1 - 1/sqrt(2)``, ``delta = 1 - 1/(2 gamma)``::

      (I - gamma h L) U_2 = u_n + gamma h N_1                         N_1 = N(t_n, u_n)
      (I - gamma h L) U_3 = u_n + h (delta N_1 + (1 - delta) N_2)
                                + (1 - gamma) h L U_2                 N_2 = N(t_n + gamma h, U_2)
      u_{n+1} = U_3

Reference: U. M. Ascher, S. J. Ruuth and R. J. Spiteri, "Implicit-explicit Runge-Kutta
methods for time-dependent partial differential equations", *Appl. Numer. Math.* 25
(1997) 151-167.
"""

from __future__ import annotations

import dataclasses
import math

import equinox.internal as eqxi
import jax
import jax.numpy as jnp
from jax import lax

from . import _linsolve
from .explicit import Step
from .exponential import hermite_coefficients, hermite_evaluate, same_step, split_of
from .pde.spectral import multiply


def _linear_field(split):
    return lambda t, y, args: split.linear(y, args)


def _transposed_band(band, lower, upper):
    """The band of ``A^T`` (``Banded(upper, lower)``) from the band of ``A``:
    ``A^T[i, i - upper + k] = A[i - upper + k, i] = band[i - upper + k, lower + upper - k]``
    (zero outside the matrix)."""
    n = band.shape[0]
    columns = []
    for k in range(lower + upper + 1):
        column = band[:, lower + upper - k]
        shift = k - upper  # row i of the result reads row i + shift
        if shift >= 0:
            columns.append(jnp.pad(column, (0, shift))[shift : shift + n])
        else:
            columns.append(jnp.pad(column, (-shift, 0))[:n])
    return jnp.stack(columns, axis=1)


@dataclasses.dataclass(frozen=True)
class _IMEX:
    """Shared machinery. ``W = I - gamma dt L`` is factorised once per solve
    (``precompute``), outside the loop; a step of another size factorises its own."""

    name = "imex"
    order = 1
    gamma = 1.0
    error_order = None
    dense_fevals = 1
    uses_split = True

    def _factor(self, split, args, h, y):
        """What ``_implicit_solve`` needs for the step size ``h``."""
        scale = self.gamma * jnp.asarray(h)
        if split.diagonal:
            return jax.tree.map(
                lambda lam: 1 / (1 - scale.astype(lam.dtype) * lam), split.eigenvalues(args)
            )
        structure = split.structure
        if isinstance(structure, _linsolve.MatrixFree):
            return ()
        # W's factors serve only the solves (derivatives go through W's matrix-vector
        # product in lax.custom_linear_solve): no derivative of the factorisation.
        jac = lax.stop_gradient(
            _linsolve.jacobian(structure, _linear_field(split), jnp.zeros((), scale.dtype), y, args)
        )
        shift = (1 / scale).astype(y.dtype)
        if isinstance(structure, _linsolve.Banded):
            lower, upper = structure.lower, structure.upper
            transposed = _linsolve.Banded(upper, lower)
            return (
                _linsolve.factor(structure, jac, shift),
                _linsolve.factor(transposed, _transposed_band(jac, lower, upper), shift),
            )
        matrix = jnp.eye(y.shape[0], dtype=y.dtype) - scale.astype(y.dtype) * jac
        return jax.scipy.linalg.lu_factor(matrix)

    def _implicit_solve(self, split, factors, rhs, h, args):
        """``(I - gamma h L)^{-1} rhs``, differentiable in ``rhs`` and in ``L``'s
        parameters (implicit differentiation of the linear solve)."""
        if split.diagonal:
            hats = split.to_spectral(rhs)
            return split.from_spectral(jax.tree.map(multiply, factors, hats))
        structure = split.structure
        scale = (self.gamma * jnp.asarray(h)).astype(rhs.dtype)
        if isinstance(structure, _linsolve.MatrixFree):
            point = (jnp.zeros((), jnp.asarray(h).dtype), jnp.zeros_like(rhs))
            out = _linsolve.solve(
                structure, (point, 1 / scale), rhs, f=_linear_field(split), args=args
            )
            return ((1 / scale) * out).astype(rhs.dtype)

        def matvec(x):
            return x - scale * split.linear(x, args)

        if isinstance(structure, _linsolve.Banded):
            lower, upper = structure.lower, structure.upper
            forward, backward = factors

            def solve(_, b):
                return _linsolve.banded_solve(forward, b, lower, upper) / scale

            def transpose_solve(_, b):
                return _linsolve.banded_solve(backward, b, upper, lower) / scale
        else:

            def solve(_, b):
                return jax.scipy.linalg.lu_solve(factors, b)

            def transpose_solve(_, b):
                return jax.scipy.linalg.lu_solve(factors, b, trans=1)

        return lax.custom_linear_solve(matvec, rhs, solve, transpose_solve)

    def precompute(self, split, args, dt, y0):
        """``(dt, factors at dt)``, once per solve (see ``solvers._split``)."""
        return (dt, self._factor(split, args, dt, y0))

    def init(self, f, t0, y0, args, f0):
        split_of(f, self.name)
        return ()

    def step(self, f, t, y, h, args, state):
        split = split_of(f, self.name)
        dt, factors = split.precomputed(args)
        same = same_step(t, h, dt)
        factors = lax.cond(
            eqxi.unvmap_all(same),
            lambda: factors,
            lambda: self._factor(split, args, h, y),
        )
        h = jnp.where(same, dt, h)
        n1 = split.nonlinear(t, y, args)
        y1, fevals = self._stages(split, factors, t, y, h, args, n1)
        return Step(y1, None, n1, state, jnp.zeros((), jnp.int32), fevals)

    def dense(self, f, t, h, y0, y1, dense_info, args):
        split = split_of(f, self.name)
        d0 = split.linear(y0, args) + dense_info
        d1 = split.linear(y1, args) + split.nonlinear(t + h, y1, args)
        return hermite_coefficients(h, y0, y1, d0, d1)

    def interpolate(self, y0, coefficients, theta):
        return hermite_evaluate(y0, coefficients, theta)


@dataclasses.dataclass(frozen=True)
class IMEXEuler(_IMEX):
    """IMEX Euler (order 1): implicit Euler for ``L``, explicit Euler for ``N``; one
    evaluation of ``N`` and one linear solve per step."""

    name = "imex_euler"
    order = 1
    gamma = 1.0

    def _stages(self, split, factors, t, y, h, args, n1):
        hs = jnp.asarray(h).astype(y.dtype)
        return self._implicit_solve(split, factors, y + hs * n1, h, args), 1


@dataclasses.dataclass(frozen=True)
class IMEX2(_IMEX):
    """ARS(2,2,2) (order 2, L-stable in ``L``): two evaluations of ``N`` and two
    linear solves with one factorisation per step."""

    name = "imex2"
    order = 2
    gamma = 1 - 1 / math.sqrt(2)

    def _stages(self, split, factors, t, y, h, args, n1):
        gamma = self.gamma
        delta = 1 - 1 / (2 * gamma)
        hs = jnp.asarray(h).astype(y.dtype)
        u2 = self._implicit_solve(split, factors, y + gamma * hs * n1, h, args)
        n2 = split.nonlinear(t + gamma * h, u2, args)
        rhs = y + hs * (delta * n1 + (1 - delta) * n2) + (1 - gamma) * hs * split.linear(u2, args)
        return self._implicit_solve(split, factors, rhs, h, args), 2
