"""The continuous adjoint (``adjoint="backsolve"``): gradients against finite
differences and closed forms, every strategy against the others, the transformations,
fixed-step and adaptive methods, backward integration, time gradients, a failing
backward solve, and memory that does not grow with ``max_steps``.

Compiled functions are module-level and cached: each is compiled once per worker.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import LORENZ_PARAMS, LORENZ_Y0, central_difference, decay, flat, lorenz

import solvers

STRATEGIES = ["checkpoint", "direct", "backsolve", "forward"]
TIGHT = {"rtol": 1e-10, "atol": 1e-12}
# Finite differences of a far more accurate solve: the jumps of an adaptive solve's
# error when its step sequence changes (~ tolerance / eps) stay below 1e-8.
REFERENCE = {"method": "dopri8", "rtol": 1e-13, "atol": 1e-13}
FD_EPS = 1e-5
# The problems are tiny: compile fast (XLA's HLO passes, and so its buffer assignment,
# still run; only LLVM's optimisation is skipped).
FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}


def _compile(fn, *args):
    """``jax.jit(fn)`` compiled for ``args`` (the executable takes the same shapes)."""
    return jax.jit(fn).lower(*args).compile(FAST_COMPILE)


# ------------------------------------------------------------------------ problems


def lotka_volterra(t, y, p):
    prey, predator = y[0], y[1]
    return jnp.stack(
        [p[0] * prey - p[1] * prey * predator, p[2] * prey * predator - p[3] * predator]
    )


def damped_oscillator(t, state, p):
    """``q'' = -omega^2 q - 2 zeta omega q'`` with a dict state and dict params."""
    q, v = state["q"], state["v"]
    return {"q": v, "v": -(p["omega"] ** 2) * q - 2 * p["zeta"] * p["omega"] * v}


DECAY_TS = jnp.array([0.0, 0.5, 1.25, 2.0])
LV_PARAMS = jnp.array([1.5, 1.0, 1.0, 3.0])
LV_Y0 = jnp.array([1.0, 0.5])
LV_TS = jnp.linspace(0.5, 4.0, 8)
OSC_PARAMS = {"omega": jnp.array(2.0), "zeta": jnp.array(0.15)}
OSC_Y0 = {"q": jnp.array([1.0, -0.5]), "v": jnp.array([0.0, 0.3])}
OSC_TS = jnp.array([0.3, 1.0, 2.5, 4.0])


def _decay_loss(k, y0, options):
    sol = solvers.solve(decay, y0, (0.0, 2.0), k, ts=DECAY_TS, **options)
    return jnp.sum(sol.ys * jnp.array([1.0, -0.5, 2.0, 1.5]))


def _lv_loss(params, y0, options):
    sol = solvers.solve(lotka_volterra, y0, (0.0, 4.0), params, ts=LV_TS, **options)
    return jnp.sum(sol.ys**2)


def _oscillator_loss(params, y0, options):
    sol = solvers.solve(damped_oscillator, y0, (0.0, 4.0), params, ts=OSC_TS, **options)
    return jnp.sum(sol.ys["q"] ** 2) + jnp.sum(sol.ys["v"] * jnp.array([[1.0, 0.5]]))


PROBLEMS = {
    "decay": (_decay_loss, jnp.array(0.7), jnp.array(2.0)),
    "lotka_volterra": (_lv_loss, LV_PARAMS, LV_Y0),
    "oscillator": (_oscillator_loss, OSC_PARAMS, OSC_Y0),
}


@functools.cache
def _gradient(problem, strategy):
    """d loss / d (params, y0), flattened, at rtol 1e-10."""
    loss, params, y0 = PROBLEMS[problem]
    options = {**TIGHT, "adjoint": strategy}
    if strategy == "forward":
        derivative = jax.jacfwd(loss, argnums=(0, 1))
    else:
        derivative = jax.grad(loss, argnums=(0, 1))
    g_params, g_y0 = _compile(functools.partial(derivative, options=options), params, y0)(
        params, y0
    )
    return flat(g_params), flat(g_y0)


@functools.cache
def _finite_differences(problem):
    loss, params, y0 = PROBLEMS[problem]
    value = _compile(functools.partial(loss, options=REFERENCE), params, y0)
    return (
        central_difference(lambda p: value(p, y0), params, eps=FD_EPS),
        central_difference(lambda y: value(params, y), y0, eps=FD_EPS),
    )


def _assert_close(actual, expected, rtol, name=""):
    scale = np.max(np.abs(expected))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale, err_msg=name)


# ------------------------------------------------------------ finite differences


@pytest.mark.parametrize("problem", list(PROBLEMS))
def test_backsolve_matches_finite_differences(problem):
    g_params, g_y0 = _gradient(problem, "backsolve")
    fd_params, fd_y0 = _finite_differences(problem)
    _assert_close(g_params, fd_params, 1e-6, f"{problem}: params")
    _assert_close(g_y0, fd_y0, 1e-6, f"{problem}: y0")


def test_backsolve_decay_closed_form():
    k, y0 = 0.7, 2.0
    ts = np.asarray(DECAY_TS)
    weights = np.array([1.0, -0.5, 2.0, 1.5])
    g_k, g_y0 = _gradient("decay", "backsolve")
    np.testing.assert_allclose(g_k, np.sum(weights * -ts * y0 * np.exp(-k * ts)), rtol=1e-8)
    np.testing.assert_allclose(g_y0, np.sum(weights * np.exp(-k * ts)), rtol=1e-8)


# ---------------------------------------------------------- strategies agree


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_strategy_agrees(strategy):
    """The discrete adjoints (checkpoint, direct, forward mode) and the continuous one
    approximate the same derivative to about the solver tolerance."""
    reference = _gradient("lotka_volterra", "checkpoint")
    fd = _finite_differences("lotka_volterra")
    g_params, g_y0 = _gradient("lotka_volterra", strategy)
    _assert_close(g_params, reference[0], 1e-6, strategy)
    _assert_close(g_y0, reference[1], 1e-6, strategy)
    _assert_close(g_params, fd[0], 1e-6, strategy)
    _assert_close(g_y0, fd[1], 1e-6, strategy)


# ------------------------------------------------ methods, directions, time gradients


def _decay_span_loss(k, y0, t0, t1, ts, method, dt):
    sol = solvers.solve(
        decay, y0, (t0, t1), k, ts=ts, method=method, dt=dt, adjoint="backsolve", **TIGHT
    )
    return jnp.sum(sol.ys * jnp.array([1.0, -0.5, 2.0]))


def _span_gradient(method, dt):
    grad = jax.grad(functools.partial(_decay_span_loss, method=method, dt=dt), argnums=range(5))
    return _compile(grad, *[jnp.array(0.0)] * 4, jnp.zeros(3))


def _decay_span_expected(k, y0, t0, ts):
    """Closed form of every derivative of sum_i w_i y0 exp(-k (t_i - t0))."""
    weights = np.array([1.0, -0.5, 2.0])
    ts = np.asarray(ts)
    ys = y0 * np.exp(-k * (ts - t0))
    return (
        np.sum(weights * ys * -(ts - t0)),
        np.sum(weights * ys) / y0,
        np.sum(weights * ys) * k,
        0.0,  # with ts given, t1 does not move any output
        -k * weights * ys,
    )


@pytest.mark.parametrize("method,dt", [("tsit5", None), ("dopri5", None), ("rk4", 0.01)])
def test_methods_directions_and_time_gradients(method, dt):
    """One compiled gradient per method serves both directions (t0, t1 are traced)."""
    grad = _span_gradient(method, dt)
    cases = [
        (0.4, 2.0, 0.0, 2.5, [0.5, 1.0, 2.0]),  # forwards
        (0.4, 2.0, 3.0, 0.0, [2.0, 1.0, 0.5]),  # backwards, t1 < t0
        (0.4, 2.0, 0.5, 2.0, [0.5, 1.0, 2.0]),  # a save point at t0 and one at t1
        (-0.3, 1.5, 2.0, -1.0, [2.0, 2.0, -1.0]),  # backwards, repeated save point
    ]
    for k, y0, t0, t1, ts in cases:
        gradients = grad(*map(jnp.array, (k, y0, t0, t1)), jnp.array(ts))
        expected = _decay_span_expected(k, y0, t0, ts)
        for name, got, want in zip(["k", "y0", "t0", "t1", "ts"], gradients, expected):
            np.testing.assert_allclose(
                got, want, rtol=1e-7, atol=1e-9, err_msg=f"{method} {(t0, t1)} d/d{name}"
            )


def test_final_state_only_and_t1_gradient():
    def loss(k, t0, t1):
        sol = solvers.solve(decay, jnp.array([1.0, 3.0]), (t0, t1), k, adjoint="backsolve", **TIGHT)
        return jnp.sum(sol.ys[0])

    args = jnp.array(0.6), jnp.array(0.5), jnp.array(2.0)
    g_k, g_t0, g_t1 = _compile(jax.grad(loss, argnums=(0, 1, 2)), *args)(*args)
    final = 4.0 * np.exp(-0.6 * 1.5)
    np.testing.assert_allclose(
        [g_k, g_t0, g_t1], [-1.5 * final, 0.6 * final, -0.6 * final], rtol=1e-8
    )


def test_fixed_step_static_grid():
    """rk4 with concrete t_span and dt: backsolve replaces the recorded lax.scan."""

    def loss(k):
        sol = solvers.solve(
            decay,
            jnp.array(2.0),
            (0.0, 2.0),
            k,
            ts=DECAY_TS,
            method="rk4",
            dt=0.01,
            adjoint="backsolve",
        )
        return jnp.sum(sol.ys * jnp.array([1.0, -0.5, 2.0, 1.5]))

    ts = np.asarray(DECAY_TS)
    expected = np.sum(np.array([1.0, -0.5, 2.0, 1.5]) * -ts * 2.0 * np.exp(-0.7 * ts))
    k = jnp.array(0.7)
    np.testing.assert_allclose(_compile(jax.grad(loss), k)(k), expected, rtol=1e-8)


# --------------------------------------------------------------- transformations


def test_jit_vmap_grad_and_closures():
    def loss(k, y0):
        sol = solvers.solve(decay, y0, (0.0, 2.0), k, ts=DECAY_TS, adjoint="backsolve", **TIGHT)
        return jnp.sum(sol.ys * jnp.array([1.0, -0.5, 2.0, 1.5]))

    ks = jnp.array([0.2, 0.7, 1.5])
    y0s = jnp.array([1.0, 2.0, -0.5])
    g_k, g_y0 = _compile(jax.vmap(jax.grad(loss, argnums=(0, 1))), ks, y0s)(ks, y0s)
    ts = np.asarray(DECAY_TS)
    weights = np.array([1.0, -0.5, 2.0, 1.5])
    for i in range(3):
        k, y0 = float(ks[i]), float(y0s[i])
        np.testing.assert_allclose(g_k[i], np.sum(weights * -ts * y0 * np.exp(-k * ts)), rtol=1e-8)
        np.testing.assert_allclose(g_y0[i], np.sum(weights * np.exp(-k * ts)), rtol=1e-8)

    # An array the vector field closes over, and an integer leaf in params.
    def closed(k):
        def field(t, y, p):
            return -k * p["n"] * y

        sol = solvers.solve(field, jnp.array([1.0, 2.0]), (0.0, 1.0), {"n": 2}, adjoint="backsolve")
        return jnp.sum(sol.ys[0])

    # grad of a jitted solve, as users often write it.
    np.testing.assert_allclose(jax.grad(jax.jit(closed))(0.3), -6.0 * np.exp(-0.6), rtol=1e-5)


def test_failed_backward_solve_gives_nan():
    """y0 far below atol: the forward solve takes a few steps, the adjoint (of size 1)
    needs many more at rtol 1e-10 and runs out of max_steps: the gradient is NaN, not
    a plausible number."""

    def loss(k):
        sol = solvers.solve(
            decay,
            jnp.array(1e-12),
            (0.0, 10.0),
            k,
            rtol=1e-10,
            atol=1e-9,
            max_steps=10,
            adjoint="backsolve",
        )
        return 1e12 * sol.ys[0], sol.status

    k = jnp.array(0.4)
    (value, status), gradient = _compile(jax.value_and_grad(loss, has_aux=True), k)(k)
    assert int(status) == 0 and np.isfinite(value)
    assert np.isnan(gradient)


# ------------------------------------------------------------------------- memory

MAX_STEPS = [1_000, 10_000, 100_000]
LORENZ_TS = jnp.linspace(0.0, 1.0, 11)


def _temp_bytes(strategy, max_steps):
    def loss(params):
        sol = solvers.solve(
            lorenz,
            LORENZ_Y0,
            (0.0, 1.0),
            params,
            ts=LORENZ_TS,
            method="bosh3",
            adjoint=strategy,
            max_steps=max_steps,
        )
        return jnp.sum(sol.ys**2)

    return _compile(jax.grad(loss), LORENZ_PARAMS).memory_analysis().temp_size_in_bytes


@pytest.mark.parametrize("strategy", ["checkpoint", "direct", "backsolve"])
def test_memory_against_max_steps(strategy):
    """Scratch memory of the compiled gradient of a Lorenz trajectory loss:
    backsolve O(1), checkpoint O(log(max_steps)), direct O(max_steps)."""
    max_steps = MAX_STEPS + ([1_000_000] if strategy == "checkpoint" else [])
    temp = [_temp_bytes(strategy, n) for n in max_steps]
    print(f"\n{strategy:>10}: temp bytes at max_steps {max_steps}: {temp}")
    ratio = temp[-1] / temp[0]
    if strategy == "backsolve":
        assert ratio <= 1.5
    elif strategy == "checkpoint":
        # Logarithmic: a thousandfold max_steps costs at most a few levels of
        # snapshots (sqrt would be 31.6x), and a decade costs no more at 1e6 than at
        # 1e3 (it would grow with any power law).
        assert temp == sorted(temp)
        assert ratio < 3
        assert temp[-1] - temp[-2] <= temp[1] - temp[0] + 1024
    else:
        assert ratio > 50  # linear: 100, less the constant part


def _roll_field(t, y, k):
    return -k * y + 0.1 * jnp.roll(y, 1)


def test_checkpoint_memory_for_a_large_state_follows_the_byte_budget():
    """A 10^6-component state (8 MB): the checkpoint adjoint's snapshots follow
    checkpoint_bytes (C = 4 lean slots and a stack of 12 here), not a fixed number of
    copies of the state. Before the budget, jit(grad) needed 200-350 copies; with 4
    lean slots per level on 9 levels about 60; now 45 with the default max_steps (20
    of them snapshots), within the 50 asked for."""
    n = 1_000_000
    y0 = jnp.ones(n)

    def copies(**options):
        def loss(k):
            return jnp.sum(solvers.solve(_roll_field, y0, (0.0, 1.0), k, **options).ys ** 2)

        temp = _compile(jax.grad(loss), 0.5).memory_analysis().temp_size_in_bytes
        return temp / (8 * n)

    default = copies()
    assert default <= 50, default
    # A larger budget buys snapshots that keep the method's state: more memory.
    assert copies(checkpoint_bytes=4 * 2**30) > default + 10


def test_diffrax_solver_with_backsolve_is_refused():
    import diffrax

    with pytest.raises(NotImplementedError, match="backsolve"):
        solvers.solve(
            decay, jnp.array(1.0), (0.0, 1.0), 0.5, method=diffrax.Tsit5(), adjoint="backsolve"
        )
