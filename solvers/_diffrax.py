"""Route ``solve(method=<diffrax solver>)`` to ``diffrax.diffeqsolve``.

Kidger, "On Neural Differential Equations", PhD thesis, Oxford 2021 (diffrax).
"""

from __future__ import annotations

import diffrax
import jax.numpy as jnp

from . import _loop

_RESULTS = {
    "successful": _loop.SUCCESS,
    "max_steps_reached": _loop.MAX_STEPS_REACHED,
    "dt_min_reached": _loop.STEP_SIZE_UNDERFLOW,
    "nonlinear_divergence": _loop.NEWTON_DIVERGENCE,
    "nonlinear_max_steps_reached": _loop.NEWTON_DIVERGENCE,
}


def _status(result):
    status = jnp.asarray(_loop.STEP_SIZE_UNDERFLOW, jnp.int32)
    for name, code in _RESULTS.items():
        member = getattr(diffrax.RESULTS, name, None)
        if member is not None:
            status = jnp.where(result == member, code, status)
    return status


_ADJOINTS = {
    "auto": diffrax.RecursiveCheckpointAdjoint,
    "checkpoint": diffrax.RecursiveCheckpointAdjoint,
    "direct": diffrax.DirectAdjoint,
    "forward": diffrax.ForwardMode,
}


def solve_with_diffrax(f, y0, t0, t1, params, *, method, ts, dt, rtol, atol, max_steps, adjoint):
    """Solve with a diffrax solver; returns ``(ts, ys, stats, status)``."""
    term = diffrax.ODETerm(f)
    adaptive = isinstance(method, diffrax.AbstractAdaptiveSolver)
    if adaptive:
        controller = diffrax.PIDController(rtol=rtol, atol=atol)
    elif dt is None:
        raise ValueError(f"{type(method).__name__} is a fixed-step diffrax solver: pass dt=...")
    else:
        controller = diffrax.ConstantStepSize()
    save_ts = t1[None] if ts is None else jnp.asarray(ts, t0.dtype)
    solution = diffrax.diffeqsolve(
        term,
        method,
        t0,
        t1,
        None if dt is None else jnp.abs(jnp.asarray(dt, t0.dtype)) * jnp.sign(t1 - t0),
        y0,
        args=params,
        saveat=diffrax.SaveAt(ts=save_ts),
        stepsize_controller=controller,
        max_steps=max_steps,
        throw=False,
        adjoint=_ADJOINTS[adjoint](),
    )
    stats = {
        "num_steps": jnp.asarray(solution.stats["num_steps"], jnp.int32),
        "num_accepted": jnp.asarray(solution.stats["num_accepted_steps"], jnp.int32),
        "num_rejected": jnp.asarray(solution.stats["num_rejected_steps"], jnp.int32),
        "num_fevals": jnp.asarray(-1, jnp.int32),
    }
    return save_ts, solution.ys, stats, _status(solution.result)
