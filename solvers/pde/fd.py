"""Finite-difference operators on a :class:`~solvers.pde.Grid`.

Every operator pads the field with ghost cells for the boundary conditions
(:func:`solvers.pde.pad`) and applies the standard central (or upwind) stencil on the
padded array, so the interior formula is the same everywhere. The stencil weights are
the classical ones (Fornberg, "Generation of finite difference formulas on arbitrarily
spaced grids", *Math. Comp.* 51, 1988; LeVeque, *Finite Difference Methods for Ordinary
and Partial Differential Equations*, SIAM 2007, ch. 1-2).

Accuracy. On a periodic axis the error is ``O(dx^order)`` everywhere. On a bounded axis
the ghost cells are exact for polynomials of degree ``width + 1`` (``width = order/2``;
see :func:`solvers.pde.pad`), which gives, in the cells next to a face:

| operator    | `order` | interior cells | the `order/2` cells next to a face |
|-------------|---------|----------------|------------------------------------|
| `gradient`  | 2       | `O(dx^2)`      | `O(dx^2)`                          |
| `gradient`  | 4       | `O(dx^4)`      | `O(dx^3)`                          |
| `laplacian` | 2       | `O(dx^2)`      | `O(dx)`                            |
| `laplacian` | 4       | `O(dx^4)`      | `O(dx^2)`                          |

The lower order is confined to one or two cells, which is the usual situation for
boundary closures (Gustafsson, "The convergence rate for difference approximations to
mixed initial boundary value problems", *Math. Comp.* 29, 1975): solving a
boundary-value problem ``laplacian(u) = f`` converges at second order with
``order=2`` for every condition, and with ``order=4`` at fourth order for Dirichlet and
third order for Neumann and Robin conditions (measured in ``tests/test_pde_fd.py``).
The discrete Laplacian with Dirichlet, Neumann or dissipative Robin conditions has a
real, non-positive spectrum (no growing modes in a diffusion solve); its largest
eigenvalue magnitude per Dirichlet axis is about ``4.6/dx^2`` (``order=2``) and
``6.2/dx^2`` (``order=4``), against ``4/dx^2`` and ``5.3/dx^2`` on a periodic axis, which
sets the explicit time step of a diffusion problem.

The operators are affine in ``u`` for nonzero boundary data. For a linear part of a
semilinear field (:class:`solvers.pde.LinearOperator`) use homogeneous conditions
and move the boundary data into the nonlinear part, e.g.
``laplacian(u, grid, bc) - laplacian(jnp.zeros_like(u), grid, bc)`` is linear.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike

from .._linsolve import Banded
from .boundary import _check_field, _pad_axis, faces
from .grid import Grid

__all__ = ["banded_structure", "divergence", "gradient", "laplacian", "upwind"]

# Offsets and weights (times dx^-m) of the central stencils (Fornberg 1988).
_FIRST = {
    2: ((-1, 1), (-0.5, 0.5)),
    4: ((-2, -1, 1, 2), (1 / 12, -8 / 12, 8 / 12, -1 / 12)),
}
_SECOND = {
    2: ((-1, 0, 1), (1.0, -2.0, 1.0)),
    4: ((-2, -1, 0, 1, 2), (-1 / 12, 16 / 12, -30 / 12, 16 / 12, -1 / 12)),
}
# One-sided (upwind) first derivatives for a positive velocity (backward differences);
# a negative velocity uses the mirror image.
_BACKWARD = {
    1: ((-1, 0), (-1.0, 1.0)),
    2: ((-2, -1, 0), (0.5, -2.0, 1.5)),
}


def _check_order(order, allowed, name):
    if isinstance(order, bool) or order not in allowed:
        raise ValueError(
            f"{name} supports order {' or '.join(map(str, allowed))}; got order={order!r}."
        )
    return int(order)


def _check_axis(axis, grid: Grid) -> int:
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"axis must be an integer; got {axis!r}.")
    if not -grid.ndim <= axis < grid.ndim:
        raise ValueError(f"axis {axis} is out of range for a {grid.ndim}-D grid.")
    return int(axis) % grid.ndim


def _stencil(u, grid: Grid, pair, axis: int, stencil, derivative: int):
    """``sum_k w_k u_{i + o_k} / dx^derivative`` along grid axis ``axis``."""
    offsets, weights = stencil
    width = max(abs(o) for o in offsets)
    padded = _pad_axis(u, grid, pair, axis, width)
    array_axis = u.ndim - grid.ndim + axis
    n = u.shape[array_axis]
    total = None
    for offset, weight in zip(offsets, weights):
        start = width + offset
        term = weight * jax.lax.slice_in_dim(padded, start, start + n, axis=array_axis)
        total = term if total is None else total + term
    return total / grid.dx[axis] ** derivative


def gradient(u: ArrayLike, grid: Grid, bc, axis: int | None = None, order: int = 2):
    """Central-difference first derivatives of ``u``.

    Along axis ``d`` with spacing ``h = grid.dx[d]``:

    * ``order=2``: ``(u_{i+1} - u_{i-1}) / (2 h)``;
    * ``order=4``: ``(u_{i-2} - 8 u_{i-1} + 8 u_{i+1} - u_{i+2}) / (12 h)``

    (Fornberg 1988; LeVeque 2007, ch. 1). Boundary conditions enter through ghost
    cells (:func:`solvers.pde.pad`); the accuracy next to a bounded face is in the table
    of :mod:`solvers.pde.fd`.

    Args:
        u: a field, the last ``grid.ndim`` axes of the grid's shape.
        grid: the grid.
        bc: the boundary conditions (:func:`solvers.pde.faces`).
        axis: the grid axis to differentiate along; ``None``: all of them.
        order: 2 or 4.

    Returns:
        ``du/dx_axis`` of ``u``'s shape; for ``axis=None`` a tuple with one derivative
        per axis (in 1-D the array itself).
    """
    order = _check_order(order, (2, 4), "gradient")
    pairs = faces(bc, grid)
    u = _check_field(u, grid)
    if axis is not None:
        axis = _check_axis(axis, grid)
        return _stencil(u, grid, pairs[axis], axis, _FIRST[order], 1)
    parts = tuple(_stencil(u, grid, pairs[d], d, _FIRST[order], 1) for d in range(grid.ndim))
    return parts[0] if grid.ndim == 1 else parts


def divergence(v, grid: Grid, bc, order: int = 2) -> Array:
    """Central-difference divergence ``sum_d dv_d/dx_d`` of a vector field.

    Each component ``v_d`` is differentiated along its own axis with the stencil of
    :func:`gradient` (Fornberg 1988; LeVeque 2007, ch. 1), so only the condition
    on axis ``d`` matters for ``v_d``: give the condition the *normal* component of
    ``v`` satisfies on the faces (e.g. a no-flux wall is ``Dirichlet(0.0)`` for the
    normal flux). ``divergence(gradient(u))`` equals ``laplacian(u)`` only to
    truncation order and with a stencil twice as wide; prefer :func:`laplacian`.

    Args:
        v: one component per axis (a tuple or list); in 1-D also a single array. Each
            component is a field of the grid's shape.
        grid: the grid.
        bc: the boundary conditions of the components (:func:`solvers.pde.faces`).
        order: 2 or 4.

    Returns:
        The divergence, of a component's shape.
    """
    order = _check_order(order, (2, 4), "divergence")
    pairs = faces(bc, grid)
    if grid.ndim == 1 and not isinstance(v, (tuple, list)):
        v = (v,)
    if not isinstance(v, (tuple, list)) or len(v) != grid.ndim:
        raise ValueError(
            f"divergence needs a tuple of {grid.ndim} components (one per axis) on a "
            f"{grid.ndim}-D grid; got {type(v).__name__}"
            + (f" of length {len(v)}." if isinstance(v, (tuple, list)) else ".")
        )
    components = [_check_field(component, grid) for component in v]
    shapes = {component.shape for component in components}
    if len(shapes) != 1:
        raise ValueError(f"The components of v have different shapes: {sorted(shapes)}.")
    total = None
    for d, component in enumerate(components):
        term = _stencil(component, grid, pairs[d], d, _FIRST[order], 1)
        total = term if total is None else total + term
    return total


def laplacian(u: ArrayLike, grid: Grid, bc, order: int = 2) -> Array:
    """The standard finite-difference Laplacian ``sum_d d^2 u / dx_d^2``.

    Along axis ``d`` with spacing ``h = grid.dx[d]``:

    * ``order=2``: ``(u_{i-1} - 2 u_i + u_{i+1}) / h^2`` (the 3-point stencil; the
      5-point Laplacian in 2-D, 7-point in 3-D);
    * ``order=4``: ``(-u_{i-2} + 16 u_{i-1} - 30 u_i + 16 u_{i+1} - u_{i+2}) / (12 h^2)``

    (LeVeque 2007, ch. 2-3; weights from Fornberg 1988). Boundary conditions
    enter through ghost cells (:func:`solvers.pde.pad`); the accuracy next to a bounded
    face is in the table of :mod:`solvers.pde.fd`. With homogeneous Neumann conditions
    and ``order=2`` the stencil is the conservative finite-volume one: the cell sums of
    ``laplacian(u)`` vanish.

    For implicit methods on the flattened state, :func:`banded_structure` gives the
    band of its Jacobian.

    Args:
        u: a field, the last ``grid.ndim`` axes of the grid's shape.
        grid: the grid.
        bc: the boundary conditions (:func:`solvers.pde.faces`).
        order: 2 or 4.

    Returns:
        The Laplacian, of ``u``'s shape.
    """
    order = _check_order(order, (2, 4), "laplacian")
    pairs = faces(bc, grid)
    u = _check_field(u, grid)
    total = None
    for d in range(grid.ndim):
        term = _stencil(u, grid, pairs[d], d, _SECOND[order], 2)
        total = term if total is None else total + term
    return total


def upwind(
    u: ArrayLike, velocity: ArrayLike, grid: Grid, bc, axis: int = 0, order: int = 1
) -> Array:
    """The advection term ``velocity * du/dx_axis`` by upwind differences.

    With ``a^+ = max(a, 0)``, ``a^- = min(a, 0)`` and ``h = grid.dx[axis]``:

    * ``order=1``: ``a^+ (u_i - u_{i-1}) / h + a^- (u_{i+1} - u_i) / h``
      (LeVeque 2007, ch. 10);
    * ``order=2`` (second-order upwind): ``a^+ (3 u_i - 4 u_{i-1} + u_{i-2}) / (2 h)
      + a^- (-3 u_i + 4 u_{i+1} - u_{i+2}) / (2 h)`` (the one-sided
      stencil of Warming and Beam, *AIAA J.* 14, 1976).

    The difference is taken on the side the information comes from: behind the point
    for a positive velocity, ahead of it for a negative one. For ``u_t + a u_x = 0`` the
    right-hand side is ``-upwind(u, a, grid, bc)``; with an explicit method the step is
    limited by a CFL condition (``|a| dt / h <= 1`` for ``order=1`` with forward Euler).
    The first-order scheme is monotone but diffusive; the second-order one is not
    monotone (it can overshoot near steep fronts). Boundary conditions
    enter through ghost cells (:func:`solvers.pde.pad`); at an inflow face give the
    inflow value (``Dirichlet``), at an outflow face e.g. ``Neumann(0.0)``.

    Args:
        u: a field, the last ``grid.ndim`` axes of the grid's shape.
        velocity: a scalar or an array broadcastable to ``u``'s shape (its sign picks
            the side), e.g. a velocity field on the grid.
        grid: the grid.
        bc: the boundary conditions (:func:`solvers.pde.faces`).
        axis: the grid axis of the advection.
        order: 1 or 2.

    Returns:
        ``velocity * du/dx_axis``, of ``u``'s shape.
    """
    order = _check_order(order, (1, 2), "upwind")
    axis = _check_axis(axis, grid)
    pairs = faces(bc, grid)
    u = _check_field(u, grid)
    velocity = jnp.asarray(velocity)
    if velocity.dtype != u.dtype:
        velocity = velocity.astype(u.dtype)
    try:
        velocity = jnp.broadcast_to(velocity, u.shape)
    except ValueError as error:
        raise ValueError(
            f"velocity must be a scalar or an array broadcastable to the field's shape "
            f"{u.shape}; got shape {velocity.shape}."
        ) from error
    offsets, weights = _BACKWARD[order]
    forward = (tuple(-o for o in reversed(offsets)), tuple(-w for w in reversed(weights)))
    backward_difference = _stencil(u, grid, pairs[axis], axis, (offsets, weights), 1)
    forward_difference = _stencil(u, grid, pairs[axis], axis, forward, 1)
    zero = jnp.zeros((), u.dtype)
    return (
        jnp.maximum(velocity, zero) * backward_difference
        + jnp.minimum(velocity, zero) * forward_difference
    )


def banded_structure(grid: Grid, order: int = 2) -> Banded:
    """The band of the Jacobian of ``laplacian(u, grid, bc, order)`` on the flattened
    (row-major) state, for ``linear_solver=`` of the implicit methods.

    In 1-D the stencil reaches ``order/2`` cells each way, so the Jacobian is
    tridiagonal (``order=2``) or pentadiagonal (``order=4``); the ghost cells of a
    bounded axis use only the ``order/2 + 1`` cells next to the face
    (:func:`solvers.pde.pad`), which stays inside the band. On a grid of shape
    ``(n_0, ..., n_{d-1})`` a step along axis 0 moves ``n_1 ... n_{d-1}`` places in the
    flattened state, so the band is ``(order/2) * n_1 ... n_{d-1}`` each way (``ny`` for
    a 2-D ``(nx, ny)`` grid at order 2). Such a band is mostly zeros in 2-D and 3-D: a
    banded LU costs ``O(N (order/2)^2 n_1^2 ...)``, so there ``solvers.MatrixFree()``
    (Krylov with Jacobian-vector products) is usually the better choice.

    Periodic wrap-around on axis 0 couples the first and last rows of the flattened
    state and breaks the band: that raises ``ValueError`` (use ``solvers.MatrixFree()``,
    ``solvers.Dense()`` for small grids, or the spectral operators of
    :mod:`solvers.pde.spectral`). Periodic later axes are fine: their wrap-around stays
    within the band set by axis 0.

    Args:
        grid: the grid.
        order: the order of the Laplacian, 2 or 4.

    Returns:
        ``solvers.Banded(lower, upper)`` with ``lower = upper``.
    """
    order = _check_order(order, (2, 4), "banded_structure")
    if not isinstance(grid, Grid):
        raise TypeError(f"grid must be a solvers.pde.Grid; got {type(grid).__name__}.")
    if grid.periodic[0]:
        raise ValueError(
            "Periodic wrap-around on axis 0 breaks the band of the flattened Laplacian. "
            "Use solvers.MatrixFree() (or solvers.Dense() on small grids), or the "
            "spectral operators of solvers.pde.spectral on a periodic grid."
        )
    reach = (order // 2) * math.prod(grid.shape[1:])
    return Banded(reach, reach)
