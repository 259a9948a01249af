"""The flat form of a semilinear field's parts, for the exponential and IMEX methods.

``solve`` flattens the state and maps time onto the forward direction; the two parts
of a ``solvers.pde.SemilinearField`` are converted the same way and attached to the
flat vector field as ``flat_field.semilinear`` (like a user Jacobian), with the
closure constants of each part appended to the solve's ``args``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.flatten_util import ravel_pytree


class FlatSplit:
    """``u' = L u + N(tau, u)`` on the flat state, in forward time ``tau``.

    Attributes:
        diagonal: ``L`` is diagonal in Fourier space (``eigenvalues``,
            ``to_spectral``/``from_spectral`` and ``nonlinear_hat`` are available).
        structure: the Jacobian structure of ``L`` (``Dense``/``Banded``/``MatrixFree``)
            for a general linear operator.
    """

    def precomputed(self, args):
        """What the method's ``precompute(split, args, dt, y)`` returned, from ``args``
        (``None`` if the method has no ``precompute``)."""
        if self._precomputed is None:
            return None
        treedef, start, count = self._precomputed
        consts = args[1]
        return jax.tree.unflatten(treedef, consts[start : start + count])

    def __init__(self, field, parts, starts, unravel, dtype, like):
        self._precomputed = None
        self.field = field
        self.diagonal = bool(getattr(field.linear, "diagonal", False))
        self.structure = getattr(field.linear, "structure", None)
        self._parts = parts
        self._starts = starts
        self._unravel = unravel
        self._dtype = dtype
        self._like = like

    def _call(self, name, args, *operands):
        fn, count = self._parts[name]
        params, consts, direction = args
        start = self._starts[name]
        return fn(*operands, params, *consts[start : start + count]), direction

    def _flat(self, tree):
        return ravel_pytree(tree)[0].astype(self._dtype)

    def linear(self, y, args):
        out, direction = self._call("linear", args, self._unravel(y))
        return direction.astype(self._dtype) * self._flat(out)

    def eigenvalues(self, args):
        out, direction = self._call("eigenvalues", args)
        return jax.tree.map(lambda lam: direction.astype(lam.dtype) * lam, out)

    def to_spectral(self, y):
        return self.field.linear.transform(self._unravel(y))

    def from_spectral(self, v):
        return self._flat(self.field.linear.inverse(v, self._like))

    def nonlinear(self, tau, y, args):
        """``N`` at forward time ``tau`` on the flat state."""
        if "nonlinear" in self._parts:
            direction = args[2]
            out, direction = self._call("nonlinear", args, direction * tau, self._unravel(y))
            return direction.astype(self._dtype) * self._flat(out)
        return self.from_spectral(self.nonlinear_hat(tau, self.to_spectral(y), args))

    def nonlinear_hat(self, tau, v, args):
        """``N`` acting on Fourier coefficients (diagonal ``L`` only)."""
        if "spectral_nonlinear" in self._parts:
            direction = args[2]
            out, _ = self._call("spectral_nonlinear", args, direction * tau, v)
            # In v's precision: a complex128 constant in the user's N_hat must not turn
            # a float32 solve into a complex128 one.
            return jax.tree.map(
                lambda x, like: direction.astype(like.dtype) * jnp.asarray(x).astype(like.dtype),
                out,
                v,
            )
        return self.to_spectral(self.nonlinear(tau, self.from_spectral(v), args))


def attach(flat_field, f, t0, y0, params, args, unravel, dtype, method=None, dt=None):
    """Attach ``flat_field.semilinear`` and return ``args`` with the parts' constants.

    A method with ``precompute(split, args, dt, y0_flat)`` gets it called here, once
    per solve and outside the integration loop, for the fixed step ``dt``; the result
    (e.g. ETDRK4's contour coefficients, IMEX's factorised ``I - gamma dt L``) travels in
    ``args`` like a closure constant, so a step (also a replayed one in the adjoint)
    reads it with ``split.precomputed(args)``, and its derivative with respect to the
    parameters is taken once, not once per step."""
    from .pde.operators import SemilinearField

    if not isinstance(f, SemilinearField):
        return args
    like = jax.tree.map(lambda leaf: jax.ShapeDtypeStruct(jnp.shape(leaf), leaf.dtype), y0)
    linear = f.linear
    parts, starts = {}, {}
    params_, consts, direction = args
    consts = tuple(consts)

    def add(name, fn, *example):
        nonlocal consts
        converted, extra = jax.closure_convert(fn, *example)
        parts[name] = (converted, len(extra))
        starts[name] = len(consts)
        consts = consts + tuple(extra)

    add("linear", lambda u, p: linear(u, p), y0, params)
    if getattr(linear, "diagonal", False):
        add("eigenvalues", lambda p: linear.eigenvalues(p, like), params)
    if f.nonlinear is not None:
        add("nonlinear", f.nonlinear, t0, y0, params)
    else:
        add("spectral_nonlinear", f.spectral_nonlinear, t0, linear.transform(y0), params)
    split = FlatSplit(f, parts, starts, unravel, dtype, like)
    flat_field.semilinear = split
    if method is not None and dt is not None and hasattr(method, "precompute"):
        y0_flat = ravel_pytree(y0)[0].astype(dtype)
        pre = method.precompute(split, (params_, consts, direction), dt, y0_flat)
        leaves, treedef = jax.tree.flatten(pre)
        split._precomputed = (treedef, len(consts), len(leaves))
        consts = consts + tuple(leaves)
    return (params_, consts, direction)
