"""The solver on the problem catalogue: against closed forms and scipy's DOP853."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

import problems
import solvers

EXACT = [name for name in problems.names() if problems.get(name).exact is not None]
# The PDE problems' solves against their closed forms with the methods made for them
# (ETDRK, IMEX, leapfrog) are in test_pde_problems.py; here the default method only.
CASES = [
    (name, method)
    for name in EXACT
    for method in (["tsit5"] if problems.get(name).grid is not None else ["tsit5", "dopri8"])
]


@pytest.mark.parametrize("name,method", CASES)
def test_matches_exact_solution(name, method):
    prob = problems.get(name)
    t0, t1 = prob.t_span
    # Global error grows with time (linearly for periodic orbits): a window of 10.
    ts = jnp.linspace(t0, t0 + min(t1 - t0, 10.0), 7)
    sol = prob.solve(method=method, ts=ts, rtol=1e-10, atol=1e-12)
    exact = jax.vmap(lambda t: prob.exact(t, prob.params))(ts)
    for got, want in zip(jax.tree.leaves(sol.ys), jax.tree.leaves(exact)):
        scale = 1 + np.max(np.abs(np.asarray(want)))
        assert np.max(np.abs(np.asarray(got) - np.asarray(want))) < 1e-7 * scale, name


def test_kepler_eccentric_orbit_against_exact():
    prob = problems.kepler(e=0.8)
    ts = jnp.linspace(0.0, 2 * np.pi, 25)  # one period, through the close periapsis
    sol = solvers.solve(
        prob.vector_field,
        prob.y0,
        (0.0, 2 * np.pi),
        prob.params,
        method="dopri8",
        ts=ts,
        rtol=1e-12,
        atol=1e-12,
    )
    exact = jax.vmap(lambda t: prob.exact(t, prob.params))(ts)
    np.testing.assert_allclose(sol.ys, exact, atol=1e-8)


@pytest.mark.parametrize("name", [n for n in problems.names() if not problems.get(n).stiff])
def test_every_problem_against_scipy(name):
    """A short window of every non-stiff catalogue problem agrees with DOP853 at rtol
    1e-12 (the stiff ones are checked against their reference solutions with the stiff
    methods, in test_stiff_methods.py)."""
    prob = problems.get(name)
    t0, t1 = prob.t_span
    t_end = t0 + min(1.0, t1 - t0)
    y0_flat, unravel = jax.flatten_util.ravel_pytree(prob.y0)

    @jax.jit
    def field(t, y):
        return jax.flatten_util.ravel_pytree(prob.vector_field(t, unravel(y), prob.params))[0]

    def rhs(t, y):  # compiled once: scipy calls it thousands of times
        return np.asarray(field(t, y))

    reference = solve_ivp(
        rhs, (t0, t_end), np.asarray(y0_flat), method="DOP853", rtol=1e-12, atol=1e-12
    ).y[:, -1]
    sol = solvers.solve(
        prob.vector_field, prob.y0, (t0, t_end), prob.params, method="tsit5", rtol=1e-10, atol=1e-10
    )
    got = jax.flatten_util.ravel_pytree(jax.tree.map(lambda y: y[-1], sol.ys))[0]
    np.testing.assert_allclose(got, reference, rtol=1e-6, atol=1e-7)
