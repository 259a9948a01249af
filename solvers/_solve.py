"""The driver: :func:`solve`, the :class:`Solution` record, status codes and errors."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from jaxtyping import Array, ArrayLike, PyTree

from . import _loop
from .adjoint import make_backsolve_solver
from .explicit import METHODS, ExplicitRK

STATUS_MESSAGES = {
    _loop.SUCCESS: "success",
    _loop.MAX_STEPS_REACHED: (
        "the solver reached max_steps before t1. The problem may be stiff: an "
        "explicit method then needs tiny steps. Try a stiff method (method="
        "diffrax.Kvaerno5() now; 'kvaerno5', 'rodas5' and 'bdf' once they land), "
        "loosen rtol/atol, or raise max_steps."
    ),
    _loop.STEP_SIZE_UNDERFLOW: (
        "the step size underflowed: the error estimate stayed too large even for a "
        "step at the limit of floating-point resolution. The solution may blow up "
        "(finite-time singularity) or the problem is very stiff; check the vector "
        "field and parameters, or use a stiff method."
    ),
    _loop.NONFINITE: (
        "the state became non-finite (NaN or inf): the initial state, the parameters "
        "or the vector field's value is not finite. Check y0, params and f; for a "
        "fixed-step method try a smaller dt."
    ),
    _loop.NEWTON_DIVERGENCE: "Newton's iteration diverged in an implicit method.",
    _loop.INVALID_INPUT: (
        "invalid input: the save times ts must lie inside t_span and be monotone in "
        "the direction of integration."
    ),
}

_COMING = (
    "implicit_euler",
    "trapezoid",
    "kvaerno3",
    "kvaerno5",
    "rodas5",
    "bdf",
    "leapfrog",
    "yoshida4",
    "ruth4",
    "etdrk4",
)


class SolveError(RuntimeError):
    """A failed integration (``throw=True``); the message says what to change."""


def status_message(status: int) -> str:
    """Human-readable meaning of a ``Solution.status`` code."""
    return STATUS_MESSAGES.get(int(status), f"unknown status {int(status)}")


class Solution(eqx.Module):
    """Result of :func:`solve`; a pytree, so it can leave ``jit`` and ``vmap``.

    Attributes:
        ts: ``(T,)`` save times.
        ys: pytree like ``y0``; every leaf has a leading axis of length ``T``.
        stats: dict of integer arrays ``num_steps`` (attempted), ``num_accepted``,
            ``num_rejected``, ``num_fevals`` (-1 where unknown).
        status: integer array, 0 on success (see :func:`status_message`).
        derivatives: ``dy/dt`` at ``ts`` (used by :meth:`evaluate`).
    """

    ts: Array
    ys: PyTree
    stats: dict
    status: Array
    derivatives: PyTree

    @property
    def message(self) -> str:
        return status_message(self.status)

    def evaluate(self, t: ArrayLike) -> PyTree:
        """Dense output at scalar time ``t`` between the saved points.

        Cubic Hermite interpolation of the saved values and slopes (third order in
        the spacing of ``ts``): save as densely as the accuracy you need here.
        Returns NaN outside ``[ts[0], ts[-1]]``.
        """
        ts = self.ts
        t = jnp.asarray(t, ts.dtype)
        if ts.shape[0] == 1:
            return jax.tree.map(lambda y: jnp.where(t == ts[0], y[0], jnp.nan), self.ys)
        sign = jnp.where(ts[-1] >= ts[0], 1.0, -1.0).astype(ts.dtype)
        index = jnp.clip(
            jnp.searchsorted(sign * ts, sign * t, side="right") - 1, 0, ts.shape[0] - 2
        )
        t_left, t_right = ts[index], ts[index + 1]
        h = t_right - t_left
        theta = (t - t_left) / h
        inside = (sign * (t - ts[0]) >= 0) & (sign * (ts[-1] - t) >= 0)
        h00 = (1 + 2 * theta) * (1 - theta) ** 2
        h10 = theta * (1 - theta) ** 2
        h01 = theta**2 * (3 - 2 * theta)
        h11 = theta**2 * (theta - 1)

        def leaf(y, dy):
            value = (
                h00 * y[index] + h10 * h * dy[index] + h01 * y[index + 1] + h11 * h * dy[index + 1]
            )
            return jnp.where(inside, value, jnp.nan)

        return jax.tree.map(leaf, self.ys, self.derivatives)


def _resolve_method(method):
    if isinstance(method, ExplicitRK):
        return method
    if isinstance(method, str):
        key = method.lower()
        if key in METHODS:
            return METHODS[key]()
        if key in _COMING:
            raise ValueError(
                f"method={method!r} is not available yet. For stiff problems pass a "
                "diffrax solver instance, e.g. method=diffrax.Kvaerno5()."
            )
        close = difflib.get_close_matches(key, list(METHODS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"Unknown method {method!r}.{hint} Available: {', '.join(METHODS)}, or any "
            "diffrax solver instance."
        )
    try:
        import diffrax
    except ImportError:  # pragma: no cover - diffrax is a dependency
        diffrax = None
    if diffrax is not None and isinstance(method, diffrax.AbstractSolver):
        return method
    raise TypeError(
        f"method must be a name, a solvers method object (e.g. solvers.Tsit5()) or a "
        f"diffrax solver instance, got {type(method).__name__}."
    )


def _is_concrete(*trees) -> bool:
    return not any(isinstance(x, jax.core.Tracer) for x in jax.tree.leaves(trees))


def _only_forward_mode(tree) -> bool:
    """Is some leaf differentiated in forward mode (``jax.jvp``/``jacfwd``) and none in
    reverse mode? Then the plain loop is used; reverse mode (also nested, as in
    ``jax.hessian``) needs the custom VJP."""
    forward = False
    for leaf in jax.tree.leaves(tree):
        x = leaf
        while isinstance(x, jax.core.Tracer):
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


def _float_dtype(y0):
    dtypes = [jnp.asarray(leaf).dtype for leaf in jax.tree.leaves(y0)]
    if not dtypes:
        raise ValueError("y0 has no array leaves.")
    floats = [d for d in dtypes if jnp.issubdtype(d, jnp.inexact)]
    if not floats:
        return jnp.asarray(0.0).dtype
    return jnp.result_type(*floats)


def _check_vector_field(f, t0, y0, params):
    try:
        out = jax.eval_shape(f, t0, y0, params)
    except Exception as error:
        raise TypeError(
            f"Calling f(t, y, params) with t={t0!r}, y like y0 and params failed: "
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


def solve(
    f: Callable,
    y0: PyTree,
    t_span: tuple[ArrayLike, ArrayLike],
    params: PyTree = None,
    *,
    method: Any = "tsit5",
    ts: ArrayLike | None = None,
    dt: ArrayLike | None = None,
    rtol: float = 1e-6,
    atol: float = 1e-9,
    max_steps: int = 100_000,
    adjoint: str = "auto",
    throw: bool = True,
) -> Solution:
    """Solve the initial value problem ``dy/dt = f(t, y, params)``, ``y(t0) = y0``.

    Explicit Runge-Kutta methods advance ``y_{n+1} = y_n + h sum_i b_i k_i``;
    adaptive pairs accept a step when the scaled local error
    ``||e / (atol + rtol max(|y_n|, |y_{n+1}|))||_rms <= 1`` and choose the next step
    with a PID controller (Hairer, Norsett & Wanner, *Solving ODEs I*, II.4;
    Soderlind 2003). Save times are filled from each method's dense output, not
    by shortening steps.

    Args:
        f: vector field ``f(t, y, params) -> dy/dt``, a pytree like ``y``.
        y0: initial state, any pytree of arrays; its dtype sets the precision.
        t_span: ``(t0, t1)``; ``t1 < t0`` integrates backwards.
        params: any pytree passed to ``f``.
        method: a name (``"tsit5"``, ``"dopri5"``, ``"dopri8"``, ``"bosh3"``,
            ``"euler"``, ``"midpoint"``, ``"heun"``, ``"ralston"``, ``"rk4"``), a
            method object (``solvers.Tsit5(pcoeff=0.4, icoeff=0.3)``) or a diffrax
            solver instance (routed to ``diffrax.diffeqsolve``).
        ts: ``(T,)`` save times inside ``t_span``, monotone in the direction of
            integration; ``None`` saves ``t1`` only.
        dt: step size of fixed-step methods (required there); first step of
            adaptive ones (``None``: Hairer's automatic choice).
        rtol, atol: relative and absolute tolerances of adaptive methods.
        max_steps: bound on attempted steps (also sizes the adjoint's checkpoints).
        adjoint: reverse-mode strategy: ``"auto"`` (= ``"checkpoint"``, and a plain
            forward-differentiable loop under ``jax.jvp``), ``"checkpoint"``
            (O(log max_steps) memory), ``"direct"`` (records every step),
            ``"backsolve"`` (continuous adjoint: integrates the adjoint ODE backwards
            with the same method and tolerances; memory O(1) in the number of steps,
            the gradient only accurate to about the tolerance and unreliable for
            chaotic or stiff problems; NaN if the backward solve fails; built-in
            methods only), ``"forward"`` (forward mode only).
        throw: raise on failure (also under ``jit``); ``False`` only sets ``status``.

    Returns:
        A :class:`Solution` with ``ts`` ``(T,)``, ``ys`` (leaves ``(T, ...)``),
        ``stats``, ``status`` and ``evaluate``.

    Raises:
        ValueError / TypeError: bad input, with a message that says what to fix.
        SolveError: with ``throw=True``, a failed integration called outside any JAX
            transformation. Under ``jax.jit`` the same message arrives through
            ``equinox.error_if`` (a ``jax.errors.JaxRuntimeError``).
    """
    if not (isinstance(t_span, (tuple, list)) and len(t_span) == 2) and getattr(
        t_span, "shape", None
    ) != (2,):
        raise ValueError(f"t_span must be a pair (t0, t1), got {t_span!r}.")
    if not isinstance(max_steps, int) or max_steps < 1:
        raise ValueError(f"max_steps must be a positive int, got {max_steps!r}.")
    method = _resolve_method(method)
    if adjoint not in ("auto", "checkpoint", "direct", "forward", "backsolve"):
        raise ValueError(
            f"adjoint must be 'auto', 'checkpoint', 'backsolve', 'direct' or 'forward', "
            f"got {adjoint!r}."
        )
    if adjoint == "backsolve" and not isinstance(method, ExplicitRK):
        raise NotImplementedError(
            "adjoint='backsolve' is implemented for the built-in methods only; with a "
            "diffrax solver use adjoint='checkpoint' (default) or 'direct'."
        )
    if not callable(f):
        raise TypeError("f must be callable as f(t, y, params).")

    # Values given as constants stay checkable in Python even inside a user's jit.
    if _is_concrete(y0):
        _check_finite("y0", y0)
    if _is_concrete(params):
        _check_finite("params", params)
    span_static = _is_concrete(t_span[0], t_span[1], dt)
    ts_static = ts is not None and _is_concrete(ts)
    y0 = jax.tree.map(jnp.asarray, y0)
    dtype = _float_dtype(y0)
    y0 = jax.tree.map(lambda leaf: leaf.astype(dtype), y0)
    t0 = jnp.asarray(t_span[0], dtype)
    t1 = jnp.asarray(t_span[1], dtype)
    _check_vector_field(f, t0, y0, params)

    save_ts = t1[None] if ts is None else jnp.asarray(ts, dtype)
    if save_ts.ndim != 1 or save_ts.shape[0] == 0:
        raise ValueError(f"ts must be a non-empty 1-D array, got shape {save_ts.shape}.")
    direction = jnp.where(t1 >= t0, 1, -1).astype(dtype)
    invalid = jnp.asarray(False)
    if ts is not None:
        invalid = _invalid_ts(save_ts, t0, t1, direction)
        if (
            ts_static
            and span_static
            and bool(
                _invalid_ts(
                    np.asarray(ts, dtype),
                    np.asarray(t_span[0], dtype),
                    np.asarray(t_span[1], dtype),
                    1 if float(t_span[1]) >= float(t_span[0]) else -1,
                )
            )
        ):
            raise ValueError(
                f"ts must lie inside t_span=({float(t_span[0])}, {float(t_span[1])}) and be "
                f"{'non-decreasing' if float(t_span[1]) >= float(t_span[0]) else 'non-increasing'} "
                "(the direction of integration)."
            )

    if _eager() and _hashable(f, method):
        # Outside any transformation: run through one cached compiled program (a
        # plain Python call would recompile the loop on every call), then raise here.
        solution = _solve_compiled(
            f,
            y0,
            params,
            ts,
            rtol,
            atol,
            t_span=(float(t0), float(t1)),
            dt=None if dt is None else float(dt),
            method=method,
            max_steps=max_steps,
            adjoint=adjoint,
        )
        status = np.asarray(solution.status)
        if throw and np.any(status != _loop.SUCCESS):
            code = int(status.flat[np.argmax(status.flat != _loop.SUCCESS)])
            raise SolveError(f"solvers.solve failed (status {code}): {status_message(code)}")
        return solution

    if not isinstance(method, ExplicitRK):
        from ._diffrax import solve_with_diffrax

        if ts is not None:
            # diffrax raises on bad save times itself; give it valid ones and report
            # the problem through status (or the error below).
            safe = direction * _onto_span(direction * save_ts, direction * t0, direction * t1)
            ts = jnp.where(invalid, jnp.linspace(t0, t1, save_ts.shape[0]), safe)
        _, ys, stats, status = solve_with_diffrax(
            f,
            y0,
            t0,
            t1,
            params,
            method=method,
            ts=ts,
            dt=dt,
            rtol=rtol,
            atol=atol,
            max_steps=max_steps,
            adjoint=adjoint,
        )
        status = jnp.where(invalid, _loop.INVALID_INPUT, status).astype(jnp.int32)
        return _finish(f, params, save_ts, ys, stats, status, throw)
    if not method.adaptive and dt is None:
        raise ValueError(
            f"method {method.name!r} is a fixed-step method: pass dt=..., or use an "
            "adaptive method such as 'tsit5'."
        )
    if dt is not None and _is_concrete(dt) and not float(dt) > 0 and not float(dt) < 0:
        raise ValueError(f"dt must be non-zero, got {dt!r}.")

    y0_flat, unravel = ravel_pytree(y0)
    field, consts = jax.closure_convert(f, t0, y0, params)
    # direction travels in args: the custom VJP's vector field must close over no tracer.
    args = (params, tuple(consts), direction)

    def flat_field(tau, y, args):
        params, consts, direction = args
        out = field(direction * tau, unravel(y), params, *consts)
        return direction * ravel_pytree(out)[0].astype(dtype)

    rtol = jnp.asarray(rtol, dtype)
    atol = jnp.asarray(atol, dtype)
    num = None
    if not method.adaptive and span_static:
        step = abs(float(dt))
        num = _loop.fixed_grid(0.0, abs(float(t_span[1]) - float(t_span[0])), step)
    # The scan records every step; backsolve runs the bounded loop in O(1) memory.
    if num is not None and num <= max_steps and adjoint != "backsolve":
        ys_flat, stats, status = _loop.integrate_fixed(
            method,
            flat_field,
            args,
            y0_flat,
            direction * t0,
            direction * t1,
            jnp.asarray(step, dtype),
            num,
            _onto_span(direction * save_ts, direction * t0, direction * t1),
        )
    else:
        if adjoint == "auto":
            adjoint = (
                "forward" if _only_forward_mode((y0, params, t_span, ts, consts)) else "checkpoint"
            )
        cfg = _loop.LoopConfig(method=method, max_steps=max_steps, adjoint=adjoint)
        if adjoint == "backsolve":
            run = make_backsolve_solver(cfg, flat_field)
        else:
            run = _loop.make_adaptive_solver(cfg, flat_field)
        h0 = None if dt is None else jnp.abs(jnp.asarray(dt, dtype))
        ys_flat, stats, status = run(
            args,
            y0_flat,
            direction * t0,
            direction * t1,
            None if ts is None else _onto_span(direction * save_ts, direction * t0, direction * t1),
            h0,
            rtol,
            atol,
        )
    status = jnp.where(invalid, _loop.INVALID_INPUT, status).astype(jnp.int32)
    ys = jax.vmap(unravel)(ys_flat)
    return _finish(f, params, save_ts, ys, stats, status, throw)


def _onto_span(forward_ts, forward_t0, forward_t1):
    """Move save times that are a few ulps outside ``t_span`` (validated) onto it."""
    forward_ts = jnp.where(forward_ts > forward_t1, forward_t1, forward_ts)
    return jnp.where(forward_ts < forward_t0, forward_t0, forward_ts)


def _invalid_ts(ts, t0, t1, direction):
    """Save times outside ``t_span`` (beyond a few ulps) or against the direction."""
    xp = np if isinstance(ts, np.ndarray) else jnp
    scale = xp.maximum(xp.abs(t0), xp.abs(t1))
    slack = 8 * xp.finfo(ts.dtype).eps * xp.maximum(scale, 1)
    forward = direction * ts
    outside = (forward < direction * t0 - slack) | (forward > direction * t1 + slack)
    backwards = xp.diff(forward) < 0
    return xp.any(outside) | xp.any(backwards)


def _finish(f, params, ts, ys, stats, status, throw):
    if throw:
        messages = tuple(
            "solvers.solve failed: " + STATUS_MESSAGES[code] for code in sorted(STATUS_MESSAGES)
        )
        leaves, treedef = jax.tree.flatten(ys)
        first = eqx.branched_error_if(leaves[0], status != _loop.SUCCESS, status, messages)
        ys = jax.tree.unflatten(treedef, [first, *leaves[1:]])
    derivatives = jax.vmap(lambda t, y: f(t, y, params))(ts, ys)
    return Solution(ts=ts, ys=ys, stats=stats, status=status, derivatives=derivatives)


def _eager() -> bool:
    from jax._src import core

    return core.trace_state_clean()


def _hashable(*objects) -> bool:
    try:
        for obj in objects:
            hash(obj)
    except TypeError:
        return False
    return True


def _solve_traced(f, y0, params, ts, rtol, atol, *, t_span, dt, method, max_steps, adjoint):
    return solve(
        f,
        y0,
        t_span,
        params,
        method=method,
        ts=ts,
        dt=dt,
        rtol=rtol,
        atol=atol,
        max_steps=max_steps,
        adjoint=adjoint,
        throw=False,
    )


_solve_compiled = jax.jit(
    _solve_traced, static_argnames=("f", "t_span", "dt", "method", "max_steps", "adjoint")
)
