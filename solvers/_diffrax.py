"""Route ``solve(method=<diffrax solver>)`` to ``diffrax.diffeqsolve``.

Kidger, "On Neural Differential Equations", PhD thesis, Oxford 2021 (diffrax).
"""

from __future__ import annotations

import diffrax
import jax
import jax.numpy as jnp

from ._solution import (
    INVALID_INPUT,
    MAX_STEPS_REACHED,
    NEWTON_DIVERGENCE,
    STEP_SIZE_UNDERFLOW,
    SUCCESS,
    Solution,
)

_RESULTS = {
    "successful": SUCCESS,
    "max_steps_reached": MAX_STEPS_REACHED,
    "dt_min_reached": STEP_SIZE_UNDERFLOW,
    "nonlinear_divergence": NEWTON_DIVERGENCE,
    "nonlinear_max_steps_reached": NEWTON_DIVERGENCE,
}


def _status(result):
    status = jnp.asarray(STEP_SIZE_UNDERFLOW, jnp.int32)
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


def solve_with_diffrax(f, y0, params, spec, throw=False):
    """Solve with the diffrax solver ``spec["method"]``; returns a :class:`Solution`."""
    method, arrays = spec["method"], spec["arrays"]
    t0, t1, ts, dt = arrays["t0"], arrays["t1"], arrays["ts"], arrays["dt"]
    invalid = arrays["invalid"]
    direction = jnp.where(t1 >= t0, 1, -1).astype(t0.dtype)
    adaptive = isinstance(method, diffrax.AbstractAdaptiveSolver)
    if adaptive:
        controller = diffrax.PIDController(
            rtol=arrays["rtol"],
            atol=arrays["atol"],
            dtmax=arrays["max_step"],
            jump_ts=arrays["jump_ts"],
        )
    elif dt is None:
        raise ValueError(f"{type(method).__name__} is a fixed-step diffrax solver: pass dt=...")
    else:
        controller = diffrax.ConstantStepSize()
    # diffrax raises on bad input itself; give it a valid problem and report the
    # problem through status (or the error that solve raises).
    t1_safe = jnp.where(invalid, t0 + direction, t1)
    if ts is None:
        save_ts = t1[None]
        saveat_ts = t1_safe[None]
    else:
        save_ts = ts
        forward = direction * ts
        forward = jnp.clip(forward, direction * t0, direction * t1_safe)
        saveat_ts = jnp.where(invalid, jnp.linspace(t0, t1_safe, ts.shape[0]), direction * forward)
    solution = diffrax.diffeqsolve(
        diffrax.ODETerm(f),
        method,
        t0,
        t1_safe,
        None if dt is None else jnp.abs(dt) * direction,
        y0,
        args=params,
        saveat=diffrax.SaveAt(ts=saveat_ts),
        stepsize_controller=controller,
        max_steps=spec["max_steps"],
        throw=False,
        adjoint=_ADJOINTS[spec["adjoint"]](),
    )
    stats = {
        "num_steps": jnp.asarray(solution.stats["num_steps"], jnp.int32),
        "num_accepted": jnp.asarray(solution.stats["num_accepted_steps"], jnp.int32),
        "num_rejected": jnp.asarray(solution.stats["num_rejected_steps"], jnp.int32),
        "num_fevals": jnp.asarray(-1, jnp.int32),
        "stiffness": jnp.asarray(jnp.nan, t0.dtype),  # not estimated on this route
    }
    status = jnp.where(invalid, INVALID_INPUT, _status(solution.result)).astype(jnp.int32)
    ys = jax.tree.map(lambda y: jnp.where(status == SUCCESS, y, jnp.nan), solution.ys)
    derivatives = jax.vmap(lambda t, y: f(t, y, params))(save_ts, ys)
    return Solution(ts=save_ts, ys=ys, stats=stats, status=status, derivatives=derivatives)
