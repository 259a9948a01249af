"""Dense output of Runge-Kutta steps.

Every method writes its continuous extension on a step ``[t, t + h]`` as

.. math::  y(t + \\theta h) = y_0 + \\sum_j \\phi_j(\\theta)\\, C_j ,

with basis functions ``phi_j`` fixed by the method and coefficients ``C_j`` that are
linear in the stages. Keeping this split lets the adjoint pass accumulate the
cotangents of all save points of a step into ``C`` and differentiate the step once.

* ``"poly"``: ``phi_j = theta^j``, ``C_j = h sum_i P_ij k_i`` (Dopri5: Shampine 1986;
  Tsit5: Tsitouras 2011).
* ``"hermite"``: cubic Hermite interpolation of ``y0, y1, f0, f1`` (order 3).
* ``"dop853"``: Hairer's 7th-order interpolant, ``phi = theta, theta(1-theta),
  theta^2(1-theta), theta^2(1-theta)^2, ...`` with three extra stages
  (Hairer, Norsett & Wanner 1993, section II.6 and the DOP853 code).
"""

from __future__ import annotations

import jax.numpy as jnp

from ._tableaus import weighted_sum as _weighted_sum


def dense_basis(tableau, theta):
    """Basis functions ``phi_j(theta)``, shape ``(d,)``."""
    if tableau.dense == "poly":
        degree = tableau.dense_weights.shape[1]
        return jnp.stack([theta ** (j + 1) for j in range(degree)])
    if tableau.dense == "hermite":
        return jnp.stack([theta, theta**2, theta**3])
    one_minus = 1 - theta
    basis, value = [], theta
    for j in range(7):
        basis.append(value)
        value = value * (one_minus if j % 2 == 0 else theta)
    return jnp.stack(basis)


def dense_coefficients(tableau, f, t, y0, y1, h, ks):
    """Coefficients ``C`` of the continuous extension, shape ``(d, n)``.

    Args:
        tableau: the method.
        f: flat vector field ``f(t, y)``.
        t, h: start and size of the step.
        y0, y1: ``(n,)`` states at both ends.
        ks: the list of stages of the step (``ks[0] = f(t, y0)``).
    """
    t_step = h
    h = jnp.asarray(h).astype(y0.dtype)  # the state may be complex; times stay real
    if tableau.dense == "poly":
        weights = tableau.dense_weights
        return jnp.stack([h * _weighted_sum(weights[:, j], ks) for j in range(weights.shape[1])])
    delta = y1 - y0
    f0 = ks[0]
    f1 = ks[-1] if tableau.fsal else f(t + t_step, y1)
    if tableau.dense == "hermite":
        return jnp.stack([h * f0, 3 * delta - h * (2 * f0 + f1), -2 * delta + h * (f0 + f1)])
    ks = list(ks)
    for a_row, c in zip(tableau.extra_a, tableau.extra_c):
        ks.append(f(t + c * t_step, y0 + h * _weighted_sum(a_row[: len(ks)], ks)))
    extra = [h * _weighted_sum(row, ks) for row in tableau.dense_d]
    return jnp.stack([delta, h * f0 - delta, 2 * delta - h * (f1 + f0), *extra])


def dense_evaluate(tableau, y0, coefficients, theta):
    """``y(t + theta h)`` from the coefficients; ``theta`` scalar."""
    # An elementwise sum, not ``@``: XLA fuses it, while a tiny dot is a library call.
    basis = dense_basis(tableau, theta).astype(coefficients.dtype)
    return y0 + jnp.sum(basis[:, None] * coefficients, axis=0)
