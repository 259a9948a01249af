"""Linear operators and semilinear vector fields ``u' = L u + N(t, u)``.

A semilinear field is an ordinary vector field ``f(t, u, params) = L u + N(t, u)`` that
every method of ``solvers.solve`` integrates; the exponential methods (``etdrk1``,
``etdrk2``, ``etdrk4``) and the IMEX methods (``imex_euler``, ``imex2``) also read its
two parts, treating ``L`` exactly or implicitly and ``N`` explicitly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from .. import _linsolve
from .._linsolve import Banded, Dense, MatrixFree
from . import spectral
from .grid import Grid


def _real_dtype(dtype):
    return jnp.finfo(dtype).dtype


def _is_complex(leaf) -> bool:
    return jnp.issubdtype(leaf.dtype, jnp.complexfloating)


@dataclasses.dataclass(frozen=True, eq=False)
class FourierOperator:
    """A linear operator diagonal in Fourier space on a periodic grid:
    ``L u = ifft(symbol(k) * fft(u))``.

    Args:
        grid: a grid periodic on every axis.
        symbol: ``symbol(k, params) -> multiplier``, with ``k`` the angular wavenumbers
            (an array in 1-D, a tuple of broadcastable arrays in 2-D/3-D; for a real
            field the last axis is the half axis of ``rfftn``). Return one array
            (applied to every field of the state) or a tuple/pytree with one array per
            field of the state (systems such as Gray-Scott). E.g. the heat equation
            ``u_t = D u_xx`` has ``symbol = lambda k, p: -p["D"] * k**2``; KdV's
            ``-u_xxx`` has ``lambda k, p: 1j * k**3``.

    The eigenvalues ``symbol(k)`` are what the exponential methods exponentiate.
    """

    grid: Grid
    symbol: Callable

    def __post_init__(self):
        if not isinstance(self.grid, Grid):
            raise TypeError(f"FourierOperator needs a solvers.pde.Grid; got {self.grid!r}.")
        if not all(self.grid.periodic):
            raise ValueError("FourierOperator needs a grid that is periodic on every axis.")
        if not callable(self.symbol):
            raise TypeError("symbol must be a callable symbol(k, params).")

    diagonal = True

    def _k(self, real):
        k = self.grid.wavenumbers(real)
        return k[0] if self.grid.ndim == 1 else k

    def transform(self, u):
        """Fourier coefficients of every field of the state ``u`` (a pytree)."""
        return jax.tree.map(lambda leaf: spectral.fft(leaf, self.grid), u)

    def inverse(self, u_hat, like):
        """The physical state with coefficients ``u_hat``; ``like`` gives the
        structure and which fields are real."""
        return jax.tree.map(
            lambda c, leaf: spectral.ifft(c, self.grid, not _is_complex(leaf)).astype(leaf.dtype),
            u_hat,
            like,
        )

    def eigenvalues(self, params, like):
        """The multipliers, one array per field of ``like``, of the transform's shape."""
        leaves, treedef = jax.tree.flatten(like)
        values = {}
        base = _real_dtype(jnp.result_type(*[leaf.dtype for leaf in leaves]))
        for real in {not _is_complex(leaf) for leaf in leaves}:
            # k in the state's precision, so that a symbol written with it does not
            # promote (float32 states stay float32).
            k = jax.tree.map(lambda a: jnp.asarray(a, base), self._k(real))
            out = self.symbol(k, params)
            out_leaves = jax.tree.leaves(out)
            if len(out_leaves) == 1:
                out_leaves = out_leaves * len(leaves)
            elif len(out_leaves) != len(leaves):
                raise ValueError(
                    f"symbol returned {len(out_leaves)} arrays for a state of "
                    f"{len(leaves)} fields; return one array, or one per field."
                )
            values[real] = out_leaves
        result = []
        for i, leaf in enumerate(leaves):
            real = not _is_complex(leaf)
            value = jnp.asarray(values[real][i])
            shape = self.grid.spectral_shape(real)
            base = _real_dtype(leaf.dtype)
            dtype = _linsolve.complex_dtype(base) if jnp.iscomplexobj(value) else base
            result.append(
                jnp.broadcast_to(value.astype(dtype), leaf.shape[: -self.grid.ndim] + shape)
            )
        return jax.tree.unflatten(treedef, result)

    def __call__(self, u, params):
        hats = self.transform(u)
        eig = self.eigenvalues(params, u)
        return self.inverse(jax.tree.map(spectral.multiply, eig, hats), u)


@dataclasses.dataclass(frozen=True, eq=False)
class LinearOperator:
    """A general linear operator ``L u = apply(u, params)`` (e.g. a finite-difference
    Laplacian with boundary conditions), with the structure of its matrix on the
    flattened state for the implicit solves of the IMEX methods.

    Args:
        apply: ``apply(u, params) -> L u``, linear in ``u`` (a pytree like the state).
        structure: ``solvers.Dense()`` (default), ``solvers.Banded(lower, upper)`` or
            ``solvers.MatrixFree(...)``, describing ``L`` on the state flattened by
            ``jax.flatten_util.ravel_pytree``.
    """

    apply: Callable
    structure: Any = None

    diagonal = False

    def __post_init__(self):
        if not callable(self.apply):
            raise TypeError("apply must be a callable apply(u, params).")
        structure = Dense() if self.structure is None else self.structure
        if not isinstance(structure, (Dense, Banded, MatrixFree)):
            raise TypeError(
                "structure must be solvers.Dense(), solvers.Banded(lower, upper) or "
                f"solvers.MatrixFree(...); got {structure!r}."
            )
        object.__setattr__(self, "structure", structure)

    def __call__(self, u, params):
        return self.apply(u, params)


@dataclasses.dataclass(frozen=True, eq=False)
class SemilinearField:
    """The vector field ``f(t, u, params) = L u + N(t, u, params)``; build it with
    :func:`semilinear`."""

    linear: Any
    nonlinear: Callable | None = None
    spectral_nonlinear: Callable | None = None

    def nonlinear_part(self, t, u, params):
        """``N(t, u, params)`` in physical space."""
        if self.nonlinear is not None:
            return self.nonlinear(t, u, params)
        u_hat = self.linear.transform(u)
        return self.linear.inverse(self.spectral_nonlinear(t, u_hat, params), u)

    def __call__(self, t, u, params):
        lu = self.linear(u, params)
        nu = self.nonlinear_part(t, u, params)
        return jax.tree.map(lambda a, b: (a + b).astype(a.dtype), lu, nu)


def semilinear(linear, nonlinear=None, *, spectral_nonlinear=None) -> SemilinearField:
    """A semilinear vector field ``u' = L u + N(t, u)``.

    Args:
        linear: the linear part: a :class:`FourierOperator` (diagonal in Fourier space:
            ``etdrk4`` and the other exponential methods, IMEX) or a
            :class:`LinearOperator` (finite differences: IMEX and the stiff methods).
        nonlinear: ``N(t, u, params)`` in physical space (same pytree as ``u``).
        spectral_nonlinear: alternatively (Fourier operators only), ``N`` acting on and
            returning Fourier coefficients, ``N_hat(t, u_hat, params)``. The exponential
            methods then stay in Fourier space between the stages (two FFTs fewer per
            stage); give it when ``N`` is naturally spectral (e.g. ``-(u^2/2)_x`` as
            ``-0.5j k fft(ifft(u_hat)^2)``).

    The result is an ordinary vector field: ``f(t, u, params) = L u + N(t, u, params)``.
    """
    if not isinstance(linear, (FourierOperator, LinearOperator)):
        raise TypeError(
            "linear must be a solvers.pde.FourierOperator or solvers.pde.LinearOperator; "
            f"got {type(linear).__name__}."
        )
    if (nonlinear is None) == (spectral_nonlinear is None):
        raise ValueError("Give exactly one of nonlinear and spectral_nonlinear.")
    if spectral_nonlinear is not None and not isinstance(linear, FourierOperator):
        raise ValueError("spectral_nonlinear needs a FourierOperator linear part.")
    for name, fn in (("nonlinear", nonlinear), ("spectral_nonlinear", spectral_nonlinear)):
        if fn is not None and not callable(fn):
            raise TypeError(f"{name} must be callable (t, u, params).")
    return SemilinearField(linear, nonlinear, spectral_nonlinear)
