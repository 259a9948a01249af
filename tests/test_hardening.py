"""Bad input, failed solves under transformations, and the peer-suite cases: each
answer is a clear error naming the argument (concrete input), the documented status
(traced input), and never a plausible number or gradient."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import decay, oscillator

import solvers


def stiff(t, y, mu):
    return jnp.stack([y[1], mu * (1 - y[0] ** 2) * y[1] - y[0]])


STIFF_Y0 = jnp.array([2.0, 0.0])


def failing_loss(k, throw):
    # Decay over a long span with a tiny budget: the solve runs out of steps.
    sol = solvers.solve(decay, jnp.array([1.0]), (0.0, 100.0), k, max_steps=5, throw=throw)
    return jnp.sum(sol.ys)


def test_gradient_of_a_failed_solve_raises_or_is_nan_under_jit():
    # throw=True: even when only the gradient is used, it raises.
    with pytest.raises(Exception, match="max_steps"):
        jax.block_until_ready(jax.jit(jax.grad(failing_loss), static_argnums=1)(0.5, True))
    # throw=False: the loss and the gradient are NaN, not plausible numbers.
    value, grad = jax.jit(jax.value_and_grad(failing_loss), static_argnums=1)(0.5, False)
    assert np.isnan(float(value)) and np.isnan(float(grad))

    # Also under vmap: only the failed member (stiff for an explicit method) is NaN.
    def short_loss(k):
        sol = solvers.solve(decay, jnp.array([1.0]), (0.0, 1.0), k, max_steps=30, throw=False)
        return jnp.sum(sol.ys)

    grads = jax.vmap(jax.grad(short_loss))(jnp.array([0.5, 1e5]))
    assert np.isfinite(float(grads[0])) and np.isnan(float(grads[1]))


def test_gradient_at_a_nan_parameter_is_nan_and_forward_mode_too():
    def loss(k):
        return solvers.solve(decay, jnp.array([1.0]), (0.0, 1.0), k, throw=False).ys[-1, 0]

    assert np.isnan(float(jax.grad(loss)(jnp.nan)))
    _, tangent = jax.jvp(loss, (jnp.nan,), (1.0,))
    assert np.isnan(float(tangent))


@pytest.mark.parametrize(
    "t_span,match",
    [
        ((0.0, np.nan), r"t_span\[1\] must be finite"),
        ((np.nan, 1.0), r"t_span\[0\] must be finite"),
        ((0.0, np.inf), r"t_span\[1\] must be finite"),
        ((0.0, jnp.array([1.0, 2.0])), r"t_span\[1\] must be a scalar"),
        ((0.0, 1.0, 2.0), "must be a pair"),
        ("ab", "must be a pair"),
    ],
)
def test_bad_concrete_t_span_names_the_argument(t_span, match):
    with pytest.raises(ValueError, match=match):
        solvers.solve(decay, jnp.array([1.0]), t_span, 0.5)


def test_traced_nan_t_span_and_ts_give_the_invalid_status_and_nan():
    def run(t1, ts):
        return solvers.solve(decay, jnp.array([1.0]), (0.0, t1), 0.5, ts=ts, throw=False)

    jitted = jax.jit(run)
    sol = jitted(jnp.nan, jnp.array([0.0, 0.5]))
    assert int(sol.status) == 5 and np.all(np.isnan(np.asarray(sol.ys)))
    sol = jitted(1.0, jnp.array([0.0, jnp.nan]))
    assert int(sol.status) == 5 and np.all(np.isnan(np.asarray(sol.ys)))
    sol = jitted(jnp.inf, jnp.array([0.0, 0.5]))
    assert int(sol.status) == 5
    with pytest.raises(ValueError, match="ts contains NaN"):
        solvers.solve(decay, jnp.array([1.0]), (0.0, 1.0), 0.5, ts=jnp.array([0.0, jnp.nan]))


@pytest.mark.parametrize(
    "options,match",
    [
        ({"rtol": -1e-6}, "rtol must be a finite number >= 0"),
        ({"atol": np.nan}, "atol must be a finite number >= 0"),
        ({"rtol": np.inf}, "rtol must be a finite number >= 0"),
        ({"rtol": 0.0, "atol": 0.0}, "rtol and atol are both 0"),
        ({"rtol": jnp.ones(2)}, "rtol must be a scalar"),
        ({"dt": 0.0}, "dt must be finite and non-zero"),
        ({"dt": np.nan}, "dt must be finite and non-zero"),
        ({"max_step": -1.0}, "max_step must be > 0"),
        ({"max_steps": 0}, "max_steps must be a positive int"),
        ({"max_steps": 10.5}, "max_steps must be a positive int"),
        ({"jump_ts": jnp.array([[0.5]])}, "jump_ts must be a 1-D"),
        ({"jump_ts": jnp.array([jnp.nan])}, "jump_ts contains NaN"),
        ({"ts": "every"}, "ts must be an array of times"),
        ({"adjoint": "reverse"}, "adjoint must be one of"),
        ({"dense": 1}, "dense must be True or False"),
    ],
)
def test_bad_options_name_the_argument(options, match):
    with pytest.raises((ValueError, TypeError), match=match):
        solvers.solve(decay, jnp.array([1.0]), (0.0, 1.0), 0.5, **options)


def test_traced_bad_tolerances_give_the_invalid_status():
    run = jax.jit(
        lambda rtol: solvers.solve(decay, jnp.array([1.0]), (0.0, 1.0), 0.5, rtol=rtol, throw=False)
    )
    for rtol in (-1e-6, jnp.nan):
        sol = run(rtol)
        assert int(sol.status) == 5 and np.isnan(float(sol.ys[-1, 0]))
    assert int(run(1e-6).status) == 0


def test_empty_state_and_empty_leaf():
    def field(t, y, args):
        return jax.tree.map(lambda leaf: -leaf, y)

    sol = solvers.solve(field, jnp.zeros((0,)), (0.0, 1.0))
    assert int(sol.status) == 0 and sol.ys.shape == (1, 0)
    assert int(sol.stats["num_steps"]) < 20
    mixed = {"a": jnp.array([1.0]), "empty": jnp.zeros((0, 3))}
    sol = solvers.solve(field, mixed, (0.0, 1.0), rtol=1e-9, atol=1e-12)
    assert abs(float(sol.ys["a"][-1, 0]) - np.exp(-1)) < 1e-8
    assert sol.ys["empty"].shape == (1, 0, 3)


def test_disable_jit_runs():
    with jax.disable_jit():
        sol = solvers.solve(decay, jnp.array([1.0]), (0.0, 0.5), 1.0, rtol=1e-6)
    assert abs(float(sol.ys[-1, 0]) - np.exp(-0.5)) < 1e-5


def test_strict_dtype_promotion():
    with jax.numpy_dtype_promotion("strict"):
        sol = solvers.solve(
            oscillator, jnp.array([1.0, 0.0]), (0.0, 1.0), 1.0, ts=jnp.linspace(0, 1, 3)
        )
        grad = jax.grad(
            lambda w: solvers.solve(oscillator, jnp.array([1.0, 0.0]), (0.0, 1.0), w).ys[-1, 0]
        )(1.0)
        fixed = solvers.solve(decay, jnp.array([1.0]), (0.0, 1.0), 1.0, method="rk4", dt=0.1)
    assert int(sol.status) == 0 and np.isfinite(float(grad)) and int(fixed.status) == 0


def test_max_steps_message_suggests_stiffness_only_when_the_steps_show_it():
    # A long non-stiff run: the budget ran out; raise max_steps, nothing about stiffness.
    with pytest.raises(solvers.SolveError, match="Raise max_steps: the run simply needs more"):
        solvers.solve(oscillator, jnp.array([1.0, 0.0]), (0.0, 1000.0), 1.0, max_steps=50)
    # Van der Pol at mu = 1000: tsit5 is held at its stability limit, many rejections.
    with pytest.raises(solvers.SolveError, match="looks stiff") as info:
        solvers.solve(stiff, STIFF_Y0, (0.0, 3000.0), 1000.0, max_steps=2000)
    assert "method='auto'" in str(info.value) and "'radau5'" in str(info.value)
    run = jax.jit(lambda mu: solvers.solve(stiff, STIFF_Y0, (0.0, 3000.0), mu, max_steps=2000).ys)
    with pytest.raises(Exception, match="looks stiff"):
        jax.block_until_ready(run(1000.0))


def test_failure_under_jit_carries_our_message():
    run = jax.jit(lambda mu: solvers.solve(stiff, STIFF_Y0, (0.0, 3000.0), mu, max_steps=100).ys)
    with pytest.raises(Exception, match="solvers.solve failed: the solver used its whole budget"):
        jax.block_until_ready(run(1000.0))


def test_forward_mode_with_a_reverse_adjoint_is_a_clear_error():
    def final(k):
        return solvers.solve(decay, jnp.array([1.0]), (0.0, 1.0), k, adjoint="checkpoint").ys

    with pytest.raises(ValueError, match="forward mode"):
        jax.jvp(final, (0.5,), (1.0,))


def test_unknown_method_and_bad_method_object():
    with pytest.raises(ValueError, match="Did you mean 'tsit5'"):
        solvers.solve(decay, jnp.array([1.0]), (0.0, 1.0), 0.5, method="tsit4")
    with pytest.raises(TypeError, match="init/step/dense"):
        solvers.solve(decay, jnp.array([1.0]), (0.0, 1.0), 0.5, method=object())


def test_throw_under_jit_raises_whatever_output_is_used():
    ground = solvers.Event(lambda t, y, g: y[0], direction=-1)

    def ball(t, y, g):
        return jnp.stack([y[1], -g])

    def impact(g):
        sol = solvers.solve(
            ball, jnp.array([10.0, 0.0]), (0.0, 100.0), g, event=ground, max_steps=3
        )
        return sol.ts[-1], sol.status

    with pytest.raises(Exception, match="solvers.solve failed"):
        jax.block_until_ready(jax.jit(impact)(9.81))


def test_gradient_of_a_failed_solve_outside_jit_raises():
    def loss(w):
        sol = solvers.solve(oscillator, jnp.array([1.0, 0.0]), (0.0, 1000.0), w, max_steps=50)
        return jnp.sum(sol.ys)

    with pytest.raises(Exception, match="max_steps"):
        jax.grad(loss)(1.0)


def test_traced_invalid_input_reports_no_plausible_time():
    run = jax.jit(
        lambda t1, r: solvers.solve(
            decay, jnp.array([1.0]), (0.0, t1), 1.0, rtol=r, atol=r, throw=False
        )
    )
    sol = run(jnp.nan, 1e-6)
    assert int(sol.status) == 5 and np.isnan(float(sol.ts[0]))
    assert int(run(1.0, 0.0).status) == 5  # rtol = atol = 0 (traced)


def test_controller_that_does_not_fit_the_method_is_a_clear_error():
    with pytest.raises(ValueError, match="ConstantSteps"):
        solvers.solve(decay, jnp.array([1.0]), (0.0, 1.0), 1.0, controller=solvers.ConstantSteps())
    with pytest.raises(ValueError, match="error estimate"):
        solvers.solve(
            decay,
            jnp.array([1.0]),
            (0.0, 1.0),
            1.0,
            method="rk4",
            dt=0.1,
            controller=solvers.PIDController(),
        )
