"""Simplified Newton iterations for implicit methods, differentiated implicitly.

An implicit stage (ESDIRK) or collocation system (Radau IIA) is a root ``z*`` of a
residual ``G(z, theta) = 0`` whose inputs ``theta`` (the step's start, its size, the
parameters) are what derivatives are taken with respect to. The root is found with
*simplified* Newton iterations: the matrix ``W ~ dG/dz`` is factorised once and reused
across iterations, stages and often steps (Hairer & Wanner, *Solving ODEs II*, IV.8).
The derivative of ``z*`` never goes through those iterations: it comes from the
implicit function theorem, ``dz*/dtheta = -(dG/dz)^{-1} dG/dtheta`` at the root, with
the exact ``dG/dz`` (``jax.lax.custom_root``), so it is the same whichever stale
matrix the iterations used and costs one linear solve per stage.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from . import _linsolve


def tolerance(rtol, dtype):
    """Newton's stopping tolerance relative to the error tolerance (Hairer's
    ``FNEWT = max(10 eps / rtol, min(0.03, sqrt(rtol)))``)."""
    eps = jnp.finfo(dtype).eps
    rtol = jnp.maximum(rtol, eps)
    return jnp.maximum(10 * eps / rtol, jnp.minimum(0.03, jnp.sqrt(rtol)))


def _rms(x, scale):
    return jnp.sqrt(jnp.mean(jnp.abs(x / scale) ** 2))


def iterate(residual, apply_inverse, z0, scale, tol, eta0, max_iterations):
    """Simplified Newton ``z <- z - W^{-1} G(z)`` until the predicted error is small.

    The iteration stops when ``eta * |dz| <= tol`` with ``eta = theta / (1 - theta)``
    and ``theta`` the observed contraction rate (the first iteration uses ``eta0``,
    carried from the previous step), and fails when it diverges (``theta >= 1``), when
    it cannot converge in the iterations left, or when the values are not finite.

    Args:
        residual: ``G(z)``.
        apply_inverse: ``b -> W^{-1} b``.
        z0: the starting guess (same shape as ``G(z)``).
        scale: ``atol + rtol |y|`` (broadcasts against ``z``).
        tol: the stopping tolerance (:func:`tolerance`).
        eta0: the first iteration's ``eta``.
        max_iterations: a Python int.

    Returns:
        ``(z, (converged, iterations, rate))``.
    """
    dtype = jnp.real(z0).dtype
    zero = jnp.zeros((), dtype)

    def keep_going(carry):
        k, _, _, _, _, done, failed = carry
        return (k < max_iterations) & ~done & ~failed

    def body(carry):
        k, z, norm_old, eta, rate, done, failed = carry
        dz = -apply_inverse(residual(z))
        norm = _rms(dz, scale)
        first = k == 0
        theta = jnp.where(first, rate, norm / jnp.where(norm_old > 0, norm_old, 1))
        eta = jnp.where(first, eta, theta / jnp.maximum(1 - theta, 1e-12))
        remaining = (max_iterations - 1 - k).astype(dtype)
        diverging = ~first & (
            (theta >= 1) | (theta**remaining / jnp.maximum(1 - theta, 1e-12) * norm > tol)
        )
        failed = diverging | ~jnp.isfinite(norm)
        z = jnp.where(failed, z, z + dz)
        done = ~failed & ((eta * norm <= tol) | (norm == 0))
        return k + 1, z, norm, eta, theta, done, failed

    no = jnp.zeros((), bool)
    eta0 = jnp.asarray(eta0, dtype)
    start = (jnp.zeros((), jnp.int32), z0, zero, eta0, eta0 / (1 + eta0), no, no)
    k, z, _, _, rate, done, _ = lax.while_loop(keep_going, body, start)
    return z, (done, k, rate)


def solve(residual, z0, newton, structure):
    """The root of ``residual`` from ``z0`` by ``newton(residual, z0) -> (z, aux)``,
    differentiable by the implicit function theorem through :func:`_linsolve.tangent_solve`
    with ``structure``. Returns ``(z, aux)``."""
    real = jnp.real(z0).dtype

    def floating(residual, z0):
        # custom_root gives its auxiliary outputs zero tangents of their own dtype,
        # which JAX accepts for floating arrays only.
        z, (converged, iterations, rate) = newton(residual, z0)
        return z, (converged.astype(real), iterations.astype(real), rate)

    z, (converged, iterations, rate) = lax.custom_root(
        residual,
        z0,
        floating,
        lambda linear, b: _linsolve.tangent_solve(structure, linear, b),
        has_aux=True,
    )
    return z, (
        lax.stop_gradient(converged) > 0,
        lax.stop_gradient(iterations).astype(jnp.int32),
        lax.stop_gradient(rate),
    )


def stop(tree):
    """Treat carried Jacobians and factors as constants (they only steer iterations)."""
    return jax.tree.map(lax.stop_gradient, tree)
