"""Step-size control: the error norm, the PID factor, the initial step, and the
exponent the controller uses (``1 / (error_order + 1)``) measured on real steps."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import ADAPTIVE_METHODS, fitted_slope, tan_field

import solvers
from solvers._control import PIDController, error_ratio, initial_step, rms_norm
from solvers._tableaus import TABLEAUS
from solvers.explicit import error_estimate, rk_stages


def test_error_ratio_is_the_scaled_rms_norm():
    y0 = jnp.array([1.0, -2.0, 0.0])
    y1 = jnp.array([1.5, -1.0, 0.0])
    error = jnp.array([1e-6, -3e-6, 2e-9])
    rtol, atol = 1e-4, 1e-8
    scale = atol + rtol * np.maximum(np.abs(y0), np.abs(y1))
    expected = np.sqrt(np.mean((np.asarray(error) / scale) ** 2))
    got = error_ratio(error, y0, y1, rtol, atol)
    np.testing.assert_allclose(got, expected, rtol=1e-14)
    np.testing.assert_allclose(rms_norm(jnp.array([3.0, 4.0])), np.sqrt(12.5), rtol=1e-15)


def test_error_ratio_dop853_combination():
    y = jnp.ones(2)
    e5, e3 = jnp.array([2e-7, 1e-7]), jnp.array([4e-5, -1e-5])
    r5 = np.sqrt(np.mean((np.asarray(e5) / 2e-6) ** 2))
    r3 = np.sqrt(np.mean((np.asarray(e3) / 2e-6) ** 2))
    got = error_ratio((e5, e3), y, y, 1e-6, 1e-6)
    np.testing.assert_allclose(got, r5**2 / np.sqrt(r5**2 + 0.01 * r3**2), rtol=1e-13)
    assert float(error_ratio((jnp.zeros(2), jnp.zeros(2)), y, y, 1e-6, 1e-6)) == 0.0


def test_error_ratio_is_infinite_for_non_finite_steps():
    y = jnp.ones(2)
    nan_step = jnp.array([1.0, jnp.nan])
    assert float(error_ratio(jnp.zeros(2), y, nan_step, 1e-6, 1e-9)) == np.inf
    nan_error = jnp.array([0.0, jnp.nan])
    assert float(error_ratio(nan_error, y, y, 1e-6, 1e-9)) == np.inf


def test_i_controller_factor_and_bounds():
    controller = PIDController()  # I controller: factor = safety * ratio^(-1/5)

    def pid_factor(_, ratio, accept, inverse1, inverse2):
        return controller.factor(4, ratio, accept, inverse1, inverse2)

    method = None
    ratio = jnp.asarray(0.01)
    factor, inverse = pid_factor(method, ratio, True, 1.0, 1.0)
    np.testing.assert_allclose(factor, 0.9 * 0.01 ** (-1 / 5), rtol=1e-14)
    np.testing.assert_allclose(inverse, 100.0)
    # Clipped to [factormin, factormax] after an accepted step (it may shrink the
    # next step, as Hairer's and scipy's codes do) ...
    assert float(pid_factor(method, jnp.asarray(1e-30), True, 1.0, 1.0)[0]) == 10.0
    assert float(pid_factor(method, jnp.asarray(0.0), True, 1.0, 1.0)[0]) == 10.0
    accepted = float(pid_factor(method, jnp.asarray(0.999), True, 1.0, 1.0)[0])
    np.testing.assert_allclose(accepted, 0.9 * 0.999 ** (-1 / 5), rtol=1e-14)
    # ... and to [factormin, safety] after a rejected one.
    assert float(pid_factor(method, jnp.asarray(1e6), False, 1.0, 1.0)[0]) == 0.2
    assert float(pid_factor(method, jnp.asarray(jnp.inf), False, 1.0, 1.0)[0]) == 0.2
    rejected = float(pid_factor(method, jnp.asarray(2.0), False, 1.0, 1.0)[0])
    np.testing.assert_allclose(rejected, 0.9 * 2.0 ** (-1 / 5), rtol=1e-14)


def pid_factor(controller, ratio, accept, inverse1, inverse2):
    return controller.factor(4, ratio, accept, inverse1, inverse2)


def test_pi_controller_uses_the_previous_ratio():
    method = PIDController(pcoeff=0.4, icoeff=0.3)
    k = 5
    ratio, previous_inverse = 0.5, 4.0  # previous ratio 0.25
    factor, _ = pid_factor(method, jnp.asarray(ratio), True, previous_inverse, 1.0)
    expected = 0.9 * (1 / ratio) ** (0.7 / k) * previous_inverse ** (-0.4 / k)
    np.testing.assert_allclose(factor, expected, rtol=1e-14)
    pid = PIDController(pcoeff=0.3, icoeff=0.3, dcoeff=0.1, factormax=5.0)
    factor, _ = pid_factor(pid, jnp.asarray(0.1), True, 2.0, 3.0)
    expected = 0.9 * 10 ** (0.7 / k) * 2.0 ** (-0.5 / k) * 3.0 ** (0.1 / k)
    np.testing.assert_allclose(factor, min(5.0, expected), rtol=1e-14)


def _hairer_initial_step(f, t0, y0, order, rtol, atol):
    """HNW I, II.4, "Starting step size", in plain numpy."""
    f0 = f(t0, y0)
    scale = atol + rtol * np.abs(y0)
    d0 = np.sqrt(np.mean((y0 / scale) ** 2))
    d1 = np.sqrt(np.mean((f0 / scale) ** 2))
    h0 = 1e-6 if d0 < 1e-5 or d1 < 1e-5 else 0.01 * d0 / d1
    f1 = f(t0 + h0, y0 + h0 * f0)
    d2 = np.sqrt(np.mean(((f1 - f0) / scale) ** 2)) / h0
    if max(d1, d2) <= 1e-15:
        h1 = max(1e-6, h0 * 1e-3)
    else:
        h1 = (0.01 / max(d1, d2)) ** (1 / (order + 1))
    return min(100 * h0, h1)


@pytest.mark.parametrize(
    "y0,rtol,atol",
    [([1.0, 0.5], 1e-6, 1e-9), ([2.0, -3.0], 1e-3, 1e-6), ([0.0, 0.0], 1e-6, 1e-9)],
)
def test_initial_step_is_hairers(y0, rtol, atol):
    def f(t, y):
        return np.stack([y[1] + np.sin(t), -4.0 * y[0] + 0.1 * y[1] ** 2])

    y0 = np.array(y0)
    f0 = f(0.3, y0)
    got = initial_step(
        lambda t, y: jnp.asarray(f(t, np.asarray(y))),
        jnp.asarray(0.3),
        jnp.asarray(100.0),
        jnp.asarray(y0),
        jnp.asarray(f0),
        4,
        rtol,
        atol,
    )
    np.testing.assert_allclose(got, _hairer_initial_step(f, 0.3, y0, 4, rtol, atol), rtol=1e-12)


@functools.cache
def _error_of_one_step(name):
    tableau = TABLEAUS[name]

    def field(t, y):
        return tan_field(t, y, None)

    @jax.jit
    def run(h):
        y0 = jnp.array([np.tan(0.2)])
        y1, ks = rk_stages(tableau, field, 0.2, y0, h, field(0.2, y0))
        # rtol = 0, atol = 1: the ratio is the error norm itself.
        return error_ratio(error_estimate(tableau, h, ks), y0, y1, 0.0, 1.0)

    return run


@pytest.mark.parametrize("name", ADAPTIVE_METHODS)
def test_error_estimate_scales_with_the_controller_exponent(name):
    """The estimate is ``O(h^(error_order + 1))``: the power the controller inverts."""
    tableau = TABLEAUS[name]
    run = _error_of_one_step(name)
    step_sizes = np.array([0.08, 0.06, 0.04, 0.03, 0.02])
    if name == "dopri8":
        step_sizes = step_sizes * 2
    errors = [float(run(h)) for h in step_sizes]
    assert abs(fitted_slope(step_sizes, errors) - (tableau.error_order + 1)) < 0.3, errors


def test_initial_step_never_leaves_t_span():
    """The trial step is capped at t1 - t0: f is never evaluated outside t_span (it is
    NaN there). Spans as in scipy's gh-8848 problem (-17, 2), a span of 1e-4, and one
    far from 0."""
    seen = []

    def field(t, y, span):
        jax.debug.callback(lambda t: seen.append(float(t)), t)
        outside = (t < span[0]) | (t > span[1])
        return jnp.where(outside, jnp.nan, -y * jnp.tanh(t))

    for span in [(-17.0, 2.0), (0.0, 1e-4), (100.0, 200.0)]:
        seen.clear()
        sol = solvers.solve(field, jnp.array([1.0]), span, jnp.array(span), method="dopri5")
        jax.effects_barrier()
        assert int(sol.status) == 0
        assert min(seen) >= span[0] and max(seen) <= span[1], (span, min(seen), max(seen))
        assert int(sol.stats["num_fevals"]) < 1000  # was 100,000 rejected steps


def test_pid_controller_rejects_bad_constants():
    with pytest.raises(ValueError, match="safety"):
        PIDController(safety=1.5)
