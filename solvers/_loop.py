"""The integration loops: a fixed-step ``lax.scan`` and a bounded adaptive
``lax.while_loop`` with reverse-mode support through a checkpointed discrete adjoint.

All loops work on a flat state ``y`` of shape ``(n,)`` and on increasing time (the
driver maps backward integration onto forward time). A vector field here is a
function ``f(t, y, args) -> (n,)`` where ``args`` is the tuple of differentiable
inputs (the user's params and the constants closed over by the user's ``f``).

Reverse mode (``jax.grad``) through the adaptive loop is a custom VJP: the
"discretise-then-optimise" adjoint of the accepted steps, with the step sizes held
fixed. ``"direct"`` records every accepted step in the forward pass (memory
``O(max_steps)``, no replay). ``"checkpoint"`` keeps ``C`` (= ``LoopConfig.checkpoints``)
snapshots of the loop state per level, in a hierarchy of ``L = O(log_C max_steps)``
levels, so its memory is ``O(C log_C max_steps)``: logarithmic in ``max_steps``.

* The first ``H`` accepted steps (``LoopConfig.head_length``: at most 1024 and
  :data:`HEAD_BYTES`) are recorded outright, as by ``"direct"``; the snapshots start
  after them. A solve that fits in this head is swept backwards without replay.
* The forward pass does not know how many steps it will take, so it thins its
  snapshots online: it snapshots every ``s``-th accepted step (``s = 1`` at first);
  when all ``C`` slots are full it doubles ``s`` and overwrites the snapshots that are
  no longer on the stride, oldest first. Its snapshots are therefore at most ``s``
  steps apart, with ``s <= max(1, 2 n / C)`` for ``n`` accepted steps.
* The backward pass takes the segments between snapshots in reverse order. A segment
  of at most ``C`` steps is replayed once, recording each step, and swept backwards
  (the base case). A longer one is replayed once to lay ``C`` evenly spaced snapshots
  (the next level), and each of its sub-segments is handled the same way, in reverse.

Every step after the head is thus recomputed once per level it passes through: once
(as for a two-level scheme) while ``n <= C^2 / 2``, twice up to ``C^3 / 2`` and so on.
The save points' shares of the cotangents are formed for all of them at once, from
their positions in their steps and the dense output's slopes there, which the
recording forward pass stores.

Reference: Griewank & Walther, *Evaluating Derivatives*, 2nd ed., SIAM 2008, ch. 12
(checkpointing, and its online variants when the number of steps is not known in
advance); Hairer, Norsett & Wanner (1993), II.4 (step-size control).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from ._control import error_ratio, initial_step, pid_factor
from ._interp import dense_basis, dense_coefficients, dense_evaluate
from .explicit import error_estimate, rk_stages

SUCCESS = 0
MAX_STEPS_REACHED = 1
STEP_SIZE_UNDERFLOW = 2
NONFINITE = 3
NEWTON_DIVERGENCE = 4
INVALID_INPUT = 5

# The checkpoint adjoint records its first accepted steps outright, like the direct
# one, in a buffer of at most this many bytes (and LoopConfig.head steps).
HEAD_BYTES = 256 * 1024


@dataclasses.dataclass(frozen=True)
class LoopConfig:
    """Static description of one integration (hashable: a jit cache key)."""

    method: Any
    max_steps: int
    adjoint: str = "checkpoint"  # "checkpoint" | "direct" | "forward"
    checkpoints: int = 64  # snapshot slots per level of the checkpoint adjoint (even)
    head: int = 1024  # most accepted steps the checkpoint adjoint records outright

    def head_length(self, y0) -> int:
        """Accepted steps the checkpoint adjoint records outright, as ``(t, h, y)``
        rows: at most ``head``, ``max_steps`` and :data:`HEAD_BYTES`."""
        row_bytes = (y0.shape[0] + 2) * y0.dtype.itemsize
        return max(0, min(self.head, self.max_steps, HEAD_BYTES // row_bytes))

    @property
    def max_stride(self) -> int:
        """The largest stride the forward pass's snapshots can reach: it doubles from
        ``s`` when the ``C * s``-th step is accepted, and at most ``max_steps`` are."""
        stride = 1
        while self.checkpoints * stride <= self.max_steps:
            stride *= 2
        return stride

    @property
    def levels(self) -> int:
        """Snapshot levels below the forward pass's, so that a base segment has at
        most ``C`` steps: the checkpoint adjoint's memory is ``C * (levels + 2)``."""
        length, levels = self.max_stride, 0
        while length > self.checkpoints:
            length = -(-length // self.checkpoints)
            levels += 1
        return levels


class LoopState(NamedTuple):
    t: jax.Array
    y: jax.Array
    f0: jax.Array
    h: jax.Array
    inverse_ratio1: jax.Array
    inverse_ratio2: jax.Array
    num_steps: jax.Array
    num_accepted: jax.Array
    num_rejected: jax.Array
    num_fevals: jax.Array
    status: jax.Array


def _attempt(method, f, args, state, t1, rtol, atol):
    """Attempt one step from ``state``. Returns (new_state, accept, h, ks, y1)."""
    tableau = method.tableau
    t, y = state.t, state.y
    remaining = t1 - t
    last = state.h >= remaining
    h = jnp.where(last, remaining, state.h)
    fp = functools.partial(_bind, f, args)
    f0 = state.f0 if tableau.fsal else fp(t, y)
    y1, ks = rk_stages(tableau, fp, t, y, h, f0)
    fevals = tableau.num_stages - (1 if tableau.fsal else 0)
    finite = jnp.all(jnp.isfinite(y1))
    if tableau.adaptive:
        ratio = error_ratio(tableau, error_estimate(tableau, h, ks), y, y1, rtol, atol)
        accept = ratio <= 1
        factor, inverse = pid_factor(
            method, ratio, accept, state.inverse_ratio1, state.inverse_ratio2
        )
        h_next = jnp.where(last & accept, state.h, h * factor)
        inverse_ratio1 = jnp.where(accept, inverse, state.inverse_ratio1)
        inverse_ratio2 = jnp.where(accept, state.inverse_ratio1, state.inverse_ratio2)
    else:
        accept = finite
        h_next = state.h
        inverse_ratio1, inverse_ratio2 = state.inverse_ratio1, state.inverse_ratio2
    t_new = jnp.where(accept, jnp.where(last, t1, t + h), t)
    num_steps = state.num_steps + 1
    tiny = 10 * jnp.finfo(y.dtype).eps * jnp.maximum(jnp.abs(t), jnp.abs(t1))
    status = state.status
    status = jnp.where(
        ~accept & (h_next <= tiny),
        jnp.where(finite, STEP_SIZE_UNDERFLOW, NONFINITE),
        status,
    )
    if not tableau.adaptive:
        status = jnp.where(finite, status, NONFINITE)
    new_state = LoopState(
        t=t_new,
        y=jnp.where(accept, y1, y),
        f0=jnp.where(accept, ks[-1], state.f0) if tableau.fsal else state.f0,
        h=h_next.astype(state.h.dtype),
        inverse_ratio1=inverse_ratio1,
        inverse_ratio2=inverse_ratio2,
        num_steps=num_steps,
        num_accepted=state.num_accepted + accept,
        num_rejected=state.num_rejected + (~accept),
        num_fevals=state.num_fevals + fevals,
        status=status,
    )
    return new_state, accept, h, ks, y1


def _bind(f, args, t, y):
    return f(t, y, args)


def _not_done(state, t1):
    return (state.status == SUCCESS) & (state.t < t1)


def _initial_state(cfg, f, args, y0, t0, t1, h0, rtol, atol):
    method = cfg.method
    fp = functools.partial(_bind, f, args)
    f0 = fp(t0, y0)
    fevals = 1
    if h0 is None:
        h0 = initial_step(fp, t0, y0, f0, method.tableau.error_order, rtol, atol)
        fevals += 1
    one = jnp.ones((), y0.dtype)
    zero = jnp.zeros((), jnp.int32)
    finite = jnp.all(jnp.isfinite(y0)) & jnp.all(jnp.isfinite(f0))
    return LoopState(
        t=t0,
        y=y0,
        f0=f0,
        h=jnp.asarray(h0, y0.dtype),
        inverse_ratio1=one,
        inverse_ratio2=one,
        num_steps=zero,
        num_accepted=zero,
        num_rejected=zero,
        num_fevals=zero + fevals,
        status=jnp.where(finite, SUCCESS, NONFINITE).astype(jnp.int32),
    )


def _store(buffer, index, value, condition):
    """``buffer[index] = value`` where ``condition`` (a no-op write otherwise)."""
    index = jnp.minimum(index, buffer.shape[0] - 1)
    return buffer.at[index].set(jnp.where(condition, value, buffer[index]))


def integrate(cfg, f, args, y0, t0, t1, ts, h0, rtol, atol, record=None):
    """Run the adaptive (or traced-length fixed-step) loop.

    Save points are filled from the dense output of the accepted step that contains
    them; the dense coefficients are only formed in steps that contain a save point.

    Args:
        cfg: static :class:`LoopConfig`.
        f: ``f(t, y, args)``.
        args: differentiable arguments of ``f``.
        y0: ``(n,)`` initial state; ``t0 < t1`` scalars.
        ts: ``(T,)`` increasing save times, or ``None`` to return the state at ``t1``.
        h0: first step (``None``: automatic).
        rtol, atol: tolerances.
        record: ``None``, ``"checkpoint"`` (snapshots every ``K`` accepted steps) or
            ``"direct"`` (every accepted step).

    Returns:
        ``(ys, final_state, num_saved, records)``; ``ys`` has shape ``(T, n)``
        (``(1, n)`` for ``ts=None``).
    """
    tableau = cfg.method.tableau
    state = _initial_state(cfg, f, args, y0, t0, t1, h0, rtol, atol)
    if ts is None:
        ys = jnp.zeros((0, y0.shape[0]), y0.dtype)
        save_index = jnp.zeros((), jnp.int32)
        num_saves = 0
    else:
        num_saves = ts.shape[0]
        at_start = ts <= t0
        ys = jnp.where(at_start[:, None], y0[None, :], jnp.nan).astype(y0.dtype)
        save_index = jnp.sum(at_start).astype(jnp.int32)
        if record is not None:
            # Where each save point lies in its step, and the slope there (zero for
            # those at t0, which no step writes): the reverse sweep's inputs.
            ys = (ys, jnp.zeros((num_saves,), y0.dtype), jnp.zeros_like(ys))

    records = None
    head = cfg.head_length(y0) if record == "checkpoint" else cfg.max_steps
    if record == "checkpoint":
        # The first `head` accepted steps are recorded outright; the thinned snapshots
        # start from the state after them (from the start if there is no head).
        tail = _Thinning.start(cfg.checkpoints, _snapshot(state), filled=head == 0)
        records = (_step_buffers(head, y0), tail)
    elif record == "direct":
        records = _step_buffers(cfg.max_steps, y0)

    def body(carry):
        state, ys, save_index, records = carry
        new_state, accept, h, ks, y1 = _attempt(cfg.method, f, args, state, t1, rtol, atol)
        exhausted = (new_state.num_steps >= cfg.max_steps) & (new_state.t < t1)
        new_state = new_state._replace(
            status=jnp.where(
                exhausted & (new_state.status == SUCCESS), MAX_STEPS_REACHED, new_state.status
            )
        )
        if num_saves:
            step = (state.t, h, state.y, y1, ks)
            save_index, ys = lax.cond(
                accept & _save_pending(ts, save_index, new_state.t),
                functools.partial(_write_saves, tableau, f, args, ts, new_state.t, step),
                lambda operand: operand,
                (save_index, ys),
            )
        if record is not None:
            steps = records[0] if record == "checkpoint" else records
            if head:
                steps = tuple(
                    _store(buffer, state.num_accepted, value, accept & (state.num_accepted < head))
                    for buffer, value in zip(steps, (state.t, h, state.y))
                )
            if record == "checkpoint":
                # Steps after the head count from 0 for the thinned snapshots.
                tail = records[1].add(new_state.num_accepted - head, _snapshot(new_state), accept)
                records = (steps, tail)
            else:
                records = steps
        return new_state, ys, save_index, records

    state, ys, save_index, records = lax.while_loop(
        lambda carry: _not_done(carry[0], t1), body, (state, ys, save_index, records)
    )
    if ts is None:
        # A failed solve did not reach t1: do not return a plausible-looking state.
        ys = jnp.where(state.status == SUCCESS, state.y, jnp.nan)[None]
    elif record is not None:
        ys, thetas, slopes = ys
        records = (records, (thetas, slopes))
    return ys, state, save_index, records


def _save_pending(ts, save_index, t_now):
    num_saves = ts.shape[0]
    return (save_index < num_saves) & (ts[jnp.minimum(save_index, num_saves - 1)] <= t_now)


def _write_saves(tableau, f, args, ts, t_now, step, operand):
    """Write every save point inside the accepted step from its dense output.

    ``operand = (save_index, ys)``, or ``(save_index, (ys, thetas, slopes))`` for a
    recording forward pass: then also the save point's position ``theta`` in its step
    and the slope ``dy/dt`` of the dense output there, for the reverse sweep.
    """
    t, h, y, y1, ks = step
    fp = functools.partial(_bind, f, args)
    coefficients = dense_coefficients(tableau, fp, t, y, y1, h, ks)

    def write(carry):
        index, outputs = carry
        theta = (ts[index] - t) / h
        value = dense_evaluate(tableau, y, coefficients, theta)
        if not isinstance(outputs, tuple):
            return index + 1, outputs.at[index].set(value)
        ys, thetas, slopes = outputs
        basis_dot = jax.jvp(lambda th: dense_basis(tableau, th), (theta,), (jnp.ones_like(theta),))[
            1
        ]
        slope = jnp.sum(basis_dot[:, None] * coefficients, axis=0) / h
        return index + 1, (
            ys.at[index].set(value),
            thetas.at[index].set(theta),
            slopes.at[index].set(slope),
        )

    return lax.while_loop(lambda carry: _save_pending(ts, carry[0], t_now), write, operand)


def _step_buffers(length, y0):
    """Buffers for ``(t, h, y)`` of ``length`` accepted steps."""
    dtype = y0.dtype
    return (
        jnp.zeros((length,), dtype),
        jnp.zeros((length,), dtype),
        jnp.zeros((length, y0.shape[0]), dtype),
    )


def _snapshot(state):
    return (state.t, state.y, state.f0, state.h, state.inverse_ratio1, state.inverse_ratio2)


def _snapshot_slots(capacity, snapshot):
    """``capacity`` slots for snapshots, the first holding ``snapshot``."""
    return jax.tree.map(lambda x: jnp.zeros((capacity,) + x.shape, x.dtype).at[0].set(x), snapshot)


class _Thinning(NamedTuple):
    """Online snapshots of a loop of unknown length in ``C`` slots.

    ``steps[i]`` is the accepted-step number of the snapshot in slot ``i`` (``-1``:
    free). Snapshots are taken at the multiples of ``stride``; when every slot is full
    and on the stride, the stride doubles and the snapshots that fall off it are
    overwritten, oldest first, so the slots always cover the whole run with gaps of at
    most ``stride`` steps. Steps that are rejected, off the stride or negative (still in
    the head) leave the slots alone, behind one ``lax.cond``; a step that is not does a
    few integer operations on the ``C`` slots.
    """

    snapshots: Any
    steps: jax.Array
    stride: jax.Array

    @classmethod
    def start(cls, capacity, snapshot, filled=True):
        """``C`` slots, the first holding ``snapshot`` as step 0 if ``filled`` (else
        empty: the first :meth:`add` of step 0 fills it)."""
        steps = jnp.full((capacity,), -1, jnp.int32).at[0].set(0 if filled else -1)
        return cls(_snapshot_slots(capacity, snapshot), steps, jnp.ones((), jnp.int32))

    def add(self, step, snapshot, accept):
        """Offer ``snapshot`` as accepted step number ``step``."""
        on_stride = accept & (step >= 0) & (step % self.stride == 0)
        return lax.cond(on_stride, lambda: self._take(step, snapshot), lambda: self)

    def _take(self, step, snapshot):
        # `step` is on the stride. When every slot is full and on it, double it first.
        used = self.steps >= 0
        full = jnp.all(used)
        double = full & ~jnp.any(used & (self.steps % self.stride != 0))
        stride = jnp.where(double, 2 * self.stride, self.stride)
        store = step % stride == 0
        stale = used & (self.steps % stride != 0)
        big = jnp.iinfo(jnp.int32).max
        oldest_stale = jnp.argmin(jnp.where(stale, self.steps, big))
        slot = jnp.where(full, oldest_stale, jnp.argmin(used)).astype(jnp.int32)
        snapshots = jax.tree.map(
            lambda buffer, value: _store(buffer, slot, value, store), self.snapshots, snapshot
        )
        steps = _store(self.steps, slot, step.astype(jnp.int32), store)
        return _Thinning(snapshots, steps, stride)

    def segments(self, num_accepted):
        """``(order, starts, counts, num_used)``: the slots in time order, the step
        each starts at and the number of steps up to the next snapshot (or the end)."""
        capacity = self.steps.shape[0]
        big = jnp.iinfo(jnp.int32).max
        order = jnp.argsort(jnp.where(self.steps >= 0, self.steps, big))
        starts = self.steps[order]
        num_used = jnp.sum(self.steps >= 0).astype(jnp.int32)
        following = jnp.concatenate([starts[1:], starts[:1]])
        last = jnp.arange(capacity) >= num_used - 1
        ends = jnp.where(last, num_accepted, following)
        return order, starts, ends - starts, num_used


# --------------------------------------------------------------------------------------
# Reverse mode: the discrete adjoint of the accepted steps.


def _step_map(cfg, f, t, h, y, args, with_dense):
    """One accepted step as a function of ``(y, args)``: returns ``(y1, C)``."""
    tableau = cfg.method.tableau
    fp = functools.partial(_bind, f, args)
    y1, ks = rk_stages(tableau, fp, t, y, h, fp(t, y))
    if not with_dense:
        return y1, None
    return y1, dense_coefficients(tableau, fp, t, y, y1, h, ks)


def _reverse_sweep(cfg, f, args, ts, saves_bar, records, count, carry):
    """Propagate cotangents backwards through ``count`` recorded steps.

    ``carry = (y_bar, args_bar, ts_bar, save_pointer)``; ``save_pointer`` is the
    index of the last save point not yet processed. ``saves_bar = (ys_bar,
    coefficients_bar)``: the cotangent of each save point and its share of the
    cotangent of its step's dense coefficients (see :func:`_save_cotangents`).
    """
    record_t, record_h, record_y = records
    ys_bar, weights = saves_bar

    def cond(loop):
        return loop[0] >= 0

    def body(loop):
        index, (y_bar, args_bar, ts_bar, pointer) = loop
        t, h, y = record_t[index], record_h[index], record_y[index]
        (y1, coefficients), vjp = jax.vjp(
            lambda y_, a_: _step_map(cfg, f, t, h, y_, a_, True), y, args
        )

        def save_pending(inner):
            pointer = inner[0]
            return (pointer >= 0) & (ts[jnp.maximum(pointer, 0)] > t)

        def save_body(inner):
            pointer, coefficient_bar, direct_bar = inner
            return (
                pointer - 1,
                coefficient_bar + weights[pointer],
                direct_bar + ys_bar[pointer],
            )

        pointer, coefficient_bar, direct_bar = lax.while_loop(
            save_pending,
            save_body,
            (pointer, jnp.zeros_like(coefficients), jnp.zeros_like(y)),
        )
        y_bar_step, args_bar_step = vjp((y_bar, coefficient_bar))
        args_bar = jax.tree.map(jnp.add, args_bar, args_bar_step)
        return index - 1, (y_bar_step + direct_bar, args_bar, ts_bar, pointer)

    return lax.while_loop(cond, body, (count - 1, carry))[1]


def _save_cotangents(tableau, ys_bar, thetas, slopes):
    """The per-save-point inputs of the reverse sweep, for all save points at once.

    A save point ``y(t + theta h) = y + sum_j phi_j(theta) c_j`` passes
    ``phi(theta) ys_bar`` to its step's dense coefficients ``c`` and ``ys_bar`` to the
    step's start ``y``; its time gets ``ys_bar . dy/dt``. Returns
    ``((ys_bar, coefficients_bar), ts_bar)``.
    """
    basis = jax.vmap(lambda theta: dense_basis(tableau, theta))(thetas)
    weights = basis[:, :, None] * ys_bar[:, None, :]
    return (ys_bar, weights), jnp.sum(ys_bar * slopes, axis=1)


def _replay(cfg, f, args, snapshot, t1, rtol, atol, count, stride=None):
    """Re-run ``count`` accepted steps from ``snapshot``.

    ``stride=None``: record every accepted step's ``(t, h, y)`` (``count <= C``), for
    :func:`_reverse_sweep`. Otherwise: snapshot every ``stride``-th accepted step (and
    the start) into ``C`` slots, for the next level down.
    """
    t, y, f0, h, inverse1, inverse2 = snapshot
    zero = jnp.zeros((), jnp.int32)
    state = LoopState(t, y, f0, h, inverse1, inverse2, zero, zero, zero, zero, zero)
    capacity = cfg.checkpoints
    if stride is None:
        records = _step_buffers(capacity, y)
    else:
        records = _snapshot_slots(capacity, snapshot)

    def cond(carry):
        state, _ = carry
        return _not_done(state, t1) & (state.num_accepted < count)

    def body(carry):
        state, records = carry
        new_state, accept, h, _, _ = _attempt(cfg.method, f, args, state, t1, rtol, atol)
        if stride is None:
            records = tuple(
                _store(buffer, state.num_accepted, value, accept)
                for buffer, value in zip(records, (state.t, h, state.y))
            )
        else:
            # The end of the segment (step ``count``) starts no piece: not stored.
            index = new_state.num_accepted // stride
            store = accept & (new_state.num_accepted % stride == 0) & (index < capacity)
            records = jax.tree.map(
                lambda buffer, value: _store(buffer, index, value, store),
                records,
                _snapshot(new_state),
            )
        return new_state, records

    return lax.while_loop(cond, body, (state, records))[1]


def _reverse_segment(
    cfg, f, args, t1, rtol, atol, sweep_ts, sweep_bar, level, snapshot, count, carry
):
    """Propagate cotangents backwards through the ``count`` accepted steps that
    follow ``snapshot``, with ``level`` snapshot levels left to split them.

    At level 0 (``count <= C``): replay the steps, recording them, and sweep them
    backwards. Above: a segment of more than ``C`` steps is replayed once to lay ``C``
    snapshots ``ceil(count / C)`` steps apart, and each piece is taken in reverse one
    level down; a segment of at most ``C`` steps is one piece, passed down without a
    replay. (No ``lax.cond``: under ``vmap`` it would run both branches.)
    """
    if level == 0:
        steps = _replay(cfg, f, args, snapshot, t1, rtol, atol, count)
        return _reverse_sweep(cfg, f, args, sweep_ts, sweep_bar, steps, count, carry)

    capacity = cfg.checkpoints
    short = count <= capacity
    stride = jnp.where(short, jnp.maximum(count, 1), (count + capacity - 1) // capacity)
    replayed = jnp.where(short, 0, count)  # a short segment needs no snapshots
    snapshots = _replay(cfg, f, args, snapshot, t1, rtol, atol, replayed, stride)
    pieces = (count + stride - 1) // stride

    def body(loop):
        piece, carry = loop
        start = jax.tree.map(lambda buffer: buffer[piece], snapshots)
        length = jnp.minimum(stride, count - piece * stride)
        carry = _reverse_segment(
            cfg, f, args, t1, rtol, atol, sweep_ts, sweep_bar, level - 1, start, length, carry
        )
        return piece - 1, carry

    return lax.while_loop(lambda loop: loop[0] >= 0, body, (pieces - 1, carry))[1]


def make_adaptive_solver(cfg, f):
    """``run(args, y0, t0, t1, ts, h0, rtol, atol) -> (ys, stats, status)``.

    Differentiable in reverse mode (custom VJP per ``cfg.adjoint``); with
    ``cfg.adjoint == "forward"`` a plain while loop (forward mode only).
    """

    def primal(args, y0, t0, t1, ts, h0, rtol, atol):
        ys, state, _, _ = integrate(cfg, f, args, y0, t0, t1, ts, h0, rtol, atol)
        return ys, _stats(state), state.status

    if cfg.adjoint == "forward":
        return primal

    run = jax.custom_vjp(primal)

    def forward(args, y0, t0, t1, ts, h0, rtol, atol):
        ys, state, save_index, records = integrate(
            cfg, f, args, y0, t0, t1, ts, h0, rtol, atol, record=cfg.adjoint
        )
        residuals = (
            args,
            y0,
            t0,
            t1,
            ts,
            h0,
            rtol,
            atol,
            state.y,
            state.num_accepted,
            save_index,
            records,
        )
        return (ys, _stats(state), state.status), residuals

    def backward(residuals, cotangents):
        (args, y0, t0, t1, ts, h0, rtol, atol, y_final, num_accepted, save_index, records) = (
            residuals
        )
        ys_bar = cotangents[0]
        tableau = cfg.method.tableau
        if ts is None:
            # Only the final state was returned: its cotangent seeds the adjoint.
            sweep_ts = jnp.zeros((1,), y0.dtype)
            basis_size = dense_basis(tableau, jnp.zeros((), y0.dtype)).shape[0]
            sweep_bar = (jnp.zeros_like(ys_bar), jnp.zeros((1, basis_size) + y0.shape, y0.dtype))
            carry = (
                ys_bar[0],
                jax.tree.map(jnp.zeros_like, args),
                jnp.zeros((1,), y0.dtype),
                jnp.asarray(-1, jnp.int32),
            )
        else:
            records, (thetas, slopes) = records
            sweep_ts = ts
            sweep_bar, ts_bar = _save_cotangents(tableau, ys_bar, thetas, slopes)
            carry = (
                jnp.zeros_like(y0),
                jax.tree.map(jnp.zeros_like, args),
                ts_bar,
                save_index - 1,
            )
        if cfg.adjoint == "direct":
            carry = _reverse_sweep(cfg, f, args, sweep_ts, sweep_bar, records, num_accepted, carry)
        else:
            steps, tail = records
            head = steps[0].shape[0]
            # The tail first (the thinned snapshots after the head, last segment
            # first), then the recorded head, without replay.
            order, _, counts, num_used = tail.segments(num_accepted - head)

            def segment_body(loop):
                segment, carry = loop
                snapshot = jax.tree.map(lambda buffer: buffer[order[segment]], tail.snapshots)
                carry = _reverse_segment(
                    cfg,
                    f,
                    args,
                    t1,
                    rtol,
                    atol,
                    sweep_ts,
                    sweep_bar,
                    cfg.levels,
                    snapshot,
                    counts[segment],
                    carry,
                )
                return segment - 1, carry

            carry = lax.while_loop(lambda loop: loop[0] >= 0, segment_body, (num_used - 1, carry))[
                1
            ]
            if head:
                count = jnp.minimum(num_accepted, head)
                carry = _reverse_sweep(cfg, f, args, sweep_ts, sweep_bar, steps, count, carry)
        y_bar, args_bar, ts_bar, pointer = carry
        f0 = f(t0, y0, args)
        zero = jnp.zeros_like
        if ts is None:
            ts_out, t1_bar = None, jnp.vdot(ys_bar[0], f(t1, y_final, args))
            start_bar = zero(y0)
        else:
            # Save points at t0 return y0 itself.
            at_start = (jnp.arange(ts.shape[0]) <= pointer)[:, None]
            start_bar = jnp.sum(jnp.where(at_start, ys_bar, 0), axis=0)
            ts_out = ts_bar + jnp.where(at_start[:, 0], ys_bar @ f0, 0)
            t1_bar = zero(t1)
        # Every output moves with t0, the save points at t0 included.
        t0_bar = -jnp.vdot(y_bar + start_bar, f0)
        return (
            args_bar,
            y_bar + start_bar,
            t0_bar.astype(t0.dtype),
            t1_bar.astype(t1.dtype),
            ts_out,
            None if h0 is None else zero(h0),
            zero(rtol),
            zero(atol),
        )

    run.defvjp(forward, backward)
    return run


def _stats(state):
    return {
        "num_steps": state.num_steps,
        "num_accepted": state.num_accepted,
        "num_rejected": state.num_rejected,
        "num_fevals": state.num_fevals,
    }


# --------------------------------------------------------------------------------------
# Fixed steps on a static grid: lax.scan (natively differentiable in both modes).


def fixed_grid(t0: float, t1: float, dt: float):
    """Number of steps and the static grid for ``dt`` on ``[t0, t1]``; the last
    step is shortened to land on ``t1``."""
    ratio = (t1 - t0) / dt
    nearest = round(ratio)
    num = nearest if abs(ratio - nearest) <= 1e-9 * max(1.0, ratio) else math.ceil(ratio)
    return max(num, 1)


def integrate_fixed(method, f, args, y0, t0, t1, dt, num, ts):
    """``num`` fixed steps of size ``dt`` (last one clipped) by ``lax.scan``.

    Saves at ``ts`` by recomputing the step that contains each save time and
    evaluating its dense output. Returns ``(ys (T, n), stats, status)``.
    """
    tableau = method.tableau
    index = jnp.arange(num, dtype=y0.dtype)
    times = t0 + index * dt
    steps = jnp.minimum(dt, t1 - times)
    fp = functools.partial(_bind, f, args)

    def step(y, x):
        t, h = x
        y1, _ = rk_stages(tableau, fp, t, y, h, fp(t, y))
        return y1, y

    y_final, starts = lax.scan(step, y0, (times, steps))

    def save(t_save):
        k = jnp.clip(jnp.floor((t_save - t0) / dt), 0, num - 1).astype(jnp.int32)
        t, h, y = times[k], steps[k], starts[k]
        y1, ks = rk_stages(tableau, fp, t, y, h, fp(t, y))
        coefficients = dense_coefficients(tableau, fp, t, y, y1, h, ks)
        # An empty interval (t0 == t1) has a single step of size zero.
        theta = jnp.where(h > 0, (t_save - t) / jnp.where(h > 0, h, 1), 0)
        return dense_evaluate(tableau, y, coefficients, theta)

    ys = jax.vmap(save)(ts)
    finite = jnp.all(jnp.isfinite(y_final))
    num_fevals = num * tableau.num_stages
    stats = {
        "num_steps": jnp.asarray(num, jnp.int32),
        "num_accepted": jnp.asarray(num, jnp.int32),
        "num_rejected": jnp.asarray(0, jnp.int32),
        "num_fevals": jnp.asarray(num_fevals, jnp.int32),
    }
    return ys, stats, jnp.where(finite, SUCCESS, NONFINITE).astype(jnp.int32)
