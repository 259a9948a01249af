"""Agreement with diffrax, and ``solve(method=<diffrax solver>)`` routing."""

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import (
    LORENZ_PARAMS,
    LORENZ_Y0,
    decay,
    lorenz,
    max_abs_error,
    oscillator,
    oscillator_exact,
)

import solvers

TS = jnp.linspace(0.0, 2.0, 9)


@pytest.mark.parametrize(
    "ours,theirs",
    [("tsit5", diffrax.Tsit5()), ("dopri5", diffrax.Dopri5()), ("bosh3", diffrax.Bosh3())],
)
def test_agrees_with_diffrax_for_the_same_tableau(ours, theirs):
    rtol, atol = 1e-7, 1e-9
    sol = solvers.solve(
        lorenz, LORENZ_Y0, (0.0, 2.0), LORENZ_PARAMS, method=ours, ts=TS, rtol=rtol, atol=atol
    )
    ref = diffrax.diffeqsolve(
        diffrax.ODETerm(lorenz),
        theirs,
        0.0,
        2.0,
        None,
        LORENZ_Y0,
        args=LORENZ_PARAMS,
        saveat=diffrax.SaveAt(ts=TS),
        max_steps=10_000,
        stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol),
    )
    ours_steps = int(sol.stats["num_accepted"])
    their_steps = int(ref.stats["num_accepted_steps"])
    assert abs(ours_steps - their_steps) <= 0.3 * their_steps, (ours_steps, their_steps)
    # Both are within tolerance of the truth (up to Lorenz's error growth on [0, 2]).
    scale = float(jnp.max(jnp.abs(ref.ys)))
    assert max_abs_error(sol.ys, ref.ys) < 1e3 * rtol * scale


def test_diffrax_solver_is_routed_and_returns_a_solution():
    ts = jnp.linspace(0.0, 3.0, 7)
    routed = solvers.solve(
        oscillator,
        jnp.array([1.0, 0.0]),
        (0.0, 3.0),
        1.3,
        method=diffrax.Tsit5(),
        ts=ts,
        rtol=1e-10,
        atol=1e-10,
    )
    ours = solvers.solve(
        oscillator, jnp.array([1.0, 0.0]), (0.0, 3.0), 1.3, ts=ts, rtol=1e-10, atol=1e-10
    )
    assert isinstance(routed, solvers.Solution)
    assert jax.tree.structure(routed) == jax.tree.structure(ours)
    assert routed.ys.shape == ours.ys.shape == (7, 2) and routed.ts.shape == (7,)
    assert set(routed.stats) == {
        "num_steps",
        "num_accepted",
        "num_rejected",
        "num_fevals",
        "stiffness",
    }
    assert int(routed.stats["num_fevals"]) == -1  # diffrax does not count them
    assert int(routed.status) == 0 and routed.message == "success"
    np.testing.assert_allclose(routed.ys, oscillator_exact(ts, 1.3), atol=1e-8)
    np.testing.assert_allclose(routed.evaluate(1.1), ours.evaluate(1.1), atol=1e-8)


def test_diffrax_route_under_jit_and_grad():
    def final(k, y0):
        return solvers.solve(
            decay,
            y0,
            (0.0, 2.0),
            k,
            method=diffrax.Dopri5(),
            rtol=1e-10,
            atol=1e-12,
            max_steps=1000,
        ).ys[0]

    value, grad = jax.jit(jax.value_and_grad(final))(0.5, 1.5)
    np.testing.assert_allclose(value, 1.5 * np.exp(-1.0), rtol=1e-8)
    np.testing.assert_allclose(grad, -2.0 * 1.5 * np.exp(-1.0), rtol=1e-7)


def test_diffrax_fixed_step_solver_needs_dt_and_integrates_backwards():
    with pytest.raises(ValueError, match="dt"):
        solvers.solve(decay, jnp.array(1.0), (0.0, 1.0), 0.5, method=diffrax.Euler())
    sol = solvers.solve(decay, jnp.array(1.0), (1.0, 0.0), 0.5, method=diffrax.Heun(), dt=0.01)
    np.testing.assert_allclose(sol.ys[-1], np.exp(0.5), rtol=1e-5)
    assert float(sol.ts[-1]) == 0.0


def test_diffrax_failures_map_to_status_codes():
    sol = solvers.solve(
        decay, jnp.ones(1), (0.0, 100.0), 0.5, method=diffrax.Tsit5(), max_steps=3, throw=False
    )
    assert int(sol.status) == 1
    with pytest.raises(solvers.SolveError, match="max_steps"):
        solvers.solve(decay, jnp.ones(1), (0.0, 100.0), 0.5, method=diffrax.Tsit5(), max_steps=3)


def test_diffrax_route_reports_invalid_traced_ts_as_status():
    """throw=False: traced save times outside t_span give status 5, as on our own
    route, instead of diffrax's own runtime error."""
    traced = jax.jit(
        lambda ts: (
            solvers.solve(
                decay, jnp.ones(1), (0.0, 1.0), 0.5, method=diffrax.Tsit5(), ts=ts, throw=False
            ).status
        )
    )
    assert int(traced(jnp.array([0.5, 2.0]))) == 5
    assert int(traced(jnp.array([0.5, 1.0]))) == 0
