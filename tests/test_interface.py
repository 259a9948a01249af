"""A method written from the documented contract alone ("Writing a method" in
docs/methods.md) runs through solve, every adjoint, events, dense output, sweep and fit."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from helpers import central_difference, decay, fitted_slope, oscillator, oscillator_exact

import solvers


@dataclasses.dataclass(frozen=True)
class HeunEuler:
    """Heun's method with forward Euler as the embedded estimate: a 2(1) pair with a
    linear interpolant (the contract's minimum)."""

    name: str = "heun-euler"
    order: int = 2
    error_order: int = 1
    dense_fevals: int = 0

    def init(self, f, t0, y0, args, f0):
        return ()

    def step(self, f, t, y, h, args, state):
        k1 = f(t, y, args)
        k2 = f(t + h, y + h * k1, args)
        y1 = y + h / 2 * (k1 + k2)
        error = h / 2 * (k2 - k1)
        return solvers.Step(y1, error, (), (), jnp.zeros((), jnp.int32), 2)

    def dense(self, f, t, h, y0, y1, dense_info, args):
        return (y1 - y0)[None]

    def interpolate(self, y0, coefficients, theta):
        return y0 + theta * coefficients[0]


METHOD = HeunEuler()


def test_user_method_converges_at_its_order():
    errors, steps = [], []
    for dt in (0.1, 0.05, 0.025, 0.0125):
        controller = solvers.ConstantSteps()
        sol = solvers.solve(
            oscillator,
            jnp.array([1.0, 0.0]),
            (0.0, 2.0),
            1.0,
            method=METHOD,
            dt=dt,
            controller=controller,
        )
        errors.append(np.max(np.abs(np.asarray(sol.ys[-1]) - oscillator_exact(2.0, 1.0))))
        steps.append(dt)
    assert abs(fitted_slope(steps, errors) - 2) < 0.2


def test_user_method_adaptive_matches_exact_solution():
    sol = solvers.solve(
        decay,
        jnp.array([1.0, 2.0]),
        (0.0, 1.0),
        0.7,
        method=METHOD,
        rtol=1e-8,
        atol=1e-10,
        ts=jnp.linspace(0, 1, 11),
    )
    exact = np.exp(-0.7 * np.linspace(0, 1, 11))[:, None] * np.array([1.0, 2.0])
    np.testing.assert_allclose(sol.ys, exact, rtol=1e-5)
    assert int(sol.stats["num_rejected"]) >= 0 and int(sol.stats["num_accepted"]) > 10


@pytest.mark.parametrize("adjoint", ["checkpoint", "direct", "backsolve"])
def test_user_method_gradients_against_finite_differences(adjoint):
    ts = jnp.linspace(0, 1.5, 4)

    def loss(k):
        sol = solvers.solve(
            decay,
            jnp.array([1.0]),
            (0.0, 1.5),
            k,
            method=METHOD,
            ts=ts,
            rtol=1e-8,
            atol=1e-10,
            adjoint=adjoint,
        )
        return jnp.sum(sol.ys**2)

    grad = jax.grad(loss)(0.8)
    reference = central_difference(loss, 0.8)
    # The finite difference sees the step sizes move with k; the adjoints hold them fixed.
    np.testing.assert_allclose(grad, reference[0], rtol=1e-4 if adjoint == "backsolve" else 2e-5)


def test_user_method_forward_mode_events_dense_sweep_fit():
    y0 = jnp.array([1.0])

    def final(k):
        return solvers.solve(decay, y0, (0.0, 1.0), k, method=METHOD, rtol=1e-9).ys[-1, 0]

    _, tangent = jax.jvp(final, (0.5,), (1.0,))
    assert abs(float(tangent) + np.exp(-0.5)) < 1e-5

    half = solvers.Event(lambda t, y, k: y[0] - 0.5)
    sol = solvers.solve(
        decay, y0, (0.0, 5.0), 1.0, method=METHOD, rtol=1e-10, atol=1e-12, event=half
    )
    assert abs(float(sol.ts[-1]) - np.log(2)) < 1e-6

    sol = solvers.solve(decay, y0, (0.0, 1.0), 1.0, method=METHOD, dense=True, rtol=1e-9)
    assert abs(float(sol.evaluate(0.3)[0]) - np.exp(-0.3)) < 1e-5

    sols = solvers.sweep(
        decay, y0, (0.0, 1.0), jnp.array([0.5, 1.0, 2.0]), method=METHOD, rtol=1e-9
    )
    np.testing.assert_allclose(sols.ys[:, -1, 0], np.exp(-np.array([0.5, 1.0, 2.0])), rtol=1e-5)

    ts = jnp.linspace(0, 1, 6)
    data = jnp.exp(-1.3 * ts)[:, None]
    # Optax's update is not written for strict dtype promotion (set in conftest.py).
    with jax.numpy_dtype_promotion("standard"):
        result = solvers.fit(
            decay,
            y0,
            ts,
            data,
            0.5,
            optimizer=optax.adam(0.1),
            steps=150,
            method=METHOD,
            progress=False,
        )
    assert abs(float(result.params) - 1.3) < 1e-2
