"""Stochastic differential equations: :func:`solve_sde`, Brownian paths from keys
(:func:`brownian_path`), and the Euler-Maruyama, Milstein and SRA1 methods.

The Ito SDE ``dy = f(t, y) dt + g(t, y) dW`` is integrated with fixed steps on the grid
``t_k = t0 + k dt``. The Brownian path is a dyadic Brownian tree drawn from the key
(values and space-time Levy areas of every dyadic interval; the normals of a node come
from hashing its place in the tree with the key), so halving ``dt`` refines the same
path. The loop
is a ``lax.scan`` over precomputed increments: ``jit``, ``vmap`` (over keys, ``y0``,
``params``, ``ts``) and ``grad``/``jvp`` (pathwise, for a fixed key) compose with it.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, ArrayLike, PyTree

from ._solution import INVALID_INPUT, NONFINITE, SUCCESS, Solution, SolveError

NOISE_KINDS = ("diagonal", "additive", "general")

# Relative tolerance (in steps) for "t1 - t0 is a whole number of dt" and "ts is on the grid".
_GRID_TOLERANCE = 1e-6

_MESSAGES = {
    SUCCESS: "success",
    NONFINITE: (
        "the state became non-finite (NaN or inf). Explicit SDE methods blow up when dt "
        "is too large for the drift's time scale (or for a multiplicative noise): try a "
        "smaller dt, and check y0, params, the drift and the diffusion."
    ),
    INVALID_INPUT: (
        "invalid input: every save time in ts must lie on the step grid t0 + k dt inside "
        "t_span (k = 0 .. (t1 - t0)/dt)."
    ),
}


# --------------------------------------------------------------------------- Brownian tree


@dataclasses.dataclass(frozen=True)
class _Grid:
    """The step grid ``t0 + k step`` (``k = 0..num_steps``) and the Brownian tree over
    ``[t0, t0 + span]``, ``span = 2**depth * step`` (the grid points are its leaves)."""

    t0: float
    step: float
    num_steps: int
    depth: int
    span: float


def _make_grid(t_span, dt, caller="solve_sde") -> _Grid:
    t0, t1 = (
        _concrete_float(t_span[0], "t_span[0]", caller),
        _concrete_float(t_span[1], "t_span[1]", caller),
    )
    dt = _concrete_float(dt, "dt", caller)
    for name, value in (("t_span[0]", t0), ("t_span[1]", t1), ("dt", dt)):
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value}.")
    if not t1 > t0:
        raise ValueError(
            f"{caller} integrates forwards in time: t_span = ({t0}, {t1}) needs t1 > t0."
        )
    if not dt > 0:
        raise ValueError(f"dt must be > 0, got {dt}.")
    ratio = (t1 - t0) / dt
    num_steps = round(ratio)
    if num_steps < 1 or abs(ratio - num_steps) > _GRID_TOLERANCE * max(1.0, ratio):
        suggestion = (t1 - t0) / max(1, math.ceil(ratio))
        raise ValueError(
            f"dt = {dt} does not divide t1 - t0 = {t1 - t0} ((t1 - t0)/dt = {ratio:.6g}); "
            f"the SDE methods take whole steps on the grid t0 + k dt. Use e.g. "
            f"dt = {suggestion:.6g} ((t1 - t0)/{max(1, math.ceil(ratio))})."
        )
    step = (t1 - t0) / num_steps
    depth = max(0, math.ceil(math.log2(num_steps))) if num_steps > 1 else 0
    while 2**depth < num_steps:  # guard against rounding in log2
        depth += 1
    return _Grid(t0=t0, step=step, num_steps=num_steps, depth=depth, span=step * 2**depth)


def _concrete_float(value, name, caller):
    try:
        return float(value)
    except (jax.errors.ConcretizationTypeError, TypeError):
        raise ValueError(
            f"{caller} needs {name} as a concrete number (a Python or NumPy float), not a "
            "traced value: t_span and dt fix the number of steps and the Brownian tree. "
            "Pass them from outside jax.jit / jax.vmap (e.g. as static arguments)."
        ) from None


def _interleave(a, b):
    """Rows ``a[0], b[0], a[1], b[1], ...`` of two arrays with the same shape."""
    return jnp.stack([a, b], axis=1).reshape((2 * a.shape[0],) + a.shape[1:])


def _key_pair(key):
    """The two uint32 words of a threefry key (raw ``uint32[2]`` or typed); other key
    implementations give a pair drawn from the key."""
    if not jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        return key[0], key[1]
    data = jax.random.key_data(key)
    if data.shape == (2,) and data.dtype == jnp.uint32:
        return data[0], data[1]
    words = jax.random.bits(key, (2,), jnp.uint32)
    return words[0], words[1]


_THREEFRY_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))


def _threefry2x32(key0, key1, count0, count1):
    """Threefry-2x32 with 20 rounds (Salmon, Moraes, Dror & Shaw, "Parallel random
    numbers: as easy as 1, 2, 3", SC'11), the hash behind ``jax.random``'s default
    keys, written out in ``jnp``: bit-identical to ``jax.random``'s, and on CPU it
    compiles in a third of the time and runs five times faster than its lowering."""
    keys = (key0, key1, key0 ^ key1 ^ jnp.uint32(0x1BD11BDA))
    x0, x1 = count0 + keys[0], count1 + keys[1]
    for block in range(5):
        for rotation in _THREEFRY_ROTATIONS[block % 2]:
            x0 = x0 + x1
            x1 = (x1 << jnp.uint32(rotation)) | (x1 >> jnp.uint32(32 - rotation))
            x1 = x1 ^ x0
        x0 = x0 + keys[(block + 1) % 3]
        x1 = x1 + keys[(block + 2) % 3] + jnp.uint32(block + 1)
    return x0, x1


def _uniforms(key, counters_high, counters_low, dtype):
    """Uniforms on ``(0, 1]``, one per counter pair: the Threefry-2x32 hash of the pair
    under ``key`` as 53 (float64) or 24 (float32) random bits. Each value depends on
    its own counter only: drawing more never changes earlier ones."""
    first, second = _key_pair(key)
    high, low = _threefry2x32(first, second, counters_high, counters_low)
    if jnp.finfo(dtype).bits == 64:
        bits = (high.astype(jnp.uint64) << jnp.uint64(21)) ^ low.astype(jnp.uint64)
        integer = bits & jnp.uint64(2**53 - 1)
        scale = 2.0**-53
    else:
        integer = high >> jnp.uint32(8)
        scale = 2.0**-24
    return (integer.astype(dtype) + 1) * jnp.asarray(scale, dtype)


def _level_normals(key, level: int, rows: int, num_noises: int, dtype):
    """Two standard normals for each of the first ``rows`` nodes of a tree level and each
    Brownian motion, ``(rows, 2, m)``.

    The node that halves interval ``i`` of level ``l - 1`` (level 0: the root) has the
    counters ``(2 l + stream, i m + j)`` for stream 0 and 1 and noise ``j``; the two
    uniforms give one Box-Muller pair (Box & Muller, Ann. Math. Statist. 29 (1958)
    610-611): ``r cos`` splits the increment, ``r sin`` the area. The counters name the
    node in the tree, not in the grid, so every grid that contains it sees the same
    values."""
    index = jnp.arange(rows, dtype=jnp.uint32).reshape(rows, 1, 1)
    noise = jnp.arange(num_noises, dtype=jnp.uint32).reshape(1, 1, num_noises)
    stream = jnp.arange(2, dtype=jnp.uint32).reshape(1, 2, 1)
    shape = (rows, 2, num_noises)
    low = jnp.broadcast_to(index * jnp.uint32(num_noises) + noise, shape)
    high = jnp.broadcast_to(2 * jnp.asarray(level).astype(jnp.uint32) + stream, shape)
    uniform = _uniforms(key, high, low, dtype)
    radius = jnp.sqrt(-2 * jnp.log(uniform[:, 0]))
    angle = jnp.asarray(2 * math.pi, dtype) * uniform[:, 1]
    return jnp.stack([radius * jnp.cos(angle), radius * jnp.sin(angle)], axis=1)


# Levels formed in one lax.scan of fixed width (the deeper ones at their exact sizes).
_SCANNED_LEVELS = 6


def _halve(values, areas, noise, scales, parents):
    """Split the first ``parents`` intervals of a level: ``values`` holds ``W`` at the
    level's nodes, ``areas`` the intervals' space-time areas, ``noise`` ``(parents, 2,
    m)`` normals, ``scales`` ``(sqrt(length)/2, sqrt(length/12))`` for the intervals'
    length (computed on the host, so that every program uses the same constants).
    Returns the next level's arrays."""
    left = values[:parents]
    increment = values[1 : parents + 1] - left
    area = areas[:parents]
    # D = W_left - W_right of the halves: E[D | H] = 3 H, Var[D | H] = length / 4.
    split = 3 * area + scales[0] * noise[:, 0]
    middle = left + 0.5 * (increment + split)
    values = jnp.concatenate([_interleave(left, middle), values[parents : parents + 1]])
    # H = (H_l + H_r)/2 + D/4; H_l - H_r ~ N(0, length/12) independent of the rest.
    total = 2 * area - 0.5 * split
    difference = scales[1] * noise[:, 1]
    areas = _interleave(0.5 * (total + difference), 0.5 * (total - difference))
    return values, areas


def _brownian_tree(key, grid: _Grid, num_noises: int, dtype, levy_area: bool):
    """``W`` at the grid points, ``(num_steps + 1, num_noises)`` with ``W(t0) = 0``, and
    the space-time Levy area of every step, ``(num_steps, num_noises)`` (or ``None``).

    Level 0 is the root interval ``[t0, t0 + span]``: ``W ~ N(0, span)``,
    ``H ~ N(0, span/12)``. Level ``l`` halves every interval of level ``l - 1`` that
    meets the grid, conditioned exactly on the parent's ``(W, H)``: ``O(N)`` work in
    ``depth`` vectorised steps. Node values are copied from level to level, so the
    grid values at ``dt`` are those at ``dt/2`` (bit for bit in float64).
    """
    depth, count, span = grid.depth, grid.num_steps, grid.span
    if num_noises * 2**depth >= 2**32:
        raise ValueError(
            f"{count} steps x {num_noises} Brownian motions is beyond the Brownian "
            "tree's 2^32 counters per level; use fewer steps."
        )
    # Row l: (sqrt(L)/2, sqrt(L/12)) for the intervals of level l - 1, L = span / 2^(l-1)
    # (row 0: (sqrt(span), sqrt(span/12)) for the root), computed on the host.
    lengths = span / 2.0 ** np.maximum(np.arange(depth + 1) - 1, 0)
    scales = np.stack([np.sqrt(lengths) / 2, np.sqrt(lengths / 12)], axis=1)
    scales[0, 0] = math.sqrt(span)
    scales = np.asarray(scales, dtype)
    root = _level_normals(key, 0, 1, num_noises, dtype)[0]
    values = jnp.stack([jnp.zeros((num_noises,), dtype), scales[0, 0] * root[0]])
    areas = (scales[0, 1] * root[1])[None]
    if depth:
        # Levels 1.._SCANNED_LEVELS (at most 2^(_SCANNED_LEVELS - 1) intervals each) run
        # in a lax.scan on arrays of that fixed size, whatever the depth: one compiled
        # hash for all of them, and the same code for a level at every depth.
        width = 2 ** (_SCANNED_LEVELS - 1)
        values = jnp.concatenate([values, jnp.zeros((2 * width - 1, num_noises), dtype)])
        areas = jnp.concatenate([areas, jnp.zeros((2 * width - 1, num_noises), dtype)])

        def level_step(carry, inputs):
            level, level_scales = inputs
            noise = _level_normals(key, level, width, num_noises, dtype)
            return _halve(*carry, noise, level_scales, width), None

        scanned = min(depth, _SCANNED_LEVELS)
        inputs = (jnp.arange(1, scanned + 1, dtype=jnp.int32), jnp.asarray(scales[1 : scanned + 1]))
        (values, areas), _ = jax.lax.scan(level_step, (values, areas), inputs)
    for level in range(_SCANNED_LEVELS + 1, depth + 1):
        # Only the intervals of level - 1 that meet the grid [t0, t0 + N dt].
        parents = -(-count // 2 ** (depth - level + 1))
        noise = _level_normals(key, level, parents, num_noises, dtype)
        values, areas = _halve(values, areas, noise, jnp.asarray(scales[level]), parents)
    return values[: count + 1], (areas[:count] if levy_area else None)


class BrownianPath(NamedTuple):
    """A Brownian path on a step grid (:func:`brownian_path`).

    Attributes:
        ts: ``(N + 1,)`` the grid ``t0 + k dt``.
        w: ``(N + 1, m)`` ``W(t_k)`` (``w[0] = 0``).
        dw: ``(N, m)`` increments ``W(t_{k+1}) - W(t_k)``.
        levy_area: ``(N, m)`` space-time Levy areas of the steps, or ``None``.
    """

    ts: Array
    w: Array
    dw: Array
    levy_area: Array | None


def brownian_path(
    key: Array,
    t_span: tuple[float, float],
    dt: float,
    num_noises: int = 1,
    *,
    dtype: Any = None,
    levy_area: bool = False,
) -> BrownianPath:
    r"""The Brownian path that :func:`solve_sde` uses for ``key`` on the grid of ``dt``.

    The path is an $m$-dimensional Brownian motion on ``t_span`` built as a dyadic
    Brownian tree (Levy's construction), extended with the space-time Levy area
    $H_{s,t} = \frac{1}{t-s}\int_s^t \big(W_u - W_s - \frac{u-s}{t-s}(W_t - W_s)\big)\,du
    \sim N(0, \frac{t-s}{12})$, independent of $W_t - W_s$. The root interval is
    $[t_0, t_0 + S]$ with $S = 2^L\,dt$, $L = \lceil \log_2 N \rceil$, $N = (t_1 - t_0)/dt$;
    halving an interval of length $h$ with increment $W$ and area $H$ gives halves
    $W_{1,2} = (W \pm D)/2$ and $H_{1,2} = (2H - D/2 \pm E)/2$ with
    $D = 3H + \tfrac{\sqrt h}{2} Z_1$, $E = \sqrt{h/12}\, Z_2$ (exact: this is the law of
    the halves given the parent's $(W, H)$). The normals $Z_1, Z_2$ of the node that
    halves interval $i$ of level $l - 1$, for Brownian motion $j$, are the Box-Muller
    pair of the Threefry-2x32 hashes (under the key) of the counters
    $(2l, im + j)$ and $(2l + 1, im + j)$. So the path is a function of the key and of
    $(t_0, S)$ only: ``dt`` and ``dt/2`` share $S$ and see the same path, and the grid
    values $W(t_k)$ at ``dt`` equal (bit for bit in float64) those at ``dt/2``. Step
    sizes that are not related by a power of two (e.g. 0.01 and 0.003) give different
    trees.

    Noise index ``j`` is component ``j`` of the flattened state (``ravel_pytree``
    order) for diagonal noise, and column ``j`` of the diffusion for general noise.

    Reference: P. Levy, *Processus stochastiques et mouvement brownien* (1948) for the
    midpoint construction; J. Foster, T. Lyons, H. Oberhauser, "An optimal polynomial
    approximation of Brownian motion", SIAM J. Numer. Anal. 58 (2020) 1393-1421 for the
    space-time Levy area; J. K. Salmon, M. A. Moraes, R. O. Dror, D. E. Shaw,
    "Parallel random numbers: as easy as 1, 2, 3", SC'11 (Threefry); G. E. P. Box,
    M. E. Muller, Ann. Math. Statist. 29 (1958) 610-611.

    Args:
        key: a ``jax.random`` key (``jax.random.key(0)`` or ``PRNGKey(0)``).
        t_span: ``(t0, t1)``, concrete numbers, ``t1 > t0``.
        dt: the step; ``(t1 - t0)/dt`` must be a whole number.
        num_noises: ``m``, the number of independent Brownian motions.
        dtype: floating dtype (default: JAX's default float).
        levy_area: also return the space-time Levy areas.

    Returns:
        A :class:`BrownianPath` ``(ts, w, dw, levy_area)``.
    """
    grid = _make_grid(t_span, dt, caller="brownian_path")
    dtype = jnp.asarray(0.0).dtype if dtype is None else jnp.dtype(dtype)
    _check_key(key)
    return _brownian_path_jit(key, grid, int(num_noises), dtype, bool(levy_area))


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4))
def _brownian_path_jit(key, grid, num_noises, dtype, levy_area):
    w, area = _brownian_tree(key, grid, num_noises, dtype, levy_area)
    ts = grid.t0 + grid.step * jnp.arange(grid.num_steps + 1, dtype=dtype)
    return BrownianPath(ts=ts, w=w, dw=w[1:] - w[:-1], levy_area=area)


# --------------------------------------------------------------------------------- methods


def _times(g, v, matrix):
    """The diffusion applied to a noise vector: elementwise (diagonal) or ``g @ v``."""
    return g @ v if matrix else g * v


def _euler_maruyama_step(drift, diffusion, matrix, t, y, h, dw, area, params):
    return y + h * drift(t, y, params) + _times(diffusion(t, y, params), dw, matrix)


def _milstein_step(drift, diffusion, matrix, t, y, h, dw, area, params):
    # Diagonal noise: g_i depends on y_i only, so the jvp along ones is dg_i/dy_i.
    g, dg = jax.jvp(lambda state: diffusion(t, state, params), (y,), (jnp.ones_like(y),))
    return y + h * drift(t, y, params) + g * dw + 0.5 * g * dg * (dw * dw - h)


def _sra1_step(drift, diffusion, matrix, t, y, h, dw, area, params):
    # Rossler (2010) SRA1 with I_(1,0)/h = H + dW/2 (H: space-time Levy area).
    f1 = drift(t, y, params)
    g_start = diffusion(t, y, params)
    g_end = diffusion(t + h, y, params)
    integral = area + 0.5 * dw
    stage = y + 0.75 * h * f1 + 1.5 * _times(g_end, integral, matrix)
    f2 = drift(t + 0.75 * h, stage, params)
    noise = _times(g_end, dw - integral, matrix) + _times(g_start, integral, matrix)
    return y + h * (f1 / 3 + (2 / 3) * f2) + noise


@dataclasses.dataclass(frozen=True)
class _Method:
    name: str
    step: Callable
    noise: tuple[str, ...]  # noise kinds it accepts
    diagonal_only: bool  # needs a diffusion of the state's shape
    levy_area: bool
    drift_evals: int
    strong_order: float
    weak_order: float


METHODS = {
    "euler_maruyama": _Method(
        "euler_maruyama", _euler_maruyama_step, NOISE_KINDS, False, False, 1, 0.5, 1.0
    ),
    "milstein": _Method(
        "milstein", _milstein_step, ("diagonal", "additive"), True, False, 1, 1.0, 1.0
    ),
    "sra1": _Method("sra1", _sra1_step, ("additive",), False, True, 2, 1.5, 2.0),
}


# ------------------------------------------------------------------------------ solve_sde


@dataclasses.dataclass(frozen=True)
class _Config:
    method: _Method
    grid: _Grid
    matrix: bool  # diffusion is (n, m), not (n,)
    num_noises: int
    save_end_only: bool


def solve_sde(
    drift: Callable,
    diffusion: Callable,
    y0: PyTree,
    t_span: tuple[float, float],
    params: PyTree = None,
    *,
    key: Array = None,
    method: str = "euler_maruyama",
    dt: float = None,
    ts: ArrayLike | None = None,
    noise: str = "diagonal",
    throw: bool = True,
) -> Solution:
    r"""Solve the Ito SDE $dy = f(t, y)\,dt + g(t, y)\,dW_t$, $y(t_0) = y_0$, on a fixed grid.

    Methods (step $h$, increment $\Delta W$, space-time Levy area $H$ of the step):

    * ``"euler_maruyama"`` (any noise): $y_{n+1} = y_n + h f(t_n, y_n) + g(t_n, y_n)
      \Delta W$. Strong order 0.5 (1.0 for additive noise), weak order 1
      (Maruyama 1955; Kloeden & Platen 1992, 10.2).
    * ``"milstein"`` (diagonal noise): adds $\tfrac12 g_i\, \partial_{y_i} g_i\,
      (\Delta W_i^2 - h)$. Strong order 1.0 (Milstein 1974; Kloeden & Platen 1992,
      10.3). $\partial_{y_i} g_i$ is the Jacobian-vector product of $g$ with a vector of
      ones, which is the diagonal derivative because diagonal noise means $g_i$
      depends on $y_i$ only.
    * ``"sra1"`` (additive noise): Rossler's two-stage SRA1, strong order 1.5, weak
      order 2, with $I_{(1,0)}/h = H + \Delta W/2$:
      $\tilde y = y_n + \tfrac34 h f(t_n, y_n) + \tfrac32 g(t_n + h) I_{(1,0)}/h$,
      $y_{n+1} = y_n + h\big(\tfrac13 f(t_n, y_n) + \tfrac23 f(t_n + \tfrac34 h,
      \tilde y)\big) + g(t_n + h)(\Delta W - I_{(1,0)}/h) + g(t_n) I_{(1,0)}/h$
      (A. Rossler, SIAM J. Numer. Anal. 48 (2010) 922-952).

    The Brownian path comes from ``key`` alone (see :func:`brownian_path`): the same
    key gives the same path, ``jax.vmap`` over ``jax.random.split(key, n)`` gives
    independent paths, and ``dt`` and ``dt/2`` follow the same path (so strong errors
    can be measured against a finer solve). Gradients with respect to ``y0`` and
    ``params`` are pathwise (the key fixed), by differentiating the ``lax.scan``.

    Args:
        drift: $f(t, y, \text{params})$, a pytree like ``y``.
        diffusion: $g(t, y, \text{params})$: for ``noise="diagonal"`` a pytree like
            ``y`` (component $i$ is driven by its own $W_i$ and may depend on $y_i$
            only); for ``"additive"`` independent of ``y``, either like ``y`` (diagonal)
            or like ``"general"``; for ``"general"`` each leaf has the leaf's shape plus
            a trailing axis of length $m$, the number of Brownian motions.
        y0: initial state, a pytree of real floating arrays; its dtype is the solve's.
        t_span: ``(t0, t1)`` with ``t1 > t0``, concrete numbers.
        params: any pytree passed to ``drift`` and ``diffusion``.
        key: a ``jax.random`` key; the only source of randomness.
        method: ``"euler_maruyama"``, ``"milstein"`` or ``"sra1"``.
        dt: the step, a concrete number dividing ``t1 - t0`` (to 1e-6 of a step).
        ts: ``(T,)`` save times on the grid ``t0 + k dt`` inside ``t_span`` (any order,
            repeats allowed); ``None`` saves ``t1`` only. ``sol.ts`` holds the grid
            times. Between saved times ``sol.evaluate`` is a cubic Hermite
            interpolation with the drift as slope, not a sample of the SDE: save the
            times you need.
        noise: ``"diagonal"``, ``"additive"`` or ``"general"``.
        throw: raise on failure (a non-finite state, off-grid traced ``ts``), also under
            ``jit``; ``False`` only sets ``sol.status``.

    Returns:
        A :class:`Solution`: ``ts`` ``(T,)``, ``ys`` (leaves ``(T, ...)``), ``stats``
        (``num_steps = num_accepted = N``, ``num_rejected = 0``, ``num_fevals`` = drift
        evaluations), ``status`` (0, or 3 for a non-finite state, 5 for bad ``ts``).

    Raises:
        ValueError / TypeError: bad arguments (noise kind, method, shapes of the
            diffusion, missing ``key`` or ``dt``, ``dt`` not dividing ``t1 - t0``, ``ts``
            off the grid or outside ``t_span``); the message says what to fix.
        SolveError: with ``throw=True``, a non-finite state (under ``jit``: an
            ``equinox`` runtime error carrying the same message).
    """
    config, y0, ts = _validate(
        drift, diffusion, y0, t_span, params, key, method, dt, ts, noise, throw
    )
    try:
        hash((drift, diffusion))
        run = _solve_jit
    except TypeError:
        run = _solve_impl
    solution = run(drift, diffusion, config, y0, params, key, ts)
    return _raise_or_mark(solution, throw)


def _validate(drift, diffusion, y0, t_span, params, key, method, dt, ts, noise, throw):
    if not callable(drift) or not callable(diffusion):
        raise TypeError("drift and diffusion must be callables f(t, y, params).")
    if key is None:
        raise TypeError(
            "solve_sde needs key=: a jax.random key (e.g. jax.random.key(0)); the Brownian "
            "path is a function of it. For many paths, jax.vmap over jax.random.split(key, n)."
        )
    if dt is None:
        raise TypeError("solve_sde needs dt=: the SDE methods take fixed steps of size dt.")
    if not isinstance(throw, bool):
        raise TypeError(f"throw must be True or False, got {throw!r}.")
    if not isinstance(noise, str) or noise not in NOISE_KINDS:
        raise ValueError(
            f"noise must be one of {', '.join(map(repr, NOISE_KINDS))}, got {noise!r}."
        )
    if not isinstance(method, str) or method.lower() not in METHODS:
        raise ValueError(
            f"Unknown SDE method {method!r}; available: {', '.join(map(repr, METHODS))}."
        )
    method = METHODS[method.lower()]
    if noise not in method.noise:
        need = {"milstein": "diagonal (or additive)", "sra1": "additive"}[method.name]
        raise ValueError(
            f"method={method.name!r} is for {need} noise, got noise={noise!r}; use "
            f"method='euler_maruyama' for {noise} noise."
        )
    if isinstance(t_span, (str, bytes)) or len(t_span) != 2:
        raise ValueError(f"t_span must be a pair (t0, t1), got {t_span!r}.")
    grid = _make_grid(t_span, dt)
    _check_key(key)

    leaves = jax.tree.leaves(y0)
    if not leaves:
        raise ValueError("y0 has no array leaves: give the initial state as arrays.")
    y0 = jax.tree.map(jnp.asarray, y0)
    dtypes = [leaf.dtype for leaf in jax.tree.leaves(y0)]
    if any(jnp.issubdtype(d, jnp.complexfloating) for d in dtypes):
        raise TypeError("solve_sde integrates real states; y0 has a complex leaf.")
    floats = [d for d in dtypes if jnp.issubdtype(d, jnp.floating)]
    dtype = jnp.result_type(*floats) if floats else jnp.asarray(0.0).dtype
    y0 = jax.tree.map(lambda leaf: leaf.astype(dtype), y0)
    if not any(isinstance(x, jax.core.Tracer) for x in jax.tree.leaves(y0)):
        if not all(np.all(np.isfinite(np.asarray(x))) for x in jax.tree.leaves(y0)):
            raise ValueError("y0 contains NaN or inf; solve_sde needs a finite initial state.")

    y_structure = jax.tree.structure(y0)
    y_shapes = [leaf.shape for leaf in jax.tree.leaves(y0)]
    drift_out, g_out = _output_shapes(drift, diffusion, dtype, y0, params)
    if (
        jax.tree.structure(drift_out) != y_structure
        or [x.shape for x in jax.tree.leaves(drift_out)] != y_shapes
    ):
        raise ValueError(
            "drift(t, y, params) must return a pytree like y (same structure and shapes); "
            f"y0 has shapes {y_shapes}, drift returned "
            f"{jax.tree.map(lambda x: x.shape, drift_out)}."
        )
    if jax.tree.structure(g_out) != y_structure:
        raise ValueError(
            "diffusion(t, y, params) must return a pytree with the structure of y; got "
            f"{jax.tree.structure(g_out)} for y0 of structure {y_structure}."
        )
    g_shapes = [x.shape for x in jax.tree.leaves(g_out)]
    diagonal_shaped = g_shapes == y_shapes
    trailing = {
        s[-1] for s, ys in zip(g_shapes, y_shapes) if len(s) == len(ys) + 1 and s[:-1] == ys
    }
    matrix_shaped = len(trailing) == 1 and all(
        len(s) == len(ys) + 1 and s[:-1] == ys for s, ys in zip(g_shapes, y_shapes)
    )
    size = sum(math.prod(s) for s in y_shapes)
    if noise == "diagonal" and not diagonal_shaped:
        raise ValueError(
            f"noise='diagonal' needs diffusion(t, y, params) shaped like y ({y_shapes}); got "
            f"{g_shapes}. For m Brownian motions return y.shape + (m,) with noise='general'."
        )
    if noise == "general" and not matrix_shaped:
        raise ValueError(
            f"noise='general' needs diffusion(t, y, params) with each leaf shaped "
            f"leaf.shape + (m,), the same m for all leaves (y0 shapes {y_shapes}); got "
            f"{g_shapes}. A diffusion shaped like y is noise='diagonal'."
        )
    if noise == "additive" and not (diagonal_shaped or matrix_shaped):
        raise ValueError(
            f"noise='additive' needs diffusion(t, y, params) shaped like y ({y_shapes}) or "
            f"with leaves shaped leaf.shape + (m,); got {g_shapes}."
        )
    matrix = not diagonal_shaped
    if method.diagonal_only and matrix:
        raise ValueError(
            f"method={method.name!r} needs diagonal noise (a diffusion shaped like y); for a "
            "diffusion with m columns use method='euler_maruyama'."
        )
    num_noises = next(iter(trailing)) if matrix else size

    if ts is not None:
        ts = jnp.asarray(ts)
        if ts.ndim != 1 or ts.shape[0] == 0:
            raise ValueError(f"ts must be a non-empty 1-D array of times, got shape {ts.shape}.")
        if not isinstance(ts, jax.core.Tracer):
            host = np.asarray(ts, np.float64)
            position = (host - grid.t0) / grid.step
            index = np.rint(position)
            if not np.all(np.isfinite(host)):
                raise ValueError("ts contains NaN or inf; save times must be finite.")
            if np.any(index < 0) or np.any(index > grid.num_steps):
                bad = host[(index < 0) | (index > grid.num_steps)][0]
                raise ValueError(
                    f"save time {bad} is outside t_span = ({grid.t0}, "
                    f"{grid.t0 + grid.num_steps * grid.step}); ts must lie inside t_span."
                )
            off = np.abs(position - index) > _GRID_TOLERANCE
            if np.any(off):
                raise ValueError(
                    f"save time {host[off][0]} is not on the step grid t0 + k dt "
                    f"(t0 = {grid.t0}, dt = {grid.step}); the SDE solution exists only at "
                    "the grid points. Choose ts = t0 + dt * k, or a dt that divides them."
                )
        ts = ts.astype(dtype)
    config = _Config(
        method=method,
        grid=grid,
        matrix=matrix,
        num_noises=int(num_noises),
        save_end_only=ts is None,
    )
    return config, y0, ts


def _output_shapes(drift, diffusion, dtype, y0, params):
    """``jax.eval_shape`` of the drift and the diffusion at ``(t0, y0, params)``, cached
    by the functions and the abstract values, so a repeated call traces nothing."""
    try:
        signature = (
            drift,
            diffusion,
            jnp.dtype(dtype),
            jax.tree.structure(y0),
            tuple(jax.typeof(x) for x in jax.tree.leaves(y0)),
            jax.tree.structure(params),
            tuple(jax.typeof(x) for x in jax.tree.leaves(params)),
        )
        hash(signature)
    except TypeError:
        return _eval_shapes(drift, diffusion, dtype, y0, params)
    return _cached_output_shapes(signature)


@functools.lru_cache(maxsize=256)
def _cached_output_shapes(signature):
    drift, diffusion, dtype, y_def, y_avals, p_def, p_avals = signature

    def rebuild(treedef, avals):
        leaves = [jax.ShapeDtypeStruct(a.shape, a.dtype, weak_type=a.weak_type) for a in avals]
        return jax.tree.unflatten(treedef, leaves)

    return _eval_shapes(drift, diffusion, dtype, rebuild(y_def, y_avals), rebuild(p_def, p_avals))


def _eval_shapes(drift, diffusion, dtype, y0, params):
    t0 = jax.ShapeDtypeStruct((), dtype)
    return jax.eval_shape(drift, t0, y0, params), jax.eval_shape(diffusion, t0, y0, params)


def _check_key(key):
    dtype = getattr(key, "dtype", None)
    if dtype is None:
        raise TypeError(f"key must be a jax.random key, got {type(key).__name__}.")
    if jnp.issubdtype(dtype, jax.dtypes.prng_key):
        ok = key.shape == ()
    else:
        ok = dtype == jnp.uint32 and key.shape == (2,)
    if not ok:
        raise TypeError(
            f"key must be one jax.random key (jax.random.key(0) or PRNGKey(0)), got dtype "
            f"{dtype} and shape {key.shape}. For many paths, jax.vmap solve_sde over "
            "jax.random.split(key, n)."
        )


def _solve_impl(drift, diffusion, config: _Config, y0, params, key, ts):
    grid, method, matrix = config.grid, config.method, config.matrix
    y_flat, unravel = ravel_pytree(y0)
    dtype = y_flat.dtype
    leaf_sizes = [leaf.size for leaf in jax.tree.leaves(y0)]

    def drift_flat(t, y, p):
        return ravel_pytree(drift(t, unravel(y), p))[0].astype(dtype)

    def diffusion_flat(t, y, p):
        out = diffusion(t, unravel(y), p)
        if not matrix:
            return ravel_pytree(out)[0].astype(dtype)
        rows = [
            leaf.reshape(size, config.num_noises)
            for leaf, size in zip(jax.tree.leaves(out), leaf_sizes)
        ]
        return jnp.concatenate(rows).astype(dtype)

    w, area = _brownian_tree(key, grid, config.num_noises, dtype, method.levy_area)
    dw = w[1:] - w[:-1]
    step = jax.checkpoint(
        functools.partial(method.step, drift_flat, diffusion_flat, matrix), prevent_cse=False
    )
    h = jnp.asarray(grid.step, dtype)
    t0 = jnp.asarray(grid.t0, dtype)
    count = grid.num_steps
    steps = jnp.arange(count, dtype=jnp.int32)

    if config.save_end_only:

        def body(y, inputs):
            k, dw_k, area_k = inputs
            return step(t0 + k.astype(dtype) * h, y, h, dw_k, area_k, params), None

        y_end, _ = jax.lax.scan(body, y_flat, (steps, dw, area))
        ys_flat = y_end[None]
        save_ts = jnp.asarray(grid.t0 + grid.step * count, dtype)[None]
        invalid = jnp.asarray(False)
    else:
        position = (ts - t0) / h
        index = jnp.rint(position)
        invalid = jnp.any(
            ~jnp.isfinite(ts)
            | (index < 0)
            | (index > count)
            | (jnp.abs(position - index) > _GRID_TOLERANCE)
        )
        index = jnp.clip(index, 0, count).astype(jnp.int32)

        def body(y, inputs):
            k, dw_k, area_k = inputs
            y = step(t0 + k.astype(dtype) * h, y, h, dw_k, area_k, params)
            return y, y

        # Every step's state (memory like the increments' own), then the saved rows.
        y_end, states = jax.lax.scan(body, y_flat, (steps, dw, area))
        ys_flat = jnp.concatenate([y_flat[None], states])[index]
        save_ts = t0 + index.astype(dtype) * h

    finite = jnp.all(jnp.isfinite(ys_flat)) & jnp.all(jnp.isfinite(y_end))
    status = jnp.where(invalid, INVALID_INPUT, jnp.where(finite, SUCCESS, NONFINITE))
    ys = jax.vmap(unravel)(ys_flat)
    derivatives = jax.vmap(lambda t, y: drift(t, y, params))(save_ts, ys)
    stats = {
        "num_steps": jnp.asarray(count, jnp.int32),
        "num_accepted": jnp.asarray(count, jnp.int32),
        "num_rejected": jnp.asarray(0, jnp.int32),
        "num_fevals": jnp.asarray(count * method.drift_evals, jnp.int32),
    }
    return Solution(
        ts=save_ts,
        ys=ys,
        stats=stats,
        status=status.astype(jnp.int32),
        derivatives=derivatives,
    )


_solve_jit = jax.jit(_solve_impl, static_argnums=(0, 1, 2))


def _raise_or_mark(solution, throw):
    if not throw:
        return solution
    status = solution.status
    if not isinstance(status, jax.core.Tracer):
        codes = np.asarray(status)
        failed = codes != SUCCESS
        if np.any(failed):
            code = int(codes.flat[int(np.argmax(failed.flat))])
            raise SolveError(f"solvers.solve_sde failed (status {code}): {_MESSAGES[code]}")
        return solution
    messages = tuple(
        "solvers.solve_sde failed: " + _MESSAGES.get(code, "unknown status")
        for code in range(max(_MESSAGES) + 1)
    )
    leaves, treedef = jax.tree.flatten(solution)
    arrays = [i for i, leaf in enumerate(leaves) if isinstance(leaf, jax.Array)]
    checked = eqx.branched_error_if(
        tuple(leaves[i] for i in arrays), status != SUCCESS, status, messages
    )
    for i, leaf in zip(arrays, checked):
        leaves[i] = leaf
    return jax.tree.unflatten(treedef, leaves)
