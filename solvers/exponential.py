"""Exponential time differencing for semilinear problems ``u' = L u + N(t, u)``.

``L`` is diagonal in Fourier space (a ``solvers.pde.FourierOperator``), with
eigenvalues ``lambda``; it is integrated exactly, and only ``N`` is approximated. With
``z = h lambda`` and the phi-functions ``phi_1(z) = (e^z - 1)/z``,
``phi_2(z) = (e^z - 1 - z)/z^2``, one step from ``v = u_n`` (all products elementwise in
Fourier space, ``N_x = N(., x)``):

* ``etdrk1`` (exponential Euler, order 1): ``u_{n+1} = e^z v + h phi_1(z) N_v``.
* ``etdrk2`` (Cox & Matthews' ETD2RK, order 2): ``a = e^z v + h phi_1(z) N_v``,
  ``u_{n+1} = a + h phi_2(z) (N_a - N_v)``.
* ``etdrk4`` (Cox & Matthews' ETDRK4, order 4)::

      a = e^{z/2} v + Q N_v            Q = h (e^{z/2} - 1) / z
      b = e^{z/2} v + Q N_a
      c = e^{z/2} a + Q (2 N_b - N_v)
      u_{n+1} = e^z v + f_1 N_v + 2 f_2 (N_a + N_b) + f_3 N_c
      f_1 = h (-4 - z + e^z (4 - 3z + z^2)) / z^3
      f_2 = h (2 + z + e^z (z - 2)) / z^3
      f_3 = h (-4 - 3z - z^2 + e^z (4 - z)) / z^3

The coefficient functions cancel catastrophically for small ``|z|``; they are evaluated
by Kassam & Trefethen's contour integral, the mean of the function over ``M = 32``
points on a circle of radius 1 around each ``z`` (Cauchy's formula with the trapezoid rule),
accurate to rounding for every ``z``, small, large, real or complex.

References: S. M. Cox and P. C. Matthews, "Exponential time differencing for stiff
systems", *J. Comput. Phys.* 176 (2002) 430-455; A.-K. Kassam and L. N. Trefethen,
"Fourth-order time-stepping for stiff PDEs", *SIAM J. Sci. Comput.* 26 (2005) 1214-1233.
"""

from __future__ import annotations

import dataclasses

import equinox.internal as eqxi
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from . import _linsolve
from .explicit import Step
from .pde.spectral import multiply

CONTOUR_POINTS = 32


def split_of(f, name):
    """The flat semilinear split that ``solve`` attaches to the vector field."""
    split = getattr(f, "semilinear", None)
    if split is None:
        raise TypeError(
            f"method {name!r} integrates semilinear fields u' = L u + N(t, u): build the "
            "vector field with solvers.pde.semilinear(linear, nonlinear) (the PDE problems "
            "of the catalogue are built so). adjoint='backsolve' is not supported by it; "
            "use the default adjoint."
        )
    return split


def phi_coefficients(eigenvalues, h, kinds, points=CONTOUR_POINTS):
    """The coefficient arrays ``kinds`` (names below) at ``z = h * eigenvalues`` by
    the Kassam-Trefethen contour mean over ``points`` points of the unit circle around
    ``z``. For real eigenvalues the functions are real on the real axis, so the mean
    over the upper half circle's ``points / 2`` points, real part, is the same number
    (Kassam & Trefethen's own form) at half the cost.

    Kinds: ``"E"`` = e^z, ``"E2"`` = e^{z/2}, ``"phi1"`` = h phi_1(z), ``"phi2"`` =
    h phi_2(z), ``"Q"``, ``"f1"``, ``"f2"``, ``"f3"`` (ETDRK4's, above).
    """
    lam = jnp.asarray(eigenvalues)
    real = not jnp.iscomplexobj(lam)
    cdtype = _linsolve.complex_dtype(lam.dtype)
    h = jnp.asarray(h).astype(lam.real.dtype)
    z = h.astype(cdtype) * lam.astype(cdtype)
    if real:
        count = points // 2
        angles = np.pi * (np.arange(1, count + 1) - 0.5) / count
    else:
        count = points
        angles = 2 * np.pi * (np.arange(1, count + 1) - 0.5) / count
    r = jnp.asarray(np.exp(1j * angles).reshape((1,) * z.ndim + (count,))).astype(cdtype)
    zr = z[..., None] + r
    half = jnp.exp(zr / 2)
    ez = half * half
    inv = 1 / zr
    inv3 = inv * inv * inv
    formulas = {
        "phi1": lambda: (ez - 1) * inv,
        "phi2": lambda: (ez - 1 - zr) * inv * inv,
        "Q": lambda: (half - 1) * inv,
        "f1": lambda: (-4 - zr + ez * (4 - 3 * zr + zr * zr)) * inv3,
        "f2": lambda: (2 + zr + ez * (zr - 2)) * inv3,
        "f3": lambda: (-4 - 3 * zr - zr * zr + ez * (4 - zr)) * inv3,
    }
    out = {}
    for kind in kinds:
        if kind == "E":
            value = jnp.exp(z)
        elif kind == "E2":
            value = jnp.exp(z / 2)
        else:
            value = h.astype(cdtype) * jnp.mean(formulas[kind](), axis=-1)
        out[kind] = value.real if real else value
    return out


def same_step(t, h, h_cached):
    """Whether a step of size ``h`` from ``t`` is the solve's ``dt`` up to the rounding
    of the time grid (the loop's steps are differences of grid times ``t0 + k dt``, off
    from ``dt`` in the last bits), so the cached coefficients serve it."""
    eps = jnp.finfo(jnp.asarray(h).dtype).eps
    return jnp.abs(h - h_cached) <= 8 * eps * (jnp.abs(t) + jnp.abs(h))


def hermite_coefficients(h, y0, y1, f0, f1):
    """The cubic Hermite interpolant of ``y0, y1, y'(0) = f0, y'(h) = f1``:
    ``y(theta) = y0 + c_0 theta + c_1 theta^2 + c_2 theta^3``."""
    h = jnp.asarray(h).astype(y0.dtype)
    delta = y1 - y0
    return jnp.stack([h * f0, 3 * delta - h * (2 * f0 + f1), -2 * delta + h * (f0 + f1)])


def hermite_evaluate(y0, coefficients, theta):
    theta = jnp.asarray(theta).astype(y0.dtype)
    return y0 + theta * (coefficients[0] + theta * (coefficients[1] + theta * coefficients[2]))


def _tree_lincomb(*terms):
    """``sum_i c_i * x_i`` over pytrees (``c_i`` pytrees like ``x_i`` or scalars)."""

    def combine(*leaves):
        total = None
        for i in range(0, len(leaves), 2):
            c, x = leaves[i], leaves[i + 1]
            term = (c * x) if isinstance(c, (int, float)) else multiply(c, x)
            total = term if total is None else total + term
        return total

    flat = []
    for c, x in terms:
        if isinstance(c, (int, float)):
            c = _scalar_tree(c, x)
        flat.extend([c, x])
    return jax.tree.map(combine, *flat)


def _scalar_tree(value, like):
    return jax.tree.map(lambda _: value, like)


@dataclasses.dataclass(frozen=True)
class _Exponential:
    """Shared machinery. The coefficients for the solve's ``dt`` are computed once per
    solve (``precompute``) and reach the steps through ``args``; the method state is
    ``(v, N_v)``: the state's Fourier coefficients and ``N`` there."""

    name = "etd"
    order = 1
    kinds: tuple = ()
    error_order = None
    dense_fevals = 0
    uses_split = True
    contour_points: int = CONTOUR_POINTS

    def _coefficients(self, split, args, h):
        eig = split.eigenvalues(args)
        return jax.tree.map(
            lambda lam: phi_coefficients(lam, h, self.kinds, self.contour_points), eig
        )

    def _split(self, f):
        return self._check(split_of(f, self.name))

    def _check(self, split):
        if not split.diagonal:
            raise TypeError(
                f"method {self.name!r} needs a linear part diagonal in Fourier space "
                "(solvers.pde.FourierOperator); for a finite-difference L use "
                "method='imex2' or 'imex_euler', or a stiff method such as 'rodas5'."
            )
        return split

    def precompute(self, split, args, dt, y0):
        """``(dt, coefficients at dt)``, once per solve (see ``solvers._split``)."""
        return (dt, self._coefficients(self._check(split), args, dt))

    def init(self, f, t0, y0, args, f0):
        split = self._split(f)
        v = split.to_spectral(y0)
        return (v, split.nonlinear_hat(t0, v, args))

    def step(self, f, t, y, h, args, state):
        split = self._split(f)
        dt, coefficients = split.precomputed(args)
        same = same_step(t, h, dt)
        # A step of another size (the shortened last one) computes its own.
        coefficients = lax.cond(
            eqxi.unvmap_all(same),
            lambda: coefficients,
            lambda: self._coefficients(split, args, h),
        )
        h = jnp.where(same, dt, h)
        v, nv = state
        v1, v1_nonlinear, fevals = self._advance(split, t, h, args, coefficients, v, nv)
        y1 = split.from_spectral(v1)
        dense_info = (v, nv, v1, v1_nonlinear)
        # A non-finite y1 is rejected by the fixed-step controller (status 3).
        return Step(y1, None, dense_info, (v1, v1_nonlinear), jnp.zeros((), jnp.int32), fevals)

    def dense(self, f, t, h, y0, y1, dense_info, args):
        split = self._split(f)
        v, nv, v1, nv1 = dense_info
        eig = split.eigenvalues(args)
        d0 = split.from_spectral(_tree_lincomb((eig, v), (1, nv)))
        d1 = split.from_spectral(_tree_lincomb((eig, v1), (1, nv1)))
        return hermite_coefficients(h, y0, y1, d0, d1)

    def interpolate(self, y0, coefficients, theta):
        return hermite_evaluate(y0, coefficients, theta)


@dataclasses.dataclass(frozen=True)
class ETDRK1(_Exponential):
    """Exponential Euler (ETD1), order 1: ``u_{n+1} = e^{hL} u_n + h phi_1(hL) N(u_n)``
    (Cox & Matthews 2002). ``num_fevals`` counts evaluations of ``N``: one per step."""

    name = "etdrk1"
    order = 1
    kinds: tuple = ("E", "phi1")

    def _advance(self, split, t, h, args, c, v, nv):
        v1 = _tree_lincomb((_get(c, "E"), v), (_get(c, "phi1"), nv))
        return v1, split.nonlinear_hat(t + h, v1, args), 1


@dataclasses.dataclass(frozen=True)
class ETDRK2(_Exponential):
    """Cox & Matthews' ETD2RK, order 2 (two evaluations of ``N`` per step)."""

    name = "etdrk2"
    order = 2
    kinds: tuple = ("E", "phi1", "phi2")

    def _advance(self, split, t, h, args, c, v, nv):
        a = _tree_lincomb((_get(c, "E"), v), (_get(c, "phi1"), nv))
        na = split.nonlinear_hat(t + h, a, args)
        v1 = _tree_lincomb((1, a), (_get(c, "phi2"), na), (_neg(_get(c, "phi2")), nv))
        return v1, split.nonlinear_hat(t + h, v1, args), 2


@dataclasses.dataclass(frozen=True)
class ETDRK4(_Exponential):
    """Cox & Matthews' ETDRK4, order 4, with Kassam & Trefethen's contour-integral
    coefficients (four evaluations of ``N`` per step). The method of choice for stiff
    semilinear PDEs on periodic grids (Kuramoto-Sivashinsky, KdV, NLS, Navier-Stokes in
    vorticity form): the stiff linear part costs nothing and limits nothing."""

    name = "etdrk4"
    order = 4
    kinds: tuple = ("E", "E2", "Q", "f1", "f2", "f3")

    def _advance(self, split, t, h, args, c, v, nv):
        e2, q = _get(c, "E2"), _get(c, "Q")
        half = t + h / 2
        a = _tree_lincomb((e2, v), (q, nv))
        na = split.nonlinear_hat(half, a, args)
        b = _tree_lincomb((e2, v), (q, na))
        nb = split.nonlinear_hat(half, b, args)
        two_nb = jax.tree.map(lambda x: 2 * x, nb)
        c_stage = _tree_lincomb((e2, a), (q, two_nb), (_neg(q), nv))
        nc = split.nonlinear_hat(t + h, c_stage, args)
        f2 = _get(c, "f2")
        v1 = _tree_lincomb(
            (_get(c, "E"), v),
            (_get(c, "f1"), nv),
            (f2, na),
            (f2, na),
            (f2, nb),
            (f2, nb),
            (_get(c, "f3"), nc),
        )
        return v1, split.nonlinear_hat(t + h, v1, args), 4


def _get(coefficients, kind):
    """One coefficient kind as a pytree like the state."""
    return jax.tree.map(lambda d: d[kind], coefficients, is_leaf=lambda x: isinstance(x, dict))


def _neg(tree):
    return jax.tree.map(jnp.negative, tree)
