"""Tests of the problem catalogue, with scipy as the reference integrator.

`solvers` is deliberately not used here, so that the catalogue is checked independently
of the methods it is meant to test; only the test of `Problem.solve` calls it, to check
that the method hands the problem to `solvers.solve` unchanged.
"""

import dataclasses
import functools
import inspect
import pathlib
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree
from scipy.integrate import solve_ivp

import problems

ALL_NAMES = problems.names()
# The PDE problems (fields on grids, hundreds to thousands of components, one complex)
# have their own tests in test_pde_problems.py: closed forms against the field on the
# grid, conservation laws, solves, gradients. Dense Jacobians and scipy integrations of
# them here would cost minutes and test nothing more.
ODE_NAMES = [name for name in ALL_NAMES if problems.get(name).grid is None]
WITH_EXACT = [name for name in ODE_NAMES if problems.get(name).exact is not None]

# Problems with exact solutions, including non-default regimes and starts: (id, name, overrides).
EXACT_CASES = [(name, name, {}) for name in WITH_EXACT] + [
    ("decay_vector_state", "exponential_decay", {"k": 0.7, "y0": [1.0, -2.0, 3.0]}),
    ("harmonic_shifted", "harmonic_oscillator", {"omega": 2.5, "y0": [0.3, -1.0]}),
    (
        "driven_shifted_start",
        "damped_driven_oscillator",
        {"y0": [-0.5, 2.0], "t_span": (1.3, 21.3), "Omega": 1.7},
    ),
    ("driven_undamped", "damped_driven_oscillator", {"zeta": 0.0, "Omega": 0.6}),
    ("driven_critical", "damped_driven_oscillator", {"zeta": 1.0, "F": 2.0}),
    ("driven_overdamped", "damped_driven_oscillator", {"zeta": 2.5, "omega": 1.5}),
    ("kepler_circular", "kepler", {"e": 0.0}),
    ("kepler_e09_shifted", "kepler", {"e": 0.9, "mu": 2.0, "t_span": (2.0, 30.0)}),
]
EXACT_IDS = [case[0] for case in EXACT_CASES]

# Test Set for IVP Solvers (Mazzia & Magherini, Bari), problem PLEI: the state at t = 3.
PLEIADES_AT_3 = np.array(
    [
        # x
        0.3706139143970502, 3.237284092057233, -3.222559032418324, 0.6597091455775310,
        0.3425581707156584, 1.562172101400631, -0.7003092922212495,
        # y
        -3.943437585517392, -3.271380973972550, 5.225081843456543, -2.590612434977470,
        1.198213693392275, -0.2429682344935824, 1.091449240428980,
        # vx
        3.417003806314313, 1.354584501625501, -2.590065597810775, 2.025053734714242,
        -1.155815100160448, -0.8072988170223021, 0.5952396354208710,
        # vy
        -3.741244961234010, 0.3773459685750630, 0.9386858869551073, 0.3667922227200571,
        -0.3474046353808490, 2.344915448180937, -1.947020434263292,
    ]
)  # fmt: skip


def scipy_solution(problem, times, rtol=1e-12, atol=1e-12):
    """The problem integrated by scipy's DOP853, at `times` (each >= t_span[0])."""
    field = jax.jit(problem.vector_field)

    def fun(t, y):
        return np.asarray(field(t, jnp.asarray(y), problem.params))

    y0 = np.asarray(problem.y0)
    t0 = problem.t_span[0]
    result = solve_ivp(
        fun, (t0, float(np.max(times))), y0, method="DOP853", t_eval=times, rtol=rtol, atol=atol
    )
    assert result.success, result.message
    return result.y.T


def flat_view(problem):
    """The problem on its flattened state: pytree states such as ``(q, p)`` become one
    array, so the checks below read every problem alike (a 1-D array state is unchanged)."""
    y0, unravel = ravel_pytree(problem.y0)

    def field(t, y, params):
        return ravel_pytree(problem.vector_field(t, unravel(y), params))[0]

    exact = problem.exact
    if exact is not None:

        def exact(t, params):
            return ravel_pytree(problem.exact(t, params))[0]

    return dataclasses.replace(problem, y0=y0, vector_field=field, exact=exact)


def random_states(problem, count=5, seed=0):
    """States near y0: y0 plus a small random perturbation, shape (count, *y0.shape)."""
    noise = np.random.default_rng(seed).normal(size=(count, *problem.y0.shape))
    return jnp.asarray(np.asarray(problem.y0) + 0.3 * noise)


def assert_conserved(quantity, problem, states, t=0.0):
    """d quantity / dt = grad(quantity) . f vanishes at every state (a batch of states)."""

    @jax.jit
    @jax.vmap
    def rate_and_scale(y):
        gradient = jax.grad(quantity)(y)
        field = problem.vector_field(t, y, problem.params)
        scale = jnp.linalg.norm(gradient) * jnp.linalg.norm(field) + 1.0
        return jnp.vdot(gradient, field), scale

    rate, scale = rate_and_scale(jnp.asarray(states))
    assert np.all(np.abs(rate) < 1e-12 * scale), (rate, scale)


# ---------------------------------------------------------------------------------------
# The registry


def test_names_sorted_lowercase_and_exported():
    assert ALL_NAMES == sorted(ALL_NAMES)
    assert len(ALL_NAMES) == len(set(ALL_NAMES)) >= 15
    for name in ALL_NAMES:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", name)
        assert getattr(problems, name) is problems._problem._REGISTRY[name]
        assert name in problems.__all__


def test_get_with_overrides():
    problem = problems.get("lorenz63", rho=20.0, y0=[0.0, 1.0, 2.0], t_span=(1, 5))
    assert float(problem.params["rho"]) == 20.0
    assert float(problem.params["sigma"]) == 10.0
    np.testing.assert_array_equal(problem.y0, [0.0, 1.0, 2.0])
    assert problem.t_span == (1.0, 5.0)
    assert isinstance(problem.t_span[0], float)
    # The factory called directly is the same thing.
    direct = problems.lorenz63(rho=20.0)
    assert float(direct.params["rho"]) == 20.0
    # Integer overrides still give floating parameters (differentiable).
    assert jnp.issubdtype(problems.lorenz63(rho=20).params["rho"].dtype, jnp.floating)


def test_unknown_name_lists_names_and_suggests():
    with pytest.raises(KeyError, match="Did you mean 'lorenz63'") as info:
        problems.get("lorenz")
    for name in ALL_NAMES:
        assert name in str(info.value)
    with pytest.raises(KeyError, match="Available"):
        problems.get("no_such_problem_at_all")


def test_unknown_override_names_valid_ones():
    with pytest.raises(TypeError, match="'gamma'.*valid overrides: sigma, rho, beta, y0, t_span"):
        problems.get("lorenz63", gamma=1.0)
    with pytest.raises(TypeError, match="valid overrides"):
        problems.pendulum(length=2.0)
    with pytest.raises(TypeError, match="keyword arguments only"):
        problems.lorenz63(10.0)


def test_bad_values_rejected():
    with pytest.raises(ValueError, match="0 <= e < 1"):
        problems.kepler(e=1.2)
    with pytest.raises(ValueError, match="masses"):
        problems.pleiades(masses=[1.0, 2.0])
    with pytest.raises(ValueError, match="t_span"):
        problems.lorenz63(t_span=(0.0, 1.0, 2.0))


def test_problem_is_frozen_and_a_static_jit_argument_by_identity():
    problem = problems.get("lorenz63")
    with pytest.raises(AttributeError):
        problem.name = "other"
    # Identity equality (the fields hold arrays): a problem equals only itself, so
    # problems with different parameters are different keys and static jit arguments.
    other = problems.get("lorenz63", rho=20.0)
    assert problem == problem and problem != other
    assert {problem: 1, other: 2}[problem] == 1 and len({problem, other}) == 2

    @functools.partial(jax.jit, static_argnums=0)
    def derivative(problem, y):
        return problem.vector_field(problem.t_span[0], y, problem.params)

    y = jnp.array([1.0, 2.0, 3.0])
    for p in (problem, other):  # each gets its own trace, with its own parameters
        np.testing.assert_array_equal(derivative(p, y), p.vector_field(0.0, y, p.params))
    assert not np.allclose(derivative(problem, y), derivative(other, y))


def test_solve_hands_the_problem_to_solvers_solve():
    import solvers

    problem = problems.harmonic_oscillator(omega=2.5, y0=[0.3, -1.0], t_span=(0.0, 1.0))
    options = {"method": "dopri5", "ts": jnp.linspace(0.0, 1.0, 4), "rtol": 1e-8, "atol": 1e-10}
    solution = problem.solve(**options)
    direct = solvers.solve(
        problem.vector_field, problem.y0, problem.t_span, problem.params, **options
    )
    np.testing.assert_array_equal(solution.ts, direct.ts)
    np.testing.assert_array_equal(solution.ys, direct.ys)
    # This problem's own parameters, start and span: the exact solution at ts.
    exact = jax.vmap(problem.exact, in_axes=(0, None))(options["ts"], problem.params)
    np.testing.assert_allclose(solution.ys, exact, rtol=0, atol=1e-6)


# ---------------------------------------------------------------------------------------
# Every problem


@pytest.mark.parametrize("name", ALL_NAMES)
def test_problem_builds_and_field_matches_state(name):
    problem = problems.get(name)
    assert problem.name == name
    assert isinstance(problem, problems.Problem)
    assert len(problem.t_span) == 2 and problem.t_span[1] > problem.t_span[0]
    assert problem.description and problem.reference
    assert isinstance(problem.stiff, bool)
    assert isinstance(problem.params, dict) and problem.params
    for value in problem.params.values():
        assert jnp.issubdtype(value.dtype, jnp.floating)

    y0_leaves, y0_tree = jax.tree_util.tree_flatten(problem.y0)
    derivative = problem.vector_field(problem.t_span[0], problem.y0, problem.params)
    leaves, tree = jax.tree_util.tree_flatten(derivative)
    assert tree == y0_tree
    for leaf, y0_leaf in zip(leaves, y0_leaves):
        assert leaf.shape == y0_leaf.shape
        assert leaf.dtype == y0_leaf.dtype
        assert leaf.dtype in (jnp.float64, jnp.complex128)  # complex: nls
        assert bool(jnp.all(jnp.isfinite(leaf)))


@pytest.mark.parametrize("name", ODE_NAMES)
def test_field_jits_vmaps_and_differentiates(name):
    problem = flat_view(problems.get(name))
    field = problem.vector_field
    t0, y0, params = problem.t_span[0], problem.y0, problem.params

    @jax.jit
    def transformed(t, y, params):
        # vmap over the parameters: a batch of the defaults and the defaults scaled by 1.1.
        scaled = jax.tree_util.tree_map(lambda p: 1.1 * p, params)
        batch = jax.tree_util.tree_map(lambda p, q: jnp.stack([p, q]), params, scaled)
        batched = jax.vmap(field, in_axes=(None, None, 0))(t, y, batch)
        one_by_one = jnp.stack([field(t, y, params), field(t, y, scaled)])
        # Forward- and reverse-mode derivatives in the state and the parameters.
        jacobian = jax.jacfwd(field, argnums=1)(t, y, params)
        parameter_gradient = jax.grad(lambda p: jnp.sum(field(t, y, p) ** 2))(params)
        return batched, one_by_one, jacobian, parameter_gradient

    batched, one_by_one, jacobian, parameter_gradient = transformed(t0, y0, params)
    # Equal to round-off. The batched and the single programs may round differently, and
    # a small component left by cancelling terms (brusselator_1d's diffusion) carries
    # round-off on the scale of the field, not of its own value.
    scale = np.max(np.abs(np.asarray(one_by_one)))
    np.testing.assert_allclose(batched, one_by_one, rtol=1e-14, atol=1e-14 * scale)
    assert jacobian.shape == (y0.size, y0.size)
    assert np.all(np.isfinite(jacobian))
    for leaf in jax.tree_util.tree_leaves(parameter_gradient):
        assert np.all(np.isfinite(leaf))


@pytest.mark.parametrize("name", ALL_NAMES)
def test_factory_docstring_documents_every_override(name):
    factory = getattr(problems, name)
    doc = inspect.getdoc(factory)
    assert "Args:" in doc and "Returns:" in doc and "Reference:" in doc
    assert "$$" in doc  # the equations
    for override in factory.overrides:
        assert re.search(rf"^\s+{override}: ", doc, re.MULTILINE), override


def test_docs_page_lists_every_problem():
    page = pathlib.Path(__file__).parents[1] / "docs" / "problems.md"
    text = page.read_text(encoding="utf-8")
    for name in ALL_NAMES:
        assert f"`{name}`" in text, name


# ---------------------------------------------------------------------------------------
# Exact solutions


@pytest.mark.parametrize(("name", "overrides"), [c[1:] for c in EXACT_CASES], ids=EXACT_IDS)
def test_exact_matches_scipy_and_vector_field(name, overrides):
    problem = flat_view(problems.get(name, **overrides))
    t0, t1 = problem.t_span
    times = t0 + np.array([0.0, 0.5, 1.7, 4.0, min(t1 - t0, 10.0), t1 - t0])

    @jax.jit
    @functools.partial(jax.vmap, in_axes=(0, None))
    def exact_derivative_and_field(t, params):
        state, derivative = jax.jvp(lambda t: problem.exact(t, params), (t,), (jnp.ones_like(t),))
        return state, derivative, problem.vector_field(t, state, params)

    exact, derivative, field = exact_derivative_and_field(jnp.asarray(times), problem.params)
    # Starts at y0, and d/dt exact(t) = f(t, exact(t)) (also at t1, far from the start).
    np.testing.assert_allclose(exact[0], problem.y0, rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(derivative, field, rtol=1e-10, atol=1e-10)
    # Agrees with a tight scipy integration over the first ten time units.
    reference = scipy_solution(problem, times[:-1])
    np.testing.assert_allclose(exact[:-1], reference, rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("name", WITH_EXACT)
def test_exact_differentiable_in_params(name):
    problem = flat_view(problems.get(name))
    t = jnp.asarray(problem.t_span[0] + 1.3)
    step = 1e-6

    @jax.jit
    def gradient_and_finite_differences(t, params):
        gradient = jax.jacrev(problem.exact, argnums=1)(t, params)
        finite_differences = {}
        for key, value in params.items():
            up = problem.exact(t, {**params, key: value + step})
            down = problem.exact(t, {**params, key: value - step})
            finite_differences[key] = (up - down) / (2 * step)
        return gradient, finite_differences

    gradient, finite_differences = gradient_and_finite_differences(t, problem.params)
    for key in problem.params:
        np.testing.assert_allclose(gradient[key], finite_differences[key], rtol=1e-6, atol=1e-7)


def test_kepler_exact_conserves_energy_and_angular_momentum():
    mu = 1.5
    problem = problems.kepler(e=0.6, mu=mu)
    eccentricities = jnp.asarray([0.0, 0.3, 0.6, 0.9, 0.95])
    times = jnp.linspace(0.0, 3 * 2 * jnp.pi / jnp.sqrt(mu), 301)

    @jax.jit
    @jax.vmap
    def invariants(e):
        params = {**problem.params, "e": e}
        states = jax.vmap(problem.exact, in_axes=(0, None))(times, params)
        q, p = states[:, :2], states[:, 2:]
        energy = 0.5 * jnp.sum(p**2, axis=1) - mu / jnp.linalg.norm(q, axis=1)
        angular_momentum = q[:, 0] * p[:, 1] - q[:, 1] * p[:, 0]
        return energy, angular_momentum, states

    energy, angular_momentum, states = invariants(eccentricities)
    np.testing.assert_allclose(energy, -mu / 2, rtol=1e-12)  # semi-major axis 1
    expected_momentum = np.sqrt(mu * (1 - eccentricities**2))[:, None]
    expected_momentum = np.broadcast_to(expected_momentum, angular_momentum.shape)
    np.testing.assert_allclose(angular_momentum, expected_momentum, rtol=1e-12)
    for e, orbit in zip(eccentricities, states):
        # At t0 the periapsis state, and back there after three periods.
        start = problems.kepler_periapsis_state(e, mu)
        np.testing.assert_allclose(np.asarray(orbit)[[0, -1]], np.stack([start, start]), atol=1e-10)
    # The vector field conserves both as well.
    on_orbit = states[:, ::50].reshape(-1, 4)

    def energy_of(y):
        return 0.5 * jnp.sum(y[2:] ** 2) - mu / jnp.linalg.norm(y[:2])

    assert_conserved(energy_of, problem, on_orbit)
    assert_conserved(lambda y: y[0] * y[3] - y[1] * y[2], problem, on_orbit)


def test_kepler_without_periapsis_start_has_no_exact():
    assert problems.kepler(y0=[1.0, 0.0, 0.0, 1.0]).exact is None


def test_solve_kepler_equation():
    M = jnp.linspace(-30.0, 30.0, 20001)
    e = jnp.asarray([0.0, 0.5, 0.9, 0.95])[:, None]
    E = jax.jit(jax.vmap(jax.vmap(problems.solve_kepler_equation, (0, None)), (None, 0)))(
        M, e[:, 0]
    )
    np.testing.assert_allclose(E - e * jnp.sin(E), jnp.broadcast_to(M, E.shape), rtol=0, atol=1e-13)
    # Second derivatives come out right (the custom JVP is differentiable itself).
    M0, e0 = jnp.asarray(2.0), jnp.asarray(0.7)
    first = jax.jit(jax.grad(problems.solve_kepler_equation, argnums=1))
    second = jax.jit(jax.grad(first, argnums=1))(M0, e0)
    step = 1e-5
    finite_difference = (first(M0, e0 + step) - first(M0, e0 - step)) / (2 * step)
    np.testing.assert_allclose(second, finite_difference, rtol=1e-7)


# ---------------------------------------------------------------------------------------
# Problems without exact solutions: invariants and reference data


def test_pleiades_matches_test_set_reference():
    problem = problems.pleiades()
    assert problem.y0.shape == (28,)
    final = scipy_solution(problem, np.array([3.0]), rtol=1e-11, atol=1e-11)[-1]
    assert np.all(np.isfinite(final))
    np.testing.assert_allclose(final, PLEIADES_AT_3, rtol=0, atol=1e-7)

    masses, n = problem.params["masses"], 7

    def energy(y):
        x, yy, vx, vy = y[:n], y[n : 2 * n], y[2 * n : 3 * n], y[3 * n :]
        kinetic = 0.5 * jnp.sum(masses * (vx**2 + vy**2))
        squared = (x[:, None] - x[None, :]) ** 2 + (yy[:, None] - yy[None, :]) ** 2
        upper = jnp.triu(jnp.ones((n, n), dtype=bool), k=1)
        distance = jnp.sqrt(jnp.where(upper, squared, 1.0))  # the diagonal would be 0
        pair_mass = masses[:, None] * masses[None, :]
        potential = -jnp.sum(jnp.where(upper, pair_mass / distance, 0.0))
        return kinetic + potential

    np.testing.assert_allclose(energy(jnp.asarray(final)), energy(problem.y0), rtol=1e-9)
    states = random_states(problem)
    assert_conserved(energy, problem, states)
    assert_conserved(lambda y: jnp.sum(masses * y[2 * n : 3 * n]), problem, states)
    assert_conserved(lambda y: jnp.sum(masses * y[3 * n :]), problem, states)


def test_pleiades_force_matches_pairwise_loop():
    rng = np.random.default_rng(1)
    x, y, masses = rng.normal(size=5), rng.normal(size=5), rng.uniform(1, 2, size=5)
    ax, ay = problems.gravitational_acceleration(
        jnp.asarray(x), jnp.asarray(y), jnp.asarray(masses), 0.5
    )
    expected = np.zeros((5, 2))
    for i in range(5):
        for j in range(5):
            if i != j:
                d = np.array([x[j] - x[i], y[j] - y[i]])
                expected[i] += 0.5 * masses[j] * d / np.linalg.norm(d) ** 3
    np.testing.assert_allclose(np.stack([ax, ay], axis=1), expected, rtol=1e-13)


def test_pendulum_energy_conserved():
    problem = problems.pendulum(L=1.7, g=9.0)
    params = problem.params

    def energy(y):
        return 0.5 * params["L"] ** 2 * y[1] ** 2 - params["g"] * params["L"] * jnp.cos(y[0])

    assert_conserved(energy, problem, random_states(problem))


def _double_pendulum_energy(params):
    m1, m2, L1, L2, g = (params[k] for k in ("m1", "m2", "L1", "L2", "g"))

    def energy(y):
        theta1, theta2, omega1, omega2 = y
        kinetic = (
            0.5 * (m1 + m2) * L1**2 * omega1**2
            + 0.5 * m2 * L2**2 * omega2**2
            + m2 * L1 * L2 * omega1 * omega2 * jnp.cos(theta1 - theta2)
        )
        potential = -(m1 + m2) * g * L1 * jnp.cos(theta1) - m2 * g * L2 * jnp.cos(theta2)
        return kinetic + potential

    return energy


def test_double_pendulum_matches_euler_lagrange():
    problem = problems.double_pendulum(m1=1.3, m2=0.6, L1=0.8, L2=1.4, g=9.5)
    params = problem.params
    m1, m2, L1, L2, g = (params[k] for k in ("m1", "m2", "L1", "L2", "g"))

    def lagrangian(q, q_dot):
        # Cartesian positions of the bobs; the Lagrangian from them, not from the formula.
        def positions(q):
            x1, y1 = L1 * jnp.sin(q[0]), -L1 * jnp.cos(q[0])
            return jnp.stack([x1, y1, x1 + L2 * jnp.sin(q[1]), y1 - L2 * jnp.cos(q[1])])

        r, v = jax.jvp(positions, (q,), (q_dot,))
        kinetic = 0.5 * m1 * (v[0] ** 2 + v[1] ** 2) + 0.5 * m2 * (v[2] ** 2 + v[3] ** 2)
        potential = m1 * g * r[1] + m2 * g * r[3]
        return kinetic - potential

    @jax.jit
    @jax.vmap
    def euler_lagrange(y):
        q, q_dot = y[:2], y[2:]
        mass_matrix = jax.hessian(lagrangian, argnums=1)(q, q_dot)
        force = jax.grad(lagrangian, argnums=0)(q, q_dot)
        coupling = jax.jacfwd(jax.grad(lagrangian, argnums=1), argnums=0)(q, q_dot)
        return jnp.concatenate([q_dot, jnp.linalg.solve(mass_matrix, force - coupling @ q_dot)])

    states = random_states(problem, count=6, seed=3) * 3.0
    field = jax.vmap(problem.vector_field, in_axes=(None, 0, None))(0.0, states, params)
    np.testing.assert_allclose(field, euler_lagrange(states), rtol=1e-10, atol=1e-10)
    assert_conserved(_double_pendulum_energy(params), problem, random_states(problem))


def test_double_pendulum_energy_along_scipy_solution():
    problem = problems.double_pendulum()
    states = scipy_solution(problem, np.array([0.0, 2.5, 5.0]), rtol=1e-10, atol=1e-10)
    energy = jax.vmap(_double_pendulum_energy(problem.params))(jnp.asarray(states))
    np.testing.assert_allclose(energy, energy[0], rtol=0, atol=1e-7)


def test_biology_invariants():
    sir = problems.sir()
    assert_conserved(jnp.sum, sir, jnp.abs(random_states(sir)))
    lotka = problems.lotka_volterra(alpha=1.2, beta=0.4, gamma=2.0, delta=0.7)
    params = lotka.params

    def invariant(y):
        return (
            params["delta"] * y[0]
            - params["gamma"] * jnp.log(y[0])
            + params["beta"] * y[1]
            - params["alpha"] * jnp.log(y[1])
        )

    assert_conserved(invariant, lotka, jnp.abs(random_states(lotka)))


def test_harmonic_oscillator_energy_conserved():
    problem = problems.harmonic_oscillator(omega=3.0)
    omega = problem.params["omega"]
    assert_conserved(lambda y: y[1] ** 2 + omega**2 * y[0] ** 2, problem, random_states(problem))


def test_van_der_pol_stiffness_flag():
    assert problems.van_der_pol().stiff is False
    assert problems.van_der_pol(mu=1000.0).stiff is True
