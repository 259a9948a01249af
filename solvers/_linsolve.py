"""How implicit methods solve their linear systems ``(I - gamma h J) x = b``.

A *Jacobian structure* says what ``J = df/dy`` looks like and so how the Newton
matrix ``W = I - gamma h J`` is formed, factorised and solved:

* :class:`Dense`: ``J`` by ``jax.jacfwd`` (or the user's Jacobian), ``W`` factorised by
  LU (lineax) and the factors reused across steps while Newton converges.
* :class:`Banded`: ``J`` has ``lower`` sub- and ``upper`` super-diagonals. It is found
  with ``lower + upper + 1`` Jacobian-vector products (Curtis, Powell & Reid's column
  grouping) instead of ``n``, and ``W`` is factorised in the band (``O(n b^2)``).
* :class:`MatrixFree`: ``W`` is never formed; Krylov iterations (GMRES or BiCGStab,
  lineax) use Jacobian-vector products, optionally preconditioned.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import lineax as lx
from jax import lax


@dataclasses.dataclass(frozen=True)
class Dense:
    """A dense Jacobian: forward-mode ``jax.jacfwd`` and LU factors."""


@dataclasses.dataclass(frozen=True)
class Banded:
    """A banded Jacobian: ``J[i, j] = 0`` unless ``-lower <= j - i <= upper``.

    Args:
        lower: number of sub-diagonals.
        upper: number of super-diagonals.
    """

    lower: int
    upper: int

    def __post_init__(self):
        if not (isinstance(self.lower, int) and isinstance(self.upper, int)):
            raise TypeError("Banded(lower, upper) takes two integers.")
        if self.lower < 0 or self.upper < 0:
            raise ValueError(f"Banded needs lower, upper >= 0, got {self.lower}, {self.upper}.")


@dataclasses.dataclass(frozen=True)
class MatrixFree:
    """Krylov solves with Jacobian-vector products; ``W`` is never formed.

    Args:
        solver: ``"gmres"`` or ``"bicgstab"``.
        rtol: relative tolerance of the Krylov solve.
        atol: absolute tolerance of the Krylov solve.
        max_steps: bound on Krylov iterations per solve.
        restart: GMRES restart length.
        preconditioner: ``None``, or a callable ``(t, y, args, shift) -> P`` returning
            a function ``v -> P v`` that approximates ``W^{-1}``, where
            ``W = shift I - J`` and ``J = df/dy`` at ``(t, y)`` (``args`` are the solve's
            differentiable inputs, the user's params first).
    """

    solver: str = "gmres"
    rtol: float = 1e-8
    atol: float = 1e-12
    max_steps: int = 200
    restart: int = 20
    preconditioner: Callable | None = None

    def __post_init__(self):
        if self.solver not in ("gmres", "bicgstab"):
            raise ValueError(
                f"MatrixFree solver must be 'gmres' or 'bicgstab', got {self.solver!r}."
            )


# ---------------------------------------------------------------- the Newton matrix
#
# Every implicit method here solves with W = shift * I - J, J = df/dy at a point: for
# an ESDIRK stage shift = 1 / (gamma h); for Radau IIA shift = mu / h with mu an
# eigenvalue (real or complex) of the inverse of its Runge-Kutta matrix. Writing W in
# this form lets one factorisation serve every stage, and a complex shift works alike.


def complex_dtype(dtype):
    """The complex dtype of the same precision as the real (or complex) ``dtype``."""
    return jnp.complex64 if jnp.dtype(dtype) in (jnp.float32, jnp.complex64) else jnp.complex128


def jacobian_cost(structure, user_jacobian, size) -> int:
    """Evaluations of ``f`` (Jacobian-vector products) one :func:`jacobian` costs: 0
    for a user Jacobian or matrix-free, the band width for banded, ``n`` for dense."""
    if user_jacobian is not None or isinstance(structure, MatrixFree):
        return 0
    if isinstance(structure, Banded):
        return structure.lower + structure.upper + 1
    return size


def structure_of(value):
    """``None`` (dense) or a structure object; anything else is a ``TypeError``."""
    if value is None:
        return Dense()
    if isinstance(value, (Dense, Banded, MatrixFree)):
        return value
    raise TypeError(
        "linear_solver must be solvers.Dense(), solvers.Banded(lower, upper) or "
        f"solvers.MatrixFree(...), got {value!r}."
    )


def jacobian(structure, f, t, y, args, user_jacobian=None):
    """The Jacobian ``df/dy`` at ``(t, y)`` in the structure's storage.

    Dense: the ``(n, n)`` matrix. Banded: the band ``(n, lower + upper + 1)``, row ``i``
    holding ``J[i, i - lower : i + upper + 1]`` (zeros outside the matrix). MatrixFree:
    the point ``(t, y)`` itself (products are taken when needed).
    """
    if isinstance(structure, MatrixFree):
        return (t, y)
    # The user's jacobian(t, y, params) reaches us converted to the loop's flat
    # convention by `solve`, as an attribute of the flat vector field (absent for
    # fields the solve builds itself, such as backsolve's augmented system).
    user = getattr(f, "jacobian", None) if user_jacobian is not None else None
    if user is not None:
        matrix = jnp.asarray(user(t, y, args), y.dtype)
        if isinstance(structure, Banded):
            return _band_of_matrix(matrix, structure.lower, structure.upper)
        return matrix
    field = functools.partial(_field_at, f, t, args)
    holomorphic = jnp.iscomplexobj(y)
    if isinstance(structure, Banded):
        return _banded_jacobian(field, y, structure.lower, structure.upper)
    return jax.jacfwd(field, holomorphic=holomorphic)(y)


def _field_at(f, t, args, y):
    return f(t, y, args)


def _band_of_matrix(matrix, lower, upper):
    n = matrix.shape[0]
    rows = jnp.arange(n)[:, None]
    columns = rows - lower + jnp.arange(lower + upper + 1)[None, :]
    inside = (columns >= 0) & (columns < n)
    return jnp.where(inside, matrix[rows, jnp.clip(columns, 0, n - 1)], 0)


def _banded_jacobian(field, y, lower, upper):
    """The band of ``J`` from ``lower + upper + 1`` Jacobian-vector products.

    Columns ``j`` with equal ``j mod w`` (``w = lower + upper + 1``) never share a row
    of the band, so one product with their indicator recovers all of them (Curtis,
    Powell & Reid, IMA J. Appl. Math. 13 (1974) 117-119).
    """
    n, width = y.shape[0], lower + upper + 1
    groups = jnp.arange(n) % width
    seeds = (groups[None, :] == jnp.arange(width)[:, None]).astype(y.dtype)
    _, linearised = jax.linearize(field, y)
    products = jax.vmap(linearised)(seeds)  # (w, n): products[g, i] = sum_{j in g} J[i, j]
    rows = jnp.arange(n)[:, None]
    columns = rows - lower + jnp.arange(width)[None, :]
    inside = (columns >= 0) & (columns < n)
    return jnp.where(inside, products[columns % width, rows], 0)


def factor(structure, jac, shift):
    """Factorise ``W = shift I - J`` (``shift`` real or complex)."""
    reference = jac[1] if isinstance(structure, MatrixFree) else jac
    dtype = reference.dtype
    if jnp.iscomplexobj(jnp.asarray(shift)) and not jnp.iscomplexobj(reference):
        dtype = complex_dtype(reference.dtype)
    if isinstance(structure, MatrixFree):
        return (jac, jnp.asarray(shift, dtype))
    shift = jnp.asarray(shift, dtype)
    if isinstance(structure, Banded):
        band = -jac.astype(dtype)
        band = band.at[:, structure.lower].add(shift)
        return banded_lu(band, structure.lower, structure.upper)
    n = jac.shape[0]
    matrix = shift * jnp.eye(n, dtype=dtype) - jac.astype(dtype)
    return lx.LU().init(lx.MatrixLinearOperator(matrix), {})


def solve(structure, factors, rhs, f=None, args=None):
    """``W^{-1} rhs`` with the factors of :func:`factor` (not differentiated: Newton's
    iterations only; derivatives go through :func:`tangent_solve`)."""
    if isinstance(structure, MatrixFree):
        (t, y), shift = factors
        _, linearised = jax.linearize(functools.partial(_field_at, f, t, args), y)
        dtype = rhs.dtype
        if jnp.iscomplexobj(shift) and not jnp.iscomplexobj(rhs):
            dtype = complex_dtype(rhs.dtype)

        def jvp(v):
            if jnp.iscomplexobj(v) and not jnp.iscomplexobj(y):
                # A real Jacobian on a complex vector (Radau's complex shift).
                return lax.complex(linearised(v.real), linearised(v.imag))
            return linearised(v)

        operator = lx.FunctionLinearOperator(
            lambda v: shift * v - jvp(v), jax.ShapeDtypeStruct(rhs.shape, dtype)
        )
        return _krylov(structure, operator, rhs.astype(dtype), (t, y, args, shift))
    if isinstance(structure, Banded):
        return banded_solve(factors, rhs.astype(factors.dtype), structure.lower, structure.upper)
    solution, _, _ = lx.LU().compute(factors, rhs.astype(factors[0][0].dtype), {})
    return solution


def _krylov(structure, operator, rhs, point):
    options = {}
    if structure.preconditioner is not None:
        t, y, args, shift = point
        apply = structure.preconditioner(t, y, args, shift)
        options["preconditioner"] = lx.FunctionLinearOperator(
            apply, jax.ShapeDtypeStruct(rhs.shape, rhs.dtype)
        )
    if structure.solver == "gmres":
        solver = lx.GMRES(
            rtol=structure.rtol,
            atol=structure.atol,
            max_steps=structure.max_steps,
            restart=structure.restart,
        )
    else:
        solver = lx.BiCGStab(
            rtol=structure.rtol, atol=structure.atol, max_steps=structure.max_steps
        )
    return lx.linear_solve(operator, rhs, solver, options=options, throw=False).value


def tangent_solve(structure, linear, rhs):
    """Solve ``linear(x) = rhs`` for a linear map ``linear`` (the linearised residual of
    an implicit solve at its root), differentiably in ``rhs``: the implicit function
    theorem's solve. Dense: the matrix of ``linear`` and LU; banded: its band from
    ``lower + upper + 1`` products; matrix-free: a Krylov solve on ``linear`` itself."""
    n = rhs.shape[0]
    if isinstance(structure, MatrixFree):
        operator = lx.FunctionLinearOperator(linear, jax.ShapeDtypeStruct(rhs.shape, rhs.dtype))
        solver = (
            lx.GMRES(rtol=1e-12, atol=1e-14, max_steps=10 * n, restart=min(n, 50))
            if structure.solver == "gmres"
            else lx.BiCGStab(rtol=1e-12, atol=1e-14, max_steps=10 * n)
        )
        return lx.linear_solve(operator, rhs, solver, throw=False).value
    if isinstance(structure, Banded):
        band = _banded_jacobian(linear, rhs, structure.lower, structure.upper)
        return banded_solve(
            banded_lu(band, structure.lower, structure.upper), rhs, structure.lower, structure.upper
        )
    matrix = jax.vmap(linear, out_axes=1)(jnp.eye(n, dtype=rhs.dtype))
    return lx.linear_solve(lx.MatrixLinearOperator(matrix), rhs, lx.LU(), throw=False).value


# ------------------------------------------------------------------- banded LU


def banded_lu(band, lower, upper):
    """LU factors of a banded matrix in band storage, without pivoting.

    ``band[i, k] = W[i, i - lower + k]``. Returns the factors in the same storage
    (``L``'s multipliers below the diagonal column ``lower``, ``U`` on and above it).
    No pivoting: meant for Newton matrices ``shift I - J`` with ``shift`` large, which
    are diagonally dominant for the step sizes where they matter; a zero pivot gives
    non-finite values, which the Newton iteration reports as divergence.
    Cost ``O(n lower upper)``, sequential in ``n``.
    """
    n, width = band.shape
    if lower == 0:
        return band
    padded = jnp.concatenate([band, jnp.ones((lower, width), band.dtype)])

    def eliminate(padded, k):
        window = lax.dynamic_slice(padded, (k, 0), (lower + 1, width))
        pivot_row = window[0]
        pivot = pivot_row[lower]
        rows = [pivot_row]
        for r in range(1, lower + 1):
            row = window[r]
            multiplier = row[lower - r] / pivot
            tail = (
                row[lower - r + 1 : lower - r + 1 + upper]
                - multiplier * pivot_row[lower + 1 : lower + 1 + upper]
            )
            row = row.at[lower - r].set(multiplier)
            row = row.at[lower - r + 1 : lower - r + 1 + upper].set(tail)
            rows.append(row)
        return lax.dynamic_update_slice(padded, jnp.stack(rows), (k, 0)), None

    padded, _ = lax.scan(eliminate, padded, jnp.arange(n - 1))
    return padded[:n]


def banded_solve(factors, rhs, lower, upper):
    """Solve ``W x = rhs`` with :func:`banded_lu`'s factors (``rhs`` ``(n,)``)."""
    n = rhs.shape[0]

    def forward(y, k):
        # y[k + r] -= L[k + r, k] y[k], r = 1..lower (y padded by `lower` zeros, once)
        multipliers = jnp.stack(
            [factors[jnp.minimum(k + r, n - 1), lower - r] for r in range(1, lower + 1)]
        )
        valid = k + jnp.arange(1, lower + 1) < n
        window = lax.dynamic_slice(y, (k + 1,), (lower,))
        window = window - jnp.where(valid, multipliers, 0) * y[k]
        return lax.dynamic_update_slice(y, window, (k + 1,)), None

    y = rhs
    if lower:
        y, _ = lax.scan(
            forward, jnp.concatenate([rhs, jnp.zeros((lower,), rhs.dtype)]), jnp.arange(n)
        )
        y = y[:n]
    padded = jnp.concatenate([y, jnp.zeros((upper,), y.dtype)])

    def backward(x, k):
        row = factors[k]
        following = lax.dynamic_slice(x, (k + 1,), (upper,)) if upper else x[:0]
        value = (x[k] - jnp.sum(row[lower + 1 : lower + 1 + upper] * following)) / row[lower]
        return x.at[k].set(value), None

    x, _ = lax.scan(backward, padded, jnp.arange(n - 1, -1, -1))
    return x[:n]
