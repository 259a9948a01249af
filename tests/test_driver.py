"""The solve driver: transformations, gradients, pytrees, dtypes, diffrax, errors."""

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

import solvers


def lorenz(t, y, p):
    x, v, z = y[0], y[1], y[2]
    return jnp.stack([p["sigma"] * (v - x), x * (p["rho"] - z) - v, x * v - p["beta"] * z])


PARAMS = {"sigma": 10.0, "rho": 28.0, "beta": 8.0 / 3.0}
Y0 = jnp.array([1.0, 1.0, 1.0])
TS = jnp.linspace(0.0, 1.0, 11)


def decay(t, y, k):
    return -k * y


@pytest.mark.parametrize("method", ["bosh3", "dopri5", "tsit5", "dopri8"])
def test_lorenz_against_scipy(method):
    reference = solve_ivp(lambda t, y: np.asarray(lorenz(t, y, PARAMS)), (0.0, 2.0),
                          np.ones(3), method="DOP853", rtol=1e-12, atol=1e-12,
                          t_eval=np.linspace(0, 2, 9)).y.T
    sol = solvers.solve(lorenz, Y0, (0.0, 2.0), PARAMS, method=method,
                        ts=jnp.linspace(0, 2, 9), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(sol.ys, reference, rtol=1e-6, atol=1e-6)
    assert int(sol.status) == 0


@pytest.mark.parametrize("ours,theirs", [("tsit5", diffrax.Tsit5()), ("dopri5", diffrax.Dopri5()),
                                         ("bosh3", diffrax.Bosh3())])
def test_agrees_with_diffrax_same_tableau(ours, theirs):
    sol = solvers.solve(lorenz, Y0, (0.0, 5.0), PARAMS, method=ours, ts=TS * 5)
    ref = diffrax.diffeqsolve(diffrax.ODETerm(lorenz), theirs, 0.0, 5.0, None, Y0, args=PARAMS,
                              saveat=diffrax.SaveAt(ts=TS * 5),
                              stepsize_controller=diffrax.PIDController(rtol=1e-6, atol=1e-9))
    ours_steps = int(sol.stats["num_accepted"])
    their_steps = int(ref.stats["num_accepted_steps"])
    assert abs(ours_steps - their_steps) <= 0.3 * their_steps
    np.testing.assert_allclose(sol.ys, ref.ys, rtol=1e-3, atol=1e-3)


def test_diffrax_solver_is_routed():
    sol = solvers.solve(lorenz, Y0, (0.0, 1.0), PARAMS, method=diffrax.Tsit5(), ts=TS,
                        rtol=1e-10, atol=1e-10)
    ours = solvers.solve(lorenz, Y0, (0.0, 1.0), PARAMS, ts=TS, rtol=1e-10, atol=1e-10)
    assert isinstance(sol, solvers.Solution)
    np.testing.assert_allclose(sol.ys, ours.ys, rtol=1e-7, atol=1e-7)
    assert int(sol.stats["num_fevals"]) == -1


def test_jit_and_no_retrace():
    traces = []

    def field(t, y, k):
        traces.append(None)
        return -k * y

    fn = jax.jit(lambda k, y0: solvers.solve(field, y0, (0.0, 1.0), k, ts=TS).ys)
    first = fn(0.5, jnp.array([1.0, 2.0]))
    count = len(traces)
    second = fn(0.7, jnp.array([3.0, 2.0]))
    assert len(traces) == count
    np.testing.assert_allclose(first[:, 0], np.exp(-0.5 * np.asarray(TS)), rtol=1e-6)
    np.testing.assert_allclose(second[:, 0], 3 * np.exp(-0.7 * np.asarray(TS)), rtol=1e-6)


def test_vmap_over_params_y0_ts_and_t_span_matches_single_solves():
    ks = jnp.array([0.3, 1.0, 2.0])
    y0s = jnp.array([1.0, 2.0, 3.0])
    ends = jnp.array([1.0, 2.0, 3.0])

    def one(k, y0, t1):
        ts = jnp.linspace(0.0, 1.0, 5) * t1
        return solvers.solve(decay, y0, (0.0, t1), k, ts=ts, rtol=1e-9, atol=1e-12)

    batched = jax.jit(jax.vmap(one))(ks, y0s, ends)
    for i in range(3):
        single = one(ks[i], y0s[i], ends[i])
        np.testing.assert_allclose(batched.ys[i], single.ys, rtol=1e-12, atol=1e-14)
        assert int(batched.stats["num_steps"][i]) == int(single.stats["num_steps"])


def _loss(p, y0, adjoint, ts=TS):
    sol = solvers.solve(lorenz, y0, (0.0, 1.0), p, ts=ts, rtol=1e-11, atol=1e-11,
                        adjoint=adjoint, max_steps=4096)
    return jnp.sum(sol.ys**2)


def _central_difference(fn, x, eps=1e-6):
    flat, unravel = jax.flatten_util.ravel_pytree(x)
    out = []
    for i in range(flat.shape[0]):
        e = jnp.zeros_like(flat).at[i].set(eps)
        out.append((fn(unravel(flat + e)) - fn(unravel(flat - e))) / (2 * eps))
    return np.array(out)


@pytest.fixture(scope="module")
def finite_difference_gradients():
    return (
        _central_difference(lambda p: _loss(p, Y0, "checkpoint"), PARAMS),
        _central_difference(lambda y: _loss(PARAMS, y, "checkpoint"), Y0),
    )


@pytest.mark.parametrize("adjoint", ["checkpoint", "direct", "auto"])
def test_gradient_matches_finite_differences(adjoint, finite_difference_gradients):
    fd_params, fd_y0 = finite_difference_gradients
    g_params, g_y0 = jax.jit(jax.grad(_loss, argnums=(0, 1)), static_argnums=2)(
        PARAMS, Y0, adjoint
    )
    np.testing.assert_allclose(jax.flatten_util.ravel_pytree(g_params)[0], fd_params,
                               rtol=1e-5)
    np.testing.assert_allclose(g_y0, fd_y0, rtol=1e-5)


def test_adjoints_agree_and_final_state_gradient():
    def final(p, adjoint):
        return jnp.sum(solvers.solve(lorenz, Y0, (0.0, 1.0), p, rtol=1e-10, atol=1e-10,
                                     adjoint=adjoint).ys ** 2)

    a = jax.grad(final)(PARAMS, "checkpoint")
    b = jax.grad(final)(PARAMS, "direct")
    for key in PARAMS:
        np.testing.assert_allclose(a[key], b[key], rtol=1e-12)
    fd = _central_difference(lambda p: final(p, "checkpoint"), PARAMS)
    np.testing.assert_allclose(jax.flatten_util.ravel_pytree(a)[0], fd, rtol=1e-5)


def test_checkpoint_segments_exercised():
    """Many more steps than one checkpoint segment: the replay path is used."""
    def final(k):
        return solvers.solve(decay, jnp.array(1.0), (0.0, 30.0), k, rtol=1e-12, atol=1e-14,
                             max_steps=400, adjoint="checkpoint").ys[0]

    assert int(solvers.solve(decay, jnp.array(1.0), (0.0, 30.0), 0.1, rtol=1e-12, atol=1e-14,
                             max_steps=400).stats["num_accepted"]) > 2 * 21
    np.testing.assert_allclose(jax.grad(final)(0.1), -30.0 * np.exp(-3.0), rtol=1e-8)


def test_gradient_wrt_times():
    def at(t0, t1, t_mid):
        sol = solvers.solve(decay, jnp.array(1.0), (t0, t1), 0.5,
                            ts=jnp.stack([t0, t_mid, t1]), rtol=1e-11, atol=1e-13)
        return sol.ys[1] + sol.ys[2]

    g = jax.grad(at, argnums=(0, 1, 2))(0.0, 2.0, 1.0)
    np.testing.assert_allclose(g[1], -0.5 * np.exp(-1.0), rtol=1e-7)
    np.testing.assert_allclose(g[2], -0.5 * np.exp(-0.5), rtol=1e-7)
    np.testing.assert_allclose(g[0], 0.5 * (np.exp(-0.5) + np.exp(-1.0)), rtol=1e-7)


def test_jvp_and_jacfwd_match_finite_differences():
    def trajectory(rho):
        return solvers.solve(lorenz, Y0, (0.0, 1.0), {**PARAMS, "rho": rho}, ts=TS,
                             rtol=1e-11, atol=1e-11).ys

    _, tangent = jax.jvp(trajectory, (28.0,), (1.0,))
    fd = (trajectory(28.0 + 1e-6) - trajectory(28.0 - 1e-6)) / 2e-6
    np.testing.assert_allclose(tangent, fd, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(jax.jacfwd(trajectory)(28.0), tangent, rtol=1e-10, atol=1e-10)
    jitted = jax.jit(jax.jvp, static_argnums=0)(trajectory, (28.0,), (1.0,))[1]
    np.testing.assert_allclose(jitted, tangent, rtol=1e-10, atol=1e-10)


def test_hessian_and_nested_vmap_grad():
    def final(k):
        return solvers.solve(decay, jnp.array(2.0), (0.0, 1.5), k, rtol=1e-11, atol=1e-13).ys[0]

    np.testing.assert_allclose(jax.hessian(final)(0.4), 2.0 * 1.5**2 * np.exp(-0.6), rtol=1e-6)
    ks = jnp.array([0.2, 0.5, 1.0])
    grads = jax.jit(jax.vmap(jax.grad(final)))(ks)
    np.testing.assert_allclose(grads, -3.0 * np.exp(-1.5 * np.asarray(ks)), rtol=1e-7)


def test_pytree_state_and_params():
    def oscillator(t, state, p):
        q, v = state["q"], state["v"]
        return {"q": v, "v": -p["omega"] ** 2 * q}

    y0 = {"q": jnp.array([1.0, 0.5]), "v": jnp.zeros(2)}
    sol = solvers.solve(oscillator, y0, (0.0, 2.0), {"omega": 1.5}, ts=jnp.array([0.0, 2.0]),
                        rtol=1e-10, atol=1e-12)
    assert sol.ys["q"].shape == (2, 2)
    np.testing.assert_allclose(sol.ys["q"][-1], np.array([1.0, 0.5]) * np.cos(3.0), rtol=1e-8)
    g = jax.grad(lambda p: jnp.sum(solvers.solve(oscillator, y0, (0.0, 2.0), p).ys["q"]))(
        {"omega": 1.5}
    )
    # d/d omega of sum(q0) cos(omega t) at t = 2.
    np.testing.assert_allclose(g["omega"], -(1.0 + 0.5) * 2.0 * np.sin(3.0), rtol=1e-5)


def test_tuple_state():
    sol = solvers.solve(lambda t, s, _: (s[1], -s[0]), (jnp.array(1.0), jnp.array(0.0)),
                        (0.0, 1.0), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(sol.ys[0][-1], np.cos(1.0), rtol=1e-8)


@pytest.mark.parametrize("method", ["tsit5", "rk4"])
def test_float32_stays_float32(method):
    sol = solvers.solve(decay, jnp.array([1.0], jnp.float32), (0.0, 1.0), 0.5,
                        method=method, dt=0.01, ts=jnp.linspace(0, 1, 3), rtol=1e-5, atol=1e-7)
    assert sol.ys.dtype == jnp.float32 and sol.ts.dtype == jnp.float32
    np.testing.assert_allclose(sol.ys[:, 0], np.exp(-0.5 * np.linspace(0, 1, 3)), rtol=1e-4)


def test_backward_integration_and_evaluate():
    ts = jnp.array([2.0, 1.5, 1.0, 0.0])
    sol = solvers.solve(decay, jnp.array(1.0), (2.0, 0.0), 0.5, ts=ts, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(sol.ys, np.exp(0.5 * (2.0 - np.asarray(ts))), rtol=1e-8)
    fixed = solvers.solve(decay, jnp.array(1.0), (2.0, 0.0), 0.5, method="rk4", dt=0.01)
    np.testing.assert_allclose(fixed.ys[-1], np.exp(1.0), rtol=1e-8)
    dense = solvers.solve(decay, jnp.array(1.0), (0.0, 2.0), 0.5, ts=jnp.linspace(0, 2, 41),
                          rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dense.evaluate(0.73), np.exp(-0.5 * 0.73), rtol=1e-6)
    assert np.isnan(dense.evaluate(2.5))


# ----------------------------------------------------------------------------- errors


def test_fixed_step_method_without_dt():
    with pytest.raises(ValueError, match="fixed-step method: pass dt"):
        solvers.solve(decay, jnp.array(1.0), (0.0, 1.0), 0.5, method="rk4")


def test_unknown_and_future_method_names():
    with pytest.raises(ValueError, match="Did you mean 'tsit5'"):
        solvers.solve(decay, jnp.array(1.0), (0.0, 1.0), 0.5, method="tsit4")
    with pytest.raises(ValueError, match="diffrax.Kvaerno5"):
        solvers.solve(decay, jnp.array(1.0), (0.0, 1.0), 0.5, method="kvaerno5")


def test_vector_field_shape_mismatch():
    with pytest.raises(ValueError, match="shape"):
        solvers.solve(lambda t, y, p: jnp.zeros(3), jnp.ones(2), (0.0, 1.0))
    with pytest.raises(ValueError, match="pytree like y0"):
        solvers.solve(lambda t, y, p: (y, y), jnp.ones(2), (0.0, 1.0))


def test_non_finite_inputs():
    with pytest.raises(ValueError, match="y0 contains NaN"):
        solvers.solve(decay, jnp.array([1.0, jnp.nan]), (0.0, 1.0), 0.5)
    with pytest.raises(ValueError, match=r"params\['k'\] contains NaN"):
        solvers.solve(lambda t, y, p: -p["k"] * y, jnp.ones(1), (0.0, 1.0), {"k": jnp.inf})
    traced = jax.jit(lambda y0: solvers.solve(decay, y0, (0.0, 1.0), 0.5, throw=False).status)
    assert int(traced(jnp.array([jnp.nan]))) == 3


def test_bad_save_times():
    with pytest.raises(ValueError, match="inside t_span"):
        solvers.solve(decay, jnp.ones(1), (0.0, 1.0), 0.5, ts=jnp.array([0.5, 2.0]))
    with pytest.raises(ValueError, match="non-decreasing"):
        solvers.solve(decay, jnp.ones(1), (0.0, 1.0), 0.5, ts=jnp.array([0.5, 0.2]))
    traced = jax.jit(lambda ts: solvers.solve(decay, jnp.ones(1), (0.0, 1.0), 0.5, ts=ts,
                                              throw=False).status)
    assert int(traced(jnp.array([0.5, 2.0]))) == 5


def test_max_steps_status_message_and_errors():
    sol = solvers.solve(decay, jnp.ones(1), (0.0, 100.0), 0.5, max_steps=3, throw=False)
    assert int(sol.status) == 1 and np.isnan(sol.ys).all()
    assert "stiff" in sol.message and "Kvaerno5" in sol.message
    with pytest.raises(solvers.SolveError, match="max_steps"):
        solvers.solve(decay, jnp.ones(1), (0.0, 100.0), 0.5, max_steps=3)
    jitted = jax.jit(lambda k: solvers.solve(decay, jnp.ones(1), (0.0, 100.0), k,
                                             max_steps=3).ys)
    with pytest.raises(Exception, match="max_steps"):
        jax.block_until_ready(jitted(0.5))


def test_step_size_underflow_and_nonfinite_field():
    # y' = y^2 blows up at t = 1.
    sol = solvers.solve(lambda t, y, p: y**2, jnp.ones(1), (0.0, 2.0), throw=False)
    assert int(sol.status) in (2, 3)
    sol = solvers.solve(lambda t, y, p: jnp.where(t > 0.5, jnp.nan, -y), jnp.ones(1),
                        (0.0, 1.0), throw=False)
    assert int(sol.status) == 3


def test_failed_member_does_not_corrupt_others_under_vmap():
    def one(t1):
        return solvers.solve(decay, jnp.ones(1), (0.0, t1), 0.5, max_steps=20, throw=False)

    batched = jax.vmap(one)(jnp.array([1.0, 1e4, 2.0]))
    assert batched.status.tolist() == [0, 1, 0]
    for i, t1 in [(0, 1.0), (2, 2.0)]:
        np.testing.assert_allclose(batched.ys[i], one(t1).ys, rtol=1e-13)


def test_backsolve_not_yet_available():
    with pytest.raises(NotImplementedError, match="backsolve"):
        solvers.solve(decay, jnp.ones(1), (0.0, 1.0), 0.5, adjoint="backsolve")


def test_error_under_jit_is_equinox_error():
    fn = eqx.filter_jit(lambda k: solvers.solve(decay, jnp.ones(1), (0.0, 100.0), k,
                                                max_steps=3).ys)
    with pytest.raises(Exception, match="max_steps"):
        fn(0.5)
