"""The implicit Runge-Kutta methods (implicit Euler, trapezoid, Kvaerno 3/5, Radau IIA)
and method="auto": convergence orders, the stiff test set against its reference
values, derivatives (every adjoint, forward mode) against finite differences,
Jacobian structures, dense output and events, failures."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import fitted_slope

import problems
import solvers
from solvers._solution import MAX_STEPS_REACHED, NEWTON_DIVERGENCE, STEP_SIZE_UNDERFLOW

ORDERS = {"implicit_euler": 1, "trapezoid": 2, "kvaerno3": 3, "kvaerno5": 5, "radau5": 5}

# A mildly stiff linear system with eigenvalues -1 and -20 (closed form below).
MATRIX = np.array([[-1.0, 0.5], [0.0, -20.0]])
LINEAR_Y0 = np.array([1.0, 1.0])


def linear(t, y, scale):
    return scale * (jnp.asarray(MATRIX) @ y)


def linear_exact(t):
    values, vectors = np.linalg.eig(MATRIX)
    coefficients = np.linalg.solve(vectors, LINEAR_Y0)
    return (vectors * np.exp(values * t)) @ coefficients


def vdp(t, y, mu):
    return jnp.stack([y[1], mu * ((1 - y[0] ** 2) * y[1] - y[0])])


VDP_Y0 = jnp.array([2.0, 0.0])


def vdp_numpy(t, y, mu):
    """The same field in numpy, for scipy's reference solves."""
    return np.array([y[1], mu * ((1 - y[0] ** 2) * y[1] - y[0])])


@pytest.mark.parametrize("name", sorted(ORDERS))
def test_convergence_order_with_fixed_steps(name):
    order = ORDERS[name]
    # Steps where the error is well above round-off and the stiff mode is resolved.
    counts = [8, 16, 32, 64] if order < 5 else [6, 12, 24, 48]
    run = jax.jit(
        lambda dt: solvers.solve(
            linear,
            jnp.asarray(LINEAR_Y0),
            (0.0, 1.0),
            1.0,
            method=name,
            dt=dt,
            controller=solvers.ConstantSteps(),
            rtol=1e-13,
            atol=1e-13,
        ).ys[-1]
    )
    errors = [np.abs(np.asarray(run(1.0 / n)) - linear_exact(1.0)).max() for n in counts]
    slope = fitted_slope([1.0 / n for n in counts], errors)
    assert abs(slope - order) < 0.2, (slope, errors)


def _scaled_error(y, reference, atol):
    """Component-wise error relative to each component's scale ``|ref| + atol``."""
    reference = np.asarray(reference)
    return float(np.max(np.abs(np.asarray(y) - reference) / (np.abs(reference) + atol)))


# (problem, atol of the solve and of the error scale)
TEST_SET = [
    ("robertson", 1e-10),
    ("van_der_pol_stiff", 1e-6),
    ("hires", 1e-10),
    ("orego", 1e-6),
    ("pollution", 1e-10),
    ("e5", 1e-24),
]


@pytest.mark.parametrize("name,atol", TEST_SET)
def test_radau5_matches_the_test_set_reference(name, atol):
    prob = problems.get(name)
    sol = prob.solve(method="radau5", rtol=1e-6, atol=atol, max_steps=20_000)
    assert int(sol.status) == 0
    got, reference = np.asarray(sol.ys[-1]), np.asarray(prob.reference_solution)
    if name == "e5":
        # y2 - y3 - y4 = 0 is only kept to rounding, so y2 and y3 alone are not
        # determined beyond ~1e-3 by any solver (see problems.e5): compare y2 + y3.
        got = np.array([got[0], got[1] + got[2], got[3]])
        reference = np.array([reference[0], reference[1] + reference[2], reference[3]])
    assert _scaled_error(got, reference, atol) <= 1e-4


@pytest.mark.parametrize(
    "method,name,atol",
    [
        ("kvaerno5", "robertson", 1e-10),
        ("kvaerno5", "hires", 1e-10),
        ("auto", "van_der_pol_stiff", 1e-6),
    ],
)
def test_kvaerno5_and_auto_match_the_test_set_reference(method, name, atol):
    prob = problems.get(name)
    sol = prob.solve(method=method, rtol=1e-6, atol=atol, max_steps=20_000)
    assert int(sol.status) == 0
    assert _scaled_error(sol.ys[-1], prob.reference_solution, atol) <= 1e-4


def test_low_order_methods_on_a_stiff_problem_against_scipy():
    # Order 1 and 2 need many steps at rtol 1e-6: a short stiff window of Van der Pol.
    from scipy.integrate import solve_ivp

    mu = 100.0
    # DOP853 at 1e-12 on this short window: the same reference as Radau to ~1e-12, in a
    # thirtieth of the time.
    reference = solve_ivp(
        lambda t, y: vdp_numpy(t, y, mu),
        (0.0, 1.0),
        np.asarray(VDP_Y0),
        method="DOP853",
        rtol=1e-12,
        atol=1e-12,
    ).y[:, -1]
    for name in ("implicit_euler", "trapezoid", "kvaerno3"):
        sol = solvers.solve(vdp, VDP_Y0, (0.0, 1.0), mu, method=name, rtol=1e-6, atol=1e-6)
        assert int(sol.status) == 0
        assert _scaled_error(sol.ys[-1], reference, 1e-6) <= 1e-3, name


# ------------------------------------------------------------------ derivatives


def _loss(method, adjoint, mu, span=(0.0, 2.0)):
    # Order 1 and 2 need too many adaptive steps at a tight tolerance: fixed steps
    # (whose finite differences are exact too).
    fixed = method in ("implicit_euler", "trapezoid", "kvaerno3")
    steps = {"dt": 0.01, "controller": solvers.ConstantSteps()} if fixed else {}
    sol = solvers.solve(
        vdp,
        VDP_Y0,
        span,
        mu,
        method=method,
        rtol=1e-9,
        atol=1e-9,
        adjoint=adjoint,
        max_steps=4000,
        **steps,
    )
    return jnp.sum(sol.ys[:, 0] ** 2 + sol.ys[:, 1])


@pytest.mark.parametrize("method", sorted(ORDERS) + ["auto"])
def test_gradient_matches_finite_differences(method):
    # The direct adjoint here (it compiles fastest); checkpoint and backsolve below.
    # The central difference comes from the primal values of the JVPs at mu +- eps
    # (one compiled function for both), the tangent at mu from their mean (O(eps^2)).
    mu, eps = 5.0, 1e-5
    gradient = float(jax.jit(jax.grad(lambda m: _loss(method, "direct", m)))(mu))
    (low, tangent_low), (high, tangent_high) = (
        jax.jvp(lambda m: _loss(method, "auto", m), (m,), (1.0,)) for m in (mu - eps, mu + eps)
    )
    reference = (float(high) - float(low)) / (2 * eps)
    tangent = (float(tangent_low) + float(tangent_high)) / 2
    assert gradient == pytest.approx(reference, rel=1e-4)
    assert tangent == pytest.approx(reference, rel=1e-4)


@pytest.mark.parametrize("adjoint", ["checkpoint", "backsolve"])
def test_radau5_other_adjoints(adjoint):
    # backsolve integrates the adjoint backwards in time: a short, mildly stiff window.
    mu = 5.0
    gradient = float(jax.grad(lambda m: _loss("radau5", adjoint, m, (0.0, 0.6)))(mu))
    reference = (
        float(_loss("radau5", "auto", mu + 1e-5, (0.0, 0.6)))
        - float(_loss("radau5", "auto", mu - 1e-5, (0.0, 0.6)))
    ) / 2e-5
    assert gradient == pytest.approx(reference, rel=1e-4 if adjoint == "checkpoint" else 1e-3)


def test_gradient_with_respect_to_y0_through_the_stiff_phase():
    prob = problems.get("robertson", t_span=(0.0, 10.0))

    def final_y1(y0):
        return solvers.solve(
            prob.vector_field,
            y0,
            (0.0, 10.0),
            prob.params,
            method="radau5",
            rtol=1e-10,
            atol=1e-14,
            adjoint="direct",
            max_steps=2000,
        ).ys[-1, 0]

    y0 = jnp.asarray(prob.y0)
    gradient = np.asarray(jax.grad(final_y1)(y0))
    eps = 1e-6
    fd = [
        (float(final_y1(y0.at[i].add(eps))) - float(final_y1(y0.at[i].add(-eps)))) / (2 * eps)
        for i in range(3)
    ]
    np.testing.assert_allclose(gradient, fd, rtol=1e-4, atol=1e-8)


def test_vmap_over_a_parameter_matches_single_solves():
    mus = jnp.array([10.0, 100.0, 1000.0])
    run = lambda mu: solvers.solve(vdp, VDP_Y0, (0.0, 3.0), mu, method="radau5").ys[-1]  # noqa: E731
    batched = jax.jit(jax.vmap(run))(mus)
    for i, mu in enumerate(mus):
        np.testing.assert_allclose(batched[i], run(mu), rtol=1e-10, atol=1e-12)


# ----------------------------------------------------------- structures, dense output


@pytest.mark.parametrize("method", [solvers.Radau5])
def test_banded_and_matrix_free_agree_with_dense(method):
    prob = problems.get("brusselator_1d", n=16, t_span=(0.0, 2.0))
    results = {}
    for label, structure in [
        ("dense", None),
        ("banded", solvers.Banded(2, 2)),
        ("matrix-free", solvers.MatrixFree()),
    ]:
        sol = prob.solve(method=method(linear_solver=structure), rtol=1e-7, atol=1e-9)
        assert int(sol.status) == 0, label
        results[label] = np.asarray(sol.ys[-1])
    np.testing.assert_allclose(results["banded"], results["dense"], rtol=1e-6)
    np.testing.assert_allclose(results["matrix-free"], results["dense"], rtol=1e-6)


def test_user_jacobian_is_used_in_the_users_convention():
    prob = problems.get("robertson", t_span=(0.0, 50.0))

    calls = []

    def jacobian(t, y, params):
        calls.append(1)
        return jax.jacfwd(lambda z: prob.vector_field(t, z, params))(y)

    ts = jnp.array([45.0, 50.0])
    plain = prob.solve(method="radau5", rtol=1e-8, ts=ts).ys
    given = prob.solve(method=solvers.Radau5(jacobian=jacobian), rtol=1e-8, ts=ts).ys
    assert calls  # traced at least once
    np.testing.assert_allclose(given, plain, rtol=1e-12)
    # Backwards in time, the sign of the direction is applied for the user.
    back = solvers.solve(
        prob.vector_field,
        given[-1],
        (50.0, 45.0),
        prob.params,
        method=solvers.Radau5(jacobian=jacobian),
        rtol=1e-8,
    ).ys[-1]
    np.testing.assert_allclose(back, plain[0], rtol=1e-4)


@pytest.mark.parametrize("method", ["radau5"])
def test_dense_output_and_terminal_event(method):
    from scipy.integrate import solve_ivp

    mu = 5.0
    event = solvers.Event(lambda t, y, mu: y[0], direction=-1)
    sol = solvers.solve(
        vdp, VDP_Y0, (0.0, 20.0), mu, method=method, rtol=1e-8, atol=1e-10, event=event, dense=True
    )
    # mu = 5 is not stiff: DOP853 gives scipy's Radau reference (event time to 1e-13)
    # in a sixtieth of the time.
    reference = solve_ivp(
        lambda t, y: vdp_numpy(t, y, mu),
        (0.0, 20.0),
        np.asarray(VDP_Y0),
        method="DOP853",
        rtol=1e-12,
        atol=1e-12,
        events=lambda t, y: y[0],
        dense_output=True,
    )
    downward = [t for t, y in zip(reference.t_events[0], reference.y_events[0]) if y[1] < 0]
    assert float(sol.ts[-1]) == pytest.approx(downward[0], rel=1e-6)
    times = np.linspace(0.1, downward[0] - 0.1, 25)
    np.testing.assert_allclose(
        np.asarray(sol.evaluate(jnp.asarray(times))),
        reference.sol(times).T,
        rtol=1e-4,
        atol=1e-6,
    )


def test_float32_state_stays_float32():
    sol = solvers.solve(
        vdp, VDP_Y0.astype(jnp.float32), (0.0, 1.0), jnp.float32(10.0), method="radau5", rtol=1e-4
    )
    assert sol.ys.dtype == jnp.float32
    assert int(sol.status) == 0


def test_radau5_refuses_complex_states_clearly():
    with pytest.raises(NotImplementedError, match="real states"):
        solvers.solve(lambda t, y, p: -y, jnp.ones(2, jnp.complex128), (0.0, 1.0), method="radau5")


# --------------------------------------------------------------------- failures


def blow_up(t, y, p):
    return y**2  # y(t) = 1 / (1 - t): a singularity at t = 1


@pytest.mark.parametrize("method", ["kvaerno5", "radau5"])
def test_finite_time_blow_up_fails_with_a_status_not_a_number(method):
    run = jax.jit(
        lambda y0: solvers.solve(
            blow_up, y0, (0.0, 2.0), None, method=method, throw=False, max_steps=2000
        )
    )
    sol = run(jnp.array([1.0]))
    # Newton diverges, the step size underflows, or the steps shrink without end.
    assert int(sol.status) in (MAX_STEPS_REACHED, NEWTON_DIVERGENCE, STEP_SIZE_UNDERFLOW)
    assert np.all(np.isnan(np.asarray(sol.ys)))
    # Under vmap only the member that blows up fails.
    batched = jax.jit(jax.vmap(run))(jnp.array([[1.0], [-1.0]]))
    assert int(batched.status[0]) != 0 and int(batched.status[1]) == 0
    assert np.isfinite(np.asarray(batched.ys[1])).all()
    with pytest.raises(solvers.SolveError):
        solvers.solve(blow_up, jnp.array([1.0]), (0.0, 2.0), None, method=method, max_steps=2000)


def test_gradient_of_a_failed_implicit_solve_is_nan():
    def loss(scale):
        sol = solvers.solve(
            blow_up,
            jnp.array([scale]),
            (0.0, 2.0),
            None,
            method="radau5",
            throw=False,
            max_steps=2000,
        )
        return jnp.sum(sol.ys)

    value, gradient = jax.value_and_grad(loss)(1.0)
    assert np.isnan(float(value)) and np.isnan(float(gradient))


# ------------------------------------------------------------------------- auto


def test_auto_switches_on_a_stiff_problem_and_not_on_lorenz():
    prob = problems.get("van_der_pol_stiff")
    sol = prob.solve(method="auto", rtol=1e-6, atol=1e-6)
    assert int(sol.status) == 0
    assert int(sol.stats["num_switches"]) >= 2  # to stiff, and back for a relaxation jump
    assert 0 < int(sol.stats["num_stiff_steps"]) < int(sol.stats["num_accepted"])
    assert _scaled_error(sol.ys[-1], prob.reference_solution, 1e-6) <= 1e-4
    # tsit5 on the same problem runs out of steps (held at its stability limit).
    explicit = prob.solve(method="tsit5", rtol=1e-6, atol=1e-6, max_steps=5000, throw=False)
    assert int(explicit.status) != 0

    lorenz = problems.get("lorenz63")
    auto = lorenz.solve(method="auto")
    tsit5 = lorenz.solve(method="tsit5")
    assert int(auto.stats["num_switches"]) == 0
    assert int(auto.stats["num_accepted"]) == int(tsit5.stats["num_accepted"])
    np.testing.assert_allclose(auto.ys, tsit5.ys, rtol=1e-12)
