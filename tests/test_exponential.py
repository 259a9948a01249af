"""Exponential (ETDRK1/2/4) and IMEX (imex_euler, imex2) methods on semilinear fields.

Problems with exact solutions: viscous Burgers on a periodic grid (Cole-Hopf), the heat
equation (N = 0: the exponential methods are exact), and a finite-difference heat
equation with an explicit linear term (exact semi-discrete solution) for IMEX with
every linear-solver structure.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import solvers
from solvers import pde
from solvers.exponential import phi_coefficients
from tests.helpers import central_difference, fitted_slope

# ----------------------------------------------------------------- Burgers (exact)

GRID = pde.Grid(32, (0.0, 2 * np.pi))
K = GRID.wavenumbers()[0]
LINEAR = pde.FourierOperator(GRID, lambda k, p: -p["nu"] * k**2)


def _burgers_hat(t, u_hat, p):
    u = pde.spectral.ifft(u_hat, GRID)
    return jnp.asarray(-0.5j * K, u_hat.dtype) * pde.spectral.fft(u * u, GRID)


BURGERS = pde.semilinear(LINEAR, spectral_nonlinear=_burgers_hat)
BURGERS_PHYSICAL = pde.semilinear(
    LINEAR, lambda t, u, p: -0.5 * pde.spectral.derivative(u * u, GRID)
)


def burgers_exact(t, nu, a=2.0, b=1.0):
    """Cole-Hopf: phi = a + b exp(-nu t) cos x, u = -2 nu phi_x / phi."""
    x = GRID.x
    decay = b * jnp.exp(-nu * t)
    return 2 * nu * decay * jnp.sin(x) / (a + decay * jnp.cos(x))


PARAMS = {"nu": jnp.asarray(0.5)}
U0 = burgers_exact(0.0, 0.5)
T1 = 1.0


@functools.partial(jax.jit, static_argnums=(0, 2))
def _final(method, dt, field=BURGERS):
    # dt traced: one compiled program serves every step size.
    return solvers.solve(field, U0, (0.0, T1), PARAMS, method=method, dt=dt).ys[-1]


ORDERS = {"etdrk1": 1, "etdrk2": 2, "etdrk4": 4, "imex_euler": 1, "imex2": 2}
STEPS = {
    "etdrk1": [0.1, 0.05, 0.025, 0.0125],
    "etdrk2": [0.1, 0.05, 0.025, 0.0125],
    "etdrk4": [0.25, 0.125, 0.0625, 0.03125],
    "imex_euler": [0.1, 0.05, 0.025, 0.0125],
    "imex2": [0.1, 0.05, 0.025, 0.0125],
}


@pytest.mark.parametrize("method", sorted(ORDERS))
def test_convergence_order_burgers(method):
    exact = burgers_exact(T1, 0.5)
    errors = [float(jnp.max(jnp.abs(_final(method, h) - exact))) for h in STEPS[method]]
    slope = fitted_slope(STEPS[method], errors)
    assert abs(slope - ORDERS[method]) < 0.2, (errors, slope)
    assert errors[-1] < {1: 3e-3, 2: 1e-4, 4: 1e-7}[ORDERS[method]]


def test_physical_and_spectral_nonlinear_agree():
    a = _final("etdrk4", 0.1, BURGERS)
    b = _final("etdrk4", 0.1, BURGERS_PHYSICAL)
    np.testing.assert_allclose(a, b, atol=1e-12)


def test_other_methods_solve_the_same_field():
    """The semilinear field is an ordinary vector field: tsit5 and rodas5 agree."""
    exact = burgers_exact(T1, 0.5)
    for method in ("tsit5", "rodas5"):
        sol = solvers.solve(BURGERS, U0, (0.0, T1), PARAMS, method=method, rtol=1e-9, atol=1e-11)
        assert float(jnp.max(jnp.abs(sol.ys[-1] - exact))) < 1e-7, method


def test_etdrk4_matches_scipy():
    scipy_integrate = pytest.importorskip("scipy.integrate")

    def rhs(t, u):
        return np.asarray(BURGERS(t, jnp.asarray(u), PARAMS))

    ref = scipy_integrate.solve_ivp(
        rhs, (0, T1), np.asarray(U0), method="DOP853", rtol=1e-12, atol=1e-13
    )
    np.testing.assert_allclose(_final("etdrk4", 0.05), ref.y[:, -1], atol=1e-8)


# --------------------------------------------------------------- phi-functions


@pytest.mark.parametrize("z", [0.0, 1e-9, -1e-4, 0.3, -2.5, -80.0, 1.5 + 2j, -3e3j, -1e4 + 5j])
def test_contour_phi_functions(z):
    """Against the closed forms where they are accurate and Taylor series near 0."""
    lam = np.asarray([z], complex if isinstance(z, complex) else float)
    c = phi_coefficients(jnp.asarray(lam), 1.0, ("E", "phi1", "phi2", "Q", "f1", "f2", "f3"))
    z = complex(z)
    if abs(z) > 0.5:
        e = np.exp(z)
        expected = {
            "phi1": (e - 1) / z,
            "phi2": (e - 1 - z) / z**2,
            "Q": (np.exp(z / 2) - 1) / z,
            "f1": (-4 - z + e * (4 - 3 * z + z**2)) / z**3,
            "f2": (2 + z + e * (z - 2)) / z**3,
            "f3": (-4 - 3 * z - z**2 + e * (4 - z)) / z**3,
        }
    else:
        expected = {
            "phi1": 1 + z / 2 + z**2 / 6,
            "phi2": 0.5 + z / 6 + z**2 / 24,
            "Q": 0.5 + z / 8 + z**2 / 48,
            "f1": 1 / 6 + z / 6 * 0 + 0 * z,  # leading term; tolerance below covers z
            "f2": 1 / 6 + z / 24,
            "f3": 1 / 6 + 0 * z,
        }
    tol = 1e-10 if abs(z) > 0.5 else 2 * abs(z) + 1e-12
    for kind, value in expected.items():
        got = complex(np.asarray(c[kind])[0])
        assert abs(got - value) <= tol * max(1, abs(value)), (kind, got, value)
    assert abs(complex(np.asarray(c["E"])[0]) - np.exp(z)) <= 1e-12 * max(1, abs(np.exp(z)))


# ------------------------------------------------------- exactness and layouts

HEAT2 = pde.Grid((16, 8), ((0, 2 * np.pi), (0, 2 * np.pi)))
HEAT2_FIELD = pde.semilinear(
    pde.FourierOperator(HEAT2, lambda k, p: -p * (k[0] ** 2 + k[1] ** 2)),
    lambda t, u, p: jnp.zeros_like(u),
)


def test_exact_for_linear_problem_2d():
    """N = 0: e^{hL} is the exact propagator, whatever the step."""
    x, y = HEAT2.x
    u0 = jnp.cos(2 * x) * jnp.sin(3 * y) + 0.5 * jnp.cos(y)
    sol = solvers.solve(HEAT2_FIELD, u0, (0.0, 0.7), jnp.asarray(0.3), method="etdrk4", dt=0.7)
    exact = jnp.exp(-0.3 * 13 * 0.7) * jnp.cos(2 * x) * jnp.sin(3 * y) + 0.5 * jnp.exp(
        -0.3 * 0.7
    ) * jnp.cos(y)
    np.testing.assert_allclose(sol.ys[-1], exact, atol=1e-13)
    assert sol.stats["num_steps"] == 1


NLS_GRID = pde.Grid(128, (-20.0, 20.0))
NLS = pde.semilinear(
    pde.FourierOperator(NLS_GRID, lambda k, p: -0.5j * (k**2).astype(jnp.complex128)),
    lambda t, psi, p: 1j * (psi * jnp.conj(psi) * psi),
)


def nls_soliton(t, a=1.0, v=0.5):
    x = NLS_GRID.x
    phase = (v * x + (a**2 - v**2) * t / 2).astype(jnp.complex128)
    return (a / jnp.cosh(a * (x - v * t))).astype(jnp.complex128) * jnp.exp(1j * phase)


def test_complex_state_nls_soliton():
    sol = solvers.solve(NLS, nls_soliton(0.0), (0.0, 2.0), None, method="etdrk4", dt=0.02)
    assert sol.ys.dtype == jnp.complex128
    assert float(jnp.max(jnp.abs(sol.ys[-1] - nls_soliton(2.0)))) < 1e-6


def test_system_with_per_field_symbols():
    """A (u, v) state with one symbol per field: exact decay rates D_u k^2, D_v k^2."""
    grid = pde.Grid(16, (0, 2 * np.pi))
    field = pde.semilinear(
        pde.FourierOperator(grid, lambda k, p: (-p[0] * k**2, -p[1] * k**2)),
        lambda t, s, p: (jnp.zeros_like(s[0]), jnp.zeros_like(s[1])),
    )
    x = grid.x
    sol = solvers.solve(
        field, (jnp.cos(x), jnp.cos(2 * x)), (0.0, 1.0), (0.1, 0.2), method="etdrk2", dt=0.25
    )
    u, v = sol.ys
    np.testing.assert_allclose(u[-1], jnp.exp(-0.1) * jnp.cos(x), atol=1e-13)
    np.testing.assert_allclose(v[-1], jnp.exp(-0.8) * jnp.cos(2 * x), atol=1e-13)


def test_backward_in_time_and_save_points():
    """NLS backwards from the soliton at t = 2 (dispersive, reversible) recovers it at
    the save points, including ones between steps (Hermite interpolant)."""
    ts = jnp.asarray([2.0, 1.53, 0.71, 0.0])
    sol = solvers.solve(NLS, nls_soliton(2.0), (2.0, 0.0), None, method="etdrk4", dt=0.02, ts=ts)
    assert int(sol.status) == 0
    for i, t in enumerate(np.asarray(ts)):
        assert float(jnp.max(jnp.abs(sol.ys[i] - nls_soliton(t)))) < 1e-5, t


def test_dense_output_between_steps():
    ts = jnp.linspace(0.0, T1, 23)  # not on the dt = 0.1 grid
    sol = solvers.solve(BURGERS, U0, (0.0, T1), PARAMS, method="etdrk4", dt=0.1, ts=ts)
    errors = [
        float(jnp.max(jnp.abs(sol.ys[i] - burgers_exact(t, 0.5))))
        for i, t in enumerate(np.asarray(ts))
    ]
    assert max(errors) < 1e-4  # cubic Hermite between steps
    assert errors[-1] < 1e-6


# ------------------------------------------------------------- transformations


def _loss(nu, u0, method="etdrk4"):
    sol = solvers.solve(BURGERS, u0, (0.0, 0.5), {"nu": nu}, method=method, dt=0.05)
    return jnp.sum(sol.ys[-1] ** 2)


@pytest.mark.parametrize("method", ["etdrk4", "imex2"])
def test_grad_matches_finite_differences(method):
    nu = jnp.asarray(0.5)
    g_nu, g_u0 = jax.jit(jax.grad(_loss, argnums=(0, 1)), static_argnums=2)(nu, U0, method)
    fd_nu = central_difference(lambda v: _loss(v, U0, method), nu)
    np.testing.assert_allclose(g_nu, fd_nu, rtol=1e-6)
    direction = jnp.sin(3 * GRID.x)
    fd_u0 = central_difference(lambda e: _loss(nu, U0 + e * direction, method), jnp.asarray(0.0))
    np.testing.assert_allclose(jnp.dot(g_u0, direction), fd_u0, rtol=1e-6)
    # forward mode agrees
    _, tangent = jax.jvp(lambda v: _loss(v, U0, method), (nu,), (jnp.ones(()),))
    np.testing.assert_allclose(tangent, g_nu, rtol=1e-8)


def test_vmap_over_initial_conditions_and_params():
    nus = jnp.asarray([0.3, 0.5, 0.8])
    batched = jax.vmap(
        lambda nu: solvers.solve(
            BURGERS, burgers_exact(0.0, nu), (0.0, T1), {"nu": nu}, method="etdrk4", dt=0.05
        ).ys[-1]
    )(nus)
    for i, nu in enumerate(np.asarray(nus)):
        assert float(jnp.max(jnp.abs(batched[i] - burgers_exact(T1, nu)))) < 1e-6


def test_gradient_through_1000_step_rollout():
    """1,000 ETDRK4 steps with the default (checkpointing) adjoint: the gradient of a
    loss on the final state matches central differences."""

    def loss(nu):
        sol = solvers.solve(BURGERS, U0, (0.0, 10.0), {"nu": nu}, method="etdrk4", dt=0.01)
        return jnp.sum(sol.ys[-1] ** 2)

    nu = jnp.asarray(0.5)
    grad = jax.jit(jax.grad(loss))(nu)
    np.testing.assert_allclose(grad, central_difference(loss, nu, eps=1e-5), rtol=1e-5)


def test_float32():
    u0 = U0.astype(jnp.float32)
    sol = solvers.solve(BURGERS, u0, (0.0, T1), {"nu": jnp.float32(0.5)}, method="etdrk4", dt=0.1)
    assert sol.ys.dtype == jnp.float32
    exact = burgers_exact(T1, 0.5).astype(jnp.float32)
    assert float(jnp.max(jnp.abs(sol.ys[-1] - exact))) < 1e-5


# -------------------------------------------------- IMEX with matrix structures

N_FD = 15
DX = np.pi / (N_FD + 1)
X_FD = DX * np.arange(1, N_FD + 1)


def _fd_laplacian(u, p):
    padded = jnp.pad(u, 1)
    return p["D"] * (padded[:-2] - 2 * u + padded[2:]) / DX**2


def _fd_field(structure):
    return pde.semilinear(pde.LinearOperator(_fd_laplacian, structure), lambda t, u, p: p["a"] * u)


FD_PARAMS = {"D": jnp.asarray(0.5), "a": jnp.asarray(0.3)}


def fd_exact(t):
    """sin x is an eigenvector of the discrete Laplacian with Dirichlet zeros."""
    lam = -4 / DX**2 * np.sin(DX / 2) ** 2
    return np.exp((0.5 * lam + 0.3) * t) * np.sin(X_FD)


@pytest.mark.parametrize(
    "structure",
    [solvers.Dense(), solvers.Banded(1, 1), solvers.MatrixFree(rtol=1e-12, atol=1e-14)],
    ids=["dense", "banded", "matrixfree"],
)
def test_imex_structures_order_two(structure):
    field = _fd_field(structure)
    final = jax.jit(
        lambda dt: solvers.solve(
            field, jnp.sin(jnp.asarray(X_FD)), (0.0, 2.0), FD_PARAMS, method="imex2", dt=dt
        ).ys[-1]
    )
    hs = [0.2, 0.1, 0.05]
    errors = [float(jnp.max(jnp.abs(final(h) - fd_exact(2.0)))) for h in hs]
    assert abs(fitted_slope(hs, errors) - 2) < 0.2, errors


def test_imex_large_steps_are_stable():
    """dt far above the explicit limit dx^2 / (2 D) ~ 0.04: implicit in L."""
    sol = solvers.solve(
        _fd_field(solvers.Banded(1, 1)),
        jnp.sin(jnp.asarray(X_FD)),
        (0.0, 5.0),
        FD_PARAMS,
        method="imex_euler",
        dt=1.0,
    )
    assert int(sol.status) == 0
    # first order at dt = 1 is inaccurate (0.12 here) but stable and decaying
    assert float(jnp.max(jnp.abs(sol.ys[-1] - fd_exact(5.0)))) < 0.15
    assert float(jnp.max(jnp.abs(sol.ys[-1]))) < 0.5


# ----------------------------------------------------------------------- errors


def test_errors():
    def plain(t, u, p):
        return -u

    with pytest.raises(TypeError, match="semilinear"):
        solvers.solve(plain, U0, (0.0, 1.0), None, method="etdrk4", dt=0.1)
    with pytest.raises(TypeError, match="diagonal in Fourier"):
        solvers.solve(
            _fd_field(None),
            jnp.sin(jnp.asarray(X_FD)),
            (0.0, 1.0),
            FD_PARAMS,
            method="etdrk4",
            dt=0.1,
        )
    with pytest.raises(ValueError, match="dt"):
        solvers.solve(BURGERS, U0, (0.0, 1.0), PARAMS, method="etdrk4")
    with pytest.raises(ValueError, match="exactly one"):
        pde.semilinear(LINEAR)
    with pytest.raises(TypeError, match="FourierOperator or"):
        pde.semilinear(lambda u, p: u, lambda t, u, p: u)
    with pytest.raises(ValueError, match="periodic"):
        pde.FourierOperator(pde.Grid(8, (0, 1), periodic=False), lambda k, p: k)


def test_blow_up_is_reported_not_returned():
    """A field that blows up: status non-zero and NaN, never plausible numbers."""
    field = pde.semilinear(LINEAR, lambda t, u, p: u**3)
    sol = solvers.solve(field, 5.0 + U0, (0.0, 5.0), PARAMS, method="etdrk4", dt=0.1, throw=False)
    assert int(sol.status) != 0
    assert bool(jnp.all(jnp.isnan(sol.ys[-1])))


def test_steps_off_dt_in_the_last_bits_reuse_the_coefficients():
    """The loop's steps are differences of grid times t0 + k dt: for dt = 0.02 they
    differ from dt in the last bits, and must still count as dt (else the contour
    coefficients would be recomputed every step)."""
    from solvers.exponential import same_step

    dt = 0.02
    grid_times = 0.3 + dt * np.arange(2001)
    steps = np.diff(grid_times)
    assert not np.all(steps == dt)  # the premise: rounding differences exist
    assert bool(jnp.all(same_step(jnp.asarray(grid_times[:-1]), jnp.asarray(steps), dt)))
    assert not bool(same_step(jnp.asarray(0.3), jnp.asarray(dt * (1 + 1e-9)), dt))


def test_shortened_last_step_uses_its_own_coefficients():
    """dt = 0.3 on (0, 1): the last step (0.1) needs coefficients for h = 0.1; using
    dt's would be off by O(1e-2)."""
    sol = solvers.solve(BURGERS, U0, (0.0, T1), PARAMS, method="etdrk4", dt=0.3)
    assert int(sol.stats["num_steps"]) == 4
    assert float(jnp.max(jnp.abs(sol.ys[-1] - burgers_exact(T1, 0.5)))) < 1e-4
