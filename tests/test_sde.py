"""solvers.solve_sde and solvers.brownian_path: the Brownian tree (dt-independence,
law, reproducibility), strong and weak orders over 10^4 paths (vmapped, jitted once),
pathwise gradients against finite differences, jit/vmap, saving, shapes and errors."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import central_difference, fitted_slope
from jax.flatten_util import ravel_pytree

import problems
import solvers

PATHS = 10_000
KEY = jax.random.key(20240601)
KEYS = jax.random.split(KEY, PATHS)
GBM = problems.geometric_brownian_motion()  # mu = 1, sigma = 0.5, X0 = 1 on (0, 1)


def gbm_exact(key, dt):
    """X_1 from the Brownian path of `key` (the one solve_sde uses at `dt`)."""
    w = solvers.brownian_path(key, GBM.t_span, dt).w[-1]
    return problems.geometric_brownian_motion_exact(1.0, w, GBM.params, GBM.y0)


def gbm_solve(key, method, dt):
    return GBM.solve_sde(key=key, method=method, dt=dt).ys[-1]


# Nonlinear drift, time-dependent additive noise: every term of SRA1 is exercised.
def sine_drift(t, y, params):
    return -jnp.sin(y)


def modulated_noise(t, y, params):
    return params * (1.0 + 0.5 * jnp.sin(2 * t)) * jnp.ones_like(y)


SINE_Y0 = jnp.array([0.5])
SINE_SIGMA = jnp.array(2.0)


def sine_solve(key, method, dt):
    sol = solvers.solve_sde(
        sine_drift, modulated_noise, SINE_Y0, (0.0, 1.0), SINE_SIGMA,
        key=key, method=method, dt=dt, noise="additive",
    )  # fmt: skip
    return sol.ys[-1, 0]


# ------------------------------------------------------------------------ Brownian tree


def test_brownian_path_refines_the_same_path():
    # N = 10 is not a power of two: the tree spans 16 dt = 1.6 and dt/2 keeps that span.
    coarse = solvers.brownian_path(KEY, (0.0, 1.0), 0.1, 3, levy_area=True)
    fine = solvers.brownian_path(KEY, (0.0, 1.0), 0.05, 3, levy_area=True)
    finer = solvers.brownian_path(KEY, (0.0, 1.0), 0.025, 3, levy_area=True)
    assert coarse.w.shape == (11, 3) and fine.w.shape == (21, 3)
    np.testing.assert_array_equal(coarse.w, fine.w[::2])  # bit for bit
    np.testing.assert_array_equal(coarse.w, finer.w[::4])
    np.testing.assert_allclose(coarse.ts, np.linspace(0.0, 1.0, 11), rtol=0, atol=1e-15)
    # The area of a step from those of its halves: H = (H1 + H2)/2 + (W1 - W2)/4.
    halves = fine.levy_area[0::2] + fine.levy_area[1::2]
    from_halves = halves / 2 + (fine.dw[0::2] - fine.dw[1::2]) / 4
    np.testing.assert_allclose(coarse.levy_area, from_halves, rtol=0, atol=1e-14)


def test_brownian_path_reproducible_by_key():
    one = solvers.brownian_path(KEY, (0.0, 2.0), 0.25, 2)
    again = solvers.brownian_path(KEY, (0.0, 2.0), 0.25, 2)
    np.testing.assert_array_equal(one.w, again.w)
    other = solvers.brownian_path(jax.random.key(1), (0.0, 2.0), 0.25, 2)
    assert np.min(np.abs(np.asarray(one.dw - other.dw))) > 0
    # A raw PRNGKey and the typed key with the same seed give the same path.
    np.testing.assert_array_equal(
        solvers.brownian_path(jax.random.PRNGKey(7), (0.0, 2.0), 0.25, 2).w,
        solvers.brownian_path(jax.random.key(7), (0.0, 2.0), 0.25, 2).w,
    )
    # Inside a user's jit: the same values (to rounding: XLA may fuse differently).
    jitted = jax.jit(lambda k: solvers.brownian_path(k, (0.0, 2.0), 0.25, 2).w)(KEY)
    np.testing.assert_allclose(jitted, one.w, rtol=1e-14, atol=1e-15)


@pytest.fixture(scope="module")
def brownian_sample():
    # 10^4 paths on a non-dyadic grid (N = 10, the tree spans 1.6), with areas.
    return jax.jit(
        jax.vmap(lambda k: solvers.brownian_path(k, (0.0, 1.0), 0.1, 2, levy_area=True))
    )(KEYS)


def test_brownian_path_law(brownian_sample):
    dw = np.asarray(brownian_sample.dw)  # (paths, 10, 2)
    area = np.asarray(brownian_sample.levy_area)
    w = np.asarray(brownian_sample.w)
    standard_error = math.sqrt(2 / PATHS)  # of a sample variance ratio
    # Increments N(0, dt), areas N(0, dt/12), all independent.
    np.testing.assert_allclose(dw.var(axis=0) / 0.1, 1.0, atol=5 * standard_error)
    np.testing.assert_allclose(area.var(axis=0) / (0.1 / 12), 1.0, atol=5 * standard_error)
    np.testing.assert_allclose(dw.mean(axis=0) / math.sqrt(0.1), 0.0, atol=5 / math.sqrt(PATHS))
    columns = np.concatenate([dw.reshape(PATHS, -1), area.reshape(PATHS, -1)], axis=1)
    correlation = np.corrcoef(columns.T) - np.eye(columns.shape[1])
    assert np.max(np.abs(correlation)) < 5 / math.sqrt(PATHS)
    # Brownian covariance Cov(W_s, W_t) = min(s, t) at grid points.
    for s, t in ((3, 7), (10, 10), (5, 10)):
        covariance = np.mean(w[:, s, 0] * w[:, t, 0])
        assert abs(covariance - 0.1 * min(s, t)) < 5 * 0.1 * max(s, t) * standard_error


# ------------------------------------------------------------------------ strong orders


GBM_STEPS = [2.0**-k for k in range(4, 8)]
SINE_STEPS = [2.0**-k for k in range(3, 7)]
SINE_REFERENCE_STEP = 2.0**-9


@pytest.fixture(scope="module")
def gbm_and_sine_paths():
    """Over 10^4 paths (one jitted vmap): GBM at t = 1 by Euler-Maruyama and Milstein at
    each of GBM_STEPS, and its exact value from the same path; the sine problem by
    Euler-Maruyama and SRA1 at SINE_STEPS and by SRA1 at SINE_REFERENCE_STEP."""

    @jax.jit
    @jax.vmap
    def run(key):
        out = {"exact": gbm_exact(key, GBM_STEPS[0])[0]}  # W(1): the same for every dt
        for method in ("euler_maruyama", "milstein"):
            out[method] = jnp.stack([gbm_solve(key, method, dt)[0] for dt in GBM_STEPS])
        out["reference"] = sine_solve(key, "sra1", SINE_REFERENCE_STEP)
        for method in ("euler_maruyama", "sra1"):
            out["additive " + method] = jnp.stack(
                [sine_solve(key, method, dt) for dt in SINE_STEPS]
            )
        return out

    return {name: np.asarray(value) for name, value in run(KEYS).items()}


@pytest.fixture(scope="module")
def strong_errors(gbm_and_sine_paths):
    """Mean |error| at t = 1 over the 10^4 paths."""
    paths = gbm_and_sine_paths
    errors = {}
    for method in ("euler_maruyama", "milstein"):
        errors[method] = np.abs(paths[method] - paths["exact"][:, None]).mean(axis=0)
    for method in ("additive euler_maruyama", "additive sra1"):
        errors[method] = np.abs(paths[method] - paths["reference"][:, None]).mean(axis=0)
    return errors


@pytest.mark.parametrize(
    ("name", "steps", "order"),
    [
        ("euler_maruyama", GBM_STEPS, 0.5),
        ("milstein", GBM_STEPS, 1.0),
        ("additive euler_maruyama", SINE_STEPS, 1.0),  # EM is order 1 for additive noise
        ("additive sra1", SINE_STEPS, 1.5),
    ],
)
def test_strong_order(strong_errors, name, steps, order):
    errors = strong_errors[name]
    assert np.all(np.diff(errors) < 0), errors
    assert abs(fitted_slope(steps, errors) - order) < 0.2, (name, errors)


def test_milstein_beats_euler_maruyama_on_the_same_paths(strong_errors):
    assert np.all(strong_errors["milstein"] < strong_errors["euler_maruyama"])
    assert np.all(strong_errors["additive sra1"] < strong_errors["additive euler_maruyama"])


def test_weak_order_euler_maruyama(gbm_and_sine_paths):
    """E[X_1] and E[X_1^2] of Euler-Maruyama on GBM over 10^4 paths, with the exact
    solution on the same path as a control variate (its moments are known), against
    the closed forms of the scheme's own moments: (1 + mu h)^N and
    ((1 + mu h)^2 + sigma^2 h)^N; the weak error is first order."""
    mu, sigma = float(GBM.params["mu"]), float(GBM.params["sigma"])
    values, exact = gbm_and_sine_paths["euler_maruyama"], gbm_and_sine_paths["exact"][:, None]
    exact_moments = (math.exp(mu), math.exp(2 * mu + sigma**2))
    for diff, exact_moment, scheme in (
        (values - exact, exact_moments[0], lambda h: (1 + mu * h) ** round(1 / h)),
        (
            values**2 - exact**2,
            exact_moments[1],
            lambda h: ((1 + mu * h) ** 2 + sigma**2 * h) ** round(1 / h),
        ),
    ):
        estimate = diff.mean(axis=0)  # E[f(X^h)] - E[f(X)]
        standard_error = diff.std(axis=0) / math.sqrt(PATHS)
        expected = np.array([scheme(h) - exact_moment for h in GBM_STEPS])
        assert np.all(np.abs(estimate - expected) < 5 * standard_error), (estimate, expected)
        assert np.all(standard_error < 0.1 * np.abs(estimate))
        assert abs(fitted_slope(GBM_STEPS, np.abs(estimate)) - 1.0) < 0.2, estimate


def test_each_path_converges_to_its_own_exact_solution(gbm_and_sine_paths):
    # The same key at dt and dt/2 follows the same path: on every one of the 10^4 paths,
    # Milstein's error against the exact solution on that path falls as dt halves (by
    # about half, order 1), and at dt = 2^-7 it is small for nearly every path.
    errors = np.abs(gbm_and_sine_paths["milstein"] - gbm_and_sine_paths["exact"][:, None])
    ratios = errors[:, 1:] / errors[:, :-1]
    assert np.all(np.abs(np.median(ratios, axis=0) - 0.5) < 0.1), np.median(ratios, axis=0)
    scale = np.abs(gbm_and_sine_paths["exact"])
    assert np.quantile(errors[:, -1] / scale, 0.99) < 0.05


# ------------------------------------------------------------------ gradients, jit, vmap


def ou_drift(t, y, p):
    return p["theta"] * (p["mu"] - y)


def ou_noise(t, y, p):
    return p["sigma"] * jnp.ones_like(y)


def gbm_drift(t, y, p):
    return p["mu"] * y


def gbm_noise(t, y, p):
    return p["sigma"] * jnp.sin(y)  # diagonal, state-dependent (Milstein's dg/dy != 0)


GRAD_CASES = {
    "euler_maruyama": (gbm_drift, gbm_noise, "diagonal", {"mu": 0.7, "sigma": 0.4}),
    "milstein": (gbm_drift, gbm_noise, "diagonal", {"mu": 0.7, "sigma": 0.4}),
    "sra1": (ou_drift, ou_noise, "additive", {"theta": 1.3, "mu": 0.2, "sigma": 0.6}),
}
SAVE_TS = np.array([0.25, 0.5, 1.0])


@pytest.mark.parametrize("method", sorted(GRAD_CASES))
def test_pathwise_gradient_matches_finite_differences(method):
    drift, noise, kind, params = GRAD_CASES[method]
    params = {k: jnp.asarray(v) for k, v in params.items()}
    key = jax.random.key(11)

    def loss(y0, params):
        sol = solvers.solve_sde(
            drift, noise, y0, (0.0, 1.0), params, key=key, method=method, dt=1 / 32,
            ts=SAVE_TS, noise=kind,
        )  # fmt: skip
        return jnp.sum(sol.ys**2)

    y0 = jnp.array([0.8, 1.1])
    grad_y0, grad_params = jax.jit(jax.grad(loss, argnums=(0, 1)))(y0, params)
    np.testing.assert_allclose(
        grad_y0, central_difference(lambda y: loss(y, params), y0), rtol=1e-6, atol=1e-8
    )
    fd_params = central_difference(lambda p: loss(y0, p), params)
    np.testing.assert_allclose(ravel_pytree(grad_params)[0], fd_params, rtol=1e-6, atol=1e-8)
    if method != "milstein":
        return
    # Forward mode agrees.
    tangent = jnp.array([1.0, -2.0])
    _, directional = jax.jvp(lambda y: loss(y, params), (y0,), (tangent,))
    np.testing.assert_allclose(directional, jnp.dot(grad_y0, tangent), rtol=1e-10)


def test_jit_and_vmap_match_single_solves():
    params = {"theta": jnp.asarray(1.3), "mu": jnp.asarray(0.2), "sigma": jnp.asarray(0.6)}
    y0 = jnp.array([0.5])

    def one(key, y0, params):
        return solvers.solve_sde(
            ou_drift, ou_noise, y0, (0.0, 1.0), params, key=key, dt=0.05, ts=SAVE_TS,
            noise="additive", method="sra1",
        ).ys  # fmt: skip

    keys = jax.random.split(KEY, 3)
    singles = np.stack([one(k, y0, params) for k in keys])
    np.testing.assert_allclose(jax.jit(jax.vmap(one, (0, None, None)))(keys, y0, params), singles)
    # Independent paths: different keys give different values.
    assert len({float(s[-1, 0]) for s in singles}) == 3
    # vmap over y0 and params with one key: the same noise for every member.
    y0s = jnp.array([[0.5], [1.5]])
    thetas = jnp.array([1.3, 2.0])
    batched = jax.vmap(lambda y, th: one(keys[0], y, {**params, "theta": th}))(y0s, thetas)
    np.testing.assert_allclose(batched[0], singles[0], rtol=1e-14)
    np.testing.assert_allclose(
        batched[1], one(keys[0], y0s[1], {**params, "theta": thetas[1]}), rtol=1e-14
    )


def test_second_call_does_not_retrace():
    traces = []

    def drift(t, y, p):
        traces.append(1)
        return -p * y

    def noise(t, y, p):
        return 0.1 * jnp.ones_like(y)

    for y0 in (jnp.array([1.0]), jnp.array([2.0])):
        solvers.solve_sde(drift, noise, y0, (0.0, 1.0), jnp.asarray(0.5), key=KEY, dt=0.1)
    count = len(traces)
    solvers.solve_sde(drift, noise, jnp.array([3.0]), (0.0, 1.0), jnp.asarray(0.7), key=KEY, dt=0.1)
    assert len(traces) == count


# ---------------------------------------------------- noise kinds, pytrees, saving, dtypes


def test_euler_maruyama_matches_the_scheme_for_general_noise():
    # n = 2 states, m = 3 Brownian motions: y_{k+1} = y_k + f h + G(y_k) dW_k.
    def drift(t, y, p):
        return jnp.stack([-y[0] + t, y[0] * y[1]]) * p

    def noise(t, y, p):
        return jnp.stack([jnp.array([1.0, 0.5, 0.0]) * y[0], jnp.array([0.2, y[1], 0.3])])

    y0, dt = jnp.array([1.0, 0.5]), 0.125
    sol = solvers.solve_sde(
        drift, noise, y0, (0.0, 1.0), 0.8, key=KEY, dt=dt, ts=np.arange(9) * dt, noise="general"
    )
    path = solvers.brownian_path(KEY, (0.0, 1.0), dt, 3)
    y, expected = y0, [y0]
    for k in range(8):
        y = y + dt * drift(k * dt, y, 0.8) + noise(k * dt, y, 0.8) @ path.dw[k]
        expected.append(y)
    np.testing.assert_allclose(sol.ys, np.stack(expected), rtol=1e-13)
    np.testing.assert_allclose(sol.ts, path.ts, rtol=0, atol=1e-15)


def test_pytree_state_with_diagonal_noise():
    def drift(t, y, p):
        return {"a": -y["a"], "b": p * y["b"]}

    def noise(t, y, p):
        return {"a": 0.3 * y["a"], "b": 0.2 * jnp.ones_like(y["b"])}

    y0 = {"a": jnp.array([1.0, 2.0]), "b": jnp.array(0.5)}
    dt = 0.25
    sol = solvers.solve_sde(drift, noise, y0, (0.0, 1.0), 0.4, key=KEY, dt=dt, method="milstein")
    # Noise index j is component j of the flattened state (ravel_pytree order: a, then b).
    dw = solvers.brownian_path(KEY, (0.0, 1.0), dt, 3).dw
    a, b = y0["a"], y0["b"]
    for k in range(4):
        a = a - dt * a + 0.3 * a * dw[k, :2] + 0.5 * 0.3 * a * 0.3 * (dw[k, :2] ** 2 - dt)
        b = b + dt * 0.4 * b + 0.2 * dw[k, 2]
    assert sol.ys["a"].shape == (1, 2) and sol.ys["b"].shape == (1,)
    np.testing.assert_allclose(sol.ys["a"][0], a, rtol=1e-13)
    np.testing.assert_allclose(sol.ys["b"][0], b, rtol=1e-13)


def test_general_additive_noise_with_sra1_equals_diagonal_form():
    # A diagonal matrix of additive noise is the same SDE as the diagonal form.
    def matrix_noise(t, y, p):
        return p["sigma"] * jnp.eye(2)

    def diagonal_noise(t, y, p):
        return p["sigma"] * jnp.ones(2)

    params = {"theta": jnp.asarray(1.0), "mu": jnp.asarray(0.0), "sigma": jnp.asarray(0.5)}
    y0 = jnp.array([1.0, -1.0])
    kwargs = dict(key=KEY, dt=0.1, method="sra1", noise="additive")
    matrix = solvers.solve_sde(ou_drift, matrix_noise, y0, (0.0, 1.0), params, **kwargs)
    diagonal = solvers.solve_sde(ou_drift, diagonal_noise, y0, (0.0, 1.0), params, **kwargs)
    np.testing.assert_allclose(matrix.ys, diagonal.ys, rtol=1e-14)


def test_save_times_on_the_grid_in_any_order():
    params = {"theta": jnp.asarray(1.0), "mu": jnp.asarray(0.0), "sigma": jnp.asarray(0.5)}
    y0, dt = jnp.array([1.0]), 0.1

    def run(ts):
        return solvers.solve_sde(ou_drift, ou_noise, y0, (0.0, 2.0), params, key=KEY, dt=dt, ts=ts)

    every = run(dt * np.arange(21))
    ts = np.array([1.5, 0.0, 0.3, 0.3, 2.0])
    some = run(ts)
    np.testing.assert_allclose(some.ts, ts, rtol=0, atol=1e-14)
    np.testing.assert_array_equal(some.ys, every.ys[np.array([15, 0, 3, 3, 20])])
    # Traced save times (under jit) give the same values.
    traced = jax.jit(run)(jnp.asarray(ts))
    np.testing.assert_array_equal(traced.ys, some.ys)
    assert every.stats["num_steps"] == 20 and every.stats["num_fevals"] == 20
    assert every.stats["num_rejected"] == 0 and every.status == 0


def test_dtype_follows_y0():
    params = {"theta": jnp.float32(1.0), "mu": jnp.float32(0.0), "sigma": jnp.float32(0.5)}
    sol = solvers.solve_sde(
        ou_drift, ou_noise, jnp.array([1.0], jnp.float32), (0.0, 1.0), params,
        key=KEY, dt=0.125, method="sra1", noise="additive", ts=np.array([0.5, 1.0]),
    )  # fmt: skip
    assert sol.ys.dtype == jnp.float32 and sol.ts.dtype == jnp.float32
    params64 = {name: value.astype(jnp.float64) for name, value in params.items()}
    double = solvers.solve_sde(
        ou_drift, ou_noise, jnp.array([1.0]), (0.0, 1.0), params64,
        key=KEY, dt=0.125, method="sra1", noise="additive", ts=np.array([0.5, 1.0]),
    )  # fmt: skip
    assert double.ys.dtype == jnp.float64
    # The same path up to float32 resolution.
    np.testing.assert_allclose(sol.ys, double.ys, rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------- failures, errors


def explosive(t, y, p):
    return y**3


def constant_noise(t, y, p):
    return 0.1 * jnp.ones_like(y)


def test_nonfinite_state_raises_or_sets_status():
    args = (explosive, constant_noise, jnp.array([2.0]), (0.0, 2.0))
    with pytest.raises(solvers.SolveError, match="non-finite"):
        solvers.solve_sde(*args, key=KEY, dt=0.25)
    sol = solvers.solve_sde(*args, key=KEY, dt=0.25, throw=False)
    assert int(sol.status) == 3
    with pytest.raises(Exception, match="non-finite"):
        jax.block_until_ready(
            jax.jit(lambda y: solvers.solve_sde(*args[:2], y, args[3], key=KEY, dt=0.25).ys)(
                args[2]
            )
        )


def test_traced_off_grid_save_time_is_an_error():
    def run(ts):
        return solvers.solve_sde(
            explosive, constant_noise, jnp.array([0.1]), (0.0, 1.0), key=KEY, dt=0.25, ts=ts,
            throw=False,
        ).status  # fmt: skip

    assert int(jax.jit(run)(jnp.array([0.5, 0.3]))) == 5
    assert int(jax.jit(run)(jnp.array([0.5, 0.75]))) == 0


def diag_noise(t, y, p):
    return 0.1 * y


def column_noise(t, y, p):
    return 0.1 * jnp.ones(y.shape + (2,))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"noise": "multiplicative"}, ValueError, "noise must be one of"),
        ({"method": "heun"}, ValueError, "Unknown SDE method"),
        ({"key": None}, TypeError, "needs key="),
        ({"dt": None}, TypeError, "needs dt="),
        ({"key": jax.random.split(KEY, 2)}, TypeError, "one jax.random key"),
        ({"dt": 0.3}, ValueError, "does not divide"),
        ({"dt": -0.1}, ValueError, "dt must be > 0"),
        ({"t_span": (1.0, 0.0)}, ValueError, "needs t1 > t0"),
        ({"ts": np.array([0.5, 1.5])}, ValueError, "outside t_span"),
        ({"ts": np.array([0.55])}, ValueError, "not on the step grid"),
        (
            {"method": "milstein", "diffusion": column_noise, "noise": "general"},
            ValueError,
            "diagonal",
        ),
        ({"method": "sra1"}, ValueError, "additive noise"),
        ({"diffusion": column_noise}, ValueError, "noise='diagonal' needs"),
        ({"noise": "general"}, ValueError, "noise='general' needs"),
        ({"y0": jnp.array([1.0 + 1.0j])}, TypeError, "real states"),
        ({"y0": jnp.array([jnp.nan])}, ValueError, "NaN"),
    ],
)
def test_bad_arguments_are_explained(kwargs, error, match):
    arguments = {
        "drift": constant_noise, "diffusion": diag_noise, "y0": jnp.array([1.0]),
        "t_span": (0.0, 1.0), "key": KEY, "dt": 0.1,
    }  # fmt: skip
    arguments.update(kwargs)
    positional = [arguments.pop(name) for name in ("drift", "diffusion", "y0", "t_span")]
    with pytest.raises(error, match=match):
        solvers.solve_sde(*positional, **arguments)


def test_traced_t_span_is_explained():
    with pytest.raises(ValueError, match="concrete"):
        jax.jit(
            lambda t1: (
                solvers.solve_sde(
                    constant_noise, diag_noise, jnp.array([1.0]), (0.0, t1), key=KEY, dt=0.1
                ).ys
            )
        )(1.0)


def test_sweep_over_split_keys_matches_single_solves():
    # A Monte Carlo ensemble with solvers.sweep: one member per key, spread over the
    # host devices (10 members: padded to a multiple of the device count).
    def drift(t, y, theta):
        return -theta * y

    def diffusion(t, y, theta):
        return 0.3 * jnp.ones_like(y)

    keys = jax.random.split(jax.random.key(7), 10)
    sols = solvers.sweep(
        drift,
        jnp.ones(2),
        (0.0, 1.0),
        1.5,
        in_axes=(None, None),
        diffusion=diffusion,
        key=keys,
        dt=0.05,
        noise="additive",
    )
    assert sols.ys.shape == (10, 1, 2)
    for i in (0, 3, 9):
        single = solvers.solve_sde(
            drift, diffusion, jnp.ones(2), (0.0, 1.0), 1.5, key=keys[i], dt=0.05, noise="additive"
        )
        np.testing.assert_allclose(sols.ys[i], single.ys, rtol=1e-12)
    assert len({float(sols.ys[i, 0, 0]) for i in range(10)}) == 10  # independent paths
    with pytest.raises(TypeError, match="both diffusion= and key="):
        solvers.sweep(drift, jnp.ones(2), (0.0, 1.0), 1.5, in_axes=(None, None), key=keys)
