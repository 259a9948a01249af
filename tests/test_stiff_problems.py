"""The stiff problems of the catalogue (`problems/stiff.py`), checked against scipy.

Each stored ``reference_solution`` is compared with an independent scipy LSODA solve
(right-hand side ``jax.jit(vector_field)``, Jacobian ``jax.jit(jax.jacfwd(...))``), and,
where the Test Set for IVP Solvers (Mazzia & Magherini, release 2.4) publishes the final
state, with the published digits. `solvers` is not used: the catalogue is checked
independently of the methods it is meant to test.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.integrate import solve_ivp

import problems
import solvers

STIFF = ["robertson", "van_der_pol_stiff", "hires", "orego", "pollution", "e5", "brusselator_1d"]

# Final states published by the Test Set for IVP Solvers, release 2.4 (the `solut`
# routines of rober.f, vdpol.f, hires.f, orego.f and pollu.f).
TEST_SET_ROBER_AT_1E11 = [0.2083340149701255e-7, 0.8333360770334713e-13, 0.9999999791665050]
TEST_SET = {
    "van_der_pol_stiff": [0.1706167732170469e1, -0.8928097010248125e-3],
    "hires": [
        0.7371312573325668e-3, 0.1442485726316185e-3, 0.5888729740967575e-4,
        0.1175651343283149e-2, 0.2386356198831331e-2, 0.6238968252742796e-2,
        0.2849998395185769e-2, 0.2850001604814231e-2,
    ],
    "orego": [0.1000814870318523e1, 0.1228178521549917e4, 0.1320554942846706e3],
    "pollution": [
        0.5646255480022769e-1, 0.1342484130422339, 0.4139734331099427e-8,
        0.5523140207484359e-2, 0.2018977262302196e-6, 0.1464541863493966e-6,
        0.7784249118997964e-1, 0.3245075353396018, 0.7494013383880406e-2,
        0.1622293157301561e-7, 0.1135863833257075e-7, 0.2230505975721359e-2,
        0.2087162882798630e-3, 0.1396921016840158e-4, 0.8964884856898295e-2,
        0.4352846369330103e-17, 0.6899219696263405e-2, 0.1007803037365946e-3,
        0.1772146513969984e-5, 0.5682943292316392e-4,
    ],
}  # fmt: skip
# E5's published y2 and y3 (0.8867655517642120e-22, 0.8854814626268838e-22) split a
# common value by +-7e-4 through rounding (see problems/stiff.py); their mean is sharp.
TEST_SET_E5_MEAN_Y2_Y3 = 0.5 * (0.8867655517642120e-22 + 0.8854814626268838e-22)

# scipy LSODA tolerances per problem (absolute tolerances scaled to the components).
SCIPY_TOLERANCES = {
    "robertson": (1e-10, 1e-18),
    "van_der_pol_stiff": (1e-10, 1e-12),
    "hires": (1e-10, 1e-15),
    "orego": (1e-10, 1e-10),
    "pollution": (1e-10, 1e-24),
    "e5": (1e-10, 1e-32),
}


def scipy_final_state(problem, rtol, atol, t_end=None):
    """``problem`` integrated by scipy's LSODA with the jax Jacobian, at ``t_end``."""
    field = jax.jit(problem.vector_field)
    jacobian = jax.jit(jax.jacfwd(problem.vector_field, argnums=1))

    def fun(t, y):
        return np.asarray(field(t, y, problem.params))

    def jac(t, y):
        return np.asarray(jacobian(t, y, problem.params))

    t0, t1 = problem.t_span
    result = solve_ivp(
        fun,
        (t0, t1 if t_end is None else t_end),
        np.asarray(problem.y0),
        method="LSODA",
        jac=jac,
        rtol=rtol,
        atol=atol,
    )
    assert result.success, result.message
    return result.y[:, -1]


def positive_states(problem, count=4, seed=0):
    """States near |y0| with every component positive (concentrations), (count, d)."""
    y0 = np.abs(np.asarray(problem.y0))
    scale = np.where(y0 > 0, y0, np.max(y0))
    factors = np.random.default_rng(seed).uniform(0.1, 1.0, size=(count, y0.size))
    return jnp.asarray(scale * factors)


def assert_conserved(weights, problem, states):
    """``w . f(y) = 0`` for each row ``w`` of ``weights`` (linear invariants) at every
    state, relative to ``|w| . |f(y)|``."""
    weights = np.atleast_2d(np.asarray(weights, dtype=float))
    fields = jax.jit(jax.vmap(problem.vector_field, in_axes=(None, 0, None)))(
        0.0, states, problem.params
    )
    fields = np.asarray(fields)
    rate = fields @ weights.T
    scale = np.abs(fields) @ np.abs(weights).T
    assert np.all(scale > 0)
    np.testing.assert_array_less(np.abs(rate), 1e-14 * scale)


# ---------------------------------------------------------------------------------------
# Every stiff problem


@pytest.mark.parametrize("name", STIFF)
def test_builds_with_reference_and_jitted_field(name):
    problem = problems.get(name)
    assert problem.stiff is True
    assert problem.exact is None
    y0 = problem.y0
    assert y0.ndim == 1 and y0.dtype == jnp.float64
    reference = problem.reference_solution
    assert reference.shape == y0.shape and reference.dtype == jnp.float64
    assert np.all(np.isfinite(reference))

    @jax.jit
    def field_and_parameter_jacobian(y, params):
        return problem.vector_field(problem.t_span[0], y, params), jax.jacfwd(
            problem.vector_field, argnums=2
        )(problem.t_span[0], y, params)

    state = positive_states(problem)[0]
    derivative, parameter_jacobian = field_and_parameter_jacobian(state, problem.params)
    assert derivative.shape == y0.shape and derivative.dtype == jnp.float64
    assert np.all(np.isfinite(derivative))
    # Every parameter enters the vector field (so its gradient is not silently zero).
    for key, block in parameter_jacobian.items():
        block = np.asarray(block).reshape(y0.size, -1)
        assert np.all(np.any(block != 0, axis=0)), key


@pytest.mark.parametrize("name", sorted(SCIPY_TOLERANCES))
def test_reference_solution_matches_scipy(name):
    problem = problems.get(name)
    rtol, atol = SCIPY_TOLERANCES[name]
    final = scipy_final_state(problem, rtol, atol)
    reference = np.asarray(problem.reference_solution)
    if name == "e5":
        # y1 and y4 are far below any tolerance; y2 = y3 only up to the rounding of
        # y2 - y3 - y4 = 0, which a full-system solve keeps to ~1e-3 (see stiff.py).
        np.testing.assert_allclose(final[[0, 3]], reference[[0, 3]], rtol=0, atol=1e-30)
        np.testing.assert_allclose(final[1:3], reference[1:3], rtol=1e-2)
        np.testing.assert_allclose(np.sum(final[1:3]), np.sum(reference[1:3]), rtol=1e-5)
    else:
        np.testing.assert_allclose(final, reference, rtol=1e-7, atol=10 * atol)


@pytest.mark.parametrize("name", sorted(TEST_SET))
def test_reference_solution_matches_test_set(name):
    reference = np.asarray(problems.get(name).reference_solution)
    np.testing.assert_allclose(reference, TEST_SET[name], rtol=1e-12)


def test_e5_reference_against_test_set_and_invariant():
    reference = np.asarray(problems.e5().reference_solution)
    np.testing.assert_allclose(np.mean(reference[1:3]), TEST_SET_E5_MEAN_Y2_Y3, rtol=1e-6)
    assert reference[1] - reference[2] - reference[3] == 0.0


def test_robertson_long_run_matches_test_set():
    # The Test Set's span, t = 1e11, by an override (which drops the stored reference).
    problem = problems.robertson(t_span=(0.0, 1e11))
    assert problem.reference_solution is None
    final = scipy_final_state(problem, rtol=1e-10, atol=1e-20)
    np.testing.assert_allclose(final, TEST_SET_ROBER_AT_1E11, rtol=1e-6)


# ---------------------------------------------------------------------------------------
# Invariants


def test_linear_invariants():
    robertson = problems.robertson()
    assert_conserved([1.0, 1.0, 1.0], robertson, positive_states(robertson))
    e5 = problems.e5()
    # Late-time E5 states are tiny: scale them so the products are not all negligible.
    assert_conserved([0.0, 1.0, -1.0, -1.0], e5, positive_states(e5) * 1e-6)
    hires = problems.hires()
    assert_conserved([0, 0, 0, 0, 0, 0, 1.0, 1.0], hires, positive_states(hires))
    pollution = problems.pollution()
    states = positive_states(pollution)
    nitrogen = np.zeros(20)
    nitrogen[[0, 1, 12, 14, 18]] = 1.0  # NO2, NO, PAN, HNO3, NO3
    nitrogen[19] = 2.0  # N2O5
    sulphur = np.zeros(20)
    sulphur[[16, 17]] = 1.0  # SO2, SO4
    carbon = np.zeros(20)
    carbon[[6, 7, 9, 11, 13]] = 1.0  # HCHO, CO, MEO2, CO2, CH3O
    carbon[[8, 10, 12]] = 2.0  # ALD, C2O3, PAN
    assert_conserved([nitrogen, sulphur, carbon], pollution, states)


def test_robertson_conserves_total_along_reference():
    problem = problems.robertson()
    np.testing.assert_allclose(np.sum(problem.reference_solution), 1.0, rtol=1e-14)
    hires = problems.hires()
    np.testing.assert_allclose(np.sum(hires.reference_solution[6:]), 0.0057, rtol=1e-13)


# ---------------------------------------------------------------------------------------
# Brusselator with diffusion


def brusselator_by_loops(y, A, B, alpha, u_boundary, v_boundary):
    """The method-of-lines Brusselator written out point by point (Hairer & Wanner)."""
    n = y.size // 2
    u = np.concatenate([[u_boundary], y[0::2], [u_boundary]])
    v = np.concatenate([[v_boundary], y[1::2], [v_boundary]])
    c = alpha * (n + 1) ** 2
    out = np.empty_like(y)
    for i in range(1, n + 1):
        out[2 * (i - 1)] = (
            A + u[i] ** 2 * v[i] - (B + 1) * u[i] + c * (u[i - 1] - 2 * u[i] + u[i + 1])
        )
        out[2 * i - 1] = B * u[i] - u[i] ** 2 * v[i] + c * (v[i - 1] - 2 * v[i] + v[i + 1])
    return out


@pytest.mark.parametrize("n", [32, 512])
def test_brusselator_1d_layout_and_band(n):
    problem = problems.brusselator_1d(n=n)
    assert problem.y0.shape == (2 * n,)
    assert problem.jacobian_structure == solvers.Banded(2, 2)
    assert problem.reference_solution is None  # only n = 500 (the default) has one
    x = np.arange(1, n + 1) / (n + 1)
    np.testing.assert_allclose(problem.y0[0::2], 1.0 + np.sin(2 * np.pi * x), rtol=1e-15)
    np.testing.assert_array_equal(problem.y0[1::2], 3.0)

    state = problem.y0 + 0.3 * jnp.asarray(np.random.default_rng(n).normal(size=2 * n))
    params = {**problem.params, "A": jnp.asarray(1.3), "u_boundary": jnp.asarray(0.8)}
    field, jacobian = jax.jit(
        lambda y, p: (
            problem.vector_field(0.0, y, p),
            jax.jacfwd(problem.vector_field, argnums=1)(0.0, y, p),
        )
    )(state, params)
    expected = brusselator_by_loops(np.asarray(state), *(float(params[k]) for k in (
        "A", "B", "alpha", "u_boundary", "v_boundary")))  # fmt: skip
    np.testing.assert_allclose(field, expected, rtol=1e-12, atol=1e-9)

    jacobian = np.asarray(jacobian)
    rows, cols = np.indices(jacobian.shape)
    offset = cols - rows
    assert np.all(jacobian[np.abs(offset) > 2] == 0.0)  # exactly zero outside the band
    for k in (-2, -1, 1, 2):  # and the band is tight: each outer diagonal is used
        assert np.any(jacobian[offset == k] != 0.0), k


def test_brusselator_1d_reference_matches_scipy():
    problem = problems.brusselator_1d()
    assert problem.y0.shape == (1000,)
    field = jax.jit(problem.vector_field)

    def fun(t, y):
        return np.asarray(field(t, y, problem.params))

    result = solve_ivp(
        fun, problem.t_span, np.asarray(problem.y0), method="LSODA", lband=2, uband=2,
        rtol=1e-8, atol=1e-10,
    )  # fmt: skip
    assert result.success, result.message
    np.testing.assert_allclose(result.y[:, -1], problem.reference_solution, rtol=1e-6)


# ---------------------------------------------------------------------------------------
# Overrides


def test_van_der_pol_stiff_mu_override():
    problem = problems.van_der_pol_stiff(mu=1e6)
    assert float(problem.params["mu"]) == 1e6
    assert problem.t_span == (0.0, 2e6)
    assert problem.reference_solution is None
    jacobian = jax.jit(jax.jacfwd(problem.vector_field, argnums=1))(0.0, problem.y0, problem.params)
    # At y = (2, 0): J = [[0, 1], [-1, mu (1 - 4)]], an eigenvalue near -3 mu.
    np.testing.assert_allclose(
        np.min(np.linalg.eigvals(np.asarray(jacobian)).real), -3e6, rtol=1e-6
    )
    # The same equation as the non-stiff `van_der_pol` at the same mu.
    plain = problems.van_der_pol(mu=1e6)
    state = jnp.asarray([1.3, -0.4])
    np.testing.assert_array_equal(
        problem.vector_field(0.0, state, problem.params),
        plain.vector_field(0.0, state, plain.params),
    )


@pytest.mark.parametrize(
    ("name", "overrides"),
    [
        ("robertson", {"k2": 1e7}),
        ("van_der_pol_stiff", {"t_span": (0.0, 100.0)}),
        ("hires", {"oks": 0.001}),
        ("orego", {"y0": [1.0, 2.0, 4.0]}),
        ("pollution", {"k": [1.0] * 25}),
        ("e5", {"M": 1e5}),
        ("brusselator_1d", {"alpha": 0.01}),
    ],
)
def test_override_drops_reference(name, overrides):
    assert problems.get(name, **overrides).reference_solution is None
    # Passing the default values explicitly keeps it.
    default = problems.get(name)
    explicit = {key: getattr(problems, name).__wrapped__.__kwdefaults__[key] for key in overrides}
    assert problems.get(name, **explicit).reference_solution is not None
    assert default.reference_solution is not None


def test_pollution_params_are_one_differentiable_array():
    problem = problems.pollution()
    assert problem.params["k"].shape == (25,)
    with pytest.raises(ValueError, match="k of shape"):
        problems.pollution(k=[1.0, 2.0])
    # Built under jit with traced rate constants: no stored reference, field still works.
    sensitivity = jax.jit(
        jax.grad(lambda k: jnp.sum(problems.pollution(k=k).vector_field(0.0, problem.y0, {"k": k})))
    )(problem.params["k"])
    assert sensitivity.shape == (25,) and np.all(np.isfinite(sensitivity))


def test_brusselator_1d_bad_arguments():
    with pytest.raises(ValueError, match="integer"):
        problems.brusselator_1d(n=32.5)
    with pytest.raises(ValueError, match=r"shape \(64,\)"):
        problems.brusselator_1d(n=32, y0=np.ones(10))
