"""The ``solve`` driver: accuracy against references, JAX transformations, gradients,
dtypes, pytrees, backward integration, dense output, recompilation, every error path."""

import functools

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import (
    ADAPTIVE_METHODS,
    LORENZ_PARAMS,
    LORENZ_Y0,
    PENDULUM_PARAMS,
    PENDULUM_Y0,
    central_difference,
    decay,
    flat,
    lorenz,
    numpy_field,
    oscillator,
    oscillator_exact,
    pendulum,
    tree_allclose,
)
from scipy.integrate import solve_ivp

import solvers

TS = jnp.linspace(0.0, 2.0, 9)


# ------------------------------------------------------------------------ accuracy


@functools.cache
def _lorenz_reference():
    result = solve_ivp(
        numpy_field(lorenz, LORENZ_PARAMS),
        (0.0, 2.0),
        np.asarray(LORENZ_Y0),
        method="DOP853",
        rtol=1e-12,
        atol=1e-12,
        t_eval=np.asarray(TS),
    )
    assert result.success
    return result.y.T


@pytest.mark.parametrize("method", ADAPTIVE_METHODS)
def test_lorenz_against_scipy_dop853(method):
    reference = _lorenz_reference()
    sol = solvers.solve(
        lorenz, LORENZ_Y0, (0.0, 2.0), LORENZ_PARAMS, method=method, ts=TS, rtol=1e-10, atol=1e-10
    )
    assert int(sol.status) == 0
    np.testing.assert_allclose(sol.ts, TS)
    np.testing.assert_allclose(sol.ys, reference, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("method,dt", [("tsit5", None), ("dopri8", None), ("rk4", 1e-3)])
def test_pendulum_against_scipy_dop853(method, dt):
    ts = jnp.linspace(0.0, 5.0, 11)
    result = solve_ivp(
        numpy_field(pendulum, PENDULUM_PARAMS),
        (0.0, 5.0),
        np.asarray(PENDULUM_Y0),
        method="DOP853",
        rtol=1e-12,
        atol=1e-12,
        t_eval=np.asarray(ts),
    )
    sol = solvers.solve(
        pendulum,
        PENDULUM_Y0,
        (0.0, 5.0),
        PENDULUM_PARAMS,
        method=method,
        ts=ts,
        dt=dt,
        rtol=1e-10,
        atol=1e-10,
    )
    np.testing.assert_allclose(sol.ys, result.y.T, rtol=1e-7, atol=1e-7)


def test_defaults_save_the_final_state_only():
    sol = solvers.solve(decay, jnp.array([1.0, 2.0]), (0.0, 1.5), 0.7)
    assert sol.ts.shape == (1,) and float(sol.ts[0]) == 1.5
    assert sol.ys.shape == (1, 2)
    # Default tolerances rtol=1e-6, atol=1e-9.
    np.testing.assert_allclose(sol.ys[0], np.array([1.0, 2.0]) * np.exp(-1.05), rtol=1e-5)
    assert sol.ys.dtype == jnp.float64
    # t_span as an array or as integers means the same.
    as_array = solvers.solve(decay, jnp.array([1.0, 2.0]), jnp.array([0.0, 1.5]), 0.7)
    np.testing.assert_array_equal(as_array.ys, sol.ys)
    as_ints = solvers.solve(decay, jnp.array([1.0, 2.0]), (0, 2), 0.7)
    np.testing.assert_allclose(as_ints.ys[0], np.array([1.0, 2.0]) * np.exp(-1.4), rtol=1e-5)


def test_save_times_at_t0_and_repeated():
    ts = jnp.array([0.0, 0.0, 0.4, 0.4, 1.0])
    sol = solvers.solve(decay, jnp.array(2.0), (0.0, 1.0), 0.7, ts=ts, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(sol.ys, 2.0 * np.exp(-0.7 * np.asarray(ts)), rtol=1e-9)
    assert float(sol.ys[0]) == 2.0


def test_save_time_at_t1_up_to_round_off():
    """Save times built by arithmetic (0.1 * 3 = 0.30000000000000004) that end on t1
    up to round-off are accepted by the check and must be filled in, not left NaN."""
    ts = jnp.arange(4.0) * 0.1
    assert float(ts[-1]) > 0.3  # one ulp past t1
    sol = solvers.solve(decay, jnp.array(1.0), (0.0, 0.3), 0.5, ts=ts, rtol=1e-10, atol=1e-12)
    assert int(sol.status) == 0
    np.testing.assert_allclose(sol.ys, np.exp(-0.5 * np.asarray(ts)), rtol=1e-9)


def test_empty_interval_returns_y0():
    for method, dt in [("tsit5", None), ("rk4", 0.1)]:
        sol = solvers.solve(decay, jnp.array([1.0, 3.0]), (1.0, 1.0), 0.5, method=method, dt=dt)
        assert int(sol.status) == 0
        np.testing.assert_array_equal(sol.ys, [[1.0, 3.0]])


# ------------------------------------------------------------- backward integration


@pytest.mark.parametrize("method,dt", [("tsit5", None), ("dopri8", None), ("heun", 0.001)])
def test_backward_integration_matches_exact(method, dt):
    ts = jnp.array([2.0, 1.5, 0.7, 0.0])
    sol = solvers.solve(
        oscillator,
        jnp.array([1.0, 0.0]),
        (2.0, 0.0),
        1.3,
        method=method,
        ts=ts,
        dt=dt,
        rtol=1e-10,
        atol=1e-12,
    )
    # Exact: y(t) = R(t - 2) y(2) with y(2) = (1, 0).
    expected = oscillator_exact(np.asarray(ts) - 2.0, 1.3)
    np.testing.assert_allclose(
        sol.ys,
        expected,
        rtol=1e-5 if method == "heun" else 1e-8,
        atol=1e-6 if method == "heun" else 1e-9,
    )
    np.testing.assert_array_equal(sol.ts, ts)


def test_there_and_back_again():
    forward = solvers.solve(lorenz, LORENZ_Y0, (0.0, 0.5), LORENZ_PARAMS, rtol=1e-12, atol=1e-12)
    back = solvers.solve(lorenz, forward.ys[-1], (0.5, 0.0), LORENZ_PARAMS, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(back.ys[-1], LORENZ_Y0, rtol=1e-8, atol=1e-8)


# ------------------------------------------------------------------------- evaluate


def test_evaluate_dense_output():
    ts = jnp.linspace(0.0, 2.0, 41)
    sol = solvers.solve(decay, jnp.array(1.0), (0.0, 2.0), 0.5, ts=ts, rtol=1e-10, atol=1e-12)
    for t in (0.0, 0.013, 0.73, 1.0, 1.999, 2.0):
        np.testing.assert_allclose(sol.evaluate(t), np.exp(-0.5 * t), rtol=1e-7)
    np.testing.assert_allclose(sol.evaluate(ts[7]), sol.ys[7], rtol=1e-15)
    assert np.isnan(sol.evaluate(2.5)) and np.isnan(sol.evaluate(-0.1))
    # Cubic Hermite: error O(spacing^4) between the save points.
    coarse = solvers.solve(
        decay, jnp.array(1.0), (0.0, 2.0), 0.5, ts=ts[::4], rtol=1e-10, atol=1e-12
    )
    assert abs(float(coarse.evaluate(0.73)) - np.exp(-0.365)) < 1e-5
    values = jax.jit(jax.vmap(sol.evaluate))(jnp.array([0.25, 1.25]))
    np.testing.assert_allclose(values, np.exp(-0.5 * np.array([0.25, 1.25])), rtol=1e-7)


def test_evaluate_backward_pytree_and_single_point():
    def field(t, state, p):
        return {"q": state["v"], "v": -state["q"]}

    ts = jnp.linspace(3.0, 0.0, 31)
    y0 = {"q": jnp.array(1.0), "v": jnp.array(0.0)}
    sol = solvers.solve(field, y0, (3.0, 0.0), ts=ts, rtol=1e-10, atol=1e-12)
    value = sol.evaluate(1.234)
    assert set(value) == {"q", "v"}
    np.testing.assert_allclose(value["q"], np.cos(1.234 - 3.0), rtol=1e-5)
    np.testing.assert_allclose(value["v"], -np.sin(1.234 - 3.0), rtol=1e-5)
    assert np.isnan(sol.evaluate(3.5)["q"])
    single = solvers.solve(decay, jnp.array(1.0), (0.0, 1.0), 0.5)
    np.testing.assert_allclose(single.evaluate(1.0), np.exp(-0.5), rtol=1e-6)
    assert np.isnan(single.evaluate(0.5))


# ------------------------------------------------------------------ dtypes, pytrees


@pytest.mark.parametrize("method,dt", [("tsit5", None), ("rk4", 0.01)])
def test_float32_stays_float32(method, dt):
    ts = jnp.linspace(0.0, 3.0, 4)
    y0 = jnp.array([1.0, 0.0], jnp.float32)
    sol = solvers.solve(
        oscillator,
        y0,
        (0.0, 3.0),
        jnp.float32(1.3),
        method=method,
        dt=dt,
        ts=ts,
        rtol=1e-5,
        atol=1e-7,
    )
    assert int(sol.status) == 0
    assert sol.ys.dtype == jnp.float32 and sol.ts.dtype == jnp.float32
    assert sol.evaluate(1.1).dtype == jnp.float32
    np.testing.assert_allclose(sol.ys, oscillator_exact(ts, 1.3), rtol=1e-4, atol=1e-4)
    grad = jax.jit(
        jax.grad(
            lambda y: solvers.solve(
                oscillator,
                y,
                (0.0, 3.0),
                jnp.float32(1.3),
                method=method,
                dt=dt,
                rtol=1e-5,
                atol=1e-7,
            ).ys[-1, 0]
        )
    )(y0)
    assert grad.dtype == jnp.float32
    np.testing.assert_allclose(grad, [np.cos(3.9), np.sin(3.9) / 1.3], rtol=1e-3, atol=1e-4)


def test_float32_default_tolerances_succeed():
    sol = solvers.solve(
        oscillator, jnp.array([1.0, 0.0], jnp.float32), (0.0, 20.0), jnp.float32(1.3)
    )
    assert int(sol.status) == 0 and sol.ys.dtype == jnp.float32
    np.testing.assert_allclose(sol.ys[-1], oscillator_exact(20.0, 1.3), atol=1e-4)


def test_integer_initial_state_becomes_float():
    sol = solvers.solve(decay, jnp.array([1, 2]), (0.0, 1.0), 0.5)
    assert sol.ys.dtype == jnp.float64


def _oscillator_dict(t, state, p):
    return {"q": state["v"], "v": -(p["omega"] ** 2) * state["q"] - p["damping"] * state["v"]}


def test_pytree_state_and_params():
    y0 = {"q": jnp.array([1.0, 0.5]), "v": jnp.zeros(2)}
    params = {"omega": 1.5, "damping": 0.0}
    ts = jnp.array([0.0, 1.0, 2.0])
    sol = solvers.solve(_oscillator_dict, y0, (0.0, 2.0), params, ts=ts, rtol=1e-10, atol=1e-12)
    assert jax.tree.structure(sol.ys) == jax.tree.structure(y0)
    assert sol.ys["q"].shape == (3, 2)
    expected_q = np.array([1.0, 0.5])[None] * np.cos(1.5 * np.asarray(ts))[:, None]
    np.testing.assert_allclose(sol.ys["q"], expected_q, rtol=1e-8, atol=1e-10)

    def loss(p, y):
        return jnp.sum(
            solvers.solve(_oscillator_dict, y, (0.0, 2.0), p, rtol=1e-11, atol=1e-12).ys["q"]
        )

    g_params, g_y0 = jax.jit(jax.grad(loss, argnums=(0, 1)))(params, y0)
    assert jax.tree.structure(g_params) == jax.tree.structure(params)
    assert jax.tree.structure(g_y0) == jax.tree.structure(y0)
    # d/d omega of sum(q0) cos(omega t) at t = 2; d/d q0 = cos(3); d/d v0 = sin(3)/1.5.
    np.testing.assert_allclose(g_params["omega"], -1.5 * 2.0 * np.sin(3.0), rtol=1e-7)
    np.testing.assert_allclose(g_y0["q"], [np.cos(3.0)] * 2, rtol=1e-8)
    np.testing.assert_allclose(g_y0["v"], [np.sin(3.0) / 1.5] * 2, rtol=1e-8)
    # d q(t) / d damping at damping 0: q0 (sin(omega t) / (2 omega) - t cos(omega t) / 2).
    np.testing.assert_allclose(
        g_params["damping"], 1.5 * (np.sin(3.0) / 3.0 - np.cos(3.0)), rtol=1e-7
    )


def test_tuple_state_q_p():
    def hamiltonian_flow(t, state, mass):
        q, p = state
        return (p / mass, -jnp.sin(q))

    state0 = (jnp.array(0.3), jnp.array(0.0))
    sol = solvers.solve(
        hamiltonian_flow,
        state0,
        (0.0, 5.0),
        2.0,
        method="dopri8",
        ts=jnp.linspace(0.0, 5.0, 6),
        rtol=1e-12,
        atol=1e-12,
    )
    q, p = sol.ys
    energy = p**2 / 4.0 - jnp.cos(q)
    np.testing.assert_allclose(energy, energy[0], rtol=1e-10)
    reference = solve_ivp(
        lambda t, y: [y[1] / 2.0, -np.sin(y[0])],
        (0.0, 5.0),
        [0.3, 0.0],
        method="DOP853",
        rtol=1e-12,
        atol=1e-12,
        t_eval=np.linspace(0, 5, 6),
    ).y
    np.testing.assert_allclose(q, reference[0], atol=1e-9)
    np.testing.assert_allclose(p, reference[1], atol=1e-9)


def test_closure_constants_are_differentiable():
    """Arrays closed over by f (not passed as params) still get gradients."""

    def loss(k):
        return solvers.solve(
            lambda t, y, _: -k * y, jnp.array(1.0), (0.0, 2.0), rtol=1e-12, atol=1e-14
        ).ys[0]

    np.testing.assert_allclose(jax.jit(jax.grad(loss))(0.5), -2.0 * np.exp(-1.0), rtol=1e-8)


# ----------------------------------------------------------------- jit and retracing


def test_jit_matches_eager():
    eager = solvers.solve(
        lorenz, LORENZ_Y0, (0.0, 2.0), LORENZ_PARAMS, ts=TS, rtol=1e-10, atol=1e-10
    )
    jitted = jax.jit(
        lambda p, y0: solvers.solve(lorenz, y0, (0.0, 2.0), p, ts=TS, rtol=1e-10, atol=1e-10)
    )(LORENZ_PARAMS, LORENZ_Y0)
    assert tree_allclose(jitted, eager, rtol=1e-12, atol=1e-12)


def test_jitted_solve_does_not_retrace_for_new_values():
    traces = []

    def field(t, y, k):
        traces.append(None)
        return -k * y

    def run(k, y0, ts):
        return solvers.solve(field, y0, (0.0, 1.0), k, ts=ts).ys

    fn = jax.jit(run)
    first = fn(0.5, jnp.array([1.0, 2.0]), TS / 2)
    count = len(traces)
    assert count > 0
    second = fn(0.7, jnp.array([3.0, 2.0]), TS / 2 * 0.9)
    third = fn(0.9, jnp.array([1.0, 1.0]), TS / 2)
    assert len(traces) == count, "a second call with new values traced f again"
    np.testing.assert_allclose(first[:, 0], np.exp(-0.5 * np.asarray(TS / 2)), rtol=1e-6)
    np.testing.assert_allclose(second[:, 0], 3 * np.exp(-0.7 * np.asarray(TS / 2 * 0.9)), rtol=1e-6)
    np.testing.assert_allclose(third[:, 1], np.exp(-0.9 * np.asarray(TS / 2)), rtol=1e-6)


def test_eager_solve_does_not_recompile_for_new_values():
    """Outside jit, repeated calls with new arrays and tolerances reuse one compiled
    program: f is traced again only by the (cheap) shape check."""
    traces = []

    def field(t, y, k):
        traces.append(None)
        return -k * y

    solvers.solve(field, jnp.array([1.0]), (0.0, 1.0), 0.5, ts=TS / 2)
    count = len(traces)
    sol = solvers.solve(
        field, jnp.array([2.0]), (0.0, 1.0), 0.8, ts=TS / 2 * 0.9, rtol=1e-8, atol=1e-10
    )
    assert len(traces) - count <= 1
    np.testing.assert_allclose(sol.ys[:, 0], 2 * np.exp(-0.8 * np.asarray(TS / 2 * 0.9)), rtol=1e-7)


# --------------------------------------------------------------------------- vmap


@functools.cache
def _single_decay_solve():
    def one(k, y0, ts, t_span):
        return solvers.solve(decay, y0, (t_span[0], t_span[1]), k, ts=ts, rtol=1e-9, atol=1e-12)

    return one


def test_vmap_over_y0_params_ts_and_t_span():
    one = _single_decay_solve()
    ks = jnp.array([0.3, 1.0, 2.0, 0.5])
    y0s = jnp.array([[1.0, 2.0], [2.0, 0.0], [3.0, -1.0], [1.0, 1.0]])
    spans = jnp.array([[0.0, 1.0], [0.5, 2.0], [3.0, 1.0], [0.0, 3.0]])  # one backwards
    ts = jax.vmap(lambda span: span[0] + (span[1] - span[0]) * jnp.linspace(0, 1, 5))(spans)
    batched = jax.jit(jax.vmap(one))(ks, y0s, ts, spans)
    single = jax.jit(one)
    for i in range(4):
        alone = single(ks[i], y0s[i], ts[i], spans[i])
        np.testing.assert_allclose(batched.ys[i], alone.ys, rtol=1e-12, atol=1e-14)
        assert int(batched.stats["num_steps"][i]) == int(alone.stats["num_steps"])
        exact = np.exp(-ks[i] * (ts[i] - spans[i, 0]))[:, None] * np.asarray(y0s[i])[None]
        np.testing.assert_allclose(batched.ys[i], exact, rtol=1e-7, atol=1e-9)
    assert batched.status.tolist() == [0, 0, 0, 0]


def test_vmap_with_unbatched_arguments_and_pmap():
    def one(k):
        return solvers.solve(
            decay, jnp.array([1.0, 2.0]), (0.0, 1.0), k, ts=TS / 2, rtol=1e-9, atol=1e-12
        ).ys

    ks = jnp.array([0.3, 1.0])
    batched = jax.jit(jax.vmap(one))(ks)
    assert batched.shape == (2, 9, 2)
    expected = np.exp(-np.asarray(ks)[:, None] * np.asarray(TS / 2)[None])
    np.testing.assert_allclose(batched[:, :, 0], expected, rtol=1e-8)
    assert len(jax.devices()) >= 2
    mapped = jax.pmap(one)(ks)
    np.testing.assert_allclose(mapped, batched, rtol=1e-13)


def test_failed_member_does_not_change_the_others():
    def one(t1, y0):
        return solvers.solve(decay, y0, (0.0, t1), 0.5, max_steps=30, throw=False)

    ends = jnp.array([1.0, 1e4, 2.0])
    y0s = jnp.array([[1.0], [1.0], [jnp.nan]])
    batched = jax.jit(jax.vmap(one))(ends, y0s)
    assert batched.status.tolist() == [0, 1, 3]
    alone = jax.jit(one)(1.0, jnp.array([1.0]))
    np.testing.assert_array_equal(batched.ys[0], alone.ys)
    assert int(batched.stats["num_steps"][0]) == int(alone.stats["num_steps"])
    assert np.all(np.isnan(np.asarray(batched.ys[1:])))


# ---------------------------------------------------------------------- gradients


def _lorenz_loss(params, y0, adjoint):
    sol = solvers.solve(
        lorenz,
        y0,
        (0.0, 1.0),
        params,
        ts=TS / 2,
        rtol=1e-11,
        atol=1e-11,
        adjoint=adjoint,
        max_steps=4096,
    )
    return jnp.sum(sol.ys**2)


@functools.cache
def _lorenz_finite_differences():
    loss = jax.jit(functools.partial(_lorenz_loss, adjoint="checkpoint"))
    return (
        central_difference(lambda p: loss(p, LORENZ_Y0), LORENZ_PARAMS),
        central_difference(lambda y: loss(LORENZ_PARAMS, y), LORENZ_Y0),
    )


@functools.cache
def _lorenz_gradients(adjoint):
    grad = jax.jit(jax.grad(_lorenz_loss, argnums=(0, 1)), static_argnums=2)
    g_params, g_y0 = grad(LORENZ_PARAMS, LORENZ_Y0, adjoint)
    return flat(g_params), np.asarray(g_y0)


def test_every_adjoint_matches_finite_differences_and_the_others():
    """One test, so that the compiled gradients are shared (pytest -n splits tests)."""
    fd_params, fd_y0 = _lorenz_finite_differences()
    checkpoint = _lorenz_gradients("checkpoint")
    for adjoint in ["checkpoint", "direct", "auto"]:
        g_params, g_y0 = _lorenz_gradients(adjoint)
        np.testing.assert_allclose(g_params, fd_params, rtol=1e-5, err_msg=adjoint)
        np.testing.assert_allclose(g_y0, fd_y0, rtol=1e-5, err_msg=adjoint)
        # The same discrete adjoint, computed in different ways: round-off apart.
        np.testing.assert_allclose(g_params, checkpoint[0], rtol=1e-10, err_msg=adjoint)
        np.testing.assert_allclose(g_y0, checkpoint[1], rtol=1e-10, err_msg=adjoint)
    # Forward mode agrees with reverse mode.
    forward = jax.jit(jax.jacfwd(_lorenz_loss, argnums=1), static_argnums=2)(
        LORENZ_PARAMS, LORENZ_Y0, "forward"
    )
    np.testing.assert_allclose(forward, checkpoint[1], rtol=1e-8)


@functools.cache
def _time_gradient(with_ts):
    weights = jnp.array([1.0, -0.5, 2.0])

    def loss(y0, k, t0, t1, inner):
        if with_ts:
            ts = jnp.stack([inner[0], inner[1], t1])
            ys = solvers.solve(decay, y0, (t0, t1), k, ts=ts, rtol=1e-12, atol=1e-14).ys
            return weights @ ys
        return solvers.solve(decay, y0, (t0, t1), k, rtol=1e-12, atol=1e-14).ys[0]

    return jax.jit(jax.grad(loss, argnums=(0, 1, 2, 3, 4))), weights


def test_gradient_wrt_y0_params_t_span_and_ts():
    """Against the exact y = y0 exp(-k (t - t0)), forwards and backwards in time."""
    for t0, t1 in [(0.3, 2.0), (2.0, 0.3)]:
        _check_time_gradients(t0, t1)


def _check_time_gradients(t0, t1):
    y0, k = 1.7, 0.6
    inner = jnp.array([t0 + 0.25 * (t1 - t0), t0 + 0.7 * (t1 - t0)])
    grad, weights = _time_gradient(True)
    g_y0, g_k, g_t0, g_t1, g_inner = grad(y0, k, t0, t1, inner)
    ts = np.array([*np.asarray(inner), t1])
    ys = y0 * np.exp(-k * (ts - t0))
    w = np.asarray(weights)
    np.testing.assert_allclose(g_y0, w @ np.exp(-k * (ts - t0)), rtol=1e-9)
    np.testing.assert_allclose(g_k, w @ (-(ts - t0) * ys), rtol=1e-8)
    np.testing.assert_allclose(g_t0, w @ (k * ys), rtol=1e-8)
    # t1 is also the last save time.
    np.testing.assert_allclose(g_t1, -k * w[-1] * ys[-1], rtol=1e-8)
    np.testing.assert_allclose(g_inner, -k * w[:2] * ys[:2], rtol=1e-8)

    grad_final, _ = _time_gradient(False)
    g_y0, g_k, g_t0, g_t1, _ = grad_final(y0, k, t0, t1, inner)
    y1 = y0 * np.exp(-k * (t1 - t0))
    np.testing.assert_allclose(g_y0, y1 / y0, rtol=1e-9)
    np.testing.assert_allclose(g_k, -(t1 - t0) * y1, rtol=1e-8)
    np.testing.assert_allclose(g_t0, k * y1, rtol=1e-8)
    np.testing.assert_allclose(g_t1, -k * y1, rtol=1e-8)


def test_gradient_wrt_t0_with_a_save_point_at_t0():
    """ts = linspace(t0, t1, n), the usual way to save a trajectory: the first saved
    value is y0 whatever t0 is, so moving t0 (and ts with it) changes the loss only
    through the later points. Checked against central finite differences."""
    weights = jnp.array([0.3, 1.0, 2.0])

    def loss(t0, k):
        ts = jnp.linspace(t0, 2.0, 3)
        return weights @ solvers.solve(decay, 1.7, (t0, 2.0), k, ts=ts, rtol=1e-12, atol=1e-14).ys

    grad = jax.jit(jax.grad(loss))(0.3, 0.6)
    fd = central_difference(lambda t0: jax.jit(loss)(t0, 0.6), jnp.asarray(0.3))
    np.testing.assert_allclose(grad, fd[0], rtol=1e-6, atol=1e-8)


def test_gradient_through_fixed_step_methods():
    def final(k, t1):
        return solvers.solve(
            decay, jnp.array(1.0), (0.0, t1), k, method="rk4", dt=0.01, ts=jnp.array([0.5, 1.0])
        ).ys @ jnp.array([1.0, 2.0])

    g_k = jax.jit(jax.grad(final))(0.8, 1.0)
    expected = -0.5 * np.exp(-0.4) - 2.0 * np.exp(-0.8)
    np.testing.assert_allclose(g_k, expected, rtol=1e-8)


def test_jvp_and_jacfwd_match_finite_differences():
    def trajectory(rho):
        return solvers.solve(
            lorenz,
            LORENZ_Y0,
            (0.0, 1.0),
            {**LORENZ_PARAMS, "rho": rho},
            ts=TS / 2,
            rtol=1e-11,
            atol=1e-11,
        ).ys

    jitted = jax.jit(trajectory)
    fd = (jitted(28.0 + 1e-6) - jitted(28.0 - 1e-6)) / 2e-6
    primal, tangent = jax.jit(lambda rho: jax.jvp(trajectory, (rho,), (1.0,)))(28.0)
    np.testing.assert_allclose(primal, jitted(28.0), rtol=1e-12)
    np.testing.assert_allclose(tangent, fd, rtol=1e-5, atol=1e-6)
    jacobian = jax.jit(jax.jacfwd(trajectory))(28.0)
    np.testing.assert_allclose(jacobian, tangent, rtol=1e-10, atol=1e-10)


def _final_decay(k):
    return solvers.solve(decay, jnp.array(2.0), (0.0, 1.5), k, rtol=1e-11, atol=1e-13).ys[0]


def test_transformations_of_a_jitted_solve():
    """grad and vmap(grad) of a jitted solve (jax.grad(jax.jit(loss)) is how many
    users write it); jvp and jacfwd of one with adjoint="forward"."""
    jitted = jax.jit(_final_decay)
    expected = -3.0 * np.exp(-0.6)
    np.testing.assert_allclose(jax.grad(jitted)(0.4), expected, rtol=1e-7)
    ks = jnp.array([0.2, 0.4])
    np.testing.assert_allclose(
        jax.vmap(jax.grad(jitted))(ks), -3.0 * np.exp(-1.5 * np.asarray(ks)), rtol=1e-7
    )
    # Forward mode through an already-jitted solve needs adjoint="forward" (the jit
    # hides the JVP tracer from "auto"; documented in docs/differentiation.md).
    forward = jax.jit(
        lambda k: solvers.solve(
            decay, jnp.array(2.0), (0.0, 1.5), k, rtol=1e-11, atol=1e-13, adjoint="forward"
        ).ys[0]
    )
    _, tangent = jax.jvp(forward, (0.4,), (1.0,))
    np.testing.assert_allclose(tangent, expected, rtol=1e-7)
    np.testing.assert_allclose(jax.jacfwd(forward)(0.4), expected, rtol=1e-7)


def test_nested_vmap_grad_jit_and_hessian():
    ks = jnp.array([0.2, 0.5, 1.0])
    expected = -3.0 * np.exp(-1.5 * np.asarray(ks))
    np.testing.assert_allclose(jax.jit(jax.vmap(jax.grad(_final_decay)))(ks), expected, rtol=1e-7)
    hessian = jax.jit(jax.hessian(_final_decay))(0.4)
    np.testing.assert_allclose(hessian, 2.0 * 1.5**2 * np.exp(-0.6), rtol=1e-6)


# ------------------------------------------------------------------------- errors


def test_fixed_step_method_needs_dt():
    with pytest.raises(ValueError, match="fixed-step method: pass dt"):
        solvers.solve(decay, jnp.array(1.0), (0.0, 1.0), 0.5, method="rk4")
    with pytest.raises(ValueError, match="pass dt"):
        jax.jit(lambda k: solvers.solve(decay, jnp.array(1.0), (0.0, 1.0), k, method="euler").ys)(
            0.5
        )
    with pytest.raises(ValueError, match="non-zero"):
        solvers.solve(decay, jnp.array(1.0), (0.0, 1.0), 0.5, method="rk4", dt=0.0)


def test_bad_arguments():
    y0 = jnp.array(1.0)
    with pytest.raises(ValueError, match="Did you mean 'tsit5'"):
        solvers.solve(decay, y0, (0.0, 1.0), 0.5, method="tsit4")
    with pytest.raises(ValueError, match="Did you mean 'radau5'"):
        solvers.solve(decay, y0, (0.0, 1.0), 0.5, method="radau")
    with pytest.raises(TypeError, match="method must be"):
        solvers.solve(decay, y0, (0.0, 1.0), 0.5, method=3)
    with pytest.raises(ValueError, match="adjoint must be"):
        solvers.solve(decay, y0, (0.0, 1.0), 0.5, adjoint="reverse")
    with pytest.raises(ValueError, match="max_steps"):
        solvers.solve(decay, y0, (0.0, 1.0), 0.5, max_steps=0)
    with pytest.raises(ValueError, match="t_span"):
        solvers.solve(decay, y0, (0.0, 1.0, 2.0), 0.5)
    with pytest.raises(TypeError, match="callable"):
        solvers.solve(None, y0, (0.0, 1.0), 0.5)
    with pytest.raises(ValueError, match="1-D"):
        solvers.solve(decay, y0, (0.0, 1.0), 0.5, ts=jnp.zeros((2, 2)))
    with pytest.raises(ValueError, match="non-empty"):
        solvers.solve(decay, y0, (0.0, 1.0), 0.5, ts=jnp.zeros((0,)))


def test_vector_field_output_must_match_y0():
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        solvers.solve(lambda t, y, p: jnp.zeros(3), jnp.ones(2), (0.0, 1.0))
    with pytest.raises(ValueError, match="pytree like y0"):
        solvers.solve(lambda t, y, p: (y, y), jnp.ones(2), (0.0, 1.0))
    with pytest.raises(ValueError, match=r"\['v'\]"):
        solvers.solve(
            lambda t, y, p: {"q": y["q"], "v": jnp.zeros(3)},
            {"q": jnp.ones(2), "v": jnp.ones(2)},
            (0.0, 1.0),
        )
    with pytest.raises(ValueError, match="shape"):
        jax.jit(lambda y0: solvers.solve(lambda t, y, p: y[:1], y0, (0.0, 1.0)).ys)(jnp.ones(2))
    with pytest.raises(TypeError, match="Calling f"):
        solvers.solve(lambda t, y, p: y @ jnp.ones(3), jnp.ones(2), (0.0, 1.0))


def test_non_finite_inputs():
    with pytest.raises(ValueError, match="y0 contains NaN"):
        solvers.solve(decay, jnp.array([1.0, jnp.nan]), (0.0, 1.0), 0.5)
    with pytest.raises(ValueError, match=r"params\['k'\] contains NaN"):
        solvers.solve(lambda t, y, p: -p["k"] * y, jnp.ones(1), (0.0, 1.0), {"k": jnp.inf})
    with pytest.raises(ValueError, match="y0"):
        solvers.solve(decay, jnp.array([jnp.inf]), (0.0, 1.0), 0.5, method="rk4", dt=0.1)
    # Traced: the status says it, or throw=True raises at run time.
    status = jax.jit(lambda y0: solvers.solve(decay, y0, (0.0, 1.0), 0.5, throw=False).status)
    assert int(status(jnp.array([jnp.nan]))) == 3
    assert int(status(jnp.array([1.0]))) == 0
    raising = jax.jit(lambda k: solvers.solve(decay, jnp.ones(1), (0.0, 1.0), k).ys)
    with pytest.raises(Exception, match="non-finite"):
        jax.block_until_ready(raising(jnp.nan))


def test_non_finite_constant_y0_under_jit_is_a_value_error():
    """A concrete y0 (closed over, not traced) is checked when solve is traced."""
    y0 = jnp.array([jnp.nan])  # made outside the jit: a constant there
    with pytest.raises(ValueError, match="y0 contains NaN"):
        jax.jit(lambda k: solvers.solve(decay, y0, (0.0, 1.0), k).ys)(0.5)


def test_bad_save_times():
    with pytest.raises(ValueError, match="inside t_span"):
        solvers.solve(decay, jnp.ones(1), (0.0, 1.0), 0.5, ts=jnp.array([0.5, 2.0]))
    with pytest.raises(ValueError, match="non-decreasing"):
        solvers.solve(decay, jnp.ones(1), (0.0, 1.0), 0.5, ts=jnp.array([0.5, 0.2]))
    with pytest.raises(ValueError, match="non-increasing"):
        solvers.solve(decay, jnp.ones(1), (1.0, 0.0), 0.5, ts=jnp.array([0.2, 0.5]))
    with pytest.raises(ValueError, match="inside t_span"):
        solvers.solve(
            decay, jnp.ones(1), (0.0, 1.0), 0.5, method="rk4", dt=0.1, ts=jnp.array([-0.5])
        )


def test_bad_traced_save_times():
    def run(ts, throw):
        return solvers.solve(decay, jnp.ones(1), (0.0, 1.0), 0.5, ts=ts, throw=throw)

    status = jax.jit(lambda ts: run(ts, False).status)
    assert int(status(jnp.array([0.5, 2.0]))) == 5
    assert int(status(jnp.array([0.5, 0.2]))) == 5
    assert int(status(jnp.array([0.2, 0.5]))) == 0
    raising = jax.jit(lambda ts: run(ts, True).ys)
    with pytest.raises(Exception, match="ts must lie inside t_span"):
        jax.block_until_ready(raising(jnp.array([0.5, 2.0])))
    batched = jax.jit(jax.vmap(lambda ts: run(ts, False)))(jnp.array([[0.2, 0.5], [0.5, 0.2]]))
    assert batched.status.tolist() == [0, 5]
    np.testing.assert_allclose(batched.ys[0, :, 0], np.exp(-0.5 * np.array([0.2, 0.5])), rtol=1e-6)


def test_bad_constant_save_times_under_jit_are_a_value_error():
    """Concrete ts (closed over, not traced) are checked when solve is traced."""
    outside, unordered = jnp.array([0.5, 2.0]), np.array([0.5, 0.2])

    def solve_with(ts, **options):
        return jax.jit(
            lambda k: solvers.solve(decay, jnp.ones(1), (0.0, 1.0), k, ts=ts, **options).ys
        )(0.5)

    with pytest.raises(ValueError, match="inside t_span"):
        solve_with(outside)
    with pytest.raises(ValueError, match="non-decreasing"):
        solve_with(unordered, method="rk4", dt=0.1)


def test_max_steps_status_message_and_errors():
    sol = solvers.solve(decay, jnp.ones(1), (0.0, 100.0), 0.5, max_steps=3, throw=False)
    assert int(sol.status) == 1 and np.isnan(np.asarray(sol.ys)).all()
    assert int(sol.stats["num_steps"]) == 3
    # sol.message reads the status alone; the raised error also weighs the stiffness
    # estimate (decay at k = 0.5 is not stiff).
    assert "max_steps" in sol.message and "Raise max_steps" in sol.message
    with pytest.raises(solvers.SolveError, match="max_steps.*nothing suggests stiffness"):
        solvers.solve(decay, jnp.ones(1), (0.0, 100.0), 0.5, max_steps=3)
    jitted = jax.jit(lambda k: solvers.solve(decay, jnp.ones(1), (0.0, 100.0), k, max_steps=3).ys)
    with pytest.raises(Exception, match="max_steps"):
        jax.block_until_ready(jitted(0.5))
    filtered = eqx.filter_jit(
        lambda k: solvers.solve(decay, jnp.ones(1), (0.0, 100.0), k, max_steps=3).ys
    )
    with pytest.raises(Exception, match="nothing suggests stiffness"):
        jax.block_until_ready(filtered(0.5))


def test_failure_under_vmap_with_throw_raises():
    batched = jax.jit(
        jax.vmap(lambda t1: solvers.solve(decay, jnp.ones(1), (0.0, t1), 0.5, max_steps=30).ys)
    )
    with pytest.raises(Exception, match="max_steps"):
        jax.block_until_ready(batched(jnp.array([1.0, 1e4])))
    np.testing.assert_allclose(
        batched(jnp.array([1.0, 2.0]))[:, 0, 0], np.exp(-0.5 * np.array([1.0, 2.0])), rtol=1e-5
    )


def test_step_size_underflow_and_non_finite_field():
    # y' = y^2 from y(0) = 1 blows up at t = 1.
    sol = solvers.solve(lambda t, y, p: y**2, jnp.ones(1), (0.0, 2.0), throw=False)
    assert int(sol.status) == 2
    assert "underflow" in sol.message
    with pytest.raises(solvers.SolveError, match="step size"):
        solvers.solve(lambda t, y, p: y**2, jnp.ones(1), (0.0, 2.0))
    sol = solvers.solve(
        lambda t, y, p: jnp.where(t > 0.5, jnp.nan, -y), jnp.ones(1), (0.0, 1.0), throw=False
    )
    assert int(sol.status) == 3
    assert "non-finite" in sol.message
