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


@dataclasses.dataclass(frozen=True)
class _IMEX:
    name = "imex"
    order = 1
    gamma = 1.0
    error_order = None
    dense_fevals = 1
    uses_step = True
    uses_split = True

    def _factor(self, split, t, y, args, h):
        scale = self.gamma * jnp.asarray(h)
        if split.diagonal:
            return jax.tree.map(
                lambda lam: 1 / (1 - scale.astype(lam.dtype) * lam), split.eigenvalues(args)
            )
        structure = split.structure
        jac = _linsolve.jacobian(structure, _linear_field(split), t, y, args)
        return _linsolve.factor(structure, jac, (1 / scale).astype(y.dtype))

    def _implicit_solve(self, split, factors, rhs, h, t, args):
        """``(I - gamma h L)^{-1} rhs``."""
        if split.diagonal:
            hats = split.to_spectral(rhs)
            return split.from_spectral(jax.tree.map(multiply, factors, hats))
        shift = (1 / (self.gamma * jnp.asarray(h))).astype(rhs.dtype)
        out = _linsolve.solve(split.structure, factors, rhs, f=_linear_field(split), args=args)
        return (shift * out).astype(rhs.dtype)

    def init(self, f, t0, y0, args, f0, dt=None):
        split = split_of(f, self.name)
        if dt is None:
            raise ValueError(f"method {self.name!r} is a fixed-step method: give dt.")
        h = jnp.asarray(dt)
        return (h, self._factor(split, t0, y0, args, h))

    def step(self, f, t, y, h, args, state):
        split = split_of(f, self.name)
        h_cached, factors = state
        factors = lax.cond(
            eqxi.unvmap_all(same_step(t, h, h_cached)),
            lambda: factors,
            lambda: self._factor(split, t, y, args, h),
        )
        n1 = split.nonlinear(t, y, args)
        y1, fevals = self._stages(split, factors, t, y, h, args, n1)
        # The state keeps the factors of the solve's own dt (a shortened last step
        # factorises for itself).
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
        return self._implicit_solve(split, factors, y + hs * n1, h, t, args), 1


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
        u2 = self._implicit_solve(split, factors, y + gamma * hs * n1, h, t, args)
        n2 = split.nonlinear(t + gamma * h, u2, args)
        rhs = y + hs * (delta * n1 + (1 - delta) * n2) + (1 - gamma) * hs * split.linear(u2, args)
        return self._implicit_solve(split, factors, rhs, h, t, args), 2
