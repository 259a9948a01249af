"""Adjoint strategies: how reverse mode differentiates through the loop.

Each strategy is one object with the two halves of a custom VJP, ``forward`` (run
the loop, keep residuals) and ``backward`` (turn output cotangents into input
cotangents); :func:`make_solver` is the one custom-VJP skeleton they plug into.

* :class:`DiscreteAdjoint` (``"direct"`` and ``"checkpoint"``): the exact adjoint of
  the computed solution ("discretise-then-optimise"), step sizes held fixed. Its
  backward pass replays accepted steps through ``method.step`` and differentiates
  each one with ``jax.vjp``; a method with a nonlinear solve inside its step only
  needs that solve to be differentiable (e.g. by the implicit function theorem).

  ``"direct"`` records every accepted step (memory ``O(max_steps)``, no replay).
  ``"checkpoint"`` records the first ``H`` accepted steps outright (``H`` at most
  1024 and ``LoopConfig.head_bytes``), then keeps ``C`` snapshots of the loop state,
  thinned online: it snapshots every ``s``-th accepted step (``s = 1`` at first) and
  when all ``C`` slots are full doubles ``s``, overwriting the snapshots that fall
  off the stride, oldest first. The backward pass takes the segments between
  snapshots in reverse order, in blocks of ``C`` steps: a block is replayed once,
  recording each step, and swept backwards; a segment of several blocks is reversed
  from a stack of ``S`` snapshots placed by the binomial rule (:func:`_reverse_segment`),
  each block replayed at most ``r`` more times, ``binom(S + r, S) >= blocks``. Memory
  is ``2 C + S`` snapshots (Griewank & Walther, *Evaluating Derivatives*, 2nd ed.,
  SIAM 2008, ch. 12).

* :class:`Backsolve` (``"backsolve"``): the continuous adjoint, O(1) memory in the
  number of steps. The backward pass integrates

      y' = f(t, y, p),    a' = -a^T df/dy,    g' = -a^T df/dp

  backwards from save point to save point, restarting ``y`` from the saved value at
  each, with the forward solve's method and tolerances. Its gradient is accurate to
  about the tolerance and unreliable for chaotic or stiff problems; a backward solve
  that fails makes every cotangent NaN. (Pontryagin et al. 1962; Chen et al.,
  "Neural Ordinary Differential Equations", NeurIPS 2018.)

Outputs reach the backward pass as cotangents of: the save points (their position
``theta`` in their step and the interpolant's slope there are recorded by the
forward pass), the final state, the event times and states (differentiated through
the event's root by the implicit function theorem), the states of every accepted step
(``save_steps``) and the dense output's coefficients (``dense=True``).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, NamedTuple

import equinox as eqx
import equinox.internal as eqxi
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.flatten_util import ravel_pytree

from . import _events
from ._loop import (
    LoopState,
    Recorder,
    advance,
    dense_shape,
    init_method,
    integrate,
    running,
    start_time,
    stats,
    store,
    tree_where,
)
from ._solution import STATUS_MESSAGES, SUCCESS


def public_outputs(out):
    """The loop's outputs that leave the solver (the rest are adjoint residuals)."""
    public = {"ys": out["ys"], "t_final": out["t_final"], "stiffness": out["stiffness"]}
    if "events" in out:
        events = out["events"]
        public["events"] = (events["ts"], events["ys"], events["count"])
    if "steps" in out:
        public["steps"] = out["steps"]
    if "dense" in out:
        public["dense"] = out["dense"]
    return public


def make_solver(cfg, f, conditions):
    """``run(args, y0, t0, t1, ts, options) -> (outputs, stats, status)``.

    Differentiable in reverse mode through the strategy ``cfg.adjoint``; with
    ``"forward"`` a plain loop (forward mode, ``jax.jvp``, only).
    """

    def primal(args, y0, t0, t1, ts, options):
        out, state, _ = integrate(cfg, f, conditions, args, y0, t0, t1, ts, options)
        return public_outputs(out), stats(state, cfg.method), state.status

    if cfg.adjoint == "forward":
        return primal
    strategy = STRATEGIES[cfg.adjoint]
    run = jax.custom_vjp(primal)

    def forward(*inputs):
        outputs, residuals = strategy.forward(cfg, f, conditions, *inputs)
        return outputs, (residuals, outputs[2])

    def backward(residuals, cotangents):
        residuals, status = residuals
        cotangents = strategy.backward(cfg, f, conditions, residuals, cotangents)
        return _guard(cotangents, status, cfg.throw)

    run.defvjp(forward, backward)
    return run


def _guard(cotangents, status, throw):
    """A failed solve has no gradient: raise (``throw=True``; also when only the
    gradient of a jitted loss is used, where the forward pass's check may be pruned)
    or return NaN cotangents, never plausible numbers."""
    failed = status != SUCCESS
    leaves, treedef = jax.tree.flatten(cotangents)
    inexact = [
        i for i, leaf in enumerate(leaves) if jnp.issubdtype(jnp.result_type(leaf), jnp.inexact)
    ]
    if throw and inexact:
        messages = tuple(
            "solvers.solve failed, so its gradient does not exist: " + STATUS_MESSAGES[code]
            for code in sorted(STATUS_MESSAGES)
        )
        first = inexact[0]
        leaves[first] = eqx.branched_error_if(leaves[first], failed, status, messages)
    else:
        for i in inexact:
            leaves[i] = jnp.where(failed, jnp.nan, leaves[i]).astype(leaves[i].dtype)
    return jax.tree.unflatten(treedef, leaves)


def _zero_inputs_bar(options):
    return jax.tree.map(jnp.zeros_like, options)


def _real_dot(a, b):
    """``sum(a * b)``, real part: the cotangent of a real time from a state cotangent."""
    return jnp.real(jnp.sum(a * b))


# ------------------------------------------------------------------------ replay


def stateful(method) -> bool:
    """Whether a step depends on more than ``(t, y)``: a multistep method's history,
    which the adjoint then records and differentiates along with ``y``."""
    return bool(getattr(method, "replay_state", False))


def history(method, method_state):
    """The part of the method's state the adjoint records (``()`` for one-step
    methods): ``method.history(state)``, a pytree of arrays."""
    return method.history(method_state) if stateful(method) else ()


def _split(tree):
    """``(floating leaves, rebuild)``: only floating leaves carry cotangents."""
    leaves, treedef = jax.tree.flatten(tree)
    floating = [jnp.issubdtype(leaf.dtype, jnp.inexact) for leaf in leaves]

    def rebuild(values):
        values = iter(values)
        return treedef.unflatten(
            [next(values) if is_float else leaf for leaf, is_float in zip(leaves, floating)]
        )

    return [leaf for leaf, is_float in zip(leaves, floating) if is_float], rebuild


def _floating(tree):
    return _split(tree)[0]


def step_map(cfg, f, options, t, h, y, args, with_dense, past=()):
    """One accepted step as a function of ``(y, args)`` (and, for a stateful method,
    its recorded history ``past``): ``(y1, coefficients, floating leaves of the new
    history)``."""
    method = cfg.method
    f0 = f(start_time(t, options), y, args)
    if stateful(method):
        method_state = method.resume(f, t, y, args, f0, past, (options.rtol, options.atol))
    else:
        method_state = init_method(method, f, t, y, args, f0, options)
    step = method.step(f, t, y, h, args, method_state)
    new_past = _floating(history(method, step.state))
    if not with_dense:
        return step.y, None, new_past
    return step.y, method.dense(f, t, h, y, step.y, step.dense_info, args), new_past


def _snapshot(state, lean):
    """What a replay starts from; a lean snapshot leaves out the method's state."""
    return (state.t, state.y, None if lean else state.method_state, state.controller_state)


def _snapshot_slots(capacity, snapshot):
    """``capacity`` slots for snapshots, the first holding ``snapshot``."""
    return jax.tree.map(lambda x: jnp.zeros((capacity,) + x.shape, x.dtype).at[0].set(x), snapshot)


def _step_buffers(length, y0, time_dtype, past=()):
    """Buffers for ``(t, h, y, history)`` of ``length`` accepted steps."""
    return (
        jnp.zeros((length,), time_dtype),
        jnp.zeros((length,), time_dtype),
        jnp.zeros((length,) + y0.shape, y0.dtype),
        jax.tree.map(lambda x: jnp.zeros((length,) + x.shape, x.dtype), past),
    )


def _record(buffers, index, attempt, method_state, method, condition):
    """Store an accepted step's ``(t, h, y, history)`` in slot ``index``."""
    t_buffer, h_buffer, y_buffer, past_buffer = buffers
    return (
        store(t_buffer, index, attempt.t, condition),
        store(h_buffer, index, attempt.h, condition),
        store(y_buffer, index, attempt.y, condition),
        jax.tree.map(
            lambda buffer, value: store(buffer, index, value, condition),
            past_buffer,
            history(method, method_state),
        ),
    )


class Thinning(NamedTuple):
    """Online snapshots of a loop of unknown length in ``C`` slots.

    ``steps[i]`` is the accepted-step number of the snapshot in slot ``i`` (``-1``:
    free). Snapshots are taken at the multiples of ``stride``; when every slot is full
    and on the stride, the stride doubles and the snapshots that fall off it are
    overwritten, oldest first, so the slots always cover the whole run with gaps of at
    most ``stride`` steps. Steps that are rejected, off the stride or negative (still in
    the head) leave the slots alone.
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
        return lax.cond(
            eqxi.unvmap_any(on_stride), lambda: self._take(step, snapshot, on_stride), lambda: self
        )

    def _take(self, step, snapshot, on_stride):
        # `step` is on the stride. When every slot is full and on it, double it first.
        used = self.steps >= 0
        full = jnp.all(used)
        double = on_stride & full & ~jnp.any(used & (self.steps % self.stride != 0))
        stride = jnp.where(double, 2 * self.stride, self.stride)
        take = on_stride & (step % stride == 0)
        stale = used & (self.steps % stride != 0)
        big = jnp.iinfo(jnp.int32).max
        oldest_stale = jnp.argmin(jnp.where(stale, self.steps, big))
        slot = jnp.where(full, oldest_stale, jnp.argmin(used)).astype(jnp.int32)
        snapshots = jax.tree.map(
            lambda buffer, value: store(buffer, slot, value, take), self.snapshots, snapshot
        )
        steps = store(self.steps, slot, step.astype(jnp.int32), take)
        return Thinning(snapshots, steps, stride)

    def segments(self, num_accepted):
        """``(order, starts, counts, num_used)``: the slots in time order, the step
        each starts at and the number of steps up to the next snapshot (or the end)."""
        capacity = self.steps.shape[0]
        big = jnp.iinfo(jnp.int32).max
        order = jnp.argsort(jnp.where(self.steps >= 0, self.steps, big))
        starts = self.steps[order]
        num_used = jnp.sum(self.steps >= 0).astype(jnp.int32)
        following = jnp.concatenate([starts[1:], starts[:1]])
        last = jnp.arange(capacity, dtype=jnp.int32) >= num_used - 1
        ends = jnp.where(last, num_accepted, following)
        return order, starts, ends - starts, num_used


def max_stride(capacity, max_steps):
    """The largest stride the forward pass's snapshots can reach: it doubles from
    ``s`` when the ``C * s``-th step is accepted, and at most ``max_steps`` are."""
    stride = 1
    while capacity * stride <= max_steps:
        stride *= 2
    return stride


def reversible_blocks(free, passes):
    """``N(s, r) = binom(s + r + 1, s + 1)``: the most blocks that can be reversed from
    a snapshot with ``s`` free stack slots when each block is replayed at most ``r``
    times on the way to a later one (besides its own replay before its sweep).

    ``N(s, 0) = 1`` (only the block at the snapshot), ``N(0, r) = r + 1`` (no slot:
    replay from the snapshot to each block in turn) and ``N(s, r) = N(s, r - 1) +
    N(s - 1, r)``: advance ``m <= N(s, r - 1)`` blocks and push a snapshot there, so the
    ``N(s - 1, r)`` blocks after it are reversed with one slot fewer, and then the
    ``m`` blocks before it, already replayed once, from the first snapshot (Griewank,
    "Achieving logarithmic growth of temporal and spatial complexity in reverse
    automatic differentiation", Optim. Methods Softw. 1, 1992).
    """
    return math.comb(free + passes + 1, free + 1)


def stack_slots(capacity, max_steps):
    """Snapshot slots of the backward pass's stack for segments of up to
    ``max_stride(C, max_steps)`` steps in blocks of ``C``: one when a segment is a
    single block, else enough for one replay per block (``N(S - 1, 1) >= blocks``), at
    most ``max(C // 2, 12)`` (more replays for longer segments)."""
    blocks = -(-max_stride(capacity, max_steps) // capacity)
    return 1 if blocks <= 1 else min(blocks - 1, max(capacity // 2, 12))


def _passes_table(slots):
    """``N(s, r)`` for ``s < slots`` and ``r <= _MAX_PASSES`` (capped to int32)."""
    cap = np.iinfo(np.int32).max
    return np.array(
        [
            [min(reversible_blocks(free, passes), cap) for passes in range(_MAX_PASSES + 1)]
            for free in range(slots)
        ],
        np.int32,
    )


# The most passes looked up. A segment that would need more (with 12 slots: over
# 10^13 blocks) is still reversed correctly, with more replays than the fewest.
_MAX_PASSES = 64


def _move(table, n, free):
    """``(m, push)``: the blocks to advance from the top snapshot, with ``n`` blocks to
    reverse and ``free`` free slots (``table`` from :func:`_passes_table`), and whether
    to push a snapshot there. ``n = 1``: none (reverse the block at the top); no free
    slot: to the last block, no push; else ``max(1, n - N(s - 1, r))`` blocks for the
    fewest passes ``r`` with ``N(s, r) >= n``, and push."""
    row = table[jnp.maximum(free, 1) - 1]  # N(s - 1, .)
    passes = jnp.minimum(jnp.sum(table[free] < n), _MAX_PASSES)
    ahead = jnp.where(free > 0, jnp.maximum(1, n - row[passes]), n - 1)
    return jnp.where(n > 1, ahead, 0), (n > 1) & (free > 0)


def _replay(cfg, f, args, snapshot, t1, options, count, capacity, skip):
    """Re-run ``count`` accepted steps from ``snapshot`` (the replay is deterministic:
    it retakes the forward pass's accepted and rejected steps), recording the
    ``(t, h, y, history)`` of accepted steps ``skip, skip + 1, ...`` in ``capacity``
    slots (``count - skip <= capacity``; none when ``skip >= count``).

    Returns ``(records, snapshot after the steps)``.
    """
    t, y, method_state, controller_state = snapshot
    lean = method_state is None
    if lean:
        method_state = init_method(
            cfg.method, f, t, y, args, f(start_time(t, options), y, args), options
        )
    zero = jnp.zeros((), jnp.int32)
    state = LoopState(
        t, y, method_state, controller_state, zero, zero, zero, zero, zero, jnp.zeros((), bool)
    )
    records = _step_buffers(capacity, y, t.dtype, history(cfg.method, method_state))

    def still(state):
        return running(state, t1) & (state.num_accepted < count)

    def body(carry):
        state, records = carry
        active = still(state)
        attempt = advance(cfg, f, args, state, t1, options)
        index = state.num_accepted - skip
        records = _record(
            records,
            jnp.maximum(index, 0),
            attempt,
            state.method_state,
            cfg.method,
            attempt.accept & active & (index >= 0),
        )
        return tree_where(active, attempt.state, state), records

    state, records = lax.while_loop(
        lambda carry: eqxi.unvmap_any(still(carry[0])), body, (state, records)
    )
    return records, _snapshot(state, lean)


class _Sweep(NamedTuple):
    """What the reverse sweep injects into the adjoint at each step.

    ``ts``, ``save_y_bar``, ``save_c_bar``: the save points (sorted), the cotangents
    they pass to their step's start and dense coefficients. ``by_index(g)``: the
    direct cotangents of the state at the start of accepted step ``g`` (events,
    saved steps, dense output) and of step ``g``'s dense coefficients.
    """

    ts: Any
    save_y_bar: Any
    save_c_bar: Any
    by_index: Any
    with_dense: bool


def _reverse_sweep(cfg, f, args, t1, options, sweep, records, count, base, carry, offset=0):
    """Propagate cotangents backwards through ``count`` recorded steps (rows
    ``offset, offset + 1, ...`` of ``records``), the first of them accepted step number
    ``base``.

    ``carry = (y_bar, args_bar, ts_bar, save_pointer, history_bar)``: the cotangent of
    the state at the end of the last step, of ``args``, of the save times, the index of
    the last save point not yet processed, and the cotangent of a stateful method's
    history after the last step (floating leaves; ``[]`` for one-step methods).
    """
    record_t, record_h, record_y, record_past = records

    def body(loop):
        index, (y_bar, args_bar, ts_bar, pointer, past_bar) = loop
        row = index + offset
        t, h, y = record_t[row], record_h[row], record_y[row]
        past_floats, rebuild = _split(jax.tree.map(lambda buffer: buffer[row], record_past))
        (_, coefficients, _), vjp = jax.vjp(
            lambda y_, a_, p_: step_map(
                cfg, f, options, t, h, y_, a_, sweep.with_dense, rebuild(p_)
            ),
            y,
            args,
            past_floats,
        )
        direct_bar = jnp.zeros_like(y)
        coefficient_bar = (
            None if coefficients is None else jax.tree.map(jnp.zeros_like, coefficients)
        )
        if sweep.ts is not None:

            def save_pending(inner):
                pointer = inner[0]
                return (pointer >= 0) & (sweep.ts[jnp.maximum(pointer, 0)] > t)

            def save_body(inner):
                pointer, c_bar, d_bar = inner
                return (
                    pointer - 1,
                    jax.tree.map(lambda a, b: a + b[pointer], c_bar, sweep.save_c_bar),
                    d_bar + sweep.save_y_bar[pointer],
                )

            pointer, coefficient_bar, direct_bar = lax.while_loop(
                save_pending, save_body, (pointer, coefficient_bar, direct_bar)
            )
        if sweep.by_index is not None:
            extra_direct, extra_c = sweep.by_index(base + index)
            direct_bar = direct_bar + extra_direct
            if extra_c is not None:
                coefficient_bar = jax.tree.map(jnp.add, coefficient_bar, extra_c)
        y_bar_step, args_bar_step, past_bar = vjp((y_bar, coefficient_bar, past_bar))
        args_bar = jax.tree.map(jnp.add, args_bar, args_bar_step)
        return index - 1, (y_bar_step + direct_bar, args_bar, ts_bar, pointer, past_bar)

    return lax.while_loop(lambda loop: loop[0] >= 0, body, (count - 1, carry))[1]


def _reverse_segment(
    cfg, f, args, t1, options, sweep, block, slots, snapshot, count, base, carry, head=None
):
    """Propagate cotangents backwards through the ``count`` accepted steps that
    follow ``snapshot`` (the first is step ``base``), in blocks of ``block`` steps,
    with a stack of ``slots`` snapshots (binomial checkpointing).

    Each pass of the loop looks at the snapshot on top of the stack, at step ``i``,
    and the ``n`` blocks from it to ``end`` (the steps after ``end`` are done):

    * ``n = 1``: replay the block recording its steps, sweep it backwards, ``end = i``
      and pop the snapshot;
    * ``n > 1`` and ``s`` free slots: with ``r`` the fewest passes that reach
      (``N(s, r) >= n``, :func:`reversible_blocks`), advance ``m = max(1, n - N(s - 1,
      r))`` blocks and push the snapshot there; with no free slot, advance to the last
      block and reverse it as above, keeping the snapshot.

    Every step is replayed at most ``r + 1`` times for the top segment's ``r``. One
    loop with no ``lax.cond``: the replay is a loop whose trip count is zero when it
    does not apply (under ``vmap``, a ``cond`` runs both branches).

    ``head = (records, on)``: where ``on``, the steps are the recorded head's (rows
    ``0 .. count - 1`` of ``records``, at least ``block`` rows), swept block by block,
    last first, without replay. The head goes through this same loop so that the
    compiled backward pass holds one differentiated step, not two.
    """
    table = jnp.asarray(_passes_table(slots))
    stack = _snapshot_slots(slots, snapshot)
    offsets = jnp.zeros((slots,), jnp.int32)
    on_head = False if head is None else head[1]

    def body(loop):
        stack, offsets, depth, end, carry = loop
        top = depth - 1
        start = jax.tree.map(lambda buffer: buffer[top], stack)
        i = offsets[top]
        # A finished member of a batch (end = 0) sees n <= 0 and keeps its state.
        n = (end - i + block - 1) // block
        ahead, push = _move(table, n, jnp.where(on_head, 0, slots - depth))
        steps = ahead * block
        j = i + steps
        # Not pushed: reverse the block from `j` to `end`. One replay from the top
        # advances to `j` and records the block after it (if it is reversed).
        reverse = (n > 0) & ~push
        length = jnp.where(reverse, end - j, 0)
        replayed = jnp.where(on_head, 0, steps + length)
        records, moved = _replay(cfg, f, args, start, t1, options, replayed, block, steps)
        offset = 0
        if head is not None:
            # The head's rows j .. end - 1, in a window of `block` rows.
            rows = head[0][0].shape[0]
            first = jnp.minimum(j, rows - block)
            window = jax.tree.map(
                lambda buffer: lax.dynamic_slice_in_dim(buffer, first, block), head[0]
            )
            records = tree_where(on_head, window, records)
            offset = jnp.where(on_head, j - first, 0)
        stack = jax.tree.map(lambda buffer, value: store(buffer, depth, value, push), stack, moved)
        offsets = store(offsets, depth, j, push)
        carry = _reverse_sweep(
            cfg, f, args, t1, options, sweep, records, length, base + j, carry, offset
        )
        end = jnp.where(reverse, j, end)
        depth = depth + push.astype(jnp.int32) - (reverse & (j == i)).astype(jnp.int32)
        return stack, offsets, depth, end, carry

    start = (stack, offsets, jnp.ones((), jnp.int32), jnp.asarray(count, jnp.int32), carry)
    return lax.while_loop(lambda loop: eqxi.unvmap_any(loop[3] > 0), body, start)[4]


# ------------------------------------------------------------ discrete adjoint


def _event_map(cfg, f, condition, options, t, h, y, args):
    """An event's ``(time, state)`` as a function of its step's start and ``args``."""
    method = cfg.method

    def of(y, args):
        _, coefficients, _ = step_map(cfg, f, options, t, h, y, args, True)

        def G(theta, operands):
            t_, h_, y_, c_, a_ = operands
            return condition(t_ + theta * h_, method.interpolate(y_, c_, theta), a_)

        theta = _events.find_root(G, (t, h, y, coefficients, args))
        return t + theta * h, method.interpolate(y, coefficients, theta)

    return of


def _event_cotangents(cfg, f, conditions, options, args, events, ts_bar, ys_bar):
    """Cotangents of each recorded crossing's step start ``(E, K, n)`` and of ``args``."""
    capacity = events["ts"].shape[1]
    y_bars, args_bar = [], jax.tree.map(jnp.zeros_like, args)
    for index, condition in enumerate(conditions):
        valid = jnp.arange(capacity, dtype=jnp.int32) < events["count"][index]

        def one(t, h, y, t_bar, y_bar, ok, condition=condition):
            # A harmless step for unused slots; their results are discarded below.
            h = jnp.where(ok, h, 1)
            _, vjp = jax.vjp(_event_map(cfg, f, condition, options, t, h, y, args), y, args)
            y_n_bar, a_bar = vjp((t_bar, y_bar))
            return tree_where(ok, (y_n_bar, a_bar), jax.tree.map(jnp.zeros_like, (y_n_bar, a_bar)))

        y_n_bar, a_bar = jax.vmap(one)(
            events["step_t"][index],
            events["step_h"][index],
            events["step_y"][index],
            ts_bar[index],
            ys_bar[index],
            valid,
        )
        y_bars.append(y_n_bar)
        args_bar = jax.tree.map(lambda a, b: a + jnp.sum(b, axis=0), args_bar, a_bar)
    return jnp.stack(y_bars), args_bar


@dataclasses.dataclass(frozen=True)
class DiscreteAdjoint:
    """The exact adjoint of the accepted steps: ``"direct"`` or ``"checkpoint"``."""

    kind: str

    def recorder(self, cfg, y0, time_dtype):
        if self.kind == "direct":

            def init(state):
                return _step_buffers(
                    cfg.max_steps, y0, time_dtype, history(cfg.method, state.method_state)
                )

            def add(records, state, attempt):
                return _record(
                    records,
                    state.num_accepted,
                    attempt,
                    state.method_state,
                    cfg.method,
                    attempt.accept,
                )

            return Recorder(init, add)

        head = cfg.head_length(y0)
        capacity, lean = cfg.slots(y0)
        lean = lean and not stateful(cfg.method)  # a history cannot be recomputed

        def init(state):
            # The first `head` accepted steps are recorded outright; the thinned
            # snapshots start from the state after them (from the start if none).
            tail = Thinning.start(capacity, _snapshot(state, lean), filled=head == 0)
            past = history(cfg.method, state.method_state)
            return _step_buffers(head, y0, time_dtype, past), tail

        def add(records, state, attempt):
            steps, tail = records
            if head:
                in_head = attempt.accept & (state.num_accepted < head)
                steps = _record(
                    steps, state.num_accepted, attempt, state.method_state, cfg.method, in_head
                )
            # Steps after the head count from 0 for the thinned snapshots.
            new = attempt.state
            tail = tail.add(new.num_accepted - head, _snapshot(new, lean), attempt.accept)
            return steps, tail

        return Recorder(init, add)

    def forward(self, cfg, f, conditions, args, y0, t0, t1, ts, options):
        recorder = self.recorder(cfg, y0, t0.dtype)
        out, state, records = integrate(cfg, f, conditions, args, y0, t0, t1, ts, options, recorder)
        residuals = (
            args,
            y0,
            t0,
            t1,
            ts,
            options,
            state.y,
            state.num_accepted,
            state.stopped,
            out,
            records,
        )
        return (public_outputs(out), stats(state, cfg.method), state.status), residuals

    def backward(self, cfg, f, conditions, residuals, cotangents):
        (args, y0, t0, t1, ts, options, y_final, num_accepted, stopped, out, records) = residuals
        outputs_bar = cotangents[0]
        method = cfg.method
        ys_bar = outputs_bar["ys"]
        t_final_bar = outputs_bar["t_final"]
        with_dense = ts is not None or cfg.dense
        zero_args = jax.tree.map(jnp.zeros_like, args)
        y_start_bar = jnp.zeros_like(y0)  # cotangents that reach y0 directly
        zero_past = []
        if stateful(method):
            initial = init_method(method, f, t0, y0, args, f(t0, y0, args), options)
            zero_past = jax.tree.map(jnp.zeros_like, _floating(history(method, initial)))
        if stateful(method) and conditions:
            raise NotImplementedError(
                f"Events under reverse-mode differentiation are not supported with the "
                f"multistep method {method.name!r}; use a one-step stiff method such as "
                "'radau5' or 'kvaerno5', or forward mode (jax.jvp)."
            )

        # Cotangents of the final state and time: a terminal event's, if it stopped.
        final_y_bar = ys_bar[0] if ts is None else jnp.zeros_like(y0)
        steps_bar = None
        if cfg.save_steps:
            steps_bar = outputs_bar["steps"][1]
            last = steps_bar[num_accepted]
            final_y_bar = final_y_bar + last
            steps_bar = steps_bar.at[num_accepted].set(0)
            y_start_bar = y_start_bar + steps_bar[0]

        by_index_parts = []
        args_bar_events = zero_args
        if conditions:
            events = out["events"]
            ev_ts_bar, ev_ys_bar, _ = outputs_bar["events"]
            stop_event = events["stop_event"]
            stop_slot = events["count"][jnp.maximum(stop_event, 0)] - 1
            capacity = events["ts"].shape[1]
            hit = (
                (jnp.arange(len(conditions), dtype=jnp.int32)[:, None] == stop_event)
                & (jnp.arange(capacity, dtype=jnp.int32)[None, :] == stop_slot)
                & stopped
            )
            ev_ts_bar = ev_ts_bar + jnp.where(hit, t_final_bar, 0)
            ev_ys_bar = ev_ys_bar + jnp.where(hit[..., None], final_y_bar, 0)
            event_y_bar, args_bar_events = _event_cotangents(
                cfg, f, conditions, options, args, events, ev_ts_bar, ev_ys_bar
            )
            step_index = events["step_index"]

            def from_events(g):
                match = (step_index == g)[..., None]
                return jnp.sum(jnp.where(match, event_y_bar, 0), axis=(0, 1)), None

            by_index_parts.append(from_events)
        if steps_bar is not None:
            by_index_parts.append(lambda g: (steps_bar[g], None))
        if cfg.dense:
            _, _, dense_y_bar, dense_c_bar = outputs_bar["dense"]
            by_index_parts.append(
                lambda g: (dense_y_bar[g], jax.tree.map(lambda c: c[g], dense_c_bar))
            )

        def by_index(g):
            direct, coefficients = None, None
            for part in by_index_parts:
                d, c = part(g)
                direct = d if direct is None else direct + d
                if c is not None:
                    coefficients = (
                        c if coefficients is None else jax.tree.map(jnp.add, coefficients, c)
                    )
            return direct, coefficients

        # The final state's cotangent enters at the end of the last step, unless a
        # terminal event replaced that state (then it went to the event above).
        y_bar = jnp.where(stopped, jnp.zeros_like(final_y_bar), final_y_bar)
        if ts is None:
            sweep = _Sweep(None, None, None, by_index if by_index_parts else None, with_dense)
            carry = (
                y_bar,
                zero_args,
                jnp.zeros((1,), t0.dtype),
                jnp.asarray(-1, jnp.int32),
                zero_past,
            )
        else:
            thetas, slopes = out["thetas"], out["slopes"]
            zero_c = jax.tree.map(
                lambda s: jnp.zeros(s.shape, s.dtype), dense_shape(method, f, args, y0, t0)
            )
            save_y_bar, save_c_bar = jax.vmap(
                lambda theta, bar: _interpolate_vjp(method, y0, zero_c, theta, bar)
            )(thetas, ys_bar)
            ts_bar = jax.vmap(_real_dot)(ys_bar, slopes)
            sweep = _Sweep(ts, save_y_bar, save_c_bar, by_index if by_index_parts else None, True)
            carry = (y_bar, zero_args, ts_bar, out["save_index"] - 1, zero_past)

        if self.kind == "direct":
            carry = _reverse_sweep(
                cfg, f, args, t1, options, sweep, records, num_accepted, 0, carry
            )
        else:
            steps, tail = records
            head = steps[0].shape[0]
            capacity = tail.steps.shape[0]
            slots = cfg.stack or stack_slots(capacity, cfg.max_steps)
            # The tail first (the thinned snapshots after the head, last segment
            # first), then the recorded head (segment -1), without replay.
            order, starts, counts, num_used = tail.segments(num_accepted - head)
            head_records = steps
            if 0 < head < capacity:  # the head is swept through windows of C rows
                head_records = jax.tree.map(
                    lambda b: jnp.pad(b, [(0, capacity - head)] + [(0, 0)] * (b.ndim - 1)),
                    steps,
                )

            def segment_body(loop):
                segment, carry = loop
                on_head = segment < 0
                tail_segment = jnp.maximum(segment, 0)
                snapshot = jax.tree.map(lambda buffer: buffer[order[tail_segment]], tail.snapshots)
                # The head's replays are empty: any valid state will do.
                snapshot = (
                    jnp.where(on_head, t0, snapshot[0]),
                    jnp.where(on_head, y0, snapshot[1]),
                ) + snapshot[2:]
                count = jnp.where(on_head, jnp.minimum(num_accepted, head), counts[tail_segment])
                base = jnp.where(on_head, 0, head + starts[tail_segment])
                carry = _reverse_segment(
                    cfg,
                    f,
                    args,
                    t1,
                    options,
                    sweep,
                    capacity,
                    slots,
                    snapshot,
                    count,
                    base,
                    carry,
                    (head_records, on_head) if head else None,
                )
                return segment - 1, carry

            last = -1 if head else 0
            carry = lax.while_loop(
                lambda loop: loop[0] >= last, segment_body, (num_used - 1, carry)
            )[1]
        y_bar, args_bar, ts_bar, pointer, past_bar = carry
        args_bar = jax.tree.map(jnp.add, args_bar, args_bar_events)
        f0 = f(start_time(t0, options), y0, args)
        if stateful(method):
            # The starting history is a function of (y0, args) too.
            def start(y, a):
                initial = init_method(
                    method, f, t0, y, a, f(start_time(t0, options), y, a), options
                )
                return _floating(history(method, initial))

            _, start_vjp = jax.vjp(start, y0, args)
            y_history_bar, args_history_bar = start_vjp(past_bar)
            y_bar = y_bar + y_history_bar
            args_bar = jax.tree.map(jnp.add, args_bar, args_history_bar)
        if ts is None:
            ts_out = None
            # y(t1) moves with t1 (unless a terminal event ended the solve first).
            t1_bar = jnp.where(stopped, 0, t_final_bar + _real_dot(ys_bar[0], f(t1, y_final, args)))
        else:
            # Save points at t0 return y0 itself.
            at_start = (jnp.arange(ts.shape[0], dtype=jnp.int32) <= pointer)[:, None]
            start_bar = jnp.sum(jnp.where(at_start, ys_bar, 0), axis=0)
            y_start_bar = y_start_bar + start_bar
            ts_out = ts_bar + jnp.where(
                at_start[:, 0], jax.vmap(_real_dot, (0, None))(ys_bar, f0), 0
            )
            t1_bar = jnp.where(stopped, 0, t_final_bar)
        y0_bar = y_bar + y_start_bar
        # Every output moves with t0, the save points at t0 included.
        t0_bar = -_real_dot(y0_bar, f0)
        return (
            args_bar,
            y0_bar,
            t0_bar.astype(t0.dtype),
            jnp.asarray(t1_bar, t1.dtype),
            None if ts_out is None else ts_out.astype(ts.dtype),
            _zero_inputs_bar(options),
        )


def _interpolate_vjp(method, y0, zero_coefficients, theta, y_bar):
    """A save point's cotangent split between its step's start and coefficients (the
    interpolant is linear in both, so the cotangent does not depend on their values)."""
    _, vjp = jax.vjp(
        lambda y, c: method.interpolate(y, c, theta), jnp.zeros_like(y0), zero_coefficients
    )
    return vjp(y_bar)


# ------------------------------------------------------------------- backsolve


def _is_differentiable(leaf) -> bool:
    return jnp.issubdtype(jnp.result_type(leaf), jnp.inexact)


def _augmented_field(f, n, treedef, differentiable, dtype):
    """The augmented vector field in reversed time ``s = -t``: the state is
    ``z = [y, a, g]``; ``dy/ds = -f``, ``da/ds = a^T df/dy``, ``dg/ds = a^T df/dp``."""

    def field(s, z, args):
        leaves = jax.tree.leaves(args)
        parameters = [leaf for leaf, keep in zip(leaves, differentiable) if keep]

        def vector_field(y, parameters):
            parameters = iter(parameters)
            full = [
                next(parameters) if keep else leaf for leaf, keep in zip(leaves, differentiable)
            ]
            return f(-s, y, jax.tree.unflatten(treedef, full))

        y, a = z[:n], z[n : 2 * n]
        dy, vjp = jax.vjp(vector_field, y, parameters)
        a_dfdy, a_dfdp = vjp(a)
        a_dfdp = ravel_pytree(a_dfdp)[0].astype(dtype)
        return jnp.concatenate([-dy, a_dfdy, a_dfdp])

    return field


@dataclasses.dataclass(frozen=True)
class Backsolve:
    """The continuous adjoint (see the module docstring)."""

    def forward(self, cfg, f, conditions, args, y0, t0, t1, ts, options):
        out, state, _ = integrate(cfg, f, conditions, args, y0, t0, t1, ts, options)
        residuals = (args, y0, t0, t1, ts, options, out["ys"])
        return (public_outputs(out), stats(state, cfg.method), state.status), residuals

    def backward(self, cfg, f, conditions, residuals, cotangents):
        args, y0, t0, t1, ts, options, ys = residuals
        outputs_bar = cotangents[0]
        ys_bar = outputs_bar["ys"]
        dtype = y0.dtype
        n = y0.shape[0]
        save_ts = t1[None] if ts is None else ts
        num_saves = save_ts.shape[0]

        leaves, treedef = jax.tree.flatten(args)
        differentiable = tuple(_is_differentiable(leaf) for leaf in leaves)
        parameters = [leaf for leaf, keep in zip(leaves, differentiable) if keep]
        g_flat, unravel_g = ravel_pytree(parameters)
        augmented = _augmented_field(f, n, treedef, differentiable, dtype)
        backward_cfg = dataclasses.replace(cfg, adjoint="forward", progress=False)
        backward_options = options._replace(
            jump_ts=None if options.jump_ts is None else -options.jump_ts[::-1]
        )

        def interval(carry):
            index, z, ok = carry
            start = -save_ts[index + 1]
            end = jnp.where(index >= 0, -save_ts[jnp.maximum(index, 0)], -t0)
            out, state, _ = integrate(
                backward_cfg, augmented, (), args, z, start, end, None, backward_options
            )
            z = out["ys"][0]
            at_save = index >= 0
            # Restart y from the forward solution; the save point's cotangent joins a.
            saved = ys[jnp.maximum(index, 0)]
            z = z.at[:n].set(jnp.where(at_save, saved, z[:n]))
            z = z.at[n : 2 * n].add(jnp.where(at_save, ys_bar[jnp.maximum(index, 0)], 0))
            return index - 1, z, ok & (state.status == SUCCESS)

        z = jnp.concatenate([ys[-1], ys_bar[-1], jnp.zeros(g_flat.shape, dtype)])
        # The loop stores only the augmented state: memory independent of the steps.
        _, z, ok = lax.while_loop(
            lambda carry: (carry[0] >= -1) & carry[2],
            interval,
            (jnp.asarray(num_saves - 2, jnp.int32), z, jnp.asarray(True)),
        )

        def checked(x):
            return jnp.where(ok, x, jnp.nan).astype(jnp.result_type(x))

        a0 = checked(z[n : 2 * n])
        g = unravel_g(
            checked(z[2 * n :]).real.astype(g_flat.dtype)
            if not jnp.iscomplexobj(g_flat)
            else checked(z[2 * n :])
        )
        g = iter(g)
        args_bar = jax.tree.unflatten(
            treedef,
            [
                next(g) if keep else np.zeros(np.shape(leaf), jax.dtypes.float0)
                for leaf, keep in zip(leaves, differentiable)
            ],
        )
        # d y(t_i) / d t_i = f(t_i, y(t_i)); moving t0 moves the whole solution.
        slopes = jax.vmap(lambda t, y: f(t, y, args))(save_ts, ys)
        ts_bar = checked(jax.vmap(_real_dot)(ys_bar, slopes))
        t0_bar = checked(-_real_dot(a0, f(t0, y0, args)))
        if ts is None:
            ts_out, t1_bar = None, ts_bar[0] + outputs_bar["t_final"]
        else:
            ts_out, t1_bar = ts_bar.astype(ts.dtype), outputs_bar["t_final"]
        return (
            args_bar,
            a0,
            t0_bar.astype(t0.dtype),
            jnp.asarray(t1_bar, t1.dtype),
            ts_out,
            _zero_inputs_bar(options),
        )


STRATEGIES = {
    "direct": DiscreteAdjoint("direct"),
    "checkpoint": DiscreteAdjoint("checkpoint"),
    "backsolve": Backsolve(),
}
