"""The SDE problems of the catalogue: their records, closed forms (Ornstein-Uhlenbeck
moments, GBM from its path, the double well's mean exit time and Kramers' rate) and
Monte Carlo with solvers.solve_sde against them."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import problems
import solvers

SDE_NAMES = ["ornstein_uhlenbeck", "geometric_brownian_motion", "double_well_langevin",
             "stochastic_lotka_volterra"]  # fmt: skip
NOISE = {
    "ornstein_uhlenbeck": "additive",
    "geometric_brownian_motion": "diagonal",
    "double_well_langevin": "additive",
    "stochastic_lotka_volterra": "diagonal",
}
KEY = jax.random.key(7)


@pytest.mark.parametrize("name", SDE_NAMES)
def test_sde_problem_record_and_solve_sde(name):
    prob = problems.get(name)
    assert prob.noise == NOISE[name] and prob.diffusion is not None and prob.exact is None
    g = prob.diffusion(prob.t_span[0], prob.y0, prob.params)
    assert g.shape == prob.y0.shape and g.dtype == prob.y0.dtype
    if prob.noise == "additive":  # independent of the state
        np.testing.assert_array_equal(g, prob.diffusion(prob.t_span[0], 2 * prob.y0, prob.params))
    t0, t1 = prob.t_span
    dt = (t1 - t0) / 1024
    sol = prob.solve_sde(key=KEY, dt=dt, method="milstein")
    direct = solvers.solve_sde(
        prob.vector_field, prob.diffusion, prob.y0, prob.t_span, prob.params,
        key=KEY, dt=dt, method="milstein", noise=prob.noise,
    )  # fmt: skip
    np.testing.assert_array_equal(sol.ys, direct.ys)
    assert sol.ys.shape == (1,) + prob.y0.shape and np.all(np.isfinite(sol.ys))


def test_solve_sde_on_an_ode_problem_is_explained():
    with pytest.raises(TypeError, match="not an SDE"):
        problems.lorenz63().solve_sde(key=KEY, dt=0.1)


def test_ornstein_uhlenbeck_monte_carlo_matches_exact_moments():
    prob = problems.ornstein_uhlenbeck()
    ts = np.array([0.5, 1.0, 2.0, 5.0])
    paths = 10_000

    @jax.jit
    @jax.vmap
    def sample(key):
        return prob.solve_sde(key=key, dt=0.05, method="sra1", ts=ts).ys[:, 0]

    values = np.asarray(sample(jax.random.split(KEY, paths)))
    mean, variance = (
        np.asarray(m) for m in problems.ornstein_uhlenbeck_moments(ts, prob.params, prob.y0[0])
    )
    # SRA1's weak error at dt = 0.05 is O(dt^2) ~ 1e-3 relative: far below the MC error.
    np.testing.assert_array_less(np.abs(values.mean(axis=0) - mean), 5 * np.sqrt(variance / paths))
    np.testing.assert_array_less(
        np.abs(values.var(axis=0) / variance - 1), 5 * math.sqrt(2 / paths)
    )
    # The stationary law N(mu, sigma^2 / (2 theta)) is approached.
    assert abs(variance[-1] - 0.5**2 / 2) < 1e-4 * 0.125


def test_ornstein_uhlenbeck_moments_solve_their_odes():
    # d mean/dt = theta (mu - mean), d var/dt = -2 theta var + sigma^2 (Ito).
    prob = problems.ornstein_uhlenbeck(theta=1.7, mu=-0.3, sigma=0.8, y0=[2.0])
    t = jnp.asarray(0.9)

    def moments(t):
        return problems.ornstein_uhlenbeck_moments(t, prob.params, prob.y0)

    (mean, variance), (dmean, dvariance) = jax.jvp(moments, (t,), (jnp.ones_like(t),))
    p = {k: float(v) for k, v in prob.params.items()}
    np.testing.assert_allclose(dmean, p["theta"] * (p["mu"] - mean), rtol=1e-13)
    np.testing.assert_allclose(dvariance, -2 * p["theta"] * variance + p["sigma"] ** 2, rtol=1e-13)
    start_mean, start_variance = moments(0.0)
    np.testing.assert_allclose(start_mean, prob.y0)
    np.testing.assert_allclose(start_variance, 0.0)


def test_geometric_brownian_motion_exact_from_the_path():
    prob = problems.geometric_brownian_motion(mu=0.3, sigma=0.8, y0=[2.0], t_span=(1.0, 2.0))
    dt = 2.0**-10
    path = solvers.brownian_path(KEY, prob.t_span, dt)
    ts = np.array([1.25, 1.5, 2.0])
    rows = np.rint((ts - 1.0) / dt).astype(int)
    exact = problems.geometric_brownian_motion_exact(
        ts, path.w[rows, 0], prob.params, prob.y0, t0=1.0
    )
    sol = prob.solve_sde(key=KEY, dt=dt, method="milstein", ts=ts)
    # Milstein's strong error at dt = 2^-10 is ~1e-3 relative: a close match on this path.
    np.testing.assert_allclose(sol.ys[:, 0], exact, rtol=1e-2)
    np.testing.assert_allclose(
        problems.geometric_brownian_motion_exact(1.0, 0.0, prob.params, prob.y0, t0=1.0),
        prob.y0,
    )


def test_double_well_mean_exit_time_quadrature_and_kramers_rate():
    # A flat potential (barrier 0) with the reflecting end far left: the closed form
    # ((b + 3)^2 - (a + 3)^2) / (2 D) of the quadrature's own set-up.
    flat = problems.double_well_langevin(barrier=0.0, temperature=0.5).params
    assert problems.double_well_mean_exit_time(flat, -1.0, 1.0) == pytest.approx(12.0, rel=1e-7)
    # Kramers' rate is the large-barrier asymptote of 1 / (mean exit time):
    # tau k - 1 = O(D/h) shrinks as the barrier grows.
    gaps = []
    for ratio in (2.0, 4.0, 8.0, 16.0):
        params = problems.double_well_langevin(temperature=1.0 / ratio).params
        tau = problems.double_well_mean_exit_time(params)
        rate = float(problems.double_well_kramers_rate(params))
        gaps.append(tau * rate - 1)
    assert all(0 < b < a for a, b in zip(gaps, gaps[1:])), gaps
    assert gaps[-1] < 0.03 and gaps[0] > 0.2, gaps
    # h/D doubles: the relative correction roughly halves (first order in D/h).
    assert 0.35 < gaps[-1] / gaps[-2] < 0.65, gaps


def test_double_well_monte_carlo_exit_time_matches_quadrature():
    prob = problems.double_well_langevin(barrier=1.0, temperature=0.5, t_span=(0.0, 80.0))
    dt = 0.02
    ts = np.arange(0, 4001) * dt  # every step: the exit is seen when it happens

    @jax.jit
    @jax.vmap
    def first_exit(key):
        x = prob.solve_sde(key=key, dt=dt, method="sra1", ts=ts).ys[:, 0]
        reached = x >= 1.0
        return jnp.where(jnp.any(reached), jnp.asarray(ts)[jnp.argmax(reached)], jnp.inf)

    paths = 2000
    times = np.asarray(first_exit(jax.random.split(KEY, paths)))
    tau = problems.double_well_mean_exit_time(prob.params)  # about 10.3
    assert np.mean(np.isfinite(times)) > 0.999
    finite = times[np.isfinite(times)]
    standard_error = finite.std() / math.sqrt(finite.size)
    # Monitoring at the steps only (dt = 0.02) delays the detection slightly.
    assert abs(finite.mean() - tau) < 4 * standard_error + 0.05, (finite.mean(), tau)


def test_stochastic_lotka_volterra_without_noise_is_euler():
    # sigma = 0: Euler-Maruyama is the explicit Euler method (written out in NumPy here).
    prob = problems.stochastic_lotka_volterra(sigma_prey=0.0, sigma_predator=0.0)
    ts = np.array([1.0, 5.0, 15.0])
    sde = prob.solve_sde(key=KEY, dt=0.01, ts=ts)
    p = {k: float(v) for k, v in prob.params.items()}
    prey, predator = (float(v) for v in prob.y0)
    expected = []
    for k in range(1, 1501):
        prey, predator = (
            prey + 0.01 * (p["alpha"] * prey - p["beta"] * prey * predator),
            predator + 0.01 * (p["delta"] * prey * predator - p["gamma"] * predator),
        )
        if k in (100, 500, 1500):
            expected.append([prey, predator])
    np.testing.assert_allclose(sde.ys, np.array(expected), rtol=1e-10)
