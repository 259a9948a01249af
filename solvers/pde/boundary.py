"""Boundary conditions for the finite-difference operators, imposed through ghost cells.

Along a bounded axis of a :class:`~solvers.pde.Grid` the points are cell centres and the
boundary sits on the outer faces ``a`` and ``b``. A condition is imposed by filling
``width`` ghost cells beyond each face so that the condition holds at the face; the
interior stencils are then applied unchanged (LeVeque, *Finite Volume Methods for
Hyperbolic Problems*, CUP 2002, ch. 7; LeVeque, *Finite Difference Methods for Ordinary
and Partial Differential Equations*, SIAM 2007, ch. 2).

A ``bc`` argument is one of

* one condition for every face: ``Dirichlet(0.0)`` on a grid bounded on every axis,
  ``Periodic()`` on a grid periodic on every axis;
* one entry per axis, each a condition or a ``(low, high)`` pair:
  ``(Periodic(), (Dirichlet(1.0), Neumann(0.0)))``;
* in 1-D also a bare ``(low, high)`` pair: ``(Dirichlet(1.0), Neumann(0.0))``.

Periodic axes of the grid take :class:`Periodic` and bounded axes take the others;
:func:`faces` says which axis disagrees otherwise. Boundary values may be floats or
arrays broadcastable to the face (the field's shape with that axis removed), and may be
traced: gradients flow through them (the conditions are pytrees).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike

from .grid import Grid

__all__ = ["Dirichlet", "Neumann", "Periodic", "Robin", "faces", "pad"]


def _is_concrete_number(x) -> bool:
    return isinstance(x, (int, float, np.number)) and not isinstance(x, bool)


@dataclasses.dataclass(frozen=True, eq=False)
class Periodic:
    """Periodic wrap-around: the ghost cells are copies of the cells at the other end.

    Only for the periodic axes of a grid (``Grid(..., periodic=True)``)."""


@dataclasses.dataclass(frozen=True, eq=False)
class Dirichlet:
    """``u = value`` on the face.

    Args:
        value: a float, or an array broadcastable to the face (the field's shape with
            the axis removed); may be traced.
    """

    value: Any = 0.0


@dataclasses.dataclass(frozen=True, eq=False)
class Neumann:
    """``du/dn = flux`` on the face, ``n`` the outward normal (so at the low face
    ``du/dn = -du/dx``, at the high face ``du/dn = du/dx``).

    Args:
        flux: a float, or an array broadcastable to the face; may be traced.
    """

    flux: Any = 0.0


@dataclasses.dataclass(frozen=True, eq=False)
class Robin:
    """``alpha u + beta du/dn = value`` on the face, ``n`` the outward normal.

    ``Robin(1, 0, g)`` is ``Dirichlet(g)`` and ``Robin(0, 1, q)`` is ``Neumann(q)``. The
    physical (dissipative) case is ``alpha * beta >= 0``, e.g. Newton cooling
    ``k du/dn = -h (u - u_env)`` is ``Robin(h, k, h * u_env)``.

    Args:
        alpha, beta: the coefficients (floats or arrays broadcastable to the face; may
            be traced). Not both zero.
        value: the right-hand side, a float or an array broadcastable to the face.
    """

    alpha: Any
    beta: Any
    value: Any = 0.0

    def __post_init__(self):
        if _is_concrete_number(self.alpha) and _is_concrete_number(self.beta):
            if self.alpha == 0 and self.beta == 0:
                raise ValueError("Robin needs alpha and beta not both zero.")


jax.tree_util.register_dataclass(Periodic, data_fields=[], meta_fields=[])
jax.tree_util.register_dataclass(Dirichlet, data_fields=["value"], meta_fields=[])
jax.tree_util.register_dataclass(Neumann, data_fields=["flux"], meta_fields=[])
jax.tree_util.register_dataclass(Robin, data_fields=["alpha", "beta", "value"], meta_fields=[])

_CONDITIONS = (Periodic, Dirichlet, Neumann, Robin)


def _is_condition(x) -> bool:
    return isinstance(x, _CONDITIONS)


def _is_pair(x) -> bool:
    return isinstance(x, (tuple, list)) and len(x) == 2 and all(map(_is_condition, x))


def faces(bc, grid: Grid) -> tuple[tuple[Any, Any], ...]:
    """Normalise a boundary specification to one ``(low, high)`` pair per axis.

    Args:
        bc: one condition for every face; or a tuple with one entry per axis, each a
            condition or a ``(low, high)`` pair; in 1-D also a bare ``(low, high)`` pair.
        grid: the grid.

    Returns:
        ``((low_0, high_0), (low_1, high_1), ...)``, one pair per axis of the grid.

    Raises:
        TypeError: ``bc`` is not one of these forms.
        ValueError: :class:`Periodic` on a bounded axis, a non-periodic condition on a
            periodic axis, or a wrong number of entries.
    """
    if not isinstance(grid, Grid):
        raise TypeError(f"grid must be a solvers.pde.Grid; got {type(grid).__name__}.")
    ndim = grid.ndim
    if _is_condition(bc):
        per_axis = [(bc, bc)] * ndim
    elif ndim == 1 and _is_pair(bc):
        per_axis = [tuple(bc)]
    elif isinstance(bc, (tuple, list)):
        if len(bc) != ndim:
            raise ValueError(
                f"bc has {len(bc)} entries for a {ndim}-D grid; give one condition for "
                "every face, or one entry (a condition or a (low, high) pair) per axis."
            )
        per_axis = []
        for axis, entry in enumerate(bc):
            if _is_condition(entry):
                per_axis.append((entry, entry))
            elif _is_pair(entry):
                per_axis.append(tuple(entry))
            else:
                raise TypeError(
                    f"bc entry for axis {axis} must be a boundary condition (Periodic, "
                    f"Dirichlet, Neumann, Robin) or a (low, high) pair of them; got {entry!r}."
                )
    else:
        raise TypeError(
            "bc must be a boundary condition (Periodic, Dirichlet, Neumann, Robin), or a "
            f"tuple with one condition or (low, high) pair per axis; got {bc!r}."
        )
    for axis, ((low, high), periodic) in enumerate(zip(per_axis, grid.periodic)):
        for side, condition in (("low", low), ("high", high)):
            if periodic and not isinstance(condition, Periodic):
                raise ValueError(
                    f"Axis {axis} of the grid is periodic but its {side} boundary condition "
                    f"is {type(condition).__name__}. Build the grid with periodic=False on "
                    "that axis (Grid(..., periodic=(...))), or give bc one entry per axis "
                    "with Periodic() for this one, e.g. (Periodic(), Dirichlet(0.0))."
                )
            if not periodic and isinstance(condition, Periodic):
                raise ValueError(
                    f"Periodic() on axis {axis}, which is bounded in the grid (cell-centred, "
                    "periodic=False). Build the grid with periodic=True on that axis, or "
                    "give Dirichlet, Neumann or Robin conditions for it."
                )
    return tuple(per_axis)


@functools.cache
def _ghost_weights(width: int):
    """Weights of the ghost-cell extrapolation in units of ``dx`` from the face.

    The interior cells sit at ``s_j = j + 1/2`` (``j = 0..width``) and the ghost cells at
    ``g_k = -(k + 1/2)`` (``k = 0..width-1``). ``q`` interpolates the ``width + 1``
    interior values and ``omega(s) = prod_j (s - s_j)`` vanishes at them; the ghost
    values are those of ``p = q + c omega``, degree ``width + 1``, with ``c`` fixed by
    the face condition.

    Returns ``(ghost_q, face_q, slope_q, ghost_omega, face_omega, slope_omega)``:
    ``ghost_q[k, j] = L_j(g_k)``, ``face_q[j] = L_j(0)``, ``slope_q[j] = L_j'(0)``,
    ``ghost_omega[k] = omega(g_k)``, ``face_omega = omega(0)``,
    ``slope_omega = omega'(0)``; all plain floats.
    """
    nodes = np.arange(width + 1) + 0.5
    ghosts = -(np.arange(width) + 0.5)
    ghost_q = np.zeros((width, width + 1))
    face_q = np.zeros(width + 1)
    slope_q = np.zeros(width + 1)
    for j, node in enumerate(nodes):
        others = np.delete(nodes, j)
        basis = np.poly(others) / np.prod(node - others)
        ghost_q[:, j] = np.polyval(basis, ghosts)
        face_q[j] = np.polyval(basis, 0.0)
        slope_q[j] = np.polyval(np.polyder(basis), 0.0)
    omega = np.poly(nodes)

    def floats(a):
        return tuple(float(x) for x in np.ravel(a))

    return (
        tuple(floats(row) for row in ghost_q),
        floats(face_q),
        floats(slope_q),
        floats(np.polyval(omega, ghosts)),
        float(np.polyval(omega, 0.0)),
        float(np.polyval(np.polyder(omega), 0.0)),
    )


def _slab(u, axis, index):
    """``u[..., index, ...]`` along ``axis``, keeping the axis (length 1)."""
    return jax.lax.slice_in_dim(u, index, index + 1, axis=axis)


def _face_array(x, u, axis, grown=()):
    """``x`` (a number or an array broadcastable to the face) as an array of the face's
    shape with the axis kept as length 1. ``grown`` lists ``(array_axis, width)`` for
    axes of ``u`` already padded with ghost cells: ``x`` broadcasts to the face before
    that padding and is extended to the ghosts by copying its edge values."""
    shrink = dict(grown)
    face = [n - 2 * shrink.get(k, 0) for k, n in enumerate(u.shape)]
    face_shape = tuple(face[:axis] + face[axis + 1 :])
    x = jnp.asarray(x)
    if x.dtype != u.dtype:
        x = x.astype(u.dtype)
    try:
        x = jnp.broadcast_to(x, face_shape)
    except ValueError as error:
        raise ValueError(
            f"A boundary value of shape {x.shape} does not broadcast to the face of shape "
            f"{face_shape} (the field's shape {tuple(face)} without axis {axis})."
        ) from error
    x = jnp.expand_dims(x, axis)
    if grown:
        x = jnp.pad(x, [(shrink.get(k, 0),) * 2 for k in range(u.ndim)], mode="edge")
    return x


def _combination(weights, slabs):
    total = None
    for weight, slab in zip(weights, slabs):
        if weight == 0.0:
            continue
        term = weight * slab
        total = term if total is None else total + term
    return total


def _low_ghosts(u, condition, axis, width, dx, grown=()):
    """Ghost cells beyond the low face of ``u`` along ``axis``, nearest first."""
    ghost_q, face_q, slope_q, ghost_omega, face_omega, slope_omega = _ghost_weights(width)
    slabs = [_slab(u, axis, j) for j in range(width + 1)]
    if isinstance(condition, Dirichlet):
        alpha, beta, value = 1.0, 0.0, condition.value
    elif isinstance(condition, Neumann):
        alpha, beta, value = 0.0, 1.0, condition.flux
    else:
        alpha, beta, value = condition.alpha, condition.beta, condition.value
    # alpha p(0) - (beta/dx) p'(0) = value fixes c in p = q + c omega (outward derivative
    # is -p'(0)/dx in the coordinate s pointing into the domain).
    residual = _face_array(value, u, axis, grown)
    denominator = 0.0
    if not (_is_concrete_number(alpha) and alpha == 0):
        alpha = alpha if _is_concrete_number(alpha) else _face_array(alpha, u, axis, grown)
        residual = residual - alpha * _combination(face_q, slabs)
        denominator = alpha * face_omega
    if not (_is_concrete_number(beta) and beta == 0):
        beta = beta / dx if _is_concrete_number(beta) else _face_array(beta, u, axis, grown) / dx
        residual = residual + beta * _combination(slope_q, slabs)
        denominator = denominator - beta * slope_omega
    c = residual / denominator
    return [_combination(ghost_q[k], slabs) + ghost_omega[k] * c for k in range(width)]


def _pad_axis(u, grid: Grid, pair, axis: int, width: int, grown=()):
    """Pad grid axis ``axis`` of ``u`` (spatial axes last) with ``width`` ghost cells per
    side for the ``(low, high)`` conditions ``pair`` (``grown``: see ``_face_array``)."""
    array_axis = u.ndim - grid.ndim + axis
    n = u.shape[array_axis]
    low, high = pair
    if isinstance(low, Periodic):
        if width > n:
            raise ValueError(f"width {width} exceeds the {n} points of periodic axis {axis}.")
        left = jax.lax.slice_in_dim(u, n - width, n, axis=array_axis)
        right = jax.lax.slice_in_dim(u, 0, width, axis=array_axis)
        return jnp.concatenate([left, u, right], axis=array_axis)
    if n < width + 1:
        raise ValueError(
            f"Ghost cells of width {width} need at least {width + 1} points on bounded "
            f"axis {axis}; the grid has {n}."
        )
    dx = grid.dx[axis]
    left = _low_ghosts(u, low, array_axis, width, dx, grown)
    right = _low_ghosts(jnp.flip(u, array_axis), high, array_axis, width, dx, grown)
    return jnp.concatenate(left[::-1] + [u] + right, axis=array_axis)


def _check_field(u, grid: Grid):
    """``u`` as an array whose trailing axes are the grid's shape (``ValueError``
    otherwise)."""
    if not isinstance(grid, Grid):
        raise TypeError(f"grid must be a solvers.pde.Grid; got {type(grid).__name__}.")
    u = jnp.asarray(u)
    if u.ndim < grid.ndim or tuple(u.shape[u.ndim - grid.ndim :]) != grid.shape:
        raise ValueError(
            f"A field on this grid has trailing shape {grid.shape}; got shape {u.shape}."
        )
    if not jnp.issubdtype(u.dtype, jnp.inexact):
        u = u.astype(jnp.result_type(float))
    return u


def pad(u: ArrayLike, grid: Grid, bc, width: int = 1) -> Array:
    """``u`` with ``width`` ghost cells on both sides of every axis, filled from ``bc``.

    **Periodic** axes wrap: the ghosts beyond the high end are the first cells, and
    vice versa.

    **Bounded** axes (cell centres ``x_j = a + (j + 1/2) dx``, faces at ``a`` and
    ``b``): in the coordinate ``s = (x - a)/dx`` pointing into the domain (at the high
    face ``s = (b - x)/dx``), the interior cells sit at ``s_j = j + 1/2`` and the ghosts
    at ``s = -(k + 1/2)``. The ghosts take the values of the polynomial ``p`` of degree
    ``width + 1`` that passes through the ``width + 1`` cells nearest the face and
    satisfies the face condition ``alpha p(0) - (beta/dx) p'(0) = value``
    (``Dirichlet``: ``alpha, beta = 1, 0``; ``Neumann``: ``0, 1``; the outward derivative
    is ``-p'(0)/dx``). The ghosts are exact for polynomials of degree ``width + 1``, so
    their error is ``O(dx^(width + 2))``. For ``width=1``:

    * Dirichlet: ``u_{-1} = (8 g - 6 u_0 + u_1) / 3``;
    * Neumann:   ``u_{-1} = u_0 + dx q`` (the mirror image; ``q`` the outward flux);
    * Robin:     ``u_{-1} = [g - alpha (6 u_0 - u_1)/8 + beta u_0/dx]
      / (3 alpha / 8 + beta / dx)``, which needs ``3 alpha dx + 8 beta != 0``
      (always so when ``alpha * beta >= 0``).

    and for ``width=2`` the ghosts use the cells ``u_0, u_1, u_2`` (exact for cubics;
    e.g. Dirichlet ``u_{-1} = (16 g - 15 u_0 + 5 u_1 - u_2) / 5``). Only the cells within
    ``width + 1`` of a face enter its ghosts, so the operators keep the band of their
    interior stencils. Corner ghost cells (beyond two faces at once) are filled by
    applying each axis's condition in turn, the later axes to the already padded array;
    the operators in :mod:`solvers.pde` never read them.

    Args:
        u: a field whose last ``grid.ndim`` axes have the grid's shape (leading axes,
            e.g. components or a batch, are carried along).
        grid: the grid.
        bc: the boundary conditions (see :func:`faces`).
        width: ghost cells per side (``1`` for the second-order stencils, ``2`` for the
            fourth-order ones).

    Returns:
        An array of shape ``u.shape[:-ndim] + tuple(n + 2 width for n in grid.shape)``.
    """
    if not isinstance(width, (int, np.integer)) or isinstance(width, bool) or width < 1:
        raise ValueError(f"width must be a positive integer; got {width!r}.")
    pairs = faces(bc, grid)
    u = _check_field(u, grid)
    width = int(width)
    lead = u.ndim - grid.ndim
    for axis, pair in enumerate(pairs):
        grown = tuple((lead + k, width) for k in range(axis))
        u = _pad_axis(u, grid, pair, axis, width, grown)
    return u
