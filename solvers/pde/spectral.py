"""Spectral (FFT) operators on periodic grids.

A real field is transformed with ``jnp.fft.rfftn`` over the grid's axes (the last
``grid.ndim`` axes of the array), a complex field with ``jnp.fft.fftn``. Derivatives
multiply the Fourier coefficients by ``(i k)^m``; they are exact for trigonometric
polynomials that the grid resolves, and converge faster than any power of ``dx`` for
smooth periodic data (Trefethen, *Spectral Methods in MATLAB*, SIAM 2000, ch. 3).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from jax import lax

from .grid import Grid


def multiply(c, v):
    """``c * v`` for a multiplier ``c`` (real or complex) and Fourier coefficients ``v``
    without type promotion: a real ``c`` scales the real and imaginary parts (half the
    work of a complex product), a complex one is cast to ``v``'s precision."""
    c = jnp.asarray(c)
    if jnp.iscomplexobj(c) or not jnp.iscomplexobj(v):
        return c.astype(v.dtype) * v
    c = c.astype(v.real.dtype)
    return lax.complex(c * v.real, c * v.imag)


def _axes(grid: Grid) -> tuple[int, ...]:
    return tuple(range(-grid.ndim, 0))


def _check(u, grid: Grid):
    if not all(grid.periodic):
        raise ValueError(
            "Spectral operators need a grid that is periodic on every axis; use the "
            "finite-difference operators (solvers.pde.laplacian, ...) with boundary "
            "conditions instead."
        )
    if tuple(jnp.shape(u)[-grid.ndim :]) != grid.shape:
        raise ValueError(
            f"A field on this grid has trailing shape {grid.shape}; got {jnp.shape(u)}."
        )


def fft(u, grid: Grid):
    """Fourier coefficients of ``u``: ``rfftn`` for a real field, ``fftn`` for a
    complex one, over the grid's axes."""
    _check(u, grid)
    if jnp.iscomplexobj(u):
        return jnp.fft.fftn(u, axes=_axes(grid))
    return jnp.fft.rfftn(u, axes=_axes(grid))


def ifft(u_hat, grid: Grid, real: bool = True):
    """The field with Fourier coefficients ``u_hat``: the inverse of :func:`fft`
    (``real=True``: ``irfftn`` back to a real field of the grid's shape)."""
    if real:
        return jnp.fft.irfftn(u_hat, s=grid.shape, axes=_axes(grid))
    return jnp.fft.ifftn(u_hat, axes=_axes(grid))


def wavenumbers(grid: Grid, real: bool = True) -> tuple[np.ndarray, ...]:
    """``grid.wavenumbers(real)``: the angular wavenumbers, one broadcastable array per
    axis."""
    return grid.wavenumbers(real)


def _derivative_symbol(grid, real, axis, order):
    k = grid.wavenumbers(real)[axis]
    n = grid.shape[axis]
    symbol = (1j * k) ** order
    if order % 2 == 1 and n % 2 == 0:
        # The Nyquist mode of an odd derivative has no real-valued derivative: drop it
        # (Trefethen 2000, ch. 3), so a real field has a real derivative.
        nyquist = np.abs(np.abs(k) - np.pi * n / grid.lengths[axis]) < 1e-9 * (1 + np.abs(k))
        symbol = np.where(nyquist, 0.0, symbol)
    return symbol


def derivative(u, grid: Grid, axis: int = 0, order: int = 1):
    """``d^m u / dx_axis^m`` by FFT: ``ifft((i k)^m fft(u))``.

    Args:
        u: a real or complex field on ``grid``.
        axis: which grid axis (0-based, among the grid's axes).
        order: the derivative order ``m >= 1``.
    """
    if not (isinstance(order, (int, np.integer)) and order >= 1):
        raise ValueError(f"order must be an integer >= 1; got {order!r}.")
    if not 0 <= axis < grid.ndim:
        raise ValueError(f"axis must be in [0, {grid.ndim}); got {axis}.")
    _check(u, grid)
    real = not jnp.iscomplexobj(u)
    symbol = _derivative_symbol(grid, real, axis, order)
    return ifft(multiply(symbol, fft(u, grid)), grid, real).astype(u.dtype)


def gradient(u, grid: Grid):
    """The spectral gradient: a tuple of first derivatives, one per axis (an array in
    1-D)."""
    parts = tuple(derivative(u, grid, axis) for axis in range(grid.ndim))
    return parts[0] if grid.ndim == 1 else parts


def laplacian_symbol(grid: Grid, real: bool = True):
    """``-|k|^2``, the Fourier symbol of the Laplacian, shaped like the transform."""
    return -sum(k**2 for k in grid.wavenumbers(real))


def laplacian(u, grid: Grid):
    """The spectral Laplacian ``ifft(-|k|^2 fft(u))``."""
    _check(u, grid)
    real = not jnp.iscomplexobj(u)
    return ifft(multiply(laplacian_symbol(grid, real), fft(u, grid)), grid, real).astype(u.dtype)


def dealias_mask(grid: Grid, real: bool = True, fraction: float = 2 / 3) -> np.ndarray:
    """A boolean mask of the Fourier coefficients to keep: ``|k_j| < fraction * k_max``
    on every axis (Orszag's 2/3 rule for quadratic nonlinearities: *J. Atmos. Sci.* 28
    (1971) 1074)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1]; got {fraction}.")
    keep = np.ones(grid.spectral_shape(real), bool)
    for axis, k in enumerate(grid.wavenumbers(real)):
        k_max = np.pi * grid.shape[axis] / grid.lengths[axis]
        keep = keep & (np.abs(k) < fraction * k_max)
    return keep


def dealias(u, grid: Grid, fraction: float = 2 / 3):
    """``u`` with the Fourier modes outside :func:`dealias_mask` removed."""
    _check(u, grid)
    real = not jnp.iscomplexobj(u)
    mask = dealias_mask(grid, real, fraction)
    return ifft(jnp.where(mask, fft(u, grid), 0), grid, real).astype(u.dtype)
