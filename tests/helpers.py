"""Shared test helpers: tolerant pytree comparison, the method list, test problems.

Vector fields are module-level functions on purpose: the eager ``solvers.solve`` path
caches one compiled program per vector field (by identity), so sharing them across
tests keeps the suite from recompiling.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

import solvers
from solvers._tableaus import TABLEAUS

# Classical order of every method.
FIXED_ORDERS = {"euler": 1, "midpoint": 2, "heun": 2, "ralston": 2, "rk4": 4}
ADAPTIVE_ORDERS = {"bosh3": 3, "dopri5": 5, "tsit5": 5, "dopri8": 8}
ALL_ORDERS = {**FIXED_ORDERS, **ADAPTIVE_ORDERS}
FIXED_METHODS = sorted(FIXED_ORDERS)
ADAPTIVE_METHODS = sorted(ADAPTIVE_ORDERS)
ALL_METHODS = sorted(ALL_ORDERS)


def subprocess_env() -> dict:
    """The environment for a Python subprocess that runs as a user would run it: without
    the suite's XLA_FLAGS (8 host devices) but with conftest.py's fast-compile flags,
    and with the repository on PYTHONPATH."""
    env = {key: value for key, value in os.environ.items() if key != "XLA_FLAGS"}
    if os.environ.get("SOLVERS_TEST_FAST_XLA_FLAGS"):
        env["XLA_FLAGS"] = os.environ["SOLVERS_TEST_FAST_XLA_FLAGS"]
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    return env


def tree_allclose(x, y, *, rtol=1e-5, atol=1e-8, equal_nan=False) -> bool:
    """Same structure, same shapes and dtypes, values close leaf by leaf."""
    x_leaves, x_structure = jax.tree.flatten(x)
    y_leaves, y_structure = jax.tree.flatten(y)
    if x_structure != y_structure:
        return False
    for a, b in zip(x_leaves, y_leaves):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape or a.dtype != b.dtype:
            return False
        if not np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan):
            return False
    return True


def max_abs_error(x, y) -> float:
    """Largest absolute difference over all leaves of two pytrees."""
    return max(
        float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))
        for a, b in zip(jax.tree.leaves(x), jax.tree.leaves(y))
    )


def fitted_slope(step_sizes, errors) -> float:
    """Least-squares slope of ``log(error)`` against ``log(step_size)``."""
    return float(np.polyfit(np.log(np.asarray(step_sizes)), np.log(np.asarray(errors)), 1)[0])


def central_difference(fn, x, eps=1e-6) -> np.ndarray:
    """Central finite differences of a scalar function of a pytree, flattened."""
    flat, unravel = ravel_pytree(x)
    out = []
    for i in range(flat.shape[0]):
        step = jnp.zeros_like(flat).at[i].set(eps)
        out.append((float(fn(unravel(flat + step))) - float(fn(unravel(flat - step)))) / (2 * eps))
    return np.array(out)


def flat(tree) -> np.ndarray:
    return np.asarray(ravel_pytree(tree)[0])


def as_fixed_step(name: str) -> solvers.ExplicitRK:
    """The propagated solution of an embedded pair, run without step-size control."""
    tableau = dataclasses.replace(
        TABLEAUS[name], name=name + "-fixed", b_error=None, error_order=None, b_error2=None
    )
    return solvers.ExplicitRK(tableau)


# ------------------------------------------------------------------------- problems


def decay(t, y, k):
    """``y' = -k y``; exact ``y0 exp(-k (t - t0))``."""
    return -k * y


def oscillator(t, y, omega):
    """Harmonic oscillator ``q'' = -omega^2 q`` as ``y = (q, v)``."""
    return jnp.stack([y[1], -(omega**2) * y[0]])


def oscillator_exact(t, omega):
    """Exact oscillator solution from ``y(0) = (1, 0)``; ``t`` any shape."""
    t = np.asarray(t, np.float64)
    return np.stack([np.cos(omega * t), -omega * np.sin(omega * t)], axis=-1)


def tan_field(t, y, args):
    """``y' = 1 + y^2``: exact ``tan(t + c)``; every derivative is non-zero."""
    return 1.0 + y**2


def lorenz(t, y, p):
    x, v, z = y[0], y[1], y[2]
    return jnp.stack([p["sigma"] * (v - x), x * (p["rho"] - z) - v, x * v - p["beta"] * z])


LORENZ_PARAMS = {"sigma": 10.0, "rho": 28.0, "beta": 8.0 / 3.0}
LORENZ_Y0 = jnp.array([1.0, 1.0, 1.0])


def pendulum(t, y, p):
    """Damped, driven pendulum ``theta'' = -(g/L) sin theta - c theta' + A cos(w t)``."""
    theta, omega = y[0], y[1]
    return jnp.stack(
        [omega, -p["g"] * jnp.sin(theta) - p["c"] * omega + p["A"] * jnp.cos(p["w"] * t)]
    )


PENDULUM_PARAMS = {"g": 9.81, "c": 0.3, "A": 1.2, "w": 2.0}
PENDULUM_Y0 = jnp.array([2.5, 0.0])


def numpy_field(field, params):
    """``field`` as a scipy ``fun(t, y)`` on flat float64 arrays."""

    def fun(t, y):
        return np.asarray(field(t, jnp.asarray(y), params))

    return fun
