"""Events: crossings located on the dense output, terminal and non-terminal, several at
once, under jit/vmap/grad/jvp, in both directions of time and in float32."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import central_difference

import solvers

HEIGHT = 10.0
G = 9.81


def ball(t, y, g):
    return jnp.stack([y[1], -g])


def osc(t, y, omega):
    return jnp.stack([y[1], -(omega**2) * y[0]])


GROUND = solvers.Event(lambda t, y, g: y[0], direction=-1)
ZEROS = solvers.Event(lambda t, y, omega: y[0], terminal=False, max_events=5)
UPWARD = solvers.Event(lambda t, y, omega: y[0], direction=1, terminal=False, max_events=3)
TIGHT = {"rtol": 1e-10, "atol": 1e-12}


def impact_time(g, height=HEIGHT, adjoint="auto"):
    sol = solvers.solve(
        ball, jnp.array([height, 0.0]), (0.0, 100.0), g, event=GROUND, adjoint=adjoint, **TIGHT
    )
    return sol.ts[-1]


def test_bouncing_ball_impact_time_and_state():
    sol = solvers.solve(ball, jnp.array([HEIGHT, 0.0]), (0.0, 100.0), G, event=GROUND, **TIGHT)
    exact = np.sqrt(2 * HEIGHT / G)
    assert abs(float(sol.ts[-1]) - exact) < 1e-10
    assert abs(float(sol.events[0].ts[0]) - exact) < 1e-10
    assert int(sol.events[0].count) == 1
    np.testing.assert_allclose(sol.ys[-1], [0.0, -G * exact], atol=1e-9)
    # The solve stopped there: far fewer steps than to t1 = 100.
    assert float(sol.ts[-1]) < 2


@pytest.mark.parametrize("adjoint", ["checkpoint", "direct"])
def test_impact_time_gradient_matches_closed_form(adjoint):
    exact = -0.5 * np.sqrt(2 * HEIGHT) * G**-1.5
    grad = jax.grad(impact_time)(G, HEIGHT, adjoint)
    assert abs(float(grad) - exact) < 1e-7
    # Also with respect to the initial height: d/dh sqrt(2h/g) = 1/sqrt(2hg).
    grad_h = jax.grad(impact_time, argnums=1)(G, HEIGHT, adjoint)
    assert abs(float(grad_h) - 1 / np.sqrt(2 * HEIGHT * G)) < 1e-7


def test_impact_time_forward_mode_jit_and_vmap_members_stop_independently():
    _, tangent = jax.jvp(impact_time, (G,), (1.0,))
    assert abs(float(tangent) + 0.5 * np.sqrt(2 * HEIGHT) * G**-1.5) < 1e-7
    heights = jnp.array([1.0, 5.0, 20.0])
    times = jax.jit(jax.vmap(impact_time, (None, 0)))(G, heights)
    np.testing.assert_allclose(times, np.sqrt(2 * np.asarray(heights) / G), atol=1e-10)


def test_non_terminal_events_record_up_to_max_events_and_count_all():
    sol = solvers.solve(osc, jnp.array([1.0, 0.0]), (0.0, 20.0), 1.0, event=ZEROS, **TIGHT)
    record = sol.events[0]
    np.testing.assert_allclose(record.ts, (np.arange(5) + 0.5) * np.pi, atol=1e-9)
    np.testing.assert_allclose(record.ys[:, 0], 0.0, atol=1e-9)
    assert int(record.count) == 6  # zeros at (k + 1/2) pi < 20: k = 0..5
    assert float(sol.ts[-1]) == 20.0  # not terminal


def test_direction_and_several_events_at_once():
    stop = solvers.Event(lambda t, y, omega: t - 7.0)
    sol = solvers.solve(
        osc, jnp.array([1.0, 0.0]), (0.0, 20.0), 1.0, event=(UPWARD, ZEROS, stop), **TIGHT
    )
    up, both, end = sol.events
    # Before the stop at t = 7, cos(t) crosses zero at pi/2 (down) and 3pi/2 (up).
    assert abs(float(up.ts[0]) - 1.5 * np.pi) < 1e-9
    assert int(up.count) == 1 and np.all(np.isnan(np.asarray(up.ts[1:])))
    np.testing.assert_allclose(both.ts[:2], [0.5 * np.pi, 1.5 * np.pi], atol=1e-9)
    assert int(both.count) == 2
    assert abs(float(end.ts[0]) - 7.0) < 1e-12 and abs(float(sol.ts[-1]) - 7.0) < 1e-12


def test_event_time_gradients_non_terminal_and_of_the_event_state():
    def third_zero(omega):
        sol = solvers.solve(osc, jnp.array([1.0, 0.0]), (0.0, 20.0), omega, event=ZEROS, **TIGHT)
        return sol.events[0].ts[2]

    assert abs(float(jax.grad(third_zero)(1.0)) + 2.5 * np.pi) < 1e-7

    def velocity_at_impact(y0):
        sol = solvers.solve(ball, y0, (0.0, 100.0), G, event=GROUND, **TIGHT)
        return sol.events[0].ys[0, 1]

    y0 = jnp.array([HEIGHT, 1.0])
    reference = central_difference(velocity_at_impact, y0)
    np.testing.assert_allclose(jax.grad(velocity_at_impact)(y0), reference, rtol=1e-6)


def test_saves_after_a_terminal_event_are_nan_and_backward_time():
    ts = jnp.linspace(0.0, 3.0, 7)
    sol = solvers.solve(ball, jnp.array([HEIGHT, 0.0]), (0.0, 3.0), G, ts=ts, event=GROUND, **TIGHT)
    impact = np.sqrt(2 * HEIGHT / G)
    before = np.asarray(ts) <= impact
    assert np.all(np.isfinite(np.asarray(sol.ys)[before]))
    assert np.all(np.isnan(np.asarray(sol.ys)[~before]))
    # Backwards in time from the impact state up to half the release height.
    up = solvers.Event(lambda t, y, g: y[0] - HEIGHT / 2, direction=1)
    start = jnp.array([0.0, -G * impact])
    back = solvers.solve(ball, start, (impact, -5.0), G, event=up, **TIGHT)
    assert abs(float(back.ts[-1]) - np.sqrt(HEIGHT / G)) < 1e-9


def test_float32_event():
    sol = solvers.solve(
        ball,
        jnp.array([HEIGHT, 0.0], jnp.float32),
        (0.0, 100.0),
        jnp.float32(G),
        event=GROUND,
        rtol=1e-6,
        atol=1e-6,
    )
    assert sol.ts.dtype == jnp.float32
    assert abs(float(sol.ts[-1]) - np.sqrt(2 * HEIGHT / G)) < 1e-5


def test_bad_events_raise_clear_errors():
    with pytest.raises(ValueError, match="direction"):
        solvers.Event(lambda t, y, p: y[0], direction=2)
    with pytest.raises(ValueError, match="max_events"):
        solvers.Event(lambda t, y, p: y[0], max_events=0)
    vector = solvers.Event(lambda t, y, p: y)
    with pytest.raises(ValueError, match="real scalar"):
        solvers.solve(ball, jnp.array([1.0, 0.0]), (0.0, 1.0), G, event=vector)
    with pytest.raises(NotImplementedError, match="backsolve"):
        solvers.solve(ball, jnp.array([1.0, 0.0]), (0.0, 1.0), G, event=GROUND, adjoint="backsolve")
