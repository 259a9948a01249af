"""Rodas5 (solvers/rosenbrock.py): the tableau against the Rosenbrock order conditions,
fixed-step convergence of order 5, accuracy on Robertson and stiff Van der Pol against
scipy's Radau, dense output and events, jit / vmap / grad (checkpoint and direct) /
jvp against finite differences, banded against dense linear algebra.

Compiled functions are module-level and cached: each is compiled once per worker.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import fitted_slope
from scipy.integrate import solve_ivp

import solvers
from solvers.rosenbrock import RODAS5, Rodas5

# The problems are tiny: compile fast (XLA's HLO passes still run; only LLVM's
# optimisation is skipped), as tests/test_adjoint.py does.
FAST_COMPILE = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}


def _compile(fn, *args):
    """``jax.jit(fn)`` compiled for ``args`` (the executable takes the same shapes)."""
    return jax.jit(fn).lower(*args).compile(FAST_COMPILE)


# ---------------------------------------------------------------- order conditions


def _trees(order):
    """Rooted trees with ``order`` vertices, each a sorted tuple of its subtrees."""
    if order == 1:
        return [()]
    found = set()

    def forests(remaining, largest):
        if remaining == 0:
            yield ()
            return
        for size in range(min(remaining, largest), 0, -1):
            for tree in _trees(size):
                for rest in forests(remaining - size, size):
                    found_forest = tuple(sorted((tree,) + rest))
                    yield found_forest

    for forest in forests(order - 1, order - 1):
        found.add(forest)
    return sorted(found)


def _size(tree):
    return 1 + sum(_size(child) for child in tree)


def _density(tree):
    return _size(tree) * np.prod([_density(child) for child in tree])


def _weights(tree, alpha, beta):
    """Elementary weights of a Rosenbrock method (Hairer & Wanner II, IV.7): a vertex
    with one child uses ``beta = alpha + Gamma``, one with several uses ``alpha``."""
    if not tree:
        return np.ones(alpha.shape[0])
    if len(tree) == 1:
        return beta @ _weights(tree[0], alpha, beta)
    out = np.ones(alpha.shape[0])
    for child in tree:
        out = out * (alpha @ _weights(child, alpha, beta))
    return out


def _classical_form(tableau):
    """``(alpha, beta, Gamma)`` of the ``W``-transformed coefficients ``(a, C)``:
    ``C = diag(1/gamma) - Gamma^{-1}``, ``a = alpha Gamma^{-1}``."""
    s = tableau.num_stages
    gamma_matrix = np.linalg.inv(np.eye(s) / tableau.gamma - tableau.C)
    alpha = tableau.a @ gamma_matrix
    return alpha, alpha + gamma_matrix, gamma_matrix


def test_tableau_order_conditions():
    alpha, beta, gamma_matrix = _classical_form(RODAS5)
    np.testing.assert_allclose(np.diag(gamma_matrix), RODAS5.gamma, atol=1e-12)
    np.testing.assert_allclose(alpha.sum(axis=1), RODAS5.c, atol=1e-12)
    np.testing.assert_allclose(gamma_matrix.sum(axis=1), RODAS5.d, atol=1e-12)
    b = RODAS5.m @ gamma_matrix
    b_embedded = (RODAS5.m - RODAS5.m_error) @ gamma_matrix
    assert [len(_trees(p)) for p in range(1, 6)] == [1, 1, 2, 4, 9]
    defects = {
        p: [b @ _weights(t, alpha, beta) - 1 / _density(t) for t in _trees(p)] for p in range(1, 6)
    }
    assert max(abs(d) for p in defects for d in defects[p]) < 1e-12
    embedded = {
        p: [b_embedded @ _weights(t, alpha, beta) - 1 / _density(t) for t in _trees(p)]
        for p in range(1, 6)
    }
    assert max(abs(d) for p in range(1, 5) for d in embedded[p]) < 1e-12
    assert max(abs(d) for d in embedded[5]) > 1e-4  # an order-4 estimate, not order 5
    # The dense output y0 + sum_i m_i(theta) U_i with
    # m(theta) = theta m + theta (1 - theta) (H_1 + theta H_2 + theta^2 H_3) has order 4
    # at every theta.
    for theta in np.linspace(0.1, 0.9, 5):
        rows = RODAS5.dense
        m_theta = theta * RODAS5.m + theta * (1 - theta) * (
            rows[0] + theta * rows[1] + theta**2 * rows[2]
        )
        b_theta = m_theta @ gamma_matrix
        for p in range(1, 5):
            for t in _trees(p):
                defect = b_theta @ _weights(t, alpha, beta) - theta**p / _density(t)
                assert abs(defect) < 1e-12, (theta, t)


# ------------------------------------------------------ a problem with a closed form


def _exact(t):
    return jnp.stack([jnp.cos(t), jnp.sin(2 * t) + 2.0])


def prothero_robinson(t, y, lam):
    """A nonlinear, non-autonomous, mildly stiff problem with solution ``_exact``:
    ``y' = u'(t) + L (y - u(t)) + N(y) - N(u(t))``, eigenvalues of ``L`` about ``lam``
    and ``-2``."""
    u = _exact(t)
    du = jnp.stack([-jnp.sin(t), 2 * jnp.cos(2 * t)])
    e = y - u
    linear = jnp.stack([lam * e[0] + e[1], 0.5 * e[0] - 2.0 * e[1]])
    nonlinear = jnp.stack([y[0] * y[1] - u[0] * u[1], u[0] ** 2 - y[0] ** 2])
    return du + linear + nonlinear


def _fixed_step_error(dt):
    sol = solvers.solve(
        prothero_robinson,
        _exact(0.0),
        (0.0, 2.0),
        -5.0,
        method=Rodas5(),
        dt=dt,
        controller=solvers.ConstantSteps(),
        max_steps=100,
    )
    return jnp.max(jnp.abs(sol.ys[-1] - _exact(2.0)))


def test_convergence_order_five():
    dts = np.array([0.2, 0.1, 0.05, 0.025])
    error_at = _compile(_fixed_step_error, jnp.asarray(0.1))
    errors = [float(error_at(jnp.asarray(dt))) for dt in dts]
    assert abs(fitted_slope(dts, errors) - 5.0) < 0.2, errors
    assert errors[-1] < 1e-9


def test_step_and_interpolant_ends():
    """interpolate(y0, c, 0) = y0 and interpolate(y0, c, 1) = y1; a non-finite step has
    an infinite error estimate (the controller then shrinks the step)."""
    method = Rodas5()

    @jax.jit
    def one_step(y, h):
        t = jnp.asarray(0.3)
        f0 = prothero_robinson(t, y, -5.0)
        step = method.step(
            prothero_robinson, t, y, h, -5.0, method.init(prothero_robinson, t, y, -5.0, f0)
        )
        coefficients = method.dense(prothero_robinson, t, h, y, step.y, step.dense_info, -5.0)
        ends = [method.interpolate(y, coefficients, theta) for theta in (0.0, 1.0)]
        return step, ends

    y = jnp.array([0.9, 2.5])
    step, (start, end) = one_step(y, jnp.asarray(0.1))
    np.testing.assert_allclose(start, y, rtol=0, atol=1e-15)
    np.testing.assert_allclose(end, step.y, rtol=0, atol=1e-14)
    assert int(step.status) == 0 and np.all(np.isfinite(step.error))
    bad, _ = one_step(jnp.array([jnp.nan, 2.5]), jnp.asarray(0.1))
    assert np.all(np.isinf(bad.error))


# ---------------------------------------------------------- dense output and events

CROSSING = solvers.Event(lambda t, y, lam: y[0], direction=-1)


@functools.cache
def _dense_solution():
    return _compile(
        lambda: solvers.solve(
            prothero_robinson,
            _exact(0.0),
            (0.0, 3.0),
            -5.0,
            method=Rodas5(),
            dense=True,
            event=CROSSING,
            rtol=1e-8,
            atol=1e-10,
        )
    )()


def test_dense_output_and_terminal_event():
    sol = _dense_solution()
    assert int(sol.status) == 0
    # y[0] = cos t crosses zero downwards at pi / 2: the terminal event ends the solve.
    assert abs(float(sol.ts[-1]) - np.pi / 2) < 1e-8
    np.testing.assert_allclose(sol.ys[-1], _exact(np.pi / 2), atol=1e-7)
    assert abs(float(sol.events[0].ts[0]) - np.pi / 2) < 1e-8
    ts = np.linspace(0.013, 1.55, 41)
    values = np.stack([np.asarray(sol.evaluate(t)) for t in ts])
    exact = np.stack([np.asarray(_exact(t)) for t in ts])
    assert np.max(np.abs(values - exact)) < 1e-6


# ------------------------------------------------------ stiff problems against scipy


def robertson(t, y, k):
    return jnp.stack(
        [
            -k[0] * y[0] + k[2] * y[1] * y[2],
            k[0] * y[0] - k[1] * y[1] ** 2 - k[2] * y[1] * y[2],
            k[1] * y[1] ** 2,
        ]
    )


def van_der_pol(t, y, mu):
    return jnp.stack([y[1], mu**2 * ((1.0 - y[0] ** 2) * y[1] - y[0])])


RATES = jnp.array([0.04, 3e7, 1e4])


def robertson_numpy(t, y, k=(0.04, 3e7, 1e4)):
    return np.array(
        [
            -k[0] * y[0] + k[2] * y[1] * y[2],
            k[0] * y[0] - k[1] * y[1] ** 2 - k[2] * y[1] * y[2],
            k[1] * y[1] ** 2,
        ]
    )


def robertson_numpy_jacobian(t, y, k=(0.04, 3e7, 1e4)):
    return np.array(
        [
            [-k[0], k[2] * y[2], k[2] * y[1]],
            [k[0], -2 * k[1] * y[1] - k[2] * y[2], -k[2] * y[1]],
            [0.0, 2 * k[1] * y[1], 0.0],
        ]
    )


def van_der_pol_numpy(t, y, mu=1e3):
    return np.array([y[1], mu**2 * ((1.0 - y[0] ** 2) * y[1] - y[0])])


def van_der_pol_numpy_jacobian(t, y, mu=1e3):
    return np.array([[0.0, 1.0], [mu**2 * (-2 * y[0] * y[1] - 1.0), mu**2 * (1.0 - y[0] ** 2)]])


def _scipy_reference(name, y0, t_span, ts):
    fun, jac = {
        "robertson": (robertson_numpy, robertson_numpy_jacobian),
        "van_der_pol": (van_der_pol_numpy, van_der_pol_numpy_jacobian),
    }[name]
    result = solve_ivp(fun, t_span, y0, method="Radau", t_eval=ts, rtol=1e-10, atol=1e-14, jac=jac)
    assert result.success
    return result.y.T


@pytest.mark.parametrize(
    "name, field, params, y0, t_span, ts, atol",
    [
        (
            "robertson",
            robertson,
            RATES,
            [1.0, 0.0, 0.0],
            (0.0, 1e5),
            np.geomspace(1e-3, 1e5, 9),
            1e-10,
        ),
        # Slow drift, the fast jump near t = 0.81 and the slow drift on the other branch.
        ("van_der_pol", van_der_pol, 1e3, [2.0, 0.0], (0.0, 1.0), [0.2, 0.4, 0.6, 0.9, 1.0], 1e-8),
    ],
)
def test_stiff_problems_against_radau(name, field, params, y0, t_span, ts, atol):
    reference = _scipy_reference(name, y0, t_span, ts)
    solve = _compile(
        lambda params: solvers.solve(
            field,
            jnp.asarray(y0),
            t_span,
            params,
            method="rodas5",
            ts=jnp.asarray(ts),
            rtol=1e-6,
            atol=atol,
        ),
        params,
    )
    sol = solve(params)
    assert int(sol.status) == 0
    scale = np.max(np.abs(reference), axis=0)
    error = np.max(np.abs(np.asarray(sol.ys) - reference) / scale)
    assert error < 1e-4, error


# ------------------------------------------------------------ transformations

GRAD_TS = jnp.array([1.0, 10.0])


def _robertson_loss(rates, adjoint="auto"):
    sol = solvers.solve(
        robertson,
        jnp.array([1.0, 0.0, 0.0]),
        (0.0, 10.0),
        rates,
        method=Rodas5(),
        ts=GRAD_TS,
        rtol=1e-10,
        atol=1e-14,
        adjoint=adjoint,
        max_steps=2000,
    )
    return jnp.sum(sol.ys[:, 0]) + 1e4 * jnp.sum(sol.ys[:, 1])


@functools.cache
def _loss():
    return _compile(_robertson_loss, RATES)


@functools.cache
def _finite_differences():
    """Central differences with relative steps (the rates span nine decades)."""
    out = []
    for i in range(3):
        step = 1e-5 * RATES[i]
        plus = _loss()(RATES.at[i].add(step))
        minus = _loss()(RATES.at[i].add(-step))
        out.append(float((plus - minus) / (2 * step)))
    return np.array(out)


@pytest.mark.parametrize("adjoint", ["checkpoint", "direct"])
def test_grad_rate_constants(adjoint):
    gradient = _compile(jax.grad(functools.partial(_robertson_loss, adjoint=adjoint)), RATES)(RATES)
    np.testing.assert_allclose(gradient, _finite_differences(), rtol=1e-5)


def test_jvp():
    tangent = jnp.array([1.0, 0.0, 1e3])
    jvp = _compile(lambda r, v: jax.jvp(_robertson_loss, (r,), (v,)), RATES, tangent)
    value, derivative = jvp(RATES, tangent)
    np.testing.assert_allclose(value, _loss()(RATES), rtol=1e-12)
    np.testing.assert_allclose(derivative, _finite_differences() @ np.asarray(tangent), rtol=1e-5)


def test_vmap_over_a_rate():
    factors = jnp.array([0.5, 1.0, 2.0])
    batch = RATES[None, :] * jnp.stack([factors, jnp.ones(3), jnp.ones(3)], axis=1)
    values = _compile(jax.vmap(_robertson_loss), batch)(batch)
    for member, value in zip(batch, values):
        np.testing.assert_allclose(value, _loss()(member), rtol=1e-12)


# ------------------------------------------------------------------- structures


def brusselator(t, y, params):
    """1-D Brusselator with diffusion, state interleaved (u1, v1, u2, v2, ...): the
    Jacobian has two sub- and two super-diagonals."""
    a, b, alpha = params[0], params[1], params[2]
    pairs = y.reshape(-1, 2)
    u, v = pairs[:, 0], pairs[:, 1]
    coupling = alpha * (u.shape[0] + 1) ** 2

    def laplacian(w, edge):
        padded = jnp.concatenate([edge[None], w, edge[None]])
        return padded[:-2] - 2.0 * w + padded[2:]

    du = a + u**2 * v - (b + 1.0) * u + coupling * laplacian(u, jnp.ones((), y.dtype))
    dv = b * u - u**2 * v + coupling * laplacian(v, 3.0 * jnp.ones((), y.dtype))
    return jnp.stack([du, dv], axis=1).reshape(-1)


def test_banded_matches_dense():
    n = 8
    x = np.arange(1, n + 1) / (n + 1)
    y0 = jnp.asarray(np.stack([1.0 + np.sin(2 * np.pi * x), np.full(n, 3.0)], axis=1).reshape(-1))
    params = jnp.array([1.0, 3.0, 0.02])
    solutions = [
        _compile(
            lambda p, structure=structure: solvers.solve(
                brusselator,
                y0,
                (0.0, 10.0),
                p,
                method=Rodas5(linear_solver=structure),
                ts=jnp.array([2.5, 10.0]),
                rtol=1e-8,
                atol=1e-10,
            ),
            params,
        )(params)
        for structure in (solvers.Dense(), solvers.Banded(2, 2))
    ]
    dense, banded = solutions
    assert int(dense.status) == 0 and int(banded.status) == 0
    assert int(dense.stats["num_steps"]) == int(banded.stats["num_steps"])
    np.testing.assert_allclose(banded.ys, dense.ys, rtol=1e-10, atol=1e-12)
    # Dense and banded fevals differ only by the Jacobian (2n columns vs 5 products).
    assert int(banded.stats["num_fevals"]) < int(dense.stats["num_fevals"])


# ---------------------------------------------------------------- complex states

DAMPING = jnp.array([0.5, 3.0, 20.0])


def phase_rotation(t, y, damping):
    """``y' = (i |y|^2 - damping) y``: not holomorphic (``|y|^2 = y conj(y)``). With
    ``r = |y0| exp(-damping t)``, ``y = r exp(i (arg y0 + |y0|^2 (1 - exp(-2 damping t))
    / (2 damping)))``."""
    return (1j * jnp.abs(y).astype(y.dtype) ** 2 - damping.astype(y.dtype)) * y


def test_complex_state_with_a_non_holomorphic_field():
    """The Jacobian is the real-linear one (of the real view of the state), not the
    holomorphic ``jacfwd``, which would make Rodas5 a method of low order here."""
    y0 = jnp.array([1.0 + 0.5j, -0.8j, 0.6 + 0.0j])
    sol = _compile(
        lambda d: solvers.solve(
            phase_rotation, y0, (0.0, 2.0), d, method=Rodas5(), rtol=1e-8, atol=1e-10
        ),
        DAMPING,
    )(DAMPING)
    d, y0 = np.asarray(DAMPING), np.asarray(y0)
    exact = (
        np.abs(y0)
        * np.exp(-d * 2.0)
        * np.exp(1j * (np.angle(y0) + np.abs(y0) ** 2 * (1 - np.exp(-4.0 * d)) / (2 * d)))
    )
    assert int(sol.status) == 0
    assert np.max(np.abs(np.asarray(sol.ys[-1]) - exact)) < 1e-7
