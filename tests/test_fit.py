"""Tests of solvers.fit: parameter recovery, missing data, observation maps, initial
state, losses, optimisers, one compilation, multiple shooting, callback, progress bar,
and every error path.

Compilation dominates the cost of a fit (a few seconds; the steps themselves take
milliseconds), and ``fit`` caches its compiled step on the vector field, ``observe``,
the loss, the optimizer object and the solve options. The vector fields, observation
maps, losses and optimizers below are therefore module-level objects shared by tests.
"""

from __future__ import annotations

import functools
import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import solvers
from solvers.fit import (
    FitError,
    FitResult,
    _initial_segment_starts,
    _multiple_shooting,
    _segment_bounds,
    _segment_layout,
    fit,
)


@pytest.fixture(autouse=True)
def _standard_promotion():
    # Optax's own update (its bias correction raises a float to an int32 count) is not
    # written for strict dtype promotion, which conftest.py sets for the rest of the suite.
    with jax.numpy_dtype_promotion("standard"):
        yield


def decay(t, y, rate):
    return -rate * y


def lotka_volterra(t, y, params):
    alpha, beta, gamma, delta = params
    prey, predator = y
    return jnp.stack(
        [alpha * prey - beta * prey * predator, delta * prey * predator - gamma * predator]
    )


def prey_only(y):
    return y[0]


def root_sum_squares(pred, data):
    # Non-differentiable at a zero residual: sqrt'(0) is infinite.
    return jnp.sqrt(jnp.sum((pred - data) ** 2))


def zero_root(pred, data):
    # sqrt of an exact zero whatever the prediction: a finite loss with a NaN gradient
    # (the data alone cannot promise a zero residual: compiled programs may differ in
    # the last bits).
    return jnp.sqrt(jnp.sum((pred - jax.lax.stop_gradient(pred)) ** 2))


ADAM = optax.adam(0.1)

DECAY_RATE = 1.5
DECAY_Y0 = jnp.asarray(2.0)
DECAY_TS = jnp.linspace(0.0, 2.0, 21)
DECAY_DATA = solvers.solve(decay, DECAY_Y0, (0.0, 2.0), DECAY_RATE, ts=DECAY_TS).ys

LV_PARAMS = jnp.array([1.5, 1.0, 3.0, 1.0])
LV_Y0 = jnp.array([1.0, 1.0])
LV_TS = jnp.linspace(0.0, 4.0, 41)
LV_DATA = solvers.solve(lotka_volterra, LV_Y0, (0.0, 4.0), LV_PARAMS, ts=LV_TS).ys


def fit_decay(params0=DECAY_RATE * 0.8, steps=150, data=DECAY_DATA, **options):
    """The most common configuration: compiled once per test process."""
    options.setdefault("progress", False)
    return fit(decay, DECAY_Y0, DECAY_TS, data, params0, optimizer=ADAM, steps=steps, **options)


def relative_error(a, b):
    return float(np.max(np.abs(np.asarray(a) / np.asarray(b) - 1)))


# --- recovery -----------------------------------------------------------------------


def test_recovers_decay_rate():
    result = fit_decay()
    assert isinstance(result, FitResult)
    assert relative_error(result.params, DECAY_RATE) < 1e-2
    assert result.losses.shape == (150,)
    assert result.num_steps == 150
    assert result.losses[-1] < 1e-3 * result.losses[0]
    assert float(result.y0) == float(DECAY_Y0)
    assert result.segment_y0 is None


def test_recovers_lotka_volterra_with_chain_clipping_adamw_schedule():
    schedule = optax.warmup_cosine_decay_schedule(0.0, 0.2, 10, 200, end_value=1e-3)
    optimizer = optax.chain(
        optax.clip_by_global_norm(1.0), optax.adamw(schedule, weight_decay=1e-4)
    )
    result = fit(
        lotka_volterra,
        LV_Y0,
        LV_TS,
        LV_DATA,
        1.2 * LV_PARAMS,
        optimizer=optimizer,
        steps=200,
        progress=False,
    )
    assert relative_error(result.params, LV_PARAMS) < 1e-2
    assert result.params.shape == (4,)
    # The schedule's step count advanced once per step.
    counts = [int(leaf) for leaf in jax.tree.leaves(result.opt_state) if leaf.dtype == jnp.int32]
    assert 200 in counts


def test_partial_observation_prey_only():
    prey = LV_DATA[:, 0]
    result = fit(
        lotka_volterra,
        LV_Y0,
        LV_TS,
        prey,
        1.2 * LV_PARAMS,
        optimizer=ADAM,
        steps=400,
        observe=prey_only,
        progress=False,
        adjoint="direct",
        max_steps=500,
    )
    assert relative_error(result.params, LV_PARAMS) < 1e-2


def decay_with_source(t, y, params):
    return -params["rate"] * y + params["source"]


def test_fit_y0_with_pytree_params():
    params_true = {"rate": jnp.asarray(1.5), "source": jnp.asarray(0.5)}
    data = solvers.solve(decay_with_source, DECAY_Y0, (0.0, 2.0), params_true, ts=DECAY_TS).ys
    result = fit(
        decay_with_source,
        1.6,
        DECAY_TS,
        data,
        {"rate": 1.2, "source": 0.4},
        optimizer=ADAM,
        steps=400,
        fit_y0=True,
        progress=False,
    )
    assert set(result.params) == {"rate", "source"}
    assert relative_error(result.params["rate"], 1.5) < 1e-2
    assert relative_error(result.params["source"], 0.5) < 1e-2
    assert relative_error(result.y0, DECAY_Y0) < 1e-2
    assert set(result.opt_state[0].mu) == {"params", "y0"}


# --- missing data and losses --------------------------------------------------------


def test_nan_entries_are_ignored():
    missing = np.array([2, 3, 7, 15, 20])
    data = DECAY_DATA.at[missing].set(jnp.nan)
    noisy = data + 0.01 * jnp.cos(jnp.arange(21.0))
    result = fit_decay(params0=1.2, steps=1, data=noisy)
    # The loss is the mean over the observed points only.
    pred = solvers.solve(decay, DECAY_Y0, (0.0, 2.0), 1.2, ts=DECAY_TS).ys
    observed = np.setdiff1d(np.arange(21), missing)
    expected = np.mean((np.asarray(pred)[observed] - np.asarray(noisy)[observed]) ** 2)
    np.testing.assert_allclose(result.losses[0], expected, rtol=1e-12)
    assert np.isfinite(result.params)
    # Noise-free data with gaps: the rate is recovered from the rest.
    masked = fit_decay(params0=1.2, data=data)
    assert relative_error(masked.params, DECAY_RATE) < 1e-2
    assert np.all(np.isfinite(masked.losses))


def test_nan_masked_fit_equals_fit_without_those_points():
    # The solver's steps do not depend on ts, so masking points and dropping them give
    # the same optimisation up to round-off.
    keep = np.array([0, 1, 4, 5, 6, 9, 12, 13, 17, 20])
    masked_data = jnp.full_like(DECAY_DATA, jnp.nan).at[keep].set(DECAY_DATA[keep])
    masked = fit_decay(params0=1.2, steps=20, data=masked_data)
    dropped = fit(
        decay,
        DECAY_Y0,
        DECAY_TS[keep],
        DECAY_DATA[keep],
        1.2,
        optimizer=ADAM,
        steps=20,
        progress=False,
    )
    np.testing.assert_allclose(masked.losses, dropped.losses, rtol=1e-9)
    np.testing.assert_allclose(masked.params, dropped.params, rtol=1e-9)


def test_huber_loss():
    result = fit_decay(loss="huber")
    assert relative_error(result.params, DECAY_RATE) < 1e-2
    pred = solvers.solve(decay, DECAY_Y0, (0.0, 2.0), DECAY_RATE * 0.8, ts=DECAY_TS).ys
    expected = np.mean(optax.losses.huber_loss(pred - DECAY_DATA, delta=1.0))
    np.testing.assert_allclose(result.losses[0], expected, rtol=1e-12)


def test_huber_is_less_sensitive_to_an_outlier_than_l2():
    data = DECAY_DATA.at[10].add(50.0)
    errors = {}
    for loss in ("huber", "l2"):
        result = fit_decay(params0=1.2, steps=300, loss=loss, data=data)
        errors[loss] = abs(float(result.params) - DECAY_RATE)
    assert errors["huber"] < 0.2 * errors["l2"]


TRACES = {"l2_counted": 0}


def l2_counted(pred, data):
    TRACES["l2_counted"] += 1  # runs only while the step is traced
    return jnp.mean((pred - data) ** 2)


def test_callable_loss_and_one_compilation():
    before = TRACES["l2_counted"]
    result = fit_decay(loss=l2_counted, steps=30)
    assert TRACES["l2_counted"] - before == 1
    reference = fit_decay(steps=30)
    np.testing.assert_allclose(result.losses, reference.losses, rtol=1e-12)
    # A second fit with the same configuration reuses the compiled step.
    fit_decay(loss=l2_counted, params0=1.1, steps=5)
    assert TRACES["l2_counted"] - before == 1


# --- multiple shooting --------------------------------------------------------------


def test_segment_layout_covers_every_point_once():
    for num_times, segments in [(41, 4), (51, 4), (10, 9), (7, 3), (5, 1)]:
        bounds = _segment_bounds(num_times, segments)
        assert bounds[0] == 0 and bounds[-1] == num_times - 1
        assert all(b < c for b, c in zip(bounds, bounds[1:]))
        index, owner_segment, owner_offset = _segment_layout(bounds)
        # Every time index is owned by one segment, at the right position.
        np.testing.assert_array_equal(index[owner_segment, owner_offset], np.arange(num_times))
        # Segments start at their bound and are padded with their end index.
        np.testing.assert_array_equal(index[:, 0], bounds[:-1])
        np.testing.assert_array_equal(index[:, -1], bounds[1:])


@functools.partial(jax.jit, static_argnums=0)
def continuity_mismatch(bounds, params, segment_y0):
    _, mismatch, status = _multiple_shooting(
        lotka_volterra, params, LV_Y0, segment_y0, LV_TS, bounds, {"throw": False, "max_steps": 500}
    )
    return mismatch, status


def test_multiple_shooting_lotka_volterra():
    segments = 4
    result = fit(
        lotka_volterra,
        LV_Y0,
        LV_TS,
        LV_DATA,
        1.2 * LV_PARAMS,
        optimizer=ADAM,
        steps=300,
        segments=segments,
        progress=False,
        adjoint="direct",  # solve options pass through (and compile faster)
        max_steps=500,
    )
    bounds = _segment_bounds(len(LV_TS), segments)
    assert result.segment_bounds == bounds
    assert result.segment_y0.shape == (segments, 2)
    np.testing.assert_array_equal(result.y0, LV_Y0)
    np.testing.assert_array_equal(result.segment_y0[0], LV_Y0)
    assert relative_error(result.params, LV_PARAMS) < 1e-2
    # Starts were initialised from the data; the penalty drove the mismatch down.
    initial, status = continuity_mismatch(bounds, 1.2 * LV_PARAMS, LV_DATA[np.array(bounds[1:-1])])
    final, status_final = continuity_mismatch(bounds, result.params, result.segment_y0[1:])
    assert bool(jnp.all(status == 0)) and bool(jnp.all(status_final == 0))
    assert float(final) < 1e-4 * float(initial)


def test_segment_starts_from_single_shooting_when_data_is_partial():
    bounds = _segment_bounds(len(LV_TS), 3)
    starts = _initial_segment_starts(
        lotka_volterra, LV_Y0, np.asarray(LV_TS), LV_DATA[:, 0], LV_PARAMS, False, bounds, {}
    )
    np.testing.assert_allclose(starts, LV_DATA[np.array(bounds[1:-1])], rtol=1e-12)
    # Identity observation with a gap at a segment start: that start comes from the solve.
    gappy = LV_DATA.at[bounds[1], 0].set(jnp.nan)
    params0 = 1.1 * LV_PARAMS
    starts = _initial_segment_starts(
        lotka_volterra, LV_Y0, np.asarray(LV_TS), gappy, params0, True, bounds, {}
    )
    single = solvers.solve(lotka_volterra, LV_Y0, (0.0, 4.0), params0, ts=LV_TS).ys
    np.testing.assert_allclose(starts[0], single[bounds[1]], rtol=1e-12)
    np.testing.assert_array_equal(starts[1], LV_DATA[bounds[2]])


# --- callback and progress ----------------------------------------------------------


def test_callback_every_step():
    seen = []
    fit_decay(steps=7, callback=lambda step, params, loss: seen.append((step, params, loss)))
    assert [step for step, _, _ in seen] == list(range(7))
    assert all(isinstance(loss, float) for _, _, loss in seen)
    assert seen[0][1] == pytest.approx(DECAY_RATE * 0.8)


def test_callback_returning_true_stops():
    result = fit_decay(steps=50, callback=lambda step, params, loss: step == 3)
    assert result.num_steps == 4
    assert result.losses.shape == (4,)


def test_progress_bar_on_stderr(capsys):
    fit_decay(steps=5, progress=True)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "fit [" in captured.err and "5/5" in captured.err and "loss" in captured.err
    fit_decay(steps=5, progress=False)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


# --- errors -------------------------------------------------------------------------


def fit_decay_data(data, params0=1.2, **options):
    return fit(
        decay, DECAY_Y0, DECAY_TS, data, params0, optimizer=ADAM, steps=1, progress=False, **options
    )


def test_error_data_leading_axis():
    with pytest.raises(ValueError, match=re.escape("leading time axis of length len(ts) = 21")):
        fit_decay_data(DECAY_DATA[:-1])
    with pytest.raises(ValueError, match="leading time axis"):
        fit_decay_data(jnp.asarray(1.0))


def test_error_observe_shape():
    with pytest.raises(ValueError, match=re.escape("observe(y) has shape (2,)")):
        fit(
            lotka_volterra,
            LV_Y0,
            LV_TS,
            LV_DATA[:, 0],
            LV_PARAMS,
            steps=1,
            observe=lambda y: y * 2,
            progress=False,
        )
    with pytest.raises(ValueError, match=r"y0 \(observe=None.*pass observe="):
        fit(lotka_volterra, LV_Y0, LV_TS, LV_DATA[:, 0], LV_PARAMS, steps=1, progress=False)
    with pytest.raises(ValueError, match="data must be a pytree like observe"):
        fit(
            lotka_volterra,
            LV_Y0,
            LV_TS,
            (LV_DATA,),
            LV_PARAMS,
            steps=1,
            observe=prey_only,
            progress=False,
        )


@pytest.mark.parametrize(
    ("ts", "match"),
    [
        (jnp.ones((3, 7)), "1-D"),
        (jnp.array([0.0, 1.0, 1.0, 2.0]), "strictly monotone"),
        (jnp.array([0.0, 2.0, 1.0, 3.0]), "strictly monotone"),
        (jnp.array([0.0]), "at least 2"),
        (jnp.array([0.0, jnp.nan]), "finite"),
    ],
)
def test_error_ts(ts, match):
    data = jnp.zeros(ts.shape[:1])
    with pytest.raises(ValueError, match=match):
        fit(decay, DECAY_Y0, ts, data, 1.2, steps=1, progress=False)


def test_error_segments():
    with pytest.raises(ValueError, match="segments must be an int >= 1"):
        fit_decay_data(DECAY_DATA, segments=0)
    with pytest.raises(ValueError, match=re.escape("too many for 21 observation times")):
        fit_decay_data(DECAY_DATA, segments=21)


def test_error_options():
    with pytest.raises(ValueError, match="loss must be 'l2', 'huber' or a callable"):
        fit_decay_data(DECAY_DATA, loss="l1")
    with pytest.raises(ValueError, match="steps must be a positive int"):
        fit(decay, DECAY_Y0, DECAY_TS, DECAY_DATA, 1.2, steps=0)
    with pytest.raises(TypeError, match="optax.GradientTransformation"):
        fit(decay, DECAY_Y0, DECAY_TS, DECAY_DATA, 1.2, optimizer=0.1)
    with pytest.raises(TypeError, match="fit sets it itself"):
        fit_decay_data(DECAY_DATA, t_span=(0.0, 2.0))
    with pytest.raises(ValueError, match="continuity_weight"):
        fit_decay_data(DECAY_DATA, continuity_weight=-1.0)
    with pytest.raises(ValueError, match="use NaN instead|mark missing observations with NaN"):
        fit_decay_data(DECAY_DATA.at[3].set(jnp.inf))
    with pytest.raises(ValueError, match="every entry is NaN"):
        fit_decay_data(jnp.full_like(DECAY_DATA, jnp.nan))
    with pytest.raises(ValueError, match=re.escape("params0 contains NaN")):
        fit(decay, DECAY_Y0, DECAY_TS, DECAY_DATA, jnp.nan, steps=1, progress=False)


def test_error_nonfinite_initial_loss_from_solver():
    # A growth rate of 1000 overflows float64 over t in [0, 2]: the solve fails.
    with pytest.raises(ValueError, match="initial loss is not finite.*stiff method"):
        fit_decay(params0=-1000.0, steps=3)


def test_error_segment_starts_when_the_initialising_solve_fails():
    # With an observation map the starts come from a solve with params0, which overflows.
    with pytest.raises(ValueError, match="multiple shooting needs start states.*stiff method"):
        fit_decay_data(DECAY_DATA, params0=-1000.0, segments=2, observe=jnp.negative)


def test_error_nonfinite_initial_loss_callable_with_nan_data():
    with pytest.raises(ValueError, match=r"initial loss is not finite.*jnp\.isnan\(data\)"):
        fit_decay_data(DECAY_DATA.at[4].set(jnp.nan), loss=l2_counted)


HUGE_SGD = optax.sgd(1e5)


def test_divergence_raises_fit_error_with_last_good_params():
    # Gradient descent with a huge step throws the rate far negative: the solution
    # overflows, the solve fails and the loss is infinite at step 1.
    with pytest.raises(FitError, match="diverged at step 1.*smaller learning rate") as info:
        fit(
            decay,
            DECAY_Y0,
            DECAY_TS,
            DECAY_DATA,
            1.8,
            optimizer=HUGE_SGD,
            steps=10,
            loss=root_sum_squares,
            progress=False,
        )
    error = info.value
    assert isinstance(error, RuntimeError)
    assert error.step == 1
    assert float(error.params) == 1.8
    assert error.losses.shape == (1,)
    assert "The solver failed" in str(error) and "rodas5" in str(error)


def test_nonfinite_gradient_raises_fit_error():
    with pytest.raises(FitError, match="diverged at step 0.*gradient") as info:
        fit(
            decay,
            DECAY_Y0,
            DECAY_TS,
            DECAY_DATA,
            DECAY_RATE,
            optimizer=HUGE_SGD,
            steps=5,
            loss=zero_root,
            progress=False,
        )
    assert info.value.step == 0
    assert float(info.value.params) == DECAY_RATE
