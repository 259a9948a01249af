"""The one integration loop: steps, saving, events and dense output.

The loop knows nothing of any method family: it talks to a *method* (``init``,
``step``, ``dense``, ``interpolate``) and a *step-size controller* (``init``,
``propose``, ``adapt``) through the interface written out in ``docs/methods.md``.
It works on a flat state ``y`` of shape ``(n,)`` (real or complex) in increasing
time ``t0 <= t1`` (the driver maps backward integration onto forward time). A vector
field here is ``f(t, y, args) -> (n,)``, where ``args`` holds every differentiable
input (the user's params and the constants the user's ``f`` closes over).

Cost under ``vmap``: the loop's predicate is made unbatched (``unvmap_any``: "is any
member still running?"), and every member masks its own updates. A batched predicate
would make JAX select between the old and the new value of the whole carry at every
step, which copies the output buffers (``(T, n)`` save points) at every step. With the
unbatched predicate, a save writes one row, so the cost of saving does not grow with
the number of save points. The same holds for the inner loops (save points inside a
step, event location) and the conditional work (dense coefficients are formed only
in steps that need them: a save point or an event inside, or ``dense=True``).

Reverse mode is not here: the adjoint strategies (``_adjoint.py``) call
:func:`integrate` with a ``record`` of the accepted steps and replay steps with
:func:`advance`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import equinox.internal as eqxi
import jax
import jax.numpy as jnp
from jax import lax

from . import _events
from ._solution import (
    MAX_STEPS_REACHED,
    NONFINITE,
    STEP_SIZE_UNDERFLOW,
    SUCCESS,
)

# The checkpoint adjoint records its first accepted steps outright, in a buffer of at
# most this many bytes by default (LoopConfig.head_bytes).
HEAD_BYTES = 256 * 1024


@dataclasses.dataclass(frozen=True)
class LoopConfig:
    """Static description of one integration (hashable: a jit cache key).

    Attributes:
        method: the method object.
        controller: the step-size controller.
        max_steps: bound on attempted steps; sizes the recording buffers.
        adjoint: ``"checkpoint"``, ``"direct"``, ``"backsolve"`` or ``"forward"``.
        events: the :class:`~solvers.Event` objects (their flat conditions travel
            separately, as functions of ``(t, y, args)``).
        dense: record every accepted step's interpolant.
        save_steps: record the state after every accepted step.
        progress: show a progress bar over ``t`` (a host callback each percent).
        throw: a failed solve raises in the backward pass too (else NaN cotangents).
        checkpoints: snapshot slots per level of the checkpoint adjoint.
        head: most accepted steps the checkpoint adjoint records outright.
        head_bytes: byte budget of that head.
        checkpoint_bytes: byte budget of the checkpoint adjoint's snapshots, forward
            and backward: fewer slots (at least 4), and snapshots without the
            method's state (recomputed from ``(t, y)`` on replay), for large states.
        stack: snapshot slots of the checkpoint adjoint's backward pass (0: chosen
            from ``checkpoints`` and ``max_steps``; other values are for tests).
    """

    method: Any
    controller: Any
    max_steps: int
    adjoint: str = "checkpoint"
    events: tuple = ()
    dense: bool = False
    save_steps: bool = False
    progress: bool = False
    throw: bool = True
    checkpoints: int = 64
    head: int = 1024
    head_bytes: int = HEAD_BYTES
    checkpoint_bytes: int = 64 * 2**20
    stack: int = 0

    def head_length(self, y0) -> int:
        """Accepted steps the checkpoint adjoint records outright, as ``(t, h, y)``
        rows: at most ``head``, ``max_steps`` and ``head_bytes``."""
        row_bytes = (y0.shape[0] + 2) * y0.dtype.itemsize
        return max(0, min(self.head, self.max_steps, self.head_bytes // row_bytes))

    def slots(self, y0) -> tuple[int, bool]:
        """``(C, lean)``: the forward pass's snapshot slots (also the backward pass's
        block of recorded steps) and whether snapshots leave out the method's state.
        The largest even ``C <= checkpoints`` whose ``2 C + S`` snapshots (``S`` the
        backward pass's stack, :func:`~solvers._adjoint.stack_slots`) fit
        ``checkpoint_bytes``; else 4 lean ones."""
        from ._adjoint import stack_slots

        state_bytes = max(y0.shape[0], 1) * y0.dtype.itemsize
        for lean in (False, True):
            size = (1 if lean else 2) * state_bytes + 64
            for capacity in range(self.checkpoints, 3, -2):
                total = (2 * capacity + stack_slots(capacity, self.max_steps)) * size
                if total <= self.checkpoint_bytes:
                    return capacity, lean
        return 4, True


class Options(NamedTuple):
    """Numeric options of a solve (arrays, possibly traced; ``None`` when not given)."""

    rtol: Any
    atol: Any
    dt: Any = None
    max_step: Any = None
    jump_ts: Any = None


class LoopState(NamedTuple):
    t: jax.Array
    y: jax.Array
    method_state: Any
    controller_state: Any
    num_steps: jax.Array
    num_accepted: jax.Array
    num_rejected: jax.Array
    num_fevals: jax.Array
    status: jax.Array
    stopped: jax.Array  # a terminal event ended the solve


class Attempt(NamedTuple):
    """One attempted step: the state after it and what the loop's features need."""

    state: LoopState
    accept: jax.Array  # accepted (and the member was still running)
    t: jax.Array  # start of the step
    h: jax.Array  # size of the step
    y: jax.Array  # state at the start
    y1: jax.Array  # proposed state at the end
    dense_info: Any


def tree_where(condition, new, old):
    return jax.tree.map(lambda a, b: jnp.where(condition, a, b), new, old)


def running(state, t1):
    return (state.status == SUCCESS) & (state.t < t1) & ~state.stopped


def _next_jump(jump_ts, t, t1):
    """The first jump time after ``t`` (``t1`` if none)."""
    index = jnp.searchsorted(jump_ts, t, side="right")
    following = jump_ts[jnp.minimum(index, jump_ts.shape[0] - 1)]
    return jnp.minimum(jnp.where(index < jump_ts.shape[0], following, t1), t1)


def start_time(t, options):
    """Where a step starting at ``t`` evaluates ``f(t, y)``: just after ``t`` when ``t``
    is a jump time, so that the right-hand limit of ``f`` is used there."""
    if options.jump_ts is None:
        return t
    at_jump = jnp.any(options.jump_ts == t)
    return jnp.where(at_jump, jnp.nextafter(t, jnp.asarray(jnp.inf, t.dtype)), t)


def init_method(method, f, t, y, args, f0, options):
    """``method.init``; a method with ``uses_tolerances = True`` (an implicit method,
    whose Newton iteration stops relative to the error tolerance) also gets
    ``tolerances=(rtol, atol)``."""
    if getattr(method, "uses_tolerances", False):
        return method.init(f, t, y, args, f0, tolerances=(options.rtol, options.atol))
    return method.init(f, t, y, args, f0)


def initial_state(cfg, f, conditions, args, y0, t0, t1, options):
    method, controller = cfg.method, cfg.controller
    f0 = f(start_time(t0, options), y0, args)
    method_state = init_method(method, f, t0, y0, args, f0, options)
    controller_state, fevals = controller.init(
        method, f, t0, t1, y0, f0, args, options.dt, options.rtol, options.atol, options.max_step
    )
    finite = jnp.all(jnp.isfinite(y0)) & jnp.all(jnp.isfinite(f0))
    zero = jnp.zeros((), jnp.int32)
    state = LoopState(
        t=t0,
        y=y0,
        method_state=method_state,
        controller_state=controller_state,
        num_steps=zero,
        num_accepted=zero,
        num_rejected=zero,
        num_fevals=zero + 1 + fevals,
        status=jnp.where(finite, SUCCESS, NONFINITE).astype(jnp.int32),
        stopped=jnp.zeros((), bool),
    )
    values = _condition_values(conditions, t0, y0, args)
    return state, values


def _condition_values(conditions, t, y, args):
    if not conditions:
        return jnp.zeros((0,), t.dtype)
    return jnp.stack([jnp.asarray(c(t, y, args), t.dtype) for c in conditions])


def advance(cfg, f, args, state, t1, options):
    """Attempt one step from ``state`` (members that are done keep their state)."""
    method, controller = cfg.method, cfg.controller
    active = running(state, t1)
    t, y = state.t, state.y
    h_proposed = controller.propose(t, t1, state.controller_state)
    stop = t1 if options.jump_ts is None else _next_jump(options.jump_ts, t, t1)
    remaining = stop - t
    clipped = h_proposed >= remaining
    h = jnp.where(clipped, remaining, h_proposed)
    step = method.step(f, t, y, h, args, state.method_state)
    accept, controller_state = controller.adapt(
        method,
        t,
        y,
        step.y,
        step.error,
        h,
        clipped,
        state.controller_state,
        options.rtol,
        options.atol,
        options.max_step,
    )
    step_ok = step.status == SUCCESS
    accept = accept & step_ok
    t_new = jnp.where(clipped, stop, t + h)
    method_state = step.state
    if options.jump_ts is not None:
        # f jumps at `stop`: the next step starts from its right-hand value there.
        landed = accept & clipped & (stop < t1)
        method_state = lax.cond(
            eqxi.unvmap_any(landed & active),
            lambda: tree_where(
                landed,
                init_method(
                    method,
                    f,
                    t_new,
                    step.y,
                    args,
                    f(start_time(t_new, options), step.y, args),
                    options,
                ),
                step.state,
            ),
            lambda: step.state,
        )
    t_after = jnp.where(accept, t_new, t)
    h_next = controller.propose(t_after, t1, controller_state)
    tiny = 10 * jnp.finfo(t.dtype).eps * jnp.maximum(jnp.abs(t), jnp.abs(t1))
    # A rejected step that the controller would not shrink (or only to nothing) fails.
    stuck = ~accept & ((h_next <= tiny) | (h_next >= h))
    finite = jnp.all(jnp.isfinite(step.y))
    failure = jnp.where(
        ~step_ok, step.status, jnp.where(finite, STEP_SIZE_UNDERFLOW, NONFINITE)
    ).astype(jnp.int32)
    status = jnp.where(stuck, failure, state.status)
    num_steps = state.num_steps + 1
    exhausted = (num_steps >= cfg.max_steps) & (t_after < t1) & (status == SUCCESS)
    status = jnp.where(exhausted, MAX_STEPS_REACHED, status)
    # The state-sized fields take one select each (a member that is done keeps its
    # state, as after a rejection): for large states (PDEs) these selects are the
    # loop's main cost.
    keep = accept & active
    if step.rejected_state is None:
        otherwise = state.method_state
    else:
        otherwise = tree_where(active, step.rejected_state, state.method_state)
    new_state = LoopState(
        t=jnp.where(active, t_after, state.t),
        y=jnp.where(keep, step.y, y),
        method_state=tree_where(keep, method_state, otherwise),
        controller_state=tree_where(active, controller_state, state.controller_state),
        num_steps=jnp.where(active, num_steps, state.num_steps),
        num_accepted=state.num_accepted + keep.astype(jnp.int32),
        num_rejected=state.num_rejected + (active & ~accept).astype(jnp.int32),
        num_fevals=jnp.where(active, state.num_fevals + step.num_fevals, state.num_fevals),
        status=jnp.where(active, status, state.status),
        stopped=state.stopped,
    )
    return Attempt(new_state, keep, t, h, y, step.y, step.dense_info)


def store(buffer, index, value, condition):
    """``buffer[index] = value`` where ``condition`` (a no-op write otherwise)."""
    index = jnp.minimum(index, buffer.shape[0] - 1)
    return buffer.at[index].set(jnp.where(condition, value, buffer[index]))


def dense_shape(method, f, args, y0, t0):
    """Shapes of ``method.dense``'s coefficients, without running anything."""

    def coefficients(y, t):
        f0 = f(t, y, args)
        tolerances = Options(jnp.ones((), t.dtype), jnp.ones((), t.dtype), None, None, None)
        step = method.step(f, t, y, t, args, init_method(method, f, t, y, args, f0, tolerances))
        return method.dense(f, t, t, y, step.y, step.dense_info, args)

    return jax.eval_shape(coefficients, y0, t0)


def save_pending(ts, index, t_now):
    num = ts.shape[0]
    return (index < num) & (ts[jnp.minimum(index, num - 1)] <= t_now)


def slope(method, y0, coefficients, theta, h):
    """``dy/dt`` of the interpolant at ``theta``."""
    one = jnp.ones_like(theta)
    derivative = jax.jvp(lambda th: method.interpolate(y0, coefficients, th), (theta,), (one,))[1]
    return derivative / jnp.asarray(h).astype(derivative.dtype)


class Recorder(NamedTuple):
    """Hooks of a recording forward pass (the discrete adjoints)."""

    init: Any  # (state) -> records
    add: Any  # (records, attempt) -> records


def integrate(cfg, f, conditions, args, y0, t0, t1, ts, options, recorder=None):
    """Run the loop from ``(t0, y0)`` to ``t1`` (or a terminal event).

    Args:
        cfg: static :class:`LoopConfig`.
        f: ``f(t, y, args)``; ``conditions``: the events' ``g(t, y, args)``.
        args: differentiable arguments of ``f`` and the conditions.
        y0: ``(n,)`` initial state; ``t0 <= t1`` scalars.
        ts: ``(T,)`` non-decreasing save times, or ``None``: return the state at the end.
        options: :class:`Options`.
        recorder: a :class:`Recorder` (reverse mode), or ``None``.

    Returns:
        ``(out, state, records)``: ``out`` a dict with ``ys`` (``(T, n)``; ``(1, n)``
        for ``ts=None``), ``t_final``, and as configured ``events``, ``steps``,
        ``dense`` and the save points' ``thetas``/``slopes``; the final
        :class:`LoopState`; the recorder's records.
    """
    method = cfg.method
    state, values = initial_state(cfg, f, conditions, args, y0, t0, t1, options)
    time_dtype = t0.dtype
    out = {}
    num_saves = 0 if ts is None else ts.shape[0]
    if ts is not None:
        at_start = ts <= t0
        out["ys"] = jnp.where(at_start[:, None], y0[None, :], jnp.nan).astype(y0.dtype)
        out["save_index"] = jnp.sum(at_start).astype(jnp.int32)
        if recorder is not None:
            out["thetas"] = jnp.zeros((num_saves,), time_dtype)
            out["slopes"] = jnp.zeros_like(out["ys"])
    need_coefficients = bool(num_saves) or bool(conditions) or cfg.dense
    if need_coefficients:
        coefficient_shape = dense_shape(method, f, args, y0, t0)
        zero_coefficients = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), coefficient_shape)
    if conditions:
        capacity = max(event.max_events for event in cfg.events)
        num_events = len(conditions)
        out["events"] = {
            "values": values,
            "ts": jnp.full((num_events, capacity), jnp.nan, time_dtype),
            "ys": jnp.full((num_events, capacity) + y0.shape, jnp.nan, y0.dtype),
            "count": jnp.zeros((num_events,), jnp.int32),
            # The step each crossing lies in, for the adjoint.
            "step_t": jnp.zeros((num_events, capacity), time_dtype),
            "step_h": jnp.zeros((num_events, capacity), time_dtype),
            "step_y": jnp.zeros((num_events, capacity) + y0.shape, y0.dtype),
            "step_index": jnp.full((num_events, capacity), -1, jnp.int32),
            "stop_event": jnp.full((), -1, jnp.int32),
        }
    if cfg.save_steps:
        size = cfg.max_steps + 1
        out["steps"] = (
            jnp.full((size,), jnp.nan, time_dtype).at[0].set(t0),
            jnp.full((size,) + y0.shape, jnp.nan, y0.dtype).at[0].set(y0),
        )
    if cfg.dense:
        out["dense"] = (
            jnp.full((cfg.max_steps + 1,), jnp.nan, time_dtype).at[0].set(t0),
            jnp.ones((cfg.max_steps,), time_dtype),
            jnp.zeros((cfg.max_steps,) + y0.shape, y0.dtype),
            jax.tree.map(
                lambda s: jnp.zeros((cfg.max_steps,) + s.shape, s.dtype), coefficient_shape
            ),
        )
    if cfg.progress:
        out["percent"] = jnp.zeros((), jnp.int32)
        _progress_callback(jnp.zeros((), jnp.int32))
    records = None if recorder is None else recorder.init(state)

    def body(carry):
        state, out, records = carry
        attempt = advance(cfg, f, args, state, t1, options)
        new = attempt.state
        accept = attempt.accept
        t, h, y, y1 = attempt.t, attempt.h, attempt.y, attempt.y1
        out = dict(out)
        coefficients = None
        # The events' conditions at the step's end, once per step.
        g_end = _condition_values(conditions, new.t, y1, args) if conditions else None
        if need_coefficients:
            needed = accept
            if not cfg.dense:
                wanted = jnp.zeros((), bool)
                if num_saves:
                    pending = save_pending(ts, out["save_index"], new.t)
                    if "thetas" not in out:
                        # A save time on the step's end is y1 itself (_write_saves):
                        # no interpolant needed (rollouts saved at every step).
                        first = ts[jnp.minimum(out["save_index"], num_saves - 1)]
                        pending = pending & (first != new.t)
                    wanted = wanted | pending
                if conditions:
                    wanted = wanted | _any_crossing(cfg.events, out["events"]["values"], g_end)
                needed = accept & wanted
            coefficients = lax.cond(
                eqxi.unvmap_any(needed),
                lambda: method.dense(f, t, h, y, y1, attempt.dense_info, args),
                lambda: zero_coefficients,
            )
            new = new._replace(
                num_fevals=new.num_fevals + jnp.where(needed, method.dense_fevals, 0)
            )
        if conditions:
            new, out["events"] = _locate_events(
                cfg,
                conditions,
                args,
                attempt,
                new,
                coefficients,
                out["events"],
                state.num_accepted,
                g_end,
            )
        if num_saves:
            out = _write_saves(method, ts, attempt, new.t, coefficients, out)
        if cfg.save_steps:
            index = state.num_accepted + 1
            steps_t, steps_y = out["steps"]
            out["steps"] = (
                store(steps_t, index, new.t, accept),
                store(steps_y, index, new.y, accept),
            )
        if cfg.dense:
            dense_t, dense_h, dense_y, dense_c = out["dense"]
            index = state.num_accepted
            # A terminal event ends the last interval early; its interpolant is the
            # whole step's, so the step's own size is kept too.
            out["dense"] = (
                store(dense_t, index + 1, new.t, accept),
                store(dense_h, index, h, accept),
                store(dense_y, index, y, accept),
                jax.tree.map(lambda b, c: store(b, index, c, accept), dense_c, coefficients),
            )
        if recorder is not None:
            records = recorder.add(records, state, attempt)
        if cfg.progress:
            out["percent"] = _report_progress(out["percent"], new, t0, t1)
        return new, out, records

    state, out, records = lax.while_loop(
        lambda carry: eqxi.unvmap_any(running(carry[0], t1)), body, (state, out, records)
    )
    if ts is None:
        # A failed solve did not reach t1: do not return a plausible-looking state.
        out["ys"] = _poison(state.y, state.status == SUCCESS)[None]
    else:
        # Save points after a terminal event or a failure were never reached (those
        # before a failure are valid values of the solution).
        reached = (jnp.arange(num_saves, dtype=jnp.int32) < out["save_index"])[:, None]
        out["ys"] = _poison(out["ys"], reached)
    out["t_final"] = state.t
    out["stiffness"] = stiffness(cfg, f, args, state, t1, options)
    return out, state, records


def _progress_callback(percent):
    jax.debug.callback(_print_progress, percent, ordered=False)


def _print_progress(percent):
    import sys

    percent = int(percent)
    filled = percent // 4
    end = "\n" if percent >= 100 else ""
    sys.stderr.write(f"\rsolve [{'#' * filled}{'.' * (25 - filled)}] {percent:3d}% of t_span{end}")
    sys.stderr.flush()


def _report_progress(last, state, t0, t1):
    """Report each new whole percent of ``t_span`` covered (by the slowest member under
    ``vmap``): one host callback per percent, none in between."""
    span = jnp.where(t1 > t0, t1 - t0, 1)
    done = ~running(state, t1)
    fraction = jnp.where(done, 1.0, (state.t - t0) / span)
    percent = jnp.floor(100 * fraction).astype(jnp.int32)
    slowest = -eqxi.unvmap_max(-percent)
    lowest_last = -eqxi.unvmap_max(-last)
    lax.cond(slowest > lowest_last, lambda: _progress_callback(slowest), lambda: None)
    return jnp.maximum(last, percent)


def _poison(x, ok):
    """``x`` where ``ok``, NaN elsewhere, with NaN tangents there too (forward mode)."""
    return jnp.where(ok, x, x * jnp.nan)


def _any_crossing(events, before, after):
    found = jnp.zeros((), bool)
    for index, event in enumerate(events):
        found = found | _events.crossed(event.direction, before[index], after[index])
    return found


def _locate_events(cfg, conditions, args, attempt, new, coefficients, events, step_index, g_end):
    """Find the crossings inside an accepted step, record them, and stop the solve at
    the first terminal one."""
    method = cfg.method
    t, h, y = attempt.t, attempt.h, attempt.y
    triggered = jnp.stack(
        [
            attempt.accept & _events.crossed(event.direction, events["values"][i], g_end[i])
            for i, event in enumerate(cfg.events)
        ]
    )

    def locate():
        thetas = []
        for index, condition in enumerate(conditions):

            def G(theta, operands, condition=condition):
                t, h, y, coefficients, args = operands
                return condition(t + theta * h, method.interpolate(y, coefficients, theta), args)

            theta = _events.find_root(G, (t, h, y, coefficients, args))
            thetas.append(jnp.where(triggered[index], theta, jnp.inf))
        return jnp.stack(thetas).astype(t.dtype)

    inf = jnp.full((len(conditions),), jnp.inf, t.dtype)
    thetas = lax.cond(eqxi.unvmap_any(jnp.any(triggered)), locate, lambda: inf)
    terminal = jnp.array([event.terminal for event in cfg.events])
    theta_stop = jnp.min(jnp.where(terminal & triggered, thetas, jnp.inf))
    recorded = triggered & (thetas <= theta_stop)
    capacity = events["ts"].shape[1]
    events = dict(events)
    for index in range(len(conditions)):
        slot = events["count"][index]
        write = recorded[index] & (slot < capacity)
        theta = jnp.where(recorded[index], thetas[index], 0)
        row = (index, jnp.minimum(slot, capacity - 1))
        values = {
            "ts": t + theta * h,
            "ys": method.interpolate(y, coefficients, theta),
            "step_t": t,
            "step_h": h,
            "step_y": y,
            "step_index": step_index,
        }
        for name, value in values.items():
            buffer = events[name]
            events[name] = buffer.at[row].set(jnp.where(write, value, buffer[row]))
    events["count"] = events["count"] + recorded.astype(jnp.int32)
    stop = jnp.isfinite(theta_stop)
    stop_event = jnp.argmin(jnp.where(terminal & triggered, thetas, jnp.inf)).astype(jnp.int32)
    events["stop_event"] = jnp.where(stop, stop_event, events["stop_event"])
    theta = jnp.where(stop, theta_stop, 1)
    y_stop = method.interpolate(y, coefficients, theta)
    new = tree_where(
        stop,
        new._replace(t=t + theta * h, y=y_stop, stopped=jnp.ones((), bool)),
        new,
    )
    events["values"] = jnp.where(attempt.accept, g_end, events["values"])
    return new, events


# Most save points written per pass of the inner loop: a step that holds many of them
# (large steps, dense save grids) takes few passes, each a small vectorised write.
SAVE_CHUNK = 8


def _write_saves(method, ts, attempt, t_now, coefficients, out):
    """Write every save point inside the accepted step from its interpolant (and, for
    a recording pass, its position ``theta`` in the step and the slope there), up to
    :data:`SAVE_CHUNK` of them per pass."""
    t, h, y = attempt.t, attempt.h, attempt.y
    num_saves = ts.shape[0]
    # A few save points a step are the common case; many only with dense save grids.
    chunk = max(1, min(SAVE_CHUNK, num_saves // 512))
    out = dict(out)
    recording = "thetas" in out
    keys = ("save_index", "ys", "thetas", "slopes") if recording else ("save_index", "ys")

    def pending(carry):
        return attempt.accept & save_pending(ts, carry[0], t_now)

    def write(carry):
        index, ys, *rest = carry
        rows = index + jnp.arange(chunk, dtype=jnp.int32)
        inside = rows < num_saves
        times = ts[jnp.minimum(rows, num_saves - 1)]
        # The save times are sorted, so the pending ones are a prefix of the chunk.
        flags = attempt.accept & inside & (times <= t_now)
        targets = jnp.where(flags, rows, num_saves)  # out of bounds: dropped
        thetas = jnp.where(h > 0, (times - t) / jnp.where(h > 0, h, 1), 0)
        values = jax.vmap(lambda theta: method.interpolate(y, coefficients, theta))(thetas)
        if not recording:
            # Save times on the step's end take y1 exactly (the interpolant was not
            # formed for a step whose only save time is its end).
            at_end = (times == t_now)[:, None]
            values = jnp.where(at_end, attempt.y1[None, :], values)
        ys = ys.at[targets].set(values, mode="drop")
        if recording:
            theta_buffer, slope_buffer = rest
            slopes = jax.vmap(lambda theta: slope(method, y, coefficients, theta, h))(thetas)
            rest = [
                theta_buffer.at[targets].set(thetas, mode="drop"),
                slope_buffer.at[targets].set(slopes, mode="drop"),
            ]
        return (index + jnp.sum(flags).astype(jnp.int32), ys, *rest)

    carry = tuple(out[key] for key in keys)
    carry = lax.cond(
        eqxi.unvmap_any(pending(carry)),
        lambda: lax.while_loop(lambda c: eqxi.unvmap_any(pending(c)), write, carry),
        lambda: carry,
    )
    out.update(zip(keys, carry))
    return out


def stiffness(cfg, f, args, state, t1, options):
    """``|h| rho(df/dy)`` at the end of a solve that ran out of ``max_steps`` (0
    otherwise): the next step size times the spectral radius of the Jacobian,
    estimated by power iteration with ``jax.jvp``. Near the method's stability limit
    (about 3 for the explicit pairs) the step size is held by stability rather than
    accuracy: the problem is stiff for this method."""
    exhausted = state.status == MAX_STEPS_REACHED
    y = state.y
    if y.size == 0:
        return jnp.zeros((), state.t.dtype)

    def estimate():
        h = jnp.abs(cfg.controller.propose(state.t, t1, state.controller_state))

        def jacobian_times(v):
            return jax.jvp(lambda z: f(state.t, z, args), (y,), (v,))[1]

        def norm(v):
            return jnp.sqrt(jnp.sum(jnp.abs(v) ** 2))

        start = (1 + jnp.arange(y.size, dtype=state.t.dtype) / y.size).astype(y.dtype)

        def body(_, v):
            w = jacobian_times(v)
            return w / jnp.maximum(norm(w), jnp.finfo(state.t.dtype).tiny).astype(w.dtype)

        v = lax.fori_loop(0, 16, body, start / norm(start).astype(y.dtype))
        return jnp.where(exhausted, h * norm(jacobian_times(v)), 0).astype(state.t.dtype)

    zero = jnp.zeros((), state.t.dtype)
    return lax.cond(eqxi.unvmap_any(exhausted), estimate, lambda: zero)


def stats(state, method=None):
    """The solve's counters; a method with ``statistics(method_state) -> dict`` adds its
    own (e.g. ``auto``'s switches)."""
    counters = {
        "num_steps": state.num_steps,
        "num_accepted": state.num_accepted,
        "num_rejected": state.num_rejected,
        "num_fevals": state.num_fevals,
    }
    if hasattr(method, "statistics"):
        counters.update(method.statistics(state.method_state))
    return counters
