"""Parameter sweeps: one solve mapped over a batch, within and across devices.

Within a device the batch is vectorised with ``jax.vmap``; across devices it is split
with ``jax.shard_map`` over a one-axis ``jax.make_mesh`` mesh, so every device runs its
own adaptive loop and stops when *its* slowest member is done (no cross-device
synchronisation per step). On JAX's multi-process runtime (``jax.distributed``) the
same mesh spans the devices of every process; each process feeds its own devices from
the (identical) host batch and every process gets the whole result back.

References:
    JAX documentation, "Distributed arrays and automatic parallelization" and
    "Manual parallelism with shard_map".
"""

from __future__ import annotations

import functools
import math
import sys
import time
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec

from ._solution import STATUS_MESSAGES, Solution, SolveError
from ._solve import solve
from .sde import solve_sde

__all__ = ["sweep", "use_host_devices", "lockstep_cost"]

_AXIS = "sweep"


def use_host_devices(count: int) -> None:
    """Split the CPU into ``count`` JAX devices, so that :func:`sweep` runs in parallel.

    JAX uses one CPU device by default; a sweep over several host devices runs one
    thread per device. Call this right after ``import jax``, before any JAX
    computation (the backend reads the setting once, when it starts)::

        import jax, solvers
        solvers.use_host_devices(8)

    Equivalent to ``jax.config.update("jax_num_cpu_devices", count)`` or the
    environment variable ``XLA_FLAGS=--xla_force_host_platform_device_count=8`` set
    before Python starts. It has no effect on GPU/TPU devices.

    Raises:
        RuntimeError: the backend has already started with a different number of CPU
            devices.
    """
    if not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be a positive int, got {count!r}.")
    try:
        jax.config.update("jax_num_cpu_devices", count)
    except RuntimeError:
        have = len(jax.devices("cpu"))
        if have != count:
            raise RuntimeError(
                f"JAX has already started with {have} CPU device(s); call "
                f"solvers.use_host_devices({count}) right after `import jax`, before any "
                "JAX computation, or set XLA_FLAGS=--xla_force_host_platform_device_count="
                f"{count} before starting Python."
            ) from None


def sweep(
    f,
    y0,
    t_span,
    params=None,
    *,
    in_axes=(None, 0),
    devices: Sequence[jax.Device] | None = None,
    chunk_size: int | None = None,
    progress: bool = False,
    balance: bool | Any = False,
    **solve_options,
) -> Solution:
    """Solve one ODE for every member of a batch of initial states and/or parameters.

    Member ``i`` is ``solve(f, y0_i, t_span, params_i, **solve_options)``, where
    ``y0_i``/``params_i`` take index ``i`` along the axes given by ``in_axes`` (as in
    ``jax.vmap``; ``None`` shares the argument between members). The result is the
    vmapped :class:`Solution`: every leaf gets a leading batch axis of length ``N``.

    Execution: the batch is padded (with copies of its last member) to a multiple of
    the device count, split over ``devices`` with ``jax.shard_map``, and each device
    solves its share with ``jax.vmap``. An adaptive loop under ``vmap`` runs in
    lockstep: it takes as many iterations as its slowest member. Two options reduce
    that cost:

    * ``chunk_size`` solves the batch ``chunk_size`` members at a time (one compiled
      program, reused), so memory is bounded by the chunk and a chunk of cheap members
      finishes early.
    * ``balance`` sorts members by cost before chunking, so that each chunk holds
      members of similar cost: ``True`` estimates the cost by a pilot solve at a
      tolerance 1000x looser (final state only), or pass an array of ``N`` cost
      estimates. Results come back in the original order.

    Called under a JAX transformation (``jit``, ``grad``) the sweep is one traced
    program (``lax.map`` over chunks inside ``shard_map``); ``progress`` and
    ``balance`` need a plain (eager) call.

    Args:
        f: vector field ``f(t, y, params)``.
        y0, params: initial state and parameters (pytrees), batched along ``in_axes``.
        t_span: ``(t0, t1)`` shared by all members.
        in_axes: ``(y0_axes, params_axes)``; each an int, ``None`` or a pytree prefix of
            ints/``None``, as in ``jax.vmap``.
        devices: the devices to use; ``None`` means all of ``jax.devices()`` (every
            process's devices under ``jax.distributed``).
        chunk_size: members solved at once (over all devices); ``None`` = all.
        progress: print a progress bar over chunks to stderr.
        balance: ``False``, ``True`` (pilot solve) or an ``(N,)`` array of costs.
        **solve_options: passed to :func:`solvers.solve` (``method``, ``ts``, ``dt``,
            ``rtol``, ``atol``, ``max_steps``, ``adjoint``, ``throw``). An SDE ensemble:
            ``diffusion=g`` and ``key=`` a batch of ``N`` keys (e.g.
            ``jax.random.split(key, N)``, always batched along axis 0) make member
            ``i`` ``solve_sde(f, g, y0_i, t_span, params_i, key=key[i], ...)``
            (options ``method``, ``dt``, ``ts``, ``noise``).

    Returns:
        The batched :class:`Solution` (``ts``, ``ys``, ``stats`` and ``status`` have a
        leading axis of length ``N``).

    Raises:
        SolveError: some members failed and ``throw`` is true (the default); the
            message gives their indices and statuses. With ``throw=False`` inspect
            ``sols.status``.
        ValueError: inconsistent batch sizes, bad ``in_axes`` or ``chunk_size``.
    """
    throw = solve_options.pop("throw", True)
    if "params" in solve_options or "y0" in solve_options:
        raise TypeError("pass y0 and params positionally to sweep.")
    diffusion = solve_options.pop("diffusion", None)
    keys = solve_options.pop("key", None)
    if (diffusion is None) != (keys is None):
        raise TypeError(
            "an SDE sweep needs both diffusion= and key= (a batch of keys, e.g. "
            "jax.random.split(key, N)); an ODE sweep takes neither."
        )
    if diffusion is not None:
        keys = jnp.asarray(keys)
        if jnp.issubdtype(keys.dtype, jax.dtypes.prng_key):
            keys = jax.random.key_data(keys)  # raw words travel through numpy and shards
        if keys.ndim != 2:
            raise ValueError(
                f"key must be a batch of keys with a leading member axis, got shape "
                f"{keys.shape} (use jax.random.split(key, N))."
            )
        solve_options["diffusion"] = diffusion
    if not (isinstance(in_axes, (tuple, list)) and len(in_axes) == 2):
        raise ValueError(f"in_axes must be a pair (y0_axes, params_axes), got {in_axes!r}.")
    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size < 1):
        raise ValueError(f"chunk_size must be a positive int or None, got {chunk_size!r}.")
    devices = list(jax.devices() if devices is None else devices)
    if not devices:
        raise ValueError("devices must not be empty.")

    try:
        y0_leading = _to_leading(y0, in_axes[0], "y0")
        params = _to_leading(params, in_axes[1], "params")
    except _AxisOutOfRangeError as error:
        raise ValueError(error.explain(in_axes, (y0, params))) from None
    y0 = y0_leading
    batched_keys = None if keys is None else _to_leading(keys, 0, "key")
    leaves, treedef = jax.tree.flatten((y0, params, batched_keys), is_leaf=_is_batched)
    batched = tuple(_is_batched(leaf) for leaf in leaves)
    if not any(batched):
        raise ValueError("in_axes maps no argument: give at least one batched axis.")
    sizes = {leaf.array.shape[0] for leaf in leaves if _is_batched(leaf)}
    if len(sizes) != 1:
        raise ValueError(f"batched arguments have different batch sizes {sorted(sizes)}.")
    (size,) = sizes
    if size == 0:
        raise ValueError("the batch is empty.")
    arrays = [leaf.array if _is_batched(leaf) else leaf for leaf in leaves]

    static, dynamic = _split_options(t_span, solve_options)
    mesh = jax.make_mesh(
        (len(devices),), (_AXIS,), axis_types=(jax.sharding.AxisType.Auto,), devices=devices
    )
    traced = any(isinstance(a, jax.core.Tracer) for a in jax.tree.leaves(arrays)) or any(
        isinstance(a, jax.core.Tracer) for a in jax.tree.leaves(dynamic)
    )
    if traced:
        if progress or balance is not False:
            raise ValueError("progress and balance need a plain (not traced) call of sweep.")
        chunk = size if chunk_size is None else min(chunk_size, size)
        per_device = -(-chunk // len(devices))
        program = _program(f, treedef, batched, static, mesh, per_device)
        padded = _pad(arrays, batched, _round_up(size, len(devices)))
        padded = [
            jax.lax.with_sharding_constraint(a, NamedSharding(mesh, PartitionSpec(_AXIS)))
            if b
            else a
            for a, b in zip(padded, batched, strict=True)
        ]
        out = program(padded, dynamic)
        sols = jax.tree.map(lambda x: x[:size], out)
        return _error_if_failed(sols, len(devices)) if throw else sols

    order = None
    if balance is not False:
        cost = (
            _pilot_cost(f, treedef, batched, arrays, static, dynamic, mesh, chunk_size)
            if balance is True
            else np.asarray(balance)
        )
        if cost.shape != (size,):
            raise ValueError(f"balance costs must have shape ({size},), got {cost.shape}.")
        order = np.argsort(cost, kind="stable")
        if chunk_size is None:
            # Without chunks sorting changes nothing: default to 8 chunks.
            chunk_size = max(len(devices), -(-size // 8))
    chunk = size if chunk_size is None else min(chunk_size, size)
    chunk = _round_up(chunk, len(devices))
    program = _program(f, treedef, batched, static, mesh, chunk // len(devices))
    host = [np.asarray(a) if b else a for a, b in zip(arrays, batched, strict=True)]
    if order is not None:
        host = [a[order] if b else a for a, b in zip(host, batched, strict=True)]
    shared = [_replicated(a, mesh) if not b else None for a, b in zip(host, batched, strict=True)]
    dynamic = jax.tree.map(lambda a: _replicated(np.asarray(jnp.asarray(a)), mesh), dynamic)

    starts = list(range(0, size, chunk))
    bar = _Progress(len(starts), size) if progress else None
    pieces = []
    pending = None
    for index, start in enumerate(starts):
        stop = min(start + chunk, size)
        inputs = [
            _sharded(_pad_host(a[start:stop], chunk), mesh) if b else s
            for a, b, s in zip(host, batched, shared, strict=True)
        ]
        result = program(inputs, dynamic)
        # Bring the previous chunk home while this one runs.
        if pending is not None:
            pieces.append(_gather(*pending))
            if bar is not None:
                bar.update(index, pieces)
        pending = (result, stop - start)
    pieces.append(_gather(*pending))
    if bar is not None:
        bar.update(len(starts), pieces)
        bar.close()

    host_out = jax.tree.map(lambda *xs: np.concatenate(xs), *pieces)
    if order is not None:
        inverse = np.empty_like(order)
        inverse[order] = np.arange(size)
        host_out = jax.tree.map(lambda x: x[inverse], host_out)
    sols = jax.tree.map(jnp.asarray, host_out)
    if throw:
        _raise_failed(np.asarray(host_out.status))
    return sols


def lockstep_cost(num_steps, chunk_size: int | None = None, num_devices: int = 1) -> dict:
    """Member-steps a lockstep sweep spends, against the members' own steps.

    Under ``vmap`` every member of a device's share iterates until the slowest one is
    done, so a share of ``m`` members costs ``m * max(num_steps)``. This replays the
    chunking and device split of :func:`sweep` on the per-member step counts
    (``sols.stats["num_steps"]``, in the order they were solved).

    Returns:
        dict with ``used`` (member-steps run in lockstep), ``own`` (sum of the
        members' own steps) and ``efficiency = own / used`` (1 is perfect).
    """
    steps = np.asarray(num_steps).reshape(-1)
    size = steps.shape[0]
    chunk = size if chunk_size is None else min(chunk_size, size)
    chunk = _round_up(chunk, num_devices)
    share = chunk // num_devices
    used = 0
    for start in range(0, size, chunk):
        block = _pad_host(steps[start : start + chunk], chunk)
        used += int(block.reshape(num_devices, share).max(axis=1).sum()) * share
    own = int(steps.sum())
    return {"used": used, "own": own, "efficiency": own / used}


# --- batching helpers ------------------------------------------------------------


class _Batched:
    """A leaf batched along its leading axis (marks it in the flattened tree)."""

    def __init__(self, array):
        self.array = array


def _is_batched(x) -> bool:
    return isinstance(x, _Batched)


def _to_leading(tree, axes, name):
    """Move every batched axis to the front and wrap the leaf in ``_Batched``."""
    if axes is None:
        return tree
    if isinstance(axes, int):
        return _move_all(tree, axes, name, ())
    try:
        return jax.tree_util.tree_map_with_path(
            lambda prefix, ax, sub: _move_all(sub, ax, name, prefix),
            axes,
            tree,
            is_leaf=lambda x: x is None,
        )
    except _AxisOutOfRangeError:
        raise
    except ValueError as error:
        raise ValueError(
            f"in_axes for {name} must be an int, None or a pytree prefix of {name}: {error}"
        ) from None


def _move_all(tree, axis, name, prefix):
    """Batch every leaf of ``tree`` (at ``prefix`` in the argument) along ``axis``."""
    if axis is None:
        return tree
    return jax.tree_util.tree_map_with_path(
        lambda path, leaf: _move(leaf, axis, name, prefix + tuple(path)), tree
    )


def _move(leaf, axis, name, path=()):
    if not isinstance(axis, int):
        raise ValueError(f"in_axes entries must be int or None, got {axis!r} for {name}.")
    if not hasattr(leaf, "ndim"):
        leaf = np.asarray(leaf)
    if not _axis_fits(leaf, axis):
        raise _AxisOutOfRangeError(name, path, axis, np.shape(leaf))
    xp = jnp if isinstance(leaf, jax.Array) else np
    return _Batched(xp.moveaxis(leaf, axis, 0))


def _axis_fits(leaf, axis) -> bool:
    ndim = np.ndim(leaf)
    return ndim > 0 and -ndim <= axis < ndim


class _AxisOutOfRangeError(ValueError):
    """An in_axes entry that does not fit a leaf; :meth:`explain` says how to fix it."""

    def __init__(self, name, path, axis, shape):
        self.name, self.path, self.axis, self.shape = name, path, axis, shape
        super().__init__(f"in_axes={axis} is out of range for {self.leaf} of shape {shape}.")

    @property
    def leaf(self) -> str:
        return self.name + jax.tree_util.keystr(self.path)

    def explain(self, in_axes, args) -> str:
        """The message, with an ``in_axes`` that maps every misfit leaf to ``None``."""
        rank = len(self.shape)
        valid = f"valid axes are {-rank}..{rank - 1}" if rank else "a scalar has no axis"
        suggestion = tuple(
            _suggest_axes(arg, axes) for arg, axes in zip(args, in_axes, strict=True)
        )
        return (
            f"in_axes={self.axis} is out of range for {self.leaf} of shape {self.shape} "
            f"({valid}). An int in in_axes applies to every leaf below it; to share "
            f"{self.leaf} between members, give it None, e.g. in_axes={suggestion!r}."
        )


# Marks a leaf to share in a suggested in_axes (None itself is an empty subtree to jax.tree).
_SHARE = object()


def _suggest_axes(tree, axes):
    """``axes`` with every leaf whose axis does not fit it mapped to ``None``."""
    if axes is None:
        return None

    def per_leaf(ax, sub):
        return jax.tree.map(
            lambda leaf: ax if ax is not None and _axis_fits(leaf, ax) else _SHARE, sub
        )

    try:
        if isinstance(axes, int):
            marked = per_leaf(axes, tree)
        else:
            marked = jax.tree.map(per_leaf, axes, tree, is_leaf=lambda x: x is None)
    except (ValueError, TypeError):
        return axes
    leaves, treedef = jax.tree.flatten(marked)
    if not any(leaf is _SHARE for leaf in leaves):
        return axes
    return jax.tree.unflatten(treedef, [None if leaf is _SHARE else leaf for leaf in leaves])


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def _pad_host(array, length):
    """Pad along axis 0 with copies of the last row (valid inputs, never NaN)."""
    missing = length - array.shape[0]
    if missing == 0:
        return array
    return np.concatenate([array, np.repeat(array[-1:], missing, axis=0)])


def _pad(arrays, batched, length):
    def pad(a):
        missing = length - a.shape[0]
        if missing == 0:
            return a
        return jnp.concatenate([a, jnp.repeat(a[-1:], missing, axis=0)])

    return [pad(a) if b else a for a, b in zip(arrays, batched, strict=True)]


# --- options, programs and data movement ------------------------------------------

_STATIC_OPTIONS = ("method", "dt", "max_steps", "adjoint", "diffusion", "noise")
_DYNAMIC_OPTIONS = ("ts", "rtol", "atol")


def _split_options(t_span, options):
    unknown = set(options) - set(_STATIC_OPTIONS) - set(_DYNAMIC_OPTIONS)
    if unknown:
        raise TypeError(f"unknown solve options {sorted(unknown)}.")
    static = {key: options[key] for key in _STATIC_OPTIONS if key in options}
    if "dt" in static and static["dt"] is not None:
        static["dt"] = float(static["dt"])
    try:
        static["t_span"] = (float(t_span[0]), float(t_span[1]))
    except jax.errors.ConcretizationTypeError:
        raise ValueError(
            "sweep needs a constant t_span (Python or NumPy numbers), not a traced value; "
            "to map over t_span, jax.vmap solvers.solve instead."
        ) from None
    try:
        hash(tuple(static.values()))
    except TypeError:
        raise TypeError("method must be hashable (a name or a solver instance).") from None
    dynamic = {key: options[key] for key in _DYNAMIC_OPTIONS if key in options}
    return tuple(sorted(static.items())), dynamic


@functools.lru_cache(maxsize=64)
def _program(f, treedef, batched, static, mesh, per_device):
    """One compiled sweep program: shard_map over devices, vmap within a device."""
    static = dict(static)
    t_span = static.pop("t_span")

    def member(leaves, dynamic):
        y0, params, key = jax.tree.unflatten(treedef, leaves)
        options = {"throw": False, **static}
        if "diffusion" in options:
            diffusion = options.pop("diffusion")
            return solve_sde(f, diffusion, y0, t_span, params, key=key, **options, **dynamic)
        return solve(f, y0, t_span, params, **options, **dynamic)

    def on_device(leaves, dynamic):
        axes = [0 if b else None for b in batched]
        vmapped = jax.vmap(member, in_axes=(axes, None))
        local = next(a.shape[0] for a, b in zip(leaves, batched, strict=True) if b)
        if per_device >= local:
            return vmapped(leaves, dynamic)
        # Memory bound inside a traced sweep: lax.map over chunks of the vmap.
        mapped = [a for a, b in zip(leaves, batched, strict=True) if b]

        def one_chunk(batch):
            it = iter(batch)
            full = [next(it) if b else a for a, b in zip(leaves, batched, strict=True)]
            return member(full, dynamic)

        return jax.lax.map(one_chunk, mapped, batch_size=per_device)

    in_specs = (
        [PartitionSpec(_AXIS) if b else PartitionSpec() for b in batched],
        PartitionSpec(),
    )
    # Every device runs its own while loop on its own members; the loop carries are
    # device-varying by construction, so the replication check has nothing to verify.
    sharded = jax.shard_map(
        on_device, mesh=mesh, in_specs=in_specs, out_specs=PartitionSpec(_AXIS), check_vma=False
    )
    return jax.jit(sharded)


def _sharded(array, mesh):
    """A global array split over the mesh; each process fills its own devices."""
    sharding = NamedSharding(mesh, PartitionSpec(_AXIS))
    return jax.make_array_from_callback(array.shape, sharding, lambda index: array[index])


def _replicated(array, mesh):
    if isinstance(array, jax.Array) and jax.process_count() == 1:
        return array
    array = np.asarray(array)
    sharding = NamedSharding(mesh, PartitionSpec())
    return jax.make_array_from_callback(array.shape, sharding, lambda index: array[index])


def _gather(result, count):
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        result = multihost_utils.process_allgather(result, tiled=True)
    return jax.tree.map(lambda x: np.asarray(x)[:count], result)


def _pilot_cost(f, treedef, batched, arrays, static, dynamic, mesh, chunk_size):
    """Step counts of a cheap pilot sweep (final state, tolerances 1000x looser)."""
    options = dict(static)
    t_span = options.pop("t_span")
    loose = {
        "rtol": min(1e-2, 1e3 * float(dynamic.get("rtol", 1e-6))),
        "atol": min(1e-2, 1e3 * float(dynamic.get("atol", 1e-9))),
    }
    if "diffusion" in options:
        raise ValueError("balance is for adaptive ODE solves; an SDE sweep has fixed steps.")
    y0, params, _ = jax.tree.unflatten(treedef, arrays)
    axes = jax.tree.unflatten(treedef, [0 if b else None for b in batched])[:2]
    pilot = sweep(
        f,
        y0,
        t_span,
        params,
        in_axes=axes,
        devices=list(mesh.devices.flat),
        chunk_size=chunk_size,
        throw=False,
        **options,
        **loose,
    )
    return np.asarray(pilot.stats["num_steps"])


def _raise_failed(status):
    failed = np.flatnonzero(status != 0)
    if failed.size == 0:
        return
    shown = ", ".join(f"{i} (status {int(status[i])})" for i in failed[:10])
    more = "" if failed.size <= 10 else f" and {failed.size - 10} more"
    code = int(status[failed[0]])
    raise SolveError(
        f"solvers.sweep: {failed.size} of {status.size} members failed: {shown}{more}. "
        f"First failure: {STATUS_MESSAGES.get(code, code)} Pass throw=False to get the "
        "other members' results and inspect sols.status."
    )


def _error_if_failed(sols, num_devices):
    """Inside a trace: raise through ``equinox.error_if`` (one device), else NaN-fill.

    A runtime error raised on one device of a multi-device program leaves the other
    devices waiting in a collective, and XLA aborts the process. So across several
    devices the failed members' states become NaN instead (their ``status`` says why).
    """
    import equinox as eqx

    failed = sols.status != 0
    if num_devices == 1:
        leaves, treedef = jax.tree.flatten(sols.ys)
        first = eqx.error_if(
            leaves[0],
            jnp.any(failed),
            "solvers.solve failed in solvers.sweep: some members did not succeed; pass "
            "throw=False and inspect sols.status.",
        )
        ys = jax.tree.unflatten(treedef, [first, *leaves[1:]])
        return Solution(
            ts=sols.ts, ys=ys, stats=sols.stats, status=sols.status, derivatives=sols.derivatives
        )

    def poison(leaf):
        mask = failed.reshape(failed.shape + (1,) * (leaf.ndim - 1))
        return jnp.where(mask, jnp.nan, leaf)

    return Solution(
        ts=sols.ts,
        ys=jax.tree.map(poison, sols.ys),
        stats=sols.stats,
        status=sols.status,
        derivatives=jax.tree.map(poison, sols.derivatives),
    )


class _Progress:
    """A one-line text progress bar on stderr (no extra dependency)."""

    def __init__(self, total_chunks, total_members, width=30):
        self.total_chunks = total_chunks
        self.total_members = total_members
        self.width = width
        self.start = time.perf_counter()

    def update(self, done_chunks, pieces):
        members = sum(int(p.status.shape[0]) for p in pieces)
        fraction = done_chunks / self.total_chunks
        filled = int(round(self.width * fraction))
        elapsed = time.perf_counter() - self.start
        rate = members / elapsed if elapsed > 0 else math.inf
        sys.stderr.write(
            f"\rsweep [{'#' * filled}{'.' * (self.width - filled)}] "
            f"{done_chunks}/{self.total_chunks} chunks, {members}/{self.total_members} "
            f"members, {elapsed:.1f} s, {rate:,.0f} members/s"
        )
        sys.stderr.flush()

    def close(self):
        sys.stderr.write("\n")
        sys.stderr.flush()
