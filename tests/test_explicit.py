"""Explicit Runge-Kutta methods through ``solve``: measured convergence orders,
dense-output orders, tolerance proportionality, method objects and step statistics."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import (
    ADAPTIVE_METHODS,
    ADAPTIVE_ORDERS,
    ALL_METHODS,
    FIXED_ORDERS,
    as_fixed_step,
    decay,
    fitted_slope,
    max_abs_error,
    oscillator,
    oscillator_exact,
)

import solvers
from solvers._tableaus import TABLEAUS

OMEGA = 1.3
Y0 = jnp.array([1.0, 0.0])
T1 = 4.0
# Off-grid save points (never on a multiple of the step sizes below) and the end.
OFF_GRID = jnp.array([0.517, 1.291, 2.843, 3.777, T1])


# ------------------------------------------------------------- fixed-step methods


@functools.cache
def _fixed_step_solver(method):
    """One compiled program per method: the step size is a (batched) array."""

    def run(dt):
        return solvers.solve(
            oscillator,
            Y0,
            (0.0, T1),
            OMEGA,
            method=method,
            dt=dt,
            ts=OFF_GRID,
            max_steps=500,
            throw=False,
        )

    return jax.jit(jax.vmap(run))


def _errors(method, step_sizes):
    """Global errors at t1 and at the off-grid save points (dense output)."""
    sol = _fixed_step_solver(method)(jnp.array(step_sizes))
    assert np.all(np.asarray(sol.status) == 0)
    exact = oscillator_exact(OFF_GRID, OMEGA)
    end_errors = [max_abs_error(y[-1], exact[-1]) for y in sol.ys]
    dense_errors = [max_abs_error(y[:-1], exact[:-1]) for y in sol.ys]
    return end_errors, dense_errors


@pytest.mark.parametrize("name,order", sorted(FIXED_ORDERS.items()))
def test_fixed_step_convergence_order(name, order):
    step_sizes = [0.08, 0.04, 0.02, 0.01]
    end_errors, dense_errors = _errors(name, step_sizes)
    assert abs(fitted_slope(step_sizes, end_errors) - order) < 0.2, end_errors
    # Cubic Hermite between steps: the global order, up to 3 (4 where the local
    # interpolation error O(h^4) is what remains).
    assert fitted_slope(step_sizes, dense_errors) > min(order, 3) - 0.2, dense_errors


@pytest.mark.parametrize("name,order", sorted(ADAPTIVE_ORDERS.items()))
def test_adaptive_pair_convergence_order(name, order):
    """The propagated solution of each pair, on fixed grids, converges at its order,
    and its dense output at the dense output's order."""
    step_sizes = {
        3: [0.1, 0.05, 0.025, 0.0125],
        5: [0.2, 0.1, 0.05, 0.025],
        8: [0.5, 0.4, 0.3, 0.25],
    }[order]
    end_errors, dense_errors = _errors(as_fixed_step(name), step_sizes)
    assert abs(fitted_slope(step_sizes, end_errors) - order) < 0.2, end_errors
    dense_order = min(order, TABLEAUS[name].dense_order)
    assert fitted_slope(step_sizes, dense_errors) > dense_order - 0.2, dense_errors


@pytest.mark.parametrize(
    "t_span,dt,steps",
    [
        ((0.0, 1.0), 0.1, 10),
        ((0.0, 3.0), 0.3, 10),
        ((0.0, 2.0), 0.1, 20),
        ((1.0, 0.0), 0.1, 10),
        ((0.0, 1.0), 0.3, 4),
        ((0.0, 1.0), 0.01, 100),
    ],
)
def test_fixed_step_count(t_span, dt, steps):
    """A grid of dt over t_span takes round((t1 - t0) / dt) steps (the last one
    shortened where dt does not divide the interval), never an extra sliver step
    made of the round-off in t0 + k dt."""
    sol = solvers.solve(decay, jnp.array(1.0), t_span, 0.5, method="rk4", dt=dt)
    assert int(sol.stats["num_steps"]) == steps
    assert int(sol.stats["num_accepted"]) == steps
    assert int(sol.stats["num_rejected"]) == 0
    np.testing.assert_allclose(sol.ys[-1], np.exp(-0.5 * (t_span[1] - t_span[0])), rtol=1e-5)


def test_fixed_step_max_steps_applies_to_traced_grids_only():
    """A concrete grid (t_span and dt known in Python) takes all its steps whatever
    max_steps says; a traced grid's length is unknown at compile time, so max_steps
    bounds it (and sizes the adjoint's buffers)."""

    def run(t1):
        return solvers.solve(
            decay,
            jnp.array(1.0),
            (0.0, t1),
            0.5,
            method="rk4",
            dt=0.001,
            max_steps=10,
            throw=False,
        )

    static = run(1.0)
    traced = jax.jit(run)(1.0)
    assert int(traced.status) == 1
    assert int(static.status) == 0 and int(static.stats["num_steps"]) == 1000
    np.testing.assert_allclose(static.ys[-1], np.exp(-0.5), rtol=1e-12)


def test_fixed_step_dt_sign_is_ignored_and_dt_larger_than_interval():
    forward = solvers.solve(decay, jnp.array(1.0), (0.0, 1.0), 0.5, method="rk4", dt=0.1)
    negative = solvers.solve(decay, jnp.array(1.0), (0.0, 1.0), 0.5, method="rk4", dt=-0.1)
    np.testing.assert_array_equal(forward.ys, negative.ys)
    one_step = solvers.solve(decay, jnp.array(1.0), (0.0, 0.2), 0.5, method="rk4", dt=5.0)
    assert int(one_step.stats["num_steps"]) == 1
    x = -0.1
    rk4 = 1 + x + x**2 / 2 + x**3 / 6 + x**4 / 24
    np.testing.assert_allclose(one_step.ys[-1], rk4, rtol=1e-14)


# ---------------------------------------------------------------- adaptive methods

TOLERANCES = np.array([1e-4, 1e-6, 1e-8, 1e-10])


@pytest.mark.parametrize("name", ADAPTIVE_METHODS)
def test_tolerance_proportionality(name):
    """Error ~ tolerance (slope 1); step count ~ tol^(-1/p) for a method of order p."""
    errors, steps = [], []
    for tol in TOLERANCES:
        sol = solvers.solve(
            oscillator, Y0, (0.0, T1), 2.0, method=name, rtol=tol, atol=tol, ts=OFF_GRID
        )
        errors.append(max_abs_error(sol.ys, oscillator_exact(OFF_GRID, 2.0)))
        steps.append(int(sol.stats["num_accepted"]))
        assert errors[-1] < 100 * tol
    assert all(a > b for a, b in zip(errors, errors[1:])), errors
    assert 0.8 < fitted_slope(TOLERANCES, errors) < 1.2, errors
    assert abs(fitted_slope(TOLERANCES, steps) + 1 / ADAPTIVE_ORDERS[name]) < 0.03, steps


@pytest.mark.parametrize("name", ADAPTIVE_METHODS)
def test_step_statistics(name):
    sol = solvers.solve(oscillator, Y0, (0.0, 20.0), 2.0, method=name, rtol=1e-7, atol=1e-9)
    stats = {key: int(value) for key, value in sol.stats.items()}
    assert stats["num_steps"] == stats["num_accepted"] + stats["num_rejected"]
    assert stats["num_accepted"] > 5
    # FSAL pairs: f(t0), one evaluation for the initial step, then s - 1 per attempt.
    stages = TABLEAUS[name].num_stages
    assert stats["num_fevals"] == 2 + (stages - 1) * stats["num_steps"]


@pytest.mark.parametrize("name", ADAPTIVE_METHODS)
def test_save_points_come_from_dense_output_not_shorter_steps(name):
    """Saving at many points leaves the step sequence unchanged, and the saved values
    are as accurate as the steps."""
    ts = jnp.linspace(0.0, T1, 41)
    dense = solvers.solve(oscillator, Y0, (0.0, T1), 2.0, method=name, ts=ts, rtol=1e-9, atol=1e-9)
    final = solvers.solve(oscillator, Y0, (0.0, T1), 2.0, method=name, rtol=1e-9, atol=1e-9)
    for key in ("num_steps", "num_accepted", "num_rejected"):
        assert int(dense.stats[key]) == int(final.stats[key])
    # The dense output at theta = 1 is the step's end point up to round-off.
    np.testing.assert_allclose(dense.ys[-1], final.ys[-1], rtol=1e-13, atol=1e-14)
    assert max_abs_error(dense.ys, oscillator_exact(ts, 2.0)) < 1e-7


def test_first_step_dt_for_adaptive_methods():
    """dt is only the first step: the result meets the tolerance either way."""
    automatic = solvers.solve(oscillator, Y0, (0.0, T1), OMEGA, rtol=1e-9, atol=1e-9)
    given = jax.jit(
        lambda dt: solvers.solve(oscillator, Y0, (0.0, T1), OMEGA, rtol=1e-9, atol=1e-9, dt=dt)
    )
    tiny, huge = given(1e-6), given(3.0)
    exact = oscillator_exact(T1, OMEGA)
    for sol in (automatic, tiny, huge):
        assert max_abs_error(sol.ys[-1], exact) < 1e-7
    assert int(huge.stats["num_rejected"]) >= 1
    assert int(tiny.stats["num_fevals"]) == int(automatic.stats["num_fevals"]) - 1 + 6 * (
        int(tiny.stats["num_steps"]) - int(automatic.stats["num_steps"])
    )


# ----------------------------------------------------------------- method objects


def test_method_names_are_case_insensitive_and_match_objects():
    by_name = solvers.solve(oscillator, Y0, (0.0, 1.0), OMEGA, method="TSIT5")
    by_object = solvers.solve(oscillator, Y0, (0.0, 1.0), OMEGA, method=solvers.Tsit5())
    np.testing.assert_array_equal(by_name.ys, by_object.ys)
    assert by_name.stats["num_steps"] == by_object.stats["num_steps"]
    fixed = solvers.solve(oscillator, Y0, (0.0, 1.0), OMEGA, method="Rk4", dt=0.1)
    fixed_object = solvers.solve(oscillator, Y0, (0.0, 1.0), OMEGA, method=solvers.RK4(), dt=0.1)
    np.testing.assert_array_equal(fixed.ys, fixed_object.ys)


def test_method_objects_are_values():
    """Equal configurations are equal (a compile-cache key); others are not."""
    assert solvers.Tsit5() == solvers.Tsit5() and hash(solvers.Tsit5()) == hash(solvers.Tsit5())
    assert solvers.PIDController(pcoeff=0.4, icoeff=0.3) != solvers.PIDController()
    assert solvers.Dopri5() != solvers.Tsit5()
    for name, order in {**FIXED_ORDERS, **ADAPTIVE_ORDERS}.items():
        method = getattr(solvers, {"rk4": "RK4"}.get(name, name.capitalize()))()
        assert method.name == name and method.order == order
        assert method.adaptive == (name in ADAPTIVE_METHODS)
    assert sorted(m.lower() for m in solvers.explicit.METHODS) == ALL_METHODS


@pytest.mark.parametrize("name", ["bosh3", "tsit5"])
def test_pi_controller_meets_tolerance(name):
    controller = solvers.PIDController(pcoeff=0.4, icoeff=0.3)
    sol = solvers.solve(
        oscillator,
        Y0,
        (0.0, T1),
        2.0,
        method=name,
        rtol=1e-8,
        atol=1e-8,
        ts=OFF_GRID,
        controller=controller,
    )
    default = solvers.solve(
        oscillator, Y0, (0.0, T1), 2.0, method=name, rtol=1e-8, atol=1e-8, ts=OFF_GRID
    )
    exact = oscillator_exact(OFF_GRID, 2.0)
    assert max_abs_error(sol.ys, exact) < 1e-6
    assert max_abs_error(default.ys, exact) < 1e-6
    # The controller is really used: a different sequence of steps.
    assert not np.array_equal(np.asarray(sol.ys), np.asarray(default.ys))
