"""The driver: :func:`solve` validates its input, routes it (the built-in loop, or
``diffrax.diffeqsolve`` for a diffrax solver instance) and assembles the
:class:`~solvers.Solution`."""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from jaxtyping import ArrayLike, PyTree

from . import _adjoint, _registry, _split
from ._control import ConstantSteps, PIDController, fixed_step_count
from ._events import Event
from ._loop import LoopConfig, Options
from ._solution import (
    INVALID_INPUT,
    SUCCESS,
    DenseOutput,
    EventRecord,
    Solution,
    SolveError,
    failure_messages,
    message_index,
)

ADJOINTS = ("auto", "checkpoint", "direct", "backsolve", "forward")


def _resolve_method(method):
    if isinstance(method, str):
        key = method.lower()
        if key in _registry.METHODS:
            try:
                return _registry.build(key)
            except KeyError:
                pass
        names = _registry.available()
        close = difflib.get_close_matches(key, names, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"Unknown method {method!r}.{hint} Available: {', '.join(names)}, a method "
            "object (e.g. solvers.Radau5()), or any diffrax solver instance."
        )
    if _is_diffrax_solver(method):
        return method
    missing = [
        name for name in ("init", "step", "dense", "interpolate") if not hasattr(method, name)
    ]
    if missing or not hasattr(method, "error_order"):
        raise TypeError(
            "method must be a name, a method object implementing init/step/dense/"
            "interpolate and error_order (see 'Writing a method' in the docs), or a "
            f"diffrax solver instance; got {type(method).__name__}."
        )
    return method


def _is_diffrax_solver(method) -> bool:
    import diffrax

    return isinstance(method, diffrax.AbstractSolver)


def _is_tracer(x) -> bool:
    return isinstance(x, jax.core.Tracer)


def _is_concrete(*trees) -> bool:
    return not any(_is_tracer(x) for x in jax.tree.leaves(trees))


def _only_forward_mode(tree) -> bool:
    """Is some leaf differentiated in forward mode (``jax.jvp``/``jacfwd``) and none in
    reverse mode? Then the plain loop is used; reverse mode (also nested, as in
    ``jax.hessian``) needs the custom VJP."""
    forward = False
    for leaf in jax.tree.leaves(tree):
        x = leaf
        while _is_tracer(x):
            kind = type(x).__name__
            if kind == "LinearizeTracer":
                return False
            forward = forward or kind == "JVPTracer"
            x = getattr(x, "primal", getattr(x, "val", None))
    return forward


def _check_finite(name, tree):
    for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
        value = np.asarray(leaf)
        if np.issubdtype(value.dtype, np.inexact) and not np.all(np.isfinite(value)):
            where = name + jax.tree_util.keystr(path)
            raise ValueError(f"{where} contains NaN or inf; solve needs finite {name}.")


def _state_dtype(y0):
    dtypes = [jnp.asarray(leaf).dtype for leaf in jax.tree.leaves(y0)]
    if not dtypes:
        raise ValueError("y0 has no array leaves: give the initial state as arrays.")
    floats = [d for d in dtypes if jnp.issubdtype(d, jnp.inexact)]
    if not floats:
        return jnp.asarray(0.0).dtype
    return jnp.result_type(*floats)


def _scalar(name, value, dtype):
    """A real scalar argument as ``(array, host value)``: the host value is a Python
    float when ``value`` is concrete (also inside a user's ``jit``, where any ``jnp``
    operation on it would be traced), ``None`` when traced; a clear error otherwise."""
    if _is_tracer(value):
        array, host = value, None
    else:
        try:
            array = np.asarray(value)
        except TypeError as error:
            raise TypeError(f"{name} must be a real number, got {value!r}.") from error
        if array.dtype == object or not (
            np.issubdtype(array.dtype, np.number) or array.dtype == bool
        ):
            raise TypeError(f"{name} must be a real number, got {value!r}.")
    if np.shape(array) != ():
        raise ValueError(f"{name} must be a scalar, got an array of shape {np.shape(array)}.")
    if jnp.issubdtype(jnp.result_type(array), jnp.complexfloating):
        raise TypeError(f"{name} must be real, got the complex value {value!r}.")
    if not _is_tracer(value):
        host = float(np.asarray(array, dtype))
    return jnp.asarray(array).astype(dtype), host


def _check_vector_field(f, t0, y0, params):
    """Check ``f``'s output against ``y0``; return the arrays ``f`` closes over."""
    try:
        converted, consts = jax.closure_convert(f, t0, y0, params)
        out = jax.eval_shape(converted, t0, y0, params, *consts)
    except Exception as error:
        raise TypeError(
            f"Calling f(t, y, params) with a scalar t, y like y0 and params failed: "
            f"{type(error).__name__}: {error}"
        ) from error
    want = jax.tree.structure(y0)
    got = jax.tree.structure(out)
    if want != got:
        raise ValueError(
            f"f(t, y, params) must return a pytree like y0.\n  y0:  {want}\n  f(): {got}"
        )
    for path, a, b in zip(
        jax.tree_util.tree_leaves_with_path(y0), jax.tree.leaves(y0), jax.tree.leaves(out)
    ):
        if jnp.shape(a) != b.shape:
            where = jax.tree_util.keystr(path[0]) or "(the array)"
            raise ValueError(
                f"f(t, y, params) returned shape {b.shape} for y0{where} of shape "
                f"{jnp.shape(a)}; dy/dt must have the shape of y."
            )
        if jnp.issubdtype(b.dtype, jnp.complexfloating) and not jnp.issubdtype(
            jnp.result_type(a), jnp.complexfloating
        ):
            where = jax.tree_util.keystr(path[0]) or "(the array)"
            raise TypeError(
                f"f(t, y, params) returned a complex dy/dt for the real y0{where}: the "
                "imaginary part would be lost. Give y0 a complex dtype, e.g. "
                "y0.astype(jnp.complex128)."
            )
    return consts


def _check_events(events, t0, y0, params):
    if events is None:
        return ()
    if isinstance(events, Event):
        events = (events,)
    events = tuple(events)
    for index, event in enumerate(events):
        if not isinstance(event, Event):
            raise TypeError(
                f"event must be a solvers.Event or a tuple of them; item {index} is "
                f"{type(event).__name__}."
            )
        try:
            value = jax.eval_shape(event.condition, t0, y0, params)
        except Exception as error:
            raise TypeError(
                f"Calling event {index}'s condition(t, y, params) failed: "
                f"{type(error).__name__}: {error}"
            ) from error
        if (
            not isinstance(value, jax.ShapeDtypeStruct)
            or value.shape != ()
            or not jnp.issubdtype(value.dtype, jnp.floating)
        ):
            raise ValueError(
                f"event {index}'s condition(t, y, params) must return a real scalar, got {value}."
            )
    return events


def _invalid_ts(ts, t0, t1, direction):
    """Save times outside ``t_span`` (beyond a few ulps), against the direction, or NaN."""
    xp = np if isinstance(ts, np.ndarray) else jnp
    scale = xp.maximum(xp.abs(t0), xp.abs(t1))
    slack = 8 * xp.finfo(ts.dtype).eps * xp.maximum(scale, 1)
    forward = direction * ts
    outside = (forward < direction * t0 - slack) | (forward > direction * t1 + slack)
    backwards = xp.diff(forward) < 0
    return xp.any(outside) | xp.any(backwards) | xp.any(~xp.isfinite(ts))


def _onto_span(forward_ts, forward_t0, forward_t1):
    """Move save times that are a few ulps outside ``t_span`` (validated) onto it."""
    forward_ts = jnp.where(forward_ts > forward_t1, forward_t1, forward_ts)
    return jnp.where(forward_ts < forward_t0, forward_t0, forward_ts)


def solve(
    f: Callable,
    y0: PyTree,
    t_span: tuple[ArrayLike, ArrayLike],
    params: PyTree = None,
    *,
    method: Any = "tsit5",
    ts: ArrayLike | str | None = None,
    dt: ArrayLike | None = None,
    rtol: ArrayLike = 1e-6,
    atol: ArrayLike = 1e-9,
    max_steps: int = 100_000,
    adjoint: str = "auto",
    throw: bool = True,
    dense: bool = False,
    event: Event | tuple[Event, ...] | None = None,
    max_step: ArrayLike | None = None,
    jump_ts: ArrayLike | None = None,
    progress: bool = False,
    controller: Any = None,
    checkpoint_bytes: int = 64 * 2**20,
) -> Solution:
    """Solve the initial value problem ``dy/dt = f(t, y, params)``, ``y(t0) = y0``.

    Explicit Runge-Kutta methods advance ``y_{n+1} = y_n + h sum_i b_i k_i``;
    adaptive pairs accept a step when the scaled local error
    ``||e / (atol + rtol max(|y_n|, |y_{n+1}|))||_rms <= 1`` (moduli for complex
    states) and choose the next step with a PID controller (Hairer, Norsett & Wanner,
    *Solving ODEs I*, II.4; Soderlind 2003). Save times, events and dense output are
    filled from each method's own interpolant, not by shortening steps.

    Args:
        f: vector field ``f(t, y, params) -> dy/dt``, a pytree like ``y``.
        y0: initial state, any pytree of arrays; its dtype sets the precision (real or
            complex; never downcast).
        t_span: ``(t0, t1)``; ``t1 < t0`` integrates backwards.
        params: any pytree passed to ``f``.
        method: a name (``"tsit5"``, ``"dopri5"``, ``"dopri8"``, ``"bosh3"``,
            ``"euler"``, ``"midpoint"``, ``"heun"``, ``"ralston"``, ``"rk4"``), a
            method object (``solvers.Tsit5()``, or your own: see "Writing a method"
            in the docs) or a diffrax solver instance (routed to
            ``diffrax.diffeqsolve``).
        ts: ``(T,)`` save times inside ``t_span``, monotone in the direction of
            integration; ``None`` saves the end only; ``"steps"`` saves the start and
            every accepted step (``max_steps + 1`` rows, NaN past the last one).
        dt: step size of fixed-step methods (required there); first step of
            adaptive ones (``None``: Hairer's automatic choice).
        rtol: relative tolerance of adaptive methods.
        atol: absolute tolerance of adaptive methods.
        max_steps: bound on attempted steps (also sizes the adjoint's checkpoints).
            Fixed-step methods on a concrete grid take exactly the grid's steps and
            ignore it.
        adjoint: reverse-mode strategy: ``"auto"`` (= ``"checkpoint"``, and a plain
            forward-differentiable loop under ``jax.jvp``), ``"checkpoint"``
            (O(log max_steps) memory), ``"direct"`` (records every step),
            ``"backsolve"`` (continuous adjoint, O(1) memory, gradient accurate to
            about the tolerance; not with events, dense output or ``ts="steps"``),
            ``"forward"`` (forward mode only).
        throw: raise on failure (also under ``jit``); ``False`` only sets ``status``.
        dense: record every accepted step's interpolant: ``sol.evaluate(t)`` is then
            accurate over the whole span (memory ``O(max_steps)``).
        event: a :class:`~solvers.Event` or a tuple of them (see ``sol.events``).
        max_step: bound on ``|step size|`` of adaptive methods.
        jump_ts: times where ``f`` is discontinuous: steps end exactly on them and
            restart from the right-hand value of ``f``.
        progress: print a progress bar over ``t`` to stderr (one host callback per
            percent of ``t_span``; also under ``jit`` and ``vmap``, where it follows the
            slowest member). Off, it costs nothing.
        controller: step-size controller of adaptive methods (default
            ``solvers.PIDController()``).
        checkpoint_bytes: memory budget of the checkpoint adjoint's snapshots
            (forward and backward): large states get fewer snapshot slots (at least 4
            per pass) and snapshots without the method's state. Default 64 MiB.

    Returns:
        A :class:`Solution` with ``ts`` ``(T,)``, ``ys`` (leaves ``(T, ...)``),
        ``stats``, ``status``, ``events`` and ``evaluate``.

    Raises:
        ValueError / TypeError: bad input, with a message that says what to fix.
        SolveError: with ``throw=True``, a failed integration whose status is known
            in Python. Under ``jax.jit`` the same message arrives through
            ``equinox.error_if`` (a ``jax.errors.JaxRuntimeError`` whose text, after
            a traceback, contains it); under ``jax.grad`` the backward pass raises too.
    """
    spec = _validate(**locals())  # every argument, by name
    if spec["diffrax"]:
        from ._diffrax import solve_with_diffrax

        solution = solve_with_diffrax(f, spec["y0"], params, spec, throw=False)
    else:
        static = spec["static"]
        arrays = spec["arrays"]
        if spec["hashable"]:
            solution = _solve_compiled(f, spec["y0"], params, arrays, static)
        else:
            solution = _solve_builtin(f, spec["y0"], params, arrays, static)
    return _raise_or_mark(solution, throw)


def _validate(
    f,
    y0,
    t_span,
    params,
    method,
    ts,
    dt,
    rtol,
    atol,
    max_steps,
    adjoint,
    throw,
    dense,
    event,
    max_step,
    jump_ts,
    progress,
    controller,
    checkpoint_bytes,
):
    if not callable(f):
        raise TypeError("f must be callable as f(t, y, params).")
    if isinstance(t_span, (str, bytes)) or not (
        (isinstance(t_span, (tuple, list)) and len(t_span) == 2)
        or getattr(t_span, "shape", None) == (2,)
    ):
        raise ValueError(f"t_span must be a pair (t0, t1), got {t_span!r}.")
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
        raise ValueError(f"max_steps must be a positive int, got {max_steps!r}.")
    if (
        isinstance(checkpoint_bytes, bool)
        or not isinstance(checkpoint_bytes, int)
        or checkpoint_bytes < 1
    ):
        raise ValueError(f"checkpoint_bytes must be a positive int, got {checkpoint_bytes!r}.")
    if adjoint not in ADJOINTS:
        raise ValueError(
            f"adjoint must be one of {', '.join(repr(a) for a in ADJOINTS)}, got {adjoint!r}."
        )
    for name, flag in (("dense", dense), ("progress", progress), ("throw", throw)):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be True or False, got {flag!r}.")
    method = _resolve_method(method)
    is_diffrax = _is_diffrax_solver(method)
    save_steps = isinstance(ts, str)
    if save_steps and ts != "steps":
        raise ValueError(f"ts must be an array of times, None or 'steps', got {ts!r}.")
    if save_steps:
        ts = None

    if _is_concrete(y0):
        _check_finite("y0", y0)
    if _is_concrete(params):
        _check_finite("params", params)
    y0 = jax.tree.map(jnp.asarray, y0)
    if hasattr(method, "check_state"):
        # A method that needs a particular state layout (e.g. a partitioned (q, p)
        # state) checks the user's pytree here, where its structure is still known.
        method.check_state(y0)
    dtype = _state_dtype(y0)
    y0 = jax.tree.map(lambda leaf: leaf.astype(dtype), y0)
    time_dtype = jnp.finfo(dtype).dtype
    t0, concrete_t0 = _scalar("t_span[0]", t_span[0], time_dtype)
    t1, concrete_t1 = _scalar("t_span[1]", t_span[1], time_dtype)
    for name, value in (("t_span[0]", concrete_t0), ("t_span[1]", concrete_t1)):
        if value is not None and not math.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value}.")
    consts = _check_vector_field(f, t0, y0, params)
    events = _check_events(event, t0, y0, params)

    rtol, host_rtol = _scalar("rtol", rtol, time_dtype)
    atol, host_atol = _scalar("atol", atol, time_dtype)
    for name, concrete in (("rtol", host_rtol), ("atol", host_atol)):
        if concrete is not None and not (math.isfinite(concrete) and concrete >= 0):
            raise ValueError(f"{name} must be a finite number >= 0, got {concrete}.")
    if host_rtol == 0 and host_atol == 0 and method_is_adaptive(method):
        raise ValueError("rtol and atol are both 0: no step can meet that; give one of them > 0.")
    concrete_dt = None
    if dt is not None:
        dt, concrete_dt = _scalar("dt", dt, time_dtype)
        if concrete_dt is not None and not (math.isfinite(concrete_dt) and concrete_dt != 0):
            raise ValueError(f"dt must be finite and non-zero, got {concrete_dt}.")
    if max_step is not None:
        max_step, concrete = _scalar("max_step", max_step, time_dtype)
        if concrete is not None and not concrete > 0:
            raise ValueError(f"max_step must be > 0, got {concrete}.")

    direction = jnp.where(t1 >= t0, 1, -1).astype(time_dtype)
    invalid = ~(jnp.isfinite(t0) & jnp.isfinite(t1))
    invalid = invalid | ~(jnp.isfinite(rtol) & (rtol >= 0) & jnp.isfinite(atol) & (atol >= 0))
    if method_is_adaptive(method):
        invalid = invalid | ((rtol == 0) & (atol == 0))
    if dt is not None:
        invalid = invalid | ~jnp.isfinite(dt) | (dt == 0)
    if max_step is not None:
        invalid = invalid | ~(max_step > 0)

    save_ts = None
    if ts is not None:
        if isinstance(ts, (str, bytes)):
            raise ValueError(f"ts must be an array of times, None or 'steps', got {ts!r}.")
        save_ts = jnp.asarray(ts)
        if save_ts.ndim != 1 or save_ts.shape[0] == 0:
            raise ValueError(f"ts must be a non-empty 1-D array, got shape {save_ts.shape}.")
        save_ts = save_ts.astype(time_dtype)
        if _is_concrete(ts) and concrete_t0 is not None and concrete_t1 is not None:
            host = np.asarray(ts, time_dtype)
            if not np.all(np.isfinite(host)):
                raise ValueError("ts contains NaN or inf; save times must be finite.")
            sign = 1 if concrete_t1 >= concrete_t0 else -1
            if bool(
                _invalid_ts(
                    host,
                    np.asarray(concrete_t0, time_dtype),
                    np.asarray(concrete_t1, time_dtype),
                    sign,
                )
            ):
                raise ValueError(
                    f"ts must lie inside t_span=({concrete_t0}, {concrete_t1}) and be "
                    f"{'non-decreasing' if sign > 0 else 'non-increasing'} "
                    "(the direction of integration)."
                )
        invalid = invalid | _invalid_ts(save_ts, t0, t1, direction)
    if jump_ts is not None:
        if np.ndim(jump_ts) != 1:
            raise ValueError(
                f"jump_ts must be a 1-D array of times, got shape {np.shape(jump_ts)}."
            )
        if _is_concrete(jump_ts) and not np.all(np.isfinite(np.asarray(jump_ts))):
            raise ValueError("jump_ts contains NaN or inf; jump times must be finite.")
        jump_ts = jnp.asarray(jump_ts).astype(time_dtype)
        invalid = invalid | ~jnp.all(jnp.isfinite(jump_ts))

    if adjoint == "backsolve" and (events or dense or save_steps):
        raise NotImplementedError(
            "adjoint='backsolve' does not support events, dense=True or ts='steps'; "
            "use adjoint='checkpoint' (the default) or 'direct'."
        )
    if adjoint == "backsolve" and is_diffrax:
        raise NotImplementedError(
            "adjoint='backsolve' is implemented for the built-in methods only; with a "
            "diffrax solver use adjoint='checkpoint' (default) or 'direct'."
        )
    if is_diffrax and (events or dense or save_steps or progress or controller is not None):
        raise NotImplementedError(
            "events, dense=True, ts='steps', progress=True and controller= work with the built-in "
            "methods, not with a diffrax solver instance."
        )

    adaptive = method_is_adaptive(method)
    if not is_diffrax:
        if not adaptive and dt is None:
            raise ValueError(
                f"method {method.name!r} is a fixed-step method: pass dt=..., or use an "
                "adaptive method such as 'tsit5'."
            )
        if controller is None:
            if not adaptive:
                controller = ConstantSteps()
            else:
                # A method may name its own default (e.g. the predictive controller of
                # the implicit Runge-Kutta methods).
                controller = getattr(method, "default_controller", None) or PIDController()
        elif isinstance(controller, ConstantSteps) and dt is None:
            raise ValueError("controller=ConstantSteps() takes steps of size dt: pass dt=...")
        elif isinstance(controller, PIDController) and not adaptive:
            raise ValueError(
                f"controller=PIDController() needs an error estimate, and method "
                f"{method.name!r} has none (a fixed-step method): leave controller out."
            )
        elif not all(hasattr(controller, name) for name in ("init", "propose", "adapt")):
            raise TypeError(
                "controller must implement init/propose/adapt (e.g. solvers.PIDController())."
            )

    forward_mode = _only_forward_mode((y0, params, t_span, ts, dt, rtol, atol, consts))
    if adjoint == "auto":
        adjoint = "forward" if forward_mode else "checkpoint"
    elif forward_mode and adjoint != "forward" and not is_diffrax:
        raise ValueError(
            f"adjoint={adjoint!r} is a reverse-mode strategy, but solve is being "
            "differentiated in forward mode (jax.jvp / jacfwd): use adjoint='auto' or "
            "'forward'."
        )
    # Fixed steps on a concrete grid take exactly its steps, however many.
    if not is_diffrax and not adaptive:
        if None not in (concrete_t0, concrete_t1, concrete_dt) and jump_ts is None:
            max_steps = fixed_step_count(abs(concrete_t1 - concrete_t0), abs(concrete_dt))
    # The arrays the route needs (traced or not); the rest is static.
    arrays = {
        "t0": t0,
        "t1": t1,
        "ts": save_ts,
        "dt": dt,
        "rtol": rtol,
        "atol": atol,
        "max_step": max_step,
        "jump_ts": jump_ts,
        "invalid": invalid,
    }
    spec = {"diffrax": is_diffrax, "y0": y0, "arrays": arrays}
    if is_diffrax:
        spec.update(method=method, max_steps=max_steps, adjoint=adjoint)
        return spec
    cfg = LoopConfig(
        method=method,
        controller=controller,
        max_steps=max_steps,
        adjoint=adjoint,
        events=events,
        dense=dense,
        save_steps=save_steps,
        progress=progress,
        throw=throw,
        checkpoint_bytes=checkpoint_bytes,
    )
    spec["static"] = cfg
    try:
        hash((f, cfg))
        hashable = True
    except TypeError:
        hashable = False
    # One cached compiled program per (f, configuration), unless f closes over traced
    # values (then the solve is traced into the caller's transformation directly).
    spec["hashable"] = hashable and _is_concrete(consts)
    return spec


def method_is_adaptive(method) -> bool:
    if _is_diffrax_solver(method):
        import diffrax

        return isinstance(method, diffrax.AbstractAdaptiveSolver)
    return method.error_order is not None


def _solve_builtin(f, y0, params, arrays, cfg):
    """The built-in route (traced): flatten, map onto forward time, run, unflatten."""
    t0, t1, ts = arrays["t0"], arrays["t1"], arrays["ts"]
    invalid = arrays["invalid"]
    time_dtype = t0.dtype
    direction = jnp.where(t1 >= t0, 1, -1).astype(time_dtype)
    y0_flat, unravel = ravel_pytree(y0)
    dtype = y0_flat.dtype
    field, consts = jax.closure_convert(f, t0, y0, params)
    field_count = len(consts)
    conditions = []
    for event in cfg.events:
        condition, condition_consts = jax.closure_convert(event.condition, t0, y0, params)
        conditions.append((condition, len(consts), len(condition_consts)))
        consts = consts + condition_consts
    # direction travels in args: the custom VJP's functions must close over no tracer.
    args = (params, tuple(consts), direction)

    def flat_field(tau, y, args):
        params, consts, direction = args
        out = field(direction * tau, unravel(y), params, *consts[:field_count])
        return direction.astype(dtype) * ravel_pytree(out)[0].astype(dtype)

    def flat_condition(condition, start, count):
        def g(tau, y, args):
            params, consts, direction = args
            return condition(direction * tau, unravel(y), params, *consts[start : start + count])

        return g

    if getattr(cfg.method, "jacobian", None) is not None:
        # A user Jacobian J(t, y, params) of the state flattened by ravel_pytree,
        # converted like the field: forward time, and the sign of the direction.
        jacobian, jacobian_consts = jax.closure_convert(cfg.method.jacobian, t0, y0, params)
        start, count = len(consts), len(jacobian_consts)
        args = (params, tuple(consts) + tuple(jacobian_consts), direction)

        def flat_jacobian(tau, y, args):
            params, consts, direction = args
            matrix = jacobian(direction * tau, unravel(y), params, *consts[start : start + count])
            return direction.astype(dtype) * jnp.asarray(matrix).astype(dtype)

        flat_field.jacobian = flat_jacobian

    if getattr(cfg.method, "uses_split", False):
        # The exponential and IMEX methods read the two parts of a semilinear field.
        dt = arrays["dt"]
        fixed_dt = None if dt is None else jnp.where(arrays["invalid"], 1, jnp.abs(dt))
        args = _split.attach(
            flat_field,
            f,
            t0,
            y0,
            params,
            args,
            unravel,
            dtype,
            cfg.method,
            None if fixed_dt is None else fixed_dt.astype(time_dtype),
        )

    flat_conditions = tuple(flat_condition(c, start, count) for c, start, count in conditions)
    forward_t0, forward_t1 = direction * t0, direction * t1
    # An invalid input runs no step (status INVALID_INPUT below).
    forward_t1 = jnp.where(invalid, forward_t0, forward_t1)
    forward_ts = None
    if ts is not None:
        forward_ts = _onto_span(direction * ts, forward_t0, forward_t1)
        forward_ts = jnp.where(invalid, forward_t0, forward_ts)
    dt = arrays["dt"]
    options = Options(
        rtol=arrays["rtol"].astype(time_dtype),
        atol=arrays["atol"].astype(time_dtype),
        dt=None if dt is None else jnp.where(invalid, 1, jnp.abs(dt)).astype(time_dtype),
        max_step=None if arrays["max_step"] is None else arrays["max_step"].astype(time_dtype),
        jump_ts=None if arrays["jump_ts"] is None else jnp.sort(direction * arrays["jump_ts"]),
    )
    run = _adjoint.make_solver(cfg, flat_field, flat_conditions)
    outputs, stats, status = run(args, y0_flat, forward_t0, forward_t1, forward_ts, options)
    stats = {**stats, "stiffness": outputs["stiffness"]}
    status = jnp.where(invalid, INVALID_INPUT, status).astype(jnp.int32)
    nan_if_invalid = lambda x: jnp.where(invalid, jnp.nan, x)  # noqa: E731

    ys_flat = nan_if_invalid(outputs["ys"])
    t_final = nan_if_invalid(direction * outputs["t_final"])
    if cfg.save_steps:
        steps_t, steps_y = outputs["steps"]
        save_ts, ys_flat = direction * steps_t, nan_if_invalid(steps_y)
    elif ts is None:
        save_ts = t_final[None]
    else:
        save_ts = ts
    ys = jax.vmap(unravel)(ys_flat)
    events = ()
    if cfg.events:
        event_ts, event_ys, counts = outputs["events"]
        events = tuple(
            EventRecord(
                ts=nan_if_invalid(direction * event_ts[i, : event.max_events]),
                ys=jax.vmap(unravel)(nan_if_invalid(event_ys[i, : event.max_events])),
                count=counts[i],
            )
            for i, event in enumerate(cfg.events)
        )
    dense = None
    if cfg.dense:
        dense_t, dense_h, dense_y, dense_c = outputs["dense"]
        dense = DenseOutput(
            ts=direction * dense_t,
            hs=dense_h,
            ys=dense_y,
            coefficients=dense_c,
            count=jnp.where(invalid, 0, stats["num_accepted"]),
            direction=direction,
            interpolate=cfg.method.interpolate,
            unravel=unravel,
        )
    derivatives = jax.vmap(lambda t, y: f(t, y, params))(save_ts, ys)
    return Solution(
        ts=save_ts,
        ys=ys,
        stats=stats,
        status=status,
        derivatives=derivatives,
        events=events,
        dense=dense,
    )


_solve_compiled = jax.jit(_solve_builtin, static_argnums=(0, 4))


def _raise_or_mark(solution, throw):
    if not throw:
        return solution
    status = solution.status
    messages = failure_messages()
    if _is_concrete(status, solution.stats):
        failed = np.asarray(status) != SUCCESS
        if np.any(failed):
            first = int(np.argmax(failed.flat))
            stats = {k: np.asarray(v).flat[first] for k, v in solution.stats.items()}
            code = int(np.asarray(status).flat[first])
            message = messages[int(message_index(code, stats))]
            raise SolveError(f"solvers.solve failed (status {code}): {message}")
        return solution
    index = message_index(status, solution.stats)
    messages = tuple("solvers.solve failed: " + message for message in messages)
    # The check is tied to every output, so a jitted function that returns only, say,
    # the event times or the status still raises.
    leaves, treedef = jax.tree.flatten(solution)
    arrays = [i for i, leaf in enumerate(leaves) if isinstance(leaf, jax.Array)]
    checked = eqx.branched_error_if(
        tuple(leaves[i] for i in arrays), status != SUCCESS, index, messages
    )
    for i, leaf in zip(arrays, checked):
        leaves[i] = leaf
    return jax.tree.unflatten(treedef, leaves)
