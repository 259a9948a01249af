"""Dense output, saving every step, complex states, max_step, jump_ts and progress."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import central_difference, decay, oscillator, oscillator_exact

import solvers

TIGHT = {"rtol": 1e-10, "atol": 1e-12}


# ---------------------------------------------------------------- dense output


@pytest.mark.parametrize("method", ["tsit5", "dopri8", "bosh3"])
def test_dense_output_is_accurate_over_the_whole_span(method):
    sol = solvers.solve(
        oscillator, jnp.array([1.0, 0.0]), (0.0, 10.0), 1.0, method=method, dense=True, **TIGHT
    )
    t = jnp.linspace(0.0, 10.0, 997)
    values = sol.evaluate(t)
    assert values.shape == (997, 2)
    # The method's own interpolant: accurate between steps, not only at save points.
    error = np.max(np.abs(np.asarray(values) - oscillator_exact(np.asarray(t), 1.0)))
    assert error < {"tsit5": 1e-7, "dopri8": 1e-8, "bosh3": 1e-5}[method]
    # Without dense=True the Hermite interpolation between the end points is poor.
    plain = solvers.solve(oscillator, jnp.array([1.0, 0.0]), (0.0, 10.0), 1.0, **TIGHT)
    assert np.all(np.isnan(np.asarray(plain.evaluate(t[1:-1]))))
    assert np.all(np.isnan(np.asarray(sol.evaluate(jnp.array([-1.0, 11.0])))))


def test_dense_output_backwards_pytree_jit_and_gradient():
    def f(t, y, k):
        return {"a": -k * y["a"], "b": k * y["a"]}

    y0 = {"a": jnp.array(1.0), "b": jnp.array(0.0)}
    sol = jax.jit(lambda k: solvers.solve(f, y0, (2.0, 0.0), k, dense=True, **TIGHT))(0.5)
    value = sol.evaluate(1.0)
    assert abs(float(value["a"]) - np.exp(0.5)) < 1e-8
    assert abs(float(value["b"]) - (1 - np.exp(0.5))) < 1e-8

    def loss(k):
        return solvers.solve(decay, jnp.array([1.0]), (0.0, 2.0), k, dense=True, **TIGHT).evaluate(
            0.7
        )[0]

    np.testing.assert_allclose(jax.grad(loss)(0.5), central_difference(loss, 0.5)[0], rtol=1e-6)


# -------------------------------------------------------------- every step


def test_saving_every_accepted_step():
    sol = solvers.solve(decay, jnp.array([1.0]), (0.0, 2.0), 1.0, ts="steps", max_steps=500)
    count = int(sol.stats["num_accepted"])
    assert sol.ts.shape == (501,)
    ts = np.asarray(sol.ts)
    assert ts[0] == 0.0 and ts[count] == 2.0 and np.all(np.isnan(ts[count + 1 :]))
    assert np.all(np.diff(ts[: count + 1]) > 0)
    np.testing.assert_allclose(sol.ys[: count + 1, 0], np.exp(-ts[: count + 1]), rtol=1e-6)

    def loss(k):
        sol = solvers.solve(
            decay, jnp.array([1.0]), (0.0, 2.0), k, ts="steps", max_steps=50, **TIGHT
        )
        return jnp.nansum(sol.ys[:, 0] ** 2)

    # The step times are held fixed (as for every discrete adjoint), so compare
    # against the derivative of the same sum at the same times.
    sol = solvers.solve(decay, jnp.array([1.0]), (0.0, 2.0), 0.8, ts="steps", max_steps=50, **TIGHT)
    times = np.asarray(sol.ts)[np.isfinite(np.asarray(sol.ts))]
    exact = np.sum(-2 * times * np.exp(-2 * 0.8 * times))
    assert abs(float(jax.grad(loss)(0.8)) - exact) < 1e-6


# --------------------------------------------------------------- complex


def schrodinger(t, psi, hamiltonian):
    return -1j * (hamiltonian.astype(psi.dtype) @ psi)


TWO_LEVEL = jnp.array([[1.0, 0.5], [0.5, -1.0]])


def exact_propagator(hamiltonian, t):
    t = float(t)
    values, vectors = np.linalg.eigh(np.asarray(hamiltonian))
    return vectors @ np.diag(np.exp(-1j * values * t)) @ vectors.T


@pytest.mark.parametrize("method", ["tsit5", "dopri8", "rk4"])
def test_two_level_schrodinger_against_the_exact_propagator(method):
    psi0 = jnp.array([1.0 + 0j, 0.0 + 0j])
    options = {"dt": 0.01} if method == "rk4" else TIGHT
    ts = jnp.linspace(0, 5, 11)
    sol = solvers.solve(schrodinger, psi0, (0.0, 5.0), TWO_LEVEL, method=method, ts=ts, **options)
    assert sol.ys.dtype == jnp.complex128 and sol.ts.dtype == jnp.float64
    exact = np.stack([exact_propagator(TWO_LEVEL, t) @ np.array([1.0, 0.0]) for t in ts])
    np.testing.assert_allclose(sol.ys, exact, atol=1e-7)


def test_harmonic_oscillator_schrodinger_and_gradients_of_real_losses():
    n = 12
    # H = diag(k + 1/2) in the number basis plus a coupling: exact by eigendecomposition.
    coupling = 0.1 * (np.eye(n, k=1) + np.eye(n, k=-1))
    base = np.diag(np.arange(n) + 0.5)
    psi0 = jnp.zeros(n, jnp.complex128).at[0].set(1.0)

    def population(strength, adjoint="auto"):
        hamiltonian = jnp.asarray(base) + strength * jnp.asarray(coupling)
        sol = solvers.solve(schrodinger, psi0, (0.0, 3.0), hamiltonian, adjoint=adjoint, **TIGHT)
        return jnp.abs(sol.ys[-1, 1]) ** 2

    exact = np.abs((exact_propagator(base + coupling, 3.0) @ np.asarray(psi0))[1]) ** 2
    assert abs(float(population(1.0)) - exact) < 1e-8
    reference = central_difference(population, 1.0)[0]
    for adjoint in ("checkpoint", "direct", "backsolve"):
        grad = jax.grad(population)(1.0, adjoint)
        assert abs(float(grad) - reference) < (1e-5 if adjoint == "backsolve" else 1e-7)
    _, tangent = jax.jvp(
        population,
        (1.0,),
        (1.0,),
    )  # adjoint="auto" picks forward mode
    assert abs(float(tangent) - reference) < 1e-7
    # Norm conservation.
    sol = solvers.solve(schrodinger, psi0, (0.0, 3.0), jnp.asarray(base + coupling), **TIGHT)
    assert abs(float(jnp.sum(jnp.abs(sol.ys[-1]) ** 2)) - 1) < 1e-8


def test_complex_float32_and_vmap():
    psi0 = jnp.array([1.0, 0.0], jnp.complex64)
    sol = solvers.solve(
        schrodinger, psi0, (0.0, 1.0), TWO_LEVEL.astype(jnp.float32), rtol=1e-5, atol=1e-6
    )
    assert sol.ys.dtype == jnp.complex64 and sol.ts.dtype == jnp.float32
    exact = exact_propagator(TWO_LEVEL, 1.0) @ np.array([1.0, 0.0])
    np.testing.assert_allclose(sol.ys[-1], exact, atol=1e-4)
    scales = jnp.array([0.5, 1.0, 2.0])
    finals = jax.vmap(
        lambda s: solvers.solve(
            schrodinger, psi0.astype(jnp.complex128), (0.0, 1.0), s * TWO_LEVEL, **TIGHT
        ).ys[-1]
    )(scales)
    for final, scale in zip(finals, scales):
        np.testing.assert_allclose(
            final, exact_propagator(float(scale) * TWO_LEVEL, 1.0) @ np.array([1, 0]), atol=1e-8
        )


def test_complex_field_with_real_state_is_an_error():
    with pytest.raises(TypeError, match="complex"):
        solvers.solve(schrodinger, jnp.array([1.0, 0.0]), (0.0, 1.0), TWO_LEVEL)


# ------------------------------------------------------- max_step, jump_ts


def test_max_step_bounds_every_step():
    sol = solvers.solve(
        decay, jnp.array([1.0]), (0.0, 10.0), 0.1, ts="steps", max_step=0.25, max_steps=200
    )
    ts = np.asarray(sol.ts)
    steps = np.diff(ts[np.isfinite(ts)])
    assert steps.max() <= 0.25 + 1e-12 and len(steps) >= 40
    free = solvers.solve(decay, jnp.array([1.0]), (0.0, 10.0), 0.1)
    assert int(free.stats["num_accepted"]) < 40


def switch(t, y, rate):
    return jnp.where(t < 1.0, -rate * y, rate * y)


def test_jump_ts_steps_land_on_the_discontinuity():
    y0 = jnp.array([1.0])
    exact = np.exp(-0.9) * np.exp(0.9 * 1.5)
    with_jump = solvers.solve(
        switch,
        y0,
        (0.0, 2.5),
        0.9,
        jump_ts=jnp.array([1.0]),
        ts="steps",
        max_steps=1000,
        rtol=1e-8,
        atol=1e-10,
    )
    ts = np.asarray(with_jump.ts)
    assert np.any(ts == 1.0)
    assert abs(float(with_jump.ys[int(with_jump.stats["num_accepted"]), 0]) - exact) < 1e-7
    # Backwards in time too.
    back = solvers.solve(
        switch, jnp.array([exact]), (2.5, 0.0), 0.9, jump_ts=jnp.array([1.0]), rtol=1e-8, atol=1e-10
    )
    assert abs(float(back.ys[-1, 0]) - 1.0) < 1e-7


def test_progress_bar_prints_under_jit(capfd):
    run = jax.jit(lambda k: solvers.solve(decay, jnp.array([1.0]), (0.0, 1.0), k, progress=True).ys)
    run(1.0).block_until_ready()
    jax.effects_barrier()
    err = capfd.readouterr().err
    assert "100%" in err and "solve [" in err


def test_jump_times_past_t1_and_fixed_grids_with_a_jump():
    sol = solvers.solve(decay, jnp.array([1.0]), (0.0, 2.5), 0.1, jump_ts=jnp.array([50.0]))
    assert float(sol.ts[-1]) == 2.5
    steps = solvers.solve(
        decay,
        jnp.array([1.0]),
        (0.0, 1.0),
        1.0,
        method="rk4",
        dt=0.1,
        jump_ts=jnp.array([0.25]),
        ts="steps",
        max_steps=20,
    )
    ts = np.asarray(steps.ts)
    ts = ts[np.isfinite(ts)]
    # The grid points stay where they are; the jump adds one.
    np.testing.assert_allclose(ts, np.sort(np.append(np.arange(11) * 0.1, 0.25)), atol=1e-12)


def test_evaluate_between_saved_steps_without_dense():
    sol = solvers.solve(decay, jnp.array([1.0]), (0.0, 1.0), 1.0, ts="steps", max_steps=50)
    values = np.asarray(sol.evaluate(jnp.array([0.0, 0.5, 1.0, 1.5])))[:, 0]
    np.testing.assert_allclose(values[:3], np.exp(-np.array([0.0, 0.5, 1.0])), rtol=1e-4)
    assert np.isnan(values[3])
