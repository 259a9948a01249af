"""The :class:`Solution` record, status codes and their messages, :class:`SolveError`."""

from __future__ import annotations

from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, PyTree

SUCCESS = 0
MAX_STEPS_REACHED = 1
STEP_SIZE_UNDERFLOW = 2
NONFINITE = 3
NEWTON_DIVERGENCE = 4
INVALID_INPUT = 5

STATUS_MESSAGES = {
    SUCCESS: "success",
    MAX_STEPS_REACHED: (
        "the solver used its whole budget of max_steps steps before reaching t1. Raise "
        "max_steps: the run simply needs more steps (its step sizes were set by "
        "accuracy, not by stability: nothing suggests stiffness)."
    ),
    STEP_SIZE_UNDERFLOW: (
        "the step size underflowed: the error estimate stayed too large even for a "
        "step at the limit of floating-point resolution. The solution may blow up "
        "(finite-time singularity) or the problem is very stiff; check the vector "
        "field and parameters, or use a stiff method."
    ),
    NONFINITE: (
        "the state became non-finite (NaN or inf): the initial state, the parameters "
        "or the vector field's value is not finite. Check y0, params and f; for a "
        "fixed-step method try a smaller dt."
    ),
    NEWTON_DIVERGENCE: (
        "Newton's iteration in the implicit method kept diverging, even with a fresh "
        "Jacobian and ever smaller steps. Check the vector field (and a user-supplied "
        "jacobian=) for errors and non-finite values near the failure; a solution that "
        "blows up in finite time also ends this way."
    ),
    INVALID_INPUT: (
        "invalid input: the save times ts must lie inside t_span and be monotone in the "
        "direction of integration, and t_span, ts, dt, rtol, atol, max_step and jump_ts "
        "must be finite (rtol, atol >= 0; dt non-zero; max_step > 0)."
    ),
}

# The max_steps message when many steps were rejected: the sign of an explicit method
# held at its stability limit by a stiff problem. Its index in the messages that
# errors choose from (status codes run 0..5).
MAX_STEPS_STIFF = 6
MAX_STEPS_STIFF_MESSAGE = (
    "the solver used its whole budget of max_steps steps before reaching t1, and its "
    "step size was held at the method's stability limit (step size times the "
    "Jacobian's spectral radius, sol.stats['stiffness'], is above 2): the problem looks "
    "stiff. Use method='auto' (switches to a stiff method by itself) or a stiff method: "
    "'rodas5' (fast, moderate accuracy), 'radau5' (very stiff, tight tolerances), 'bdf' "
    "(large systems), 'kvaerno5'."
)


def failure_messages():
    """The message of each failure, indexed as :func:`message_index` indexes them."""
    messages = dict(STATUS_MESSAGES)
    messages[MAX_STEPS_STIFF] = MAX_STEPS_STIFF_MESSAGE
    return tuple(messages[index] for index in sorted(messages))


# |h| rho(df/dy) above this at the end of a run out of steps: held by stability.
STIFFNESS_THRESHOLD = 2.0


def message_index(status, stats):
    """Which message explains ``status``: the stiff variant of "max steps" when the
    last step size times the Jacobian's spectral radius (``stats["stiffness"]``) shows
    that stability, not accuracy, held the steps. Works on arrays and host values."""
    xp = jnp if isinstance(status, jax.Array) else np
    stiffness = stats.get("stiffness", 0.0)
    stiff = (status == MAX_STEPS_REACHED) & (stiffness > STIFFNESS_THRESHOLD)
    return xp.where(stiff, MAX_STEPS_STIFF, status)


class SolveError(RuntimeError):
    """A failed integration (``throw=True``); the message says what to change."""


def status_message(status: int) -> str:
    """Human-readable meaning of a ``Solution.status`` code."""
    return STATUS_MESSAGES.get(int(status), f"unknown status {int(status)}")


class EventRecord(eqx.Module):
    """The crossings of one :class:`~solvers.Event` found during a solve.

    Attributes:
        ts: ``(max_events,)`` crossing times in the order found (NaN where unused).
        ys: pytree like ``y0``, leaves ``(max_events, ...)``: the state at each crossing.
        count: integer array, crossings found (may exceed ``max_events``).
    """

    ts: Array
    ys: PyTree
    count: Array


class DenseOutput(eqx.Module):
    """Every accepted step's interpolant (``solve(..., dense=True)``).

    Attributes:
        ts: ``(max_steps + 1,)`` step boundaries in integration order (NaN past the end;
            the last one is a terminal event's time where one ended the solve).
        hs: ``(max_steps,)`` each step's size (in the direction of integration).
        ys: ``(max_steps, n)`` flat state at the start of each step.
        coefficients: the method's dense coefficients of each step (leading axis
            ``max_steps``).
        count: number of steps recorded.
    """

    ts: Array
    hs: Array
    ys: Array
    coefficients: Any
    count: Array
    direction: Array
    interpolate: Any = eqx.field(static=True)
    unravel: Any = eqx.field(static=True)

    def __call__(self, t):
        forward = self.direction * jnp.asarray(t, self.ts.dtype)
        grid = self.direction * self.ts
        last = jnp.maximum(self.count - 1, 0)
        ends = jnp.where(jnp.arange(grid.shape[0], dtype=jnp.int32) <= self.count, grid, jnp.inf)
        index = jnp.clip(jnp.searchsorted(ends, forward, side="right") - 1, 0, last)
        h = self.hs[index]
        theta = jnp.where(h > 0, (forward - grid[index]) / jnp.where(h > 0, h, 1), 0)
        coefficients = jax.tree.map(lambda c: c[index], self.coefficients)
        value = self.interpolate(self.ys[index], coefficients, theta)
        inside = (forward >= grid[0]) & (forward <= grid[self.count]) & (self.count > 0)
        return self.unravel(jnp.where(inside, value, jnp.nan))


class Solution(eqx.Module):
    """Result of :func:`solve`; a pytree, so it can leave ``jit`` and ``vmap``.

    Attributes:
        ts: ``(T,)`` save times (with ``ts=None``: ``t1``, or the time of a terminal
            event).
        ys: pytree like ``y0``; every leaf has a leading axis of length ``T``.
        stats: dict of integer arrays ``num_steps`` (attempted), ``num_accepted``,
            ``num_rejected``, ``num_fevals`` (-1 where unknown).
        status: integer array, 0 on success (see :func:`status_message`).
        derivatives: ``dy/dt`` at ``ts`` (used by :meth:`evaluate` without ``dense``).
        events: one :class:`EventRecord` per event (empty tuple without events).
        dense: the :class:`DenseOutput` with ``dense=True``, else ``None``.
    """

    ts: Array
    ys: PyTree
    stats: dict
    status: Array
    derivatives: PyTree
    events: tuple = ()
    dense: DenseOutput | None = None

    @property
    def message(self) -> str:
        return status_message(self.status)

    def evaluate(self, t: ArrayLike) -> PyTree:
        """The solution at time(s) ``t`` (a scalar or an array of any shape).

        With ``dense=True`` this is the method's own interpolant of the accepted step
        that contains ``t`` (as accurate as the solution itself over the whole span).
        Otherwise it is a cubic Hermite interpolation of the saved values and slopes
        (third order in the spacing of ``ts``: save densely for accuracy here).
        Returns NaN outside the integrated interval.
        """
        t = jnp.asarray(t, self.ts.dtype)
        single = self.dense if self.dense is not None else self._hermite
        flat = t.reshape(-1)
        values = jax.vmap(single)(flat)
        return jax.tree.map(lambda v: v.reshape(t.shape + v.shape[1:]), values)

    def _hermite(self, t):
        # Rows past the last valid time (NaN, as with ts="steps") take no part.
        valid = jnp.isfinite(self.ts)
        last = jnp.maximum(jnp.sum(valid, dtype=jnp.int32) - 1, 0)
        ts = jnp.where(valid, self.ts, self.ts[last])
        if ts.shape[0] == 1:
            return jax.tree.map(lambda y: jnp.where(t == ts[0], y[0], jnp.nan), self.ys)
        sign = jnp.where(ts[last] >= ts[0], 1.0, -1.0).astype(ts.dtype)
        grid = jnp.where(valid, sign * ts, jnp.inf)
        index = jnp.clip(
            jnp.searchsorted(grid, sign * t, side="right") - 1, 0, jnp.maximum(last - 1, 0)
        )
        t_left, t_right = ts[index], ts[index + 1]
        h = t_right - t_left
        theta = jnp.where(h != 0, (t - t_left) / jnp.where(h != 0, h, 1), 0)
        inside = (sign * (t - ts[0]) >= 0) & (sign * (ts[last] - t) >= 0)
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
