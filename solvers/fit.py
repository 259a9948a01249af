"""Parameter estimation through the solver: :func:`fit`, :class:`FitResult`, :class:`FitError`.

A model ``dy/dt = f(t, y, params)`` is fitted to observations at the times ``ts`` by
gradient descent with any Optax optimiser; the gradient flows through
:func:`solvers.solve` (discretise-then-optimise, see the differentiation docs). With
``segments > 1`` the fit uses multiple shooting (Bock & Plitt 1984), which keeps the
loss landscape of long or chaotic series well behaved (Voss, Timmer & Kurths 2004).
"""

from __future__ import annotations

import functools
import math
import sys
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, ArrayLike, PyTree

from ._solution import status_message
from ._solve import solve

__all__ = ["FitError", "FitResult", "fit"]

_LOSSES = ("l2", "huber")

_STIFF_HINT = "method='auto' or a stiff method such as method='rodas5' or 'radau5'"


class FitError(RuntimeError):
    """The optimisation diverged: a non-finite loss or gradient part-way through.

    Attributes:
        step: the step (0-based index into the loss history) at which it diverged.
        params: the last parameters with a finite loss (like ``params0``).
        y0: the initial state that goes with them.
        losses: ``(step,)`` the loss history up to the failing step.
    """

    def __init__(self, message: str, *, step: int, params: PyTree, y0: PyTree, losses: Array):
        super().__init__(message)
        self.step = step
        self.params = params
        self.y0 = y0
        self.losses = losses


class FitResult(eqx.Module):
    """Result of :func:`fit`.

    Attributes:
        params: the fitted parameters, a pytree like ``params0``.
        y0: the fitted initial state with ``fit_y0=True``, else the ``y0`` that was
            given (as floating arrays). With multiple shooting, the first segment's start.
        losses: ``(num_steps,)`` loss history; ``losses[k]`` is the loss at the
            parameters *before* update ``k``.
        opt_state: the optimiser state after the last update, for the trainable tree
            described under ``optimizer`` in :func:`fit`.
        num_steps: the number of updates made (``steps``, or fewer if the callback
            stopped the fit).
        segment_y0: multiple shooting: the start state of every segment, a pytree like
            ``y0`` whose leaves have a leading axis of length ``segments``; ``None``
            for single shooting.
        segment_bounds: indices into ``ts`` where the segments start, and the last
            index: ``(b_0 = 0, b_1, ..., b_S = len(ts) - 1)``.
    """

    params: PyTree
    y0: PyTree
    losses: Array
    opt_state: PyTree
    num_steps: int = eqx.field(static=True)
    segment_y0: PyTree = None
    segment_bounds: tuple[int, ...] = eqx.field(static=True, default=())


def fit(
    f: Callable,
    y0: PyTree,
    ts: ArrayLike,
    data: PyTree,
    params0: PyTree,
    *,
    optimizer: optax.GradientTransformation = optax.adam(1e-2),
    steps: int = 1000,
    loss: str | Callable = "l2",
    observe: Callable | None = None,
    fit_y0: bool = False,
    segments: int = 1,
    continuity_weight: float = 1.0,
    progress: bool = True,
    callback: Callable | None = None,
    **solve_options: Any,
) -> FitResult:
    r"""Fit the parameters (and optionally the initial state) of an ODE to data.

    The prediction is ``solve(f, y0, (ts[0], ts[-1]), params, ts=ts, **solve_options).ys``,
    mapped through ``observe`` at every time point, and compared with ``data``.
    Entries of ``data`` that are NaN are missing observations and do not enter the
    loss. With the residuals ``r_i = h(y(t_i; \theta, y_0)) - d_i`` (``h = observe``,
    ``d = data``) over the set :math:`O` of observed (non-NaN) entries of all leaves
    of ``data`` together:

    * ``loss="l2"``: :math:`L = \frac{1}{|O|} \sum_{i \in O} r_i^2`;
    * ``loss="huber"``: :math:`L = \frac{1}{|O|} \sum_{i \in O} \rho_1(r_i)` with the
      Huber function :math:`\rho_\delta(r) = r^2/2` for :math:`|r| \le \delta`, else
      :math:`\delta(|r| - \delta/2)`, :math:`\delta = 1` (``optax.losses.huber_loss``;
      Huber 1964), robust to outliers;
    * a callable ``loss(pred, data) -> scalar``: gets the full prediction (a pytree
      like ``data``, after ``observe``) and ``data`` *as given, NaNs included*:
      masking missing entries is then the callable's job (e.g. with
      ``jnp.isnan(data)``).

    Every step computes the loss and its gradient through the solver, asks the
    optimiser for an update (``optimizer.update(grads, state, trainable)``, so weight
    decay and ``optax.chain``/schedules work) and applies it. That step is one
    ``jax.jit``-compiled function, traced and compiled once (and cached for later fits
    with the same ``f``, ``observe``, loss, optimizer object, ``ts[0]``, ``ts[-1]``,
    segments and solve options); a Python loop runs it ``steps`` times, so the
    progress bar, the callback and the divergence check see every step.

    **Multiple shooting** (``segments = S > 1``; Bock & Plitt 1984, Voss, Timmer &
    Kurths 2004). ``ts`` is split at indices ``b_k = round(k (T - 1) / S)`` into ``S``
    contiguous segments ``[t_{b_k}, t_{b_{k+1}}]`` that share their boundary points.
    Segment ``k`` is integrated from its own trainable start state :math:`s_k` (``s_0``
    is ``y0``, trainable only with ``fit_y0=True``); all segments are solved at once
    with ``jax.vmap``. Segments with fewer points than the longest are padded by
    repeating their end time; the padded points carry no data. Every data point is
    compared with exactly one segment (a boundary point with the segment it starts),
    so the data term is the loss above, and the objective is

    .. math::

        J(\theta, s) = L(\theta, s) + \lambda \frac{1}{(S - 1) n}
            \sum_{k=0}^{S-2} \lVert y(t_{b_{k+1}}; t_{b_k}, s_k, \theta) - s_{k+1}
            \rVert_2^2

    with ``lambda = continuity_weight`` and ``n`` the size of the state. The start
    states ``s_1, ..., s_{S-1}`` are initialised from the data at the segment starts
    where ``observe`` is ``None`` and those data are complete, else from a single
    solve with ``params0``.

    Args:
        f: vector field ``f(t, y, params) -> dy/dt``.
        y0: initial state at ``ts[0]``, any pytree of arrays.
        ts: ``(T,)`` strictly monotone observation times, ``T >= 2`` (decreasing
            times integrate backwards).
        data: the observations: a pytree like ``observe(y)`` (like ``y0`` without
            ``observe``) whose leaves have a leading axis of length ``T``. NaN marks
            a missing entry; inf is an error.
        params0: initial parameters, any pytree of floating arrays; every leaf is
            optimised (close over constants in ``f`` to keep them fixed).
        optimizer: any ``optax.GradientTransformation``. It sees the trainable tree
            ``{"params": ...}`` plus ``"y0"`` with ``fit_y0=True`` and
            ``"segment_y0"`` (start states of segments ``1..S-1``, leading axis
            ``S - 1``) with multiple shooting; use that structure for
            ``optax.masked`` or ``optax.multi_transform``.
        steps: number of optimiser updates (a positive int).
        loss: ``"l2"``, ``"huber"`` or a callable ``loss(pred, data) -> scalar``.
        observe: ``observe(y) -> observed quantity`` for a single time point (a
            pytree like one time slice of ``data``); applied with ``jax.vmap`` over
            the time axis. ``None``: the state itself.
        fit_y0: also estimate the initial state.
        segments: ``1``: single shooting; ``S > 1``: multiple shooting with ``S``
            segments (at most ``T - 1``).
        continuity_weight: ``lambda`` of the continuity penalty of multiple shooting
            (ignored for ``segments=1``); a non-negative number.
        progress: print a one-line progress bar with the step and the loss to stderr.
        callback: ``callback(step, params, loss)`` after every step, with the 0-based
            ``step``, the parameters at which ``loss`` (a Python float) was
            evaluated. Returning ``True`` stops the fit after that step's update.
        **solve_options: passed on to :func:`solvers.solve` (``method``, ``rtol``,
            ``atol``, ``dt``, ``max_steps``, ``adjoint``, ``throw``). ``throw``
            defaults to ``False`` here: a failed solve makes the loss infinite, which
            stops the fit with a :class:`FitError`.

    Returns:
        A :class:`FitResult` with ``params``, ``y0``, ``losses`` ``(num_steps,)``,
        ``opt_state``, ``num_steps``, ``segment_y0`` and ``segment_bounds``.

    Raises:
        ValueError / TypeError: bad input (shapes, ``ts``, ``segments``, options), or
            a non-finite loss at the start.
        FitError: the loss or its gradient became non-finite during the fit; it
            carries the last parameters with a finite loss.

    References:
        H. G. Bock and K. J. Plitt, "A multiple shooting algorithm for direct solution
        of optimal control problems", IFAC Proceedings 17(2), 1603-1608, 1984.
        H. U. Voss, J. Timmer and J. Kurths, "Nonlinear dynamical system
        identification from uncertain and indirect measurements", Int. J. Bifurcation
        and Chaos 14(6), 1905-1933, 2004.
        P. J. Huber, "Robust estimation of a location parameter", Ann. Math. Statist.
        35(1), 73-101, 1964.
    """
    if not callable(f):
        raise TypeError("f must be callable as f(t, y, params).")
    for name in ("ts", "t_span", "params", "y0"):
        if name in solve_options:
            raise TypeError(
                f"fit got {name}= as a solve option; fit sets it itself (pass the "
                "observation times as ts, the initial state as y0 and params0)."
            )
    solve_options.setdefault("throw", False)
    _check_options(optimizer, steps, observe, segments, continuity_weight, callback)

    ts = _check_ts(ts)
    num_times = ts.shape[0]
    if segments > num_times - 1:
        raise ValueError(
            f"segments={segments} is too many for {num_times} observation times: each "
            f"segment needs at least one interval, so segments <= len(ts) - 1 = "
            f"{num_times - 1}. Use fewer segments."
        )

    y0 = _as_float_tree(y0, "y0")
    params0 = _as_float_tree(params0, "params0")
    data, data_mask = _check_data(data, num_times)
    observe_fn = _identity if observe is None else observe
    _check_observe(observe_fn, observe is None, y0, data)
    loss_fn = _make_loss(loss)

    # The trainable tree; multiple shooting adds the start states of segments 1..S-1.
    trainable = {"params": params0}
    if fit_y0:
        trainable["y0"] = y0
    bounds = _segment_bounds(num_times, segments)
    if segments > 1:
        trainable["segment_y0"] = _initial_segment_starts(
            f, y0, ts, data, params0, observe is None, bounds, solve_options
        )
    config = _Config(
        f=f,
        observe=observe,
        loss=loss_fn,
        optimizer=optimizer,
        t_span=(float(ts[0]), float(ts[-1])),
        bounds=bounds,
        solve_options=tuple(sorted(solve_options.items())),
    )
    consts = {
        "y0": y0,
        "ts": jnp.asarray(ts, _dtype_of(y0)),
        "data": data,
        "mask": data_mask,
        "continuity_weight": jnp.asarray(continuity_weight, _dtype_of(y0)),
    }
    step = _compiled_step(config)

    opt_state = optimizer.init(trainable)
    losses: list[float] = []
    bar = _Progress(steps) if progress else None
    last_good = trainable
    try:
        for k in range(steps):
            new_trainable, new_opt_state, *report = step(trainable, opt_state, consts)
            value, status, grads_finite = jax.device_get(report)
            value = float(value)
            if not math.isfinite(value):
                _diverged(k, value, int(status), losses, last_good, y0, fit_y0, loss, data)
            if not grads_finite:
                _diverged(k, value, int(status), losses, trainable, y0, fit_y0, loss, data, True)
            losses.append(value)
            last_good = trainable
            if bar is not None:
                bar.update(k + 1, value)
            stop = callback is not None and bool(callback(k, trainable["params"], value))
            trainable, opt_state = new_trainable, new_opt_state
            if stop:
                break
    finally:
        if bar is not None:
            bar.close()

    if segments > 1:
        starts = _all_starts(trainable.get("y0", y0), trainable["segment_y0"])
        fitted_y0 = jax.tree.map(lambda s: s[0], starts)
    else:
        starts = None
        fitted_y0 = trainable.get("y0", y0)
    return FitResult(
        params=trainable["params"],
        y0=fitted_y0,
        losses=jnp.asarray(losses, dtype=_dtype_of(y0)),
        opt_state=opt_state,
        num_steps=len(losses),
        segment_y0=starts,
        segment_bounds=bounds,
    )


# --- the compiled step --------------------------------------------------------------


class _Config(NamedTuple):
    """Everything static about a fit; the compiled step is cached on it."""

    f: Callable
    observe: Callable | None
    loss: str | Callable
    optimizer: optax.GradientTransformation
    t_span: tuple[float, float]
    bounds: tuple[int, ...]
    solve_options: tuple


def _objective(config, trainable, consts):
    """The loss (plus the continuity penalty) and the worst solve status."""
    start = trainable.get("y0", consts["y0"])
    options = dict(config.solve_options)
    if len(config.bounds) > 2:
        states, mismatch, status = _multiple_shooting(
            config.f,
            trainable["params"],
            start,
            trainable["segment_y0"],
            consts["ts"],
            config.bounds,
            options,
        )
    else:
        sol = solve(config.f, start, config.t_span, trainable["params"], ts=consts["ts"], **options)
        states, mismatch, status = sol.ys, 0.0, sol.status
    pred = jax.vmap(_identity if config.observe is None else config.observe)(states)
    if isinstance(config.loss, str):
        value = _masked_loss(config.loss, pred, consts["data"], consts["mask"])
    else:
        value = jnp.asarray(config.loss(pred, consts["data"]))
        if value.shape != ():
            raise ValueError(f"the loss callable must return a scalar, got shape {value.shape}.")
    value = value + consts["continuity_weight"] * mismatch
    value = jnp.where(jnp.all(status == 0), value, jnp.inf)
    return value, jnp.max(status)


def _step(config, trainable, opt_state, consts):
    """One optimisation step: loss and gradient through the solver, Optax update."""
    (value, status), grads = jax.value_and_grad(_objective, argnums=1, has_aux=True)(
        config, trainable, consts
    )
    updates, opt_state = config.optimizer.update(grads, opt_state, trainable)
    new_trainable = optax.apply_updates(trainable, updates)
    grads_finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(g)) for g in jax.tree.leaves(grads)]))
    return new_trainable, opt_state, value, status, grads_finite


_step_cached = jax.jit(_step, static_argnums=0)


def _compiled_step(config):
    """The jitted step; shared between fits with the same static configuration (same
    ``f``, ``observe``, loss, optimizer object, span, segments and solve options)."""
    try:
        hash(config)
    except TypeError:
        # An unhashable solve option (say, an array rtol): compile for this fit only.
        return jax.jit(functools.partial(_step, config))
    return functools.partial(_step_cached, config)


# --- losses -------------------------------------------------------------------------


def _identity(y):
    return y


def _make_loss(loss):
    if isinstance(loss, str):
        if loss.lower() not in _LOSSES:
            raise ValueError(
                f"loss must be 'l2', 'huber' or a callable loss(pred, data) -> scalar, "
                f"got {loss!r}."
            )
        return loss.lower()
    if callable(loss):
        return loss
    raise TypeError(
        f"loss must be 'l2', 'huber' or a callable loss(pred, data) -> scalar, got "
        f"{type(loss).__name__}."
    )


def _masked_loss(kind, pred, data, mask):
    """Mean of ``r^2`` (or Huber of ``r``) over the observed entries of every leaf.

    Missing entries are replaced in both ``pred`` and ``data`` before subtracting, so
    neither the value nor the gradient ever sees a NaN.
    """
    total = 0.0
    count = 0
    for p, d, m in zip(jax.tree.leaves(pred), jax.tree.leaves(data), jax.tree.leaves(mask)):
        residual = jnp.where(m, p - jnp.where(m, d, 0), 0)
        if kind == "l2":
            pointwise = residual**2
        else:
            pointwise = optax.losses.huber_loss(residual, delta=1.0)
        total = total + jnp.sum(jnp.where(m, pointwise, 0))
        count = count + jnp.sum(m)
    total = jnp.asarray(total)
    return total / jnp.asarray(count).astype(total.dtype)


# --- single and multiple shooting ---------------------------------------------------


def _segment_bounds(num_times: int, segments: int) -> tuple[int, ...]:
    """``b_k = round(k (T - 1) / S)``: indices into ``ts`` where the segments start."""
    return tuple(int(round(k * (num_times - 1) / segments)) for k in range(segments + 1))


def _segment_layout(bounds):
    """Per-segment save indices (padded by repeating the end index) and, for every
    original time index, the (segment, offset) that owns its data point."""
    segments = len(bounds) - 1
    length = max(bounds[k + 1] - bounds[k] for k in range(segments)) + 1
    index = np.empty((segments, length), dtype=np.int64)
    for k in range(segments):
        index[k] = np.minimum(bounds[k] + np.arange(length), bounds[k + 1])
    owner_segment = np.empty(bounds[-1] + 1, dtype=np.int64)
    owner_offset = np.empty(bounds[-1] + 1, dtype=np.int64)
    for k in range(segments):
        stop = bounds[k + 1] + 1 if k == segments - 1 else bounds[k + 1]
        for i in range(bounds[k], stop):
            owner_segment[i] = k
            owner_offset[i] = i - bounds[k]
    return index, owner_segment, owner_offset


def _all_starts(y0, segment_y0):
    return jax.tree.map(lambda a, b: jnp.concatenate([a[None], b], axis=0), y0, segment_y0)


def _multiple_shooting(f, params, y0, segment_y0, ts, bounds, solve_options):
    """Solve every segment from its own start (``jax.vmap``); return the states at
    ``ts`` taken from the segment that owns each point, and the mean squared mismatch
    between each segment's end and the next segment's start."""
    index, owner_segment, owner_offset = _segment_layout(bounds)
    starts = _all_starts(y0, segment_y0)

    def solve_segment(start, t0, t1, segment_ts):
        sol = solve(f, start, (t0, t1), params, ts=segment_ts, **solve_options)
        return sol.ys, sol.status

    ys, status = jax.vmap(solve_segment)(
        starts, ts[np.asarray(bounds[:-1])], ts[np.asarray(bounds[1:])], ts[index]
    )
    states = jax.tree.map(lambda leaf: leaf[owner_segment, owner_offset], ys)
    squared = [
        jnp.sum((leaf[:-1, -1] - start[1:]) ** 2)
        for leaf, start in zip(jax.tree.leaves(ys), jax.tree.leaves(starts))
    ]
    size = sum(int(np.prod(start.shape[1:])) for start in jax.tree.leaves(starts))
    return states, sum(squared) / ((len(bounds) - 2) * size), status


def _initial_segment_starts(f, y0, ts, data, params0, identity, bounds, solve_options):
    """Start states of segments 1..S-1: the data where it is the full state and
    complete there, otherwise a single solve with ``params0``."""
    starts = np.asarray(bounds[1:-1])
    from_data = None
    if identity:
        complete = np.ones(len(starts), dtype=bool)
        for leaf in jax.tree.leaves(data):
            values = np.asarray(leaf)[starts]
            complete &= np.all(np.isfinite(values.reshape(len(starts), -1)), axis=1)
        from_data = jax.tree.map(lambda d, y: jnp.asarray(d[starts], y.dtype), data, y0)
        if complete.all():
            return from_data
    options = dict(solve_options, throw=False)
    sol = solve(f, y0, (float(ts[0]), float(ts[-1])), params0, ts=ts, **options)
    from_solve = jax.tree.map(lambda leaf: leaf[starts], sol.ys)
    if from_data is not None:
        from_solve = jax.tree.map(
            lambda d, s: jnp.where(complete.reshape((-1,) + (1,) * (d.ndim - 1)), d, s),
            from_data,
            from_solve,
        )
    if not all(bool(jnp.all(jnp.isfinite(leaf))) for leaf in jax.tree.leaves(from_solve)):
        raise ValueError(
            "multiple shooting needs start states for the segments, and the solve with "
            f"params0 used to initialise them failed ({status_message(sol.status)}). "
            f"Check params0 and y0, use {_STIFF_HINT}, or give complete data of the "
            "full state (observe=None) at the segment starts."
        )
    return from_solve


# --- checks -------------------------------------------------------------------------


def _check_options(optimizer, steps, observe, segments, continuity_weight, callback):
    if not (hasattr(optimizer, "init") and hasattr(optimizer, "update")):
        raise TypeError(
            "optimizer must be an optax.GradientTransformation (e.g. optax.adam(1e-2)), "
            f"got {type(optimizer).__name__}."
        )
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}.")
    if isinstance(segments, bool) or not isinstance(segments, (int, np.integer)) or segments < 1:
        raise ValueError(f"segments must be an int >= 1 (1: single shooting), got {segments!r}.")
    try:
        weight = float(continuity_weight)
    except (TypeError, ValueError):
        weight = -1.0
    if not (math.isfinite(weight) and weight >= 0):
        raise ValueError(
            f"continuity_weight must be a finite number >= 0, got {continuity_weight!r}."
        )
    if observe is not None and not callable(observe):
        raise TypeError("observe must be None or a callable observe(y) -> observed quantity.")
    if callback is not None and not callable(callback):
        raise TypeError("callback must be None or a callable callback(step, params, loss).")


def _check_ts(ts):
    if isinstance(ts, jax.core.Tracer):
        raise TypeError(
            "fit runs a Python loop over a compiled step and cannot be traced itself "
            "(ts is a tracer): call it outside jax.jit / jax.vmap."
        )
    ts = np.asarray(ts)
    if ts.ndim != 1:
        raise ValueError(f"ts must be a 1-D array of observation times, got shape {ts.shape}.")
    if ts.shape[0] < 2:
        raise ValueError(f"ts needs at least 2 observation times, got {ts.shape[0]}.")
    if not np.issubdtype(ts.dtype, np.floating):
        ts = ts.astype(jnp.asarray(0.0).dtype)
    if not np.all(np.isfinite(ts)):
        raise ValueError("ts contains NaN or inf; observation times must be finite.")
    steps = np.diff(ts)
    if not (np.all(steps > 0) or np.all(steps < 0)):
        where = int(np.argmax(steps <= 0) if steps[0] > 0 else np.argmax(steps >= 0))
        raise ValueError(
            "ts must be strictly monotone (all increasing, or all decreasing to fit "
            f"backwards in time); ts[{where}] = {ts[where]} and ts[{where + 1}] = "
            f"{ts[where + 1]} break that. Sort ts (and data with it) and merge "
            "repeated times."
        )
    return ts


def _as_float_tree(tree, name):
    leaves = jax.tree.leaves(tree)
    if not leaves:
        raise ValueError(f"{name} has no array leaves: there is nothing to fit.")
    out = []
    for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
        leaf = jnp.asarray(leaf)
        if leaf.dtype == bool:
            raise TypeError(f"{name}{jax.tree_util.keystr(path)} is boolean; fit needs floats.")
        dtype = leaf.dtype if jnp.issubdtype(leaf.dtype, jnp.inexact) else jnp.asarray(0.0).dtype
        # A strong (not weakly typed) dtype, so the updated tree matches the traced one.
        leaf = jnp.asarray(leaf, dtype=dtype)
        if not bool(jnp.all(jnp.isfinite(leaf))):
            raise ValueError(
                f"{name}{jax.tree_util.keystr(path)} contains NaN or inf; fit needs a "
                f"finite {name}."
            )
        out.append(leaf)
    return jax.tree.unflatten(jax.tree.structure(tree), out)


def _check_data(data, num_times):
    """Validate ``data``; return it (integer leaves as floats) and its observed mask."""
    leaves = jax.tree_util.tree_leaves_with_path(data)
    if not leaves:
        raise ValueError("data has no array leaves.")
    masks, values = [], []
    observed = 0
    for path, leaf in leaves:
        leaf = jnp.asarray(leaf)
        where = "data" + jax.tree_util.keystr(path)
        if leaf.ndim == 0 or leaf.shape[0] != num_times:
            raise ValueError(
                f"{where} has shape {leaf.shape}, but every leaf of data needs a leading "
                f"time axis of length len(ts) = {num_times} (data[i] is observed at ts[i])."
            )
        if not jnp.issubdtype(leaf.dtype, jnp.inexact):
            leaf = leaf.astype(jnp.asarray(0.0).dtype)  # counts and other integer data
        if bool(jnp.any(jnp.isinf(leaf))):
            raise ValueError(f"{where} contains inf; mark missing observations with NaN instead.")
        mask = ~jnp.isnan(leaf)
        observed += int(jnp.sum(mask))
        masks.append(mask)
        values.append(leaf)
    if observed == 0:
        raise ValueError("data has no observed entries: every entry is NaN (missing).")
    structure = jax.tree.structure(data)
    return jax.tree.unflatten(structure, values), jax.tree.unflatten(structure, masks)


def _check_observe(observe_fn, identity, y0, data):
    try:
        out = jax.eval_shape(observe_fn, y0)
    except Exception as error:
        raise TypeError(
            f"Calling observe(y) with y like y0 failed: {type(error).__name__}: {error}"
        ) from error
    what = "y0 (observe=None compares the state itself with data)" if identity else "observe(y)"
    want, got = jax.tree.structure(data), jax.tree.structure(out)
    if want != got:
        raise ValueError(
            f"data must be a pytree like {what} with a leading time axis.\n"
            f"  data:  {want}\n  {'y0' if identity else 'observe(y)'}: {got}"
        )
    for (path, d), o in zip(jax.tree_util.tree_leaves_with_path(data), jax.tree.leaves(out)):
        if d.shape[1:] != o.shape:
            where = "data" + jax.tree_util.keystr(path)
            raise ValueError(
                f"{where} has shape {d.shape}, so each time point has shape {d.shape[1:]}, but "
                f"{what} has shape {o.shape}. data must have shape (len(ts),) + "
                f"{o.shape}; for partial observations pass observe=."
            )


def _dtype_of(tree):
    return jnp.result_type(*[leaf.dtype for leaf in jax.tree.leaves(tree)])


def _diverged(k, value, status, losses, last_good, y0, fit_y0, loss, data, gradient=False):
    params = last_good["params"]
    good_y0 = last_good.get("y0", y0)
    solver = f" The solver failed: {status_message(status)}" if status != 0 else ""
    if k == 0 and not gradient:
        hint = ""
        if callable(loss) and any(bool(jnp.any(jnp.isnan(d))) for d in jax.tree.leaves(data)):
            hint = (
                " data contains NaN (missing entries) and a callable loss gets data as is: "
                "mask them in the loss, e.g. with jnp.isnan(data)."
            )
        raise ValueError(
            f"the initial loss is not finite ({value}).{solver}{hint} Check params0"
            f"{' and y0' if fit_y0 else ''} (finite, and in a range where the model makes "
            "sense), the data (NaN marks a missing entry), and whether the solver fails at "
            f"params0: for stiff dynamics use {_STIFF_HINT}."
        )
    history = jnp.asarray(losses)
    if gradient:
        message = (
            f"fit diverged at step {k}: the loss is finite ({value:.6g}) but its gradient "
            "is not (NaN or inf). With adjoint='backsolve' this usually means the backward "
            "integration failed: use adjoint='checkpoint'."
        )
    else:
        last = f" (the last finite loss was {losses[-1]:.6g} at step {k - 1})" if losses else ""
        message = f"fit diverged at step {k}: the loss is {value}{last}."
    raise FitError(
        f"{message}{solver} Try a smaller learning rate (e.g. optax.adam(1e-3)), gradient "
        "clipping (optax.chain(optax.clip_by_global_norm(1.0), ...)), or, if the solver "
        f"struggles at these parameters, {_STIFF_HINT}. The last parameters with a finite "
        "loss are in this error's .params (and .y0).",
        step=k,
        params=params,
        y0=good_y0,
        losses=history,
    )


class _Progress:
    """A one-line text progress bar on stderr (no extra dependency)."""

    def __init__(self, total, width=30):
        self.total = total
        self.width = width
        self.every = max(1, total // 100)
        self.start = time.perf_counter()
        self.written = False

    def update(self, done, loss):
        if done % self.every and done != self.total:
            return
        filled = int(round(self.width * done / self.total))
        elapsed = time.perf_counter() - self.start
        sys.stderr.write(
            f"\rfit [{'#' * filled}{'.' * (self.width - filled)}] {done}/{self.total} "
            f"loss {loss:.4e}, {elapsed:.1f} s"
        )
        sys.stderr.flush()
        self.written = True

    def close(self):
        if self.written:
            sys.stderr.write("\n")
            sys.stderr.flush()
