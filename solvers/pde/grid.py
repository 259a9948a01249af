"""Uniform grids on boxes in 1-D, 2-D and 3-D."""

from __future__ import annotations

import dataclasses
import math

import jax.numpy as jnp
import numpy as np


def _per_axis(value, ndim, name):
    if isinstance(value, (tuple, list)):
        if len(value) != ndim:
            raise ValueError(f"{name} has {len(value)} entries for a {ndim}-D grid.")
        return tuple(value)
    return (value,) * ndim


@dataclasses.dataclass(frozen=True)
class Grid:
    """A uniform grid on the box ``domain`` with ``shape`` points.

    Along a **periodic** axis of length ``L = b - a`` the points are
    ``x_j = a + j L / n``, ``j = 0..n-1`` (the point ``b`` is ``a`` again); this is the
    layout the FFT assumes. Along a **bounded** axis the points are the cell centres
    ``x_j = a + (j + 1/2) L / n``: the boundary sits on the cell faces ``a`` and ``b``,
    where boundary conditions are imposed through ghost cells.

    Args:
        shape: points per axis (an int in 1-D).
        domain: ``(a, b)`` in 1-D, or one ``(a, b)`` per axis.
        periodic: one bool for every axis, or one per axis.

    Attributes:
        ndim: the number of axes.
        shape: points per axis.
        domain: one ``(a, b)`` per axis.
        periodic: one bool per axis.
        dx: the spacing per axis (a tuple).
        x: the coordinates: an array of the grid's shape in 1-D, a tuple of arrays of
            the grid's shape (``meshgrid`` with ``indexing="ij"``) in 2-D and 3-D, so
            that ``u0 = jnp.sin(grid.x)`` or ``X, Y = grid.x`` just work.
        axes: the 1-D coordinate array of each axis (a tuple).
    """

    shape: tuple[int, ...]
    domain: tuple[tuple[float, float], ...]
    periodic: tuple[bool, ...]

    def __init__(self, shape, domain, periodic=True):
        shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
        ndim = len(shape)
        if not 1 <= ndim <= 3:
            raise ValueError(f"Grids are 1-D, 2-D or 3-D; got shape {shape}.")
        if any(int(n) != n or n < 2 for n in shape):
            raise ValueError(f"Every axis needs an integer number of points >= 2; got {shape}.")
        if ndim == 1 and len(domain) == 2 and not isinstance(domain[0], (tuple, list)):
            domain = (tuple(domain),)
        domain = tuple((float(a), float(b)) for a, b in domain)
        if len(domain) != ndim:
            raise ValueError(f"domain has {len(domain)} intervals for a {ndim}-D grid.")
        for a, b in domain:
            if not (math.isfinite(a) and math.isfinite(b) and b > a):
                raise ValueError(f"Each domain interval needs finite a < b; got ({a}, {b}).")
        periodic = tuple(bool(p) for p in _per_axis(periodic, ndim, "periodic"))
        object.__setattr__(self, "shape", tuple(int(n) for n in shape))
        object.__setattr__(self, "domain", domain)
        object.__setattr__(self, "periodic", periodic)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def lengths(self) -> tuple[float, ...]:
        return tuple(b - a for a, b in self.domain)

    @property
    def dx(self) -> tuple[float, ...]:
        return tuple(length / n for length, n in zip(self.lengths, self.shape))

    @property
    def axes(self) -> tuple[np.ndarray, ...]:
        out = []
        for (a, _), n, h, periodic in zip(self.domain, self.shape, self.dx, self.periodic):
            offset = 0.0 if periodic else 0.5
            out.append(a + (np.arange(n) + offset) * h)
        return tuple(out)

    @property
    def x(self):
        axes = [jnp.asarray(a) for a in self.axes]
        if self.ndim == 1:
            return axes[0]
        return tuple(jnp.meshgrid(*axes, indexing="ij"))

    def wavenumbers(self, real: bool = True) -> tuple[np.ndarray, ...]:
        """Angular wavenumbers ``k`` of ``jnp.fft.rfftn`` (``real=True``) or
        ``jnp.fft.fftn`` of a field on this grid, one array per axis, shaped to
        broadcast against the transform (the last axis is the half axis of ``rfftn``).
        Every axis must be periodic."""
        if not all(self.periodic):
            raise ValueError("Fourier wavenumbers need a grid that is periodic on every axis.")
        ks = []
        for axis, (n, length) in enumerate(zip(self.shape, self.lengths)):
            last = axis == self.ndim - 1
            if real and last:
                k = np.fft.rfftfreq(n, d=length / n)
            else:
                k = np.fft.fftfreq(n, d=length / n)
            k = 2 * np.pi * k
            shape = [1] * self.ndim
            shape[axis] = k.size
            ks.append(k.reshape(shape))
        return tuple(ks)

    def spectral_shape(self, real: bool = True) -> tuple[int, ...]:
        """The shape of ``rfftn`` (``real=True``) or ``fftn`` of a field on this grid."""
        if not real:
            return self.shape
        return self.shape[:-1] + (self.shape[-1] // 2 + 1,)

    def integrate(self, u):
        """The integral of ``u`` over the domain by the midpoint/trapezoid rule (exact
        for trigonometric polynomials on a periodic grid)."""
        return jnp.sum(u, axis=tuple(range(-self.ndim, 0))) * math.prod(self.dx)
