"""Tests of the PDE problems of the catalogue (problems/pde.py).

Three kinds of checks, cheapest first:

* the closed forms: ``d/dt exact(t) = f(t, exact(t))`` on the grid (a residual that a
  wrong sign or coefficient in the field or in ``exact`` breaks), and ``exact`` against
  formulas written out here with NumPy;
* the vector fields of the problems without a closed form against their
  discretisations written out here (NumPy FFTs and stencils);
* one solve per problem (one compiled program each: small grids, short spans), against
  ``exact`` where there is one, and the conservation laws that hold.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import problems
import solvers
from solvers import pde

PDE_NAMES = [
    "advection_1d",
    "allen_cahn",
    "burgers_1d",
    "fisher_kpp",
    "gray_scott_2d",
    "heat_1d",
    "heat_2d",
    "kdv",
    "kuramoto_sivashinsky",
    "navier_stokes_2d",
    "nls",
    "wave_1d",
]

# name -> (shape of each field, number of fields, dtype) for the defaults.
DEFAULT_STATES = {
    "advection_1d": ((32,), 1, jnp.float64),
    "allen_cahn": ((128,), 1, jnp.float64),
    "burgers_1d": ((128,), 1, jnp.float64),
    "fisher_kpp": ((400,), 1, jnp.float64),
    "gray_scott_2d": ((64, 64), 2, jnp.float64),
    "heat_1d": ((64,), 1, jnp.float64),
    "heat_2d": ((32, 32), 1, jnp.float64),
    "kdv": ((192,), 1, jnp.float64),
    "kuramoto_sivashinsky": ((128,), 1, jnp.float64),
    "navier_stokes_2d": ((32, 32), 1, jnp.float64),
    "nls": ((384,), 1, jnp.complex128),
    "wave_1d": ((64,), 2, jnp.float64),
}


def max_error(a, b) -> float:
    return max(
        float(np.max(np.abs(np.asarray(x) - np.asarray(y))))
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b))
    )


def last(solution):
    return jax.tree.map(lambda y: y[-1], solution.ys)


def numpy_laplacian(u, length):
    """The spectral Laplacian of a real periodic field on a square/interval, by NumPy."""
    n = u.shape[0]
    k = 2 * np.pi * np.fft.fftfreq(n, d=length / n)
    if u.ndim == 1:
        return np.real(np.fft.ifft(-(k**2) * np.fft.fft(u)))
    kx, ky = np.meshgrid(k, k, indexing="ij")
    return np.real(np.fft.ifft2(-(kx**2 + ky**2) * np.fft.fft2(u)))


def numpy_dx(u, length):
    """The spectral first derivative of a real periodic 1-D field (Nyquist dropped)."""
    n = u.size
    k = 2 * np.pi * np.fft.fftfreq(n, d=length / n)
    k[n // 2] = 0.0
    return np.real(np.fft.ifft(1j * k * np.fft.fft(u)))


def ghost_laplacian(u, dx, low, high, kind):
    """The 3-point Laplacian on cell centres, ghost cells for Dirichlet values or zero
    Neumann flux (LeVeque 2007, ch. 2), written out point by point."""
    if kind == "dirichlet":
        left = (8 * low - 6 * u[0] + u[1]) / 3
        right = (8 * high - 6 * u[-1] + u[-2]) / 3
    else:
        left, right = u[0], u[-1]
    padded = np.concatenate([[left], u, [right]])
    return (padded[:-2] - 2 * padded[1:-1] + padded[2:]) / dx**2


# ---------------------------------------------------------------------------------------
# The catalogue


def test_all_twelve_registered_and_exported():
    names = problems.names()
    for name in PDE_NAMES:
        assert name in names
        assert getattr(problems, name) is problems._problem._REGISTRY[name]
        assert name in problems.__all__


@pytest.mark.parametrize("name", PDE_NAMES)
def test_builds_with_grid_state_and_split(name):
    prob = problems.get(name)
    shape, fields, dtype = DEFAULT_STATES[name]
    assert isinstance(prob.grid, pde.Grid) and prob.grid.shape == shape
    leaves = jax.tree.leaves(prob.y0)
    assert len(leaves) == fields
    for leaf in leaves:
        assert leaf.shape == shape and leaf.dtype == dtype
        assert bool(jnp.all(jnp.isfinite(leaf)))
    assert isinstance(prob.vector_field, pde.SemilinearField)
    assert prob.linear_operator is prob.vector_field.linear
    assert prob.params and all(
        v.dtype == jnp.float64 and v.shape == () for v in prob.params.values()
    )
    assert prob.description and prob.reference and prob.t_span[1] > prob.t_span[0]
    # The field's output matches the state (traced only: the solves below evaluate it).
    derivative = jax.eval_shape(prob.vector_field, prob.t_span[0], prob.y0, prob.params)
    assert jax.tree.structure(derivative) == jax.tree.structure(prob.y0)
    for out, leaf in zip(jax.tree.leaves(derivative), leaves):
        assert out.shape == leaf.shape and out.dtype == leaf.dtype


# ---------------------------------------------------------------------------------------
# Closed forms: the residual d/dt exact - f(t, exact) on the grid

# (id, name, overrides, tolerance of the residual). Spectral problems: rounding or the
# (tiny) periodic tails; finite differences: O(dx^2), checked for its order below.
RESIDUAL_CASES = [
    ("heat_1d", "heat_1d", {}, 1e-12),
    ("heat_1d_shifted_start", "heat_1d", {"D": 0.7, "t_span": (0.5, 2.0)}, 1e-12),
    ("heat_2d", "heat_2d", {}, 1e-12),
    ("advection_1d", "advection_1d", {}, 1e-12),
    ("advection_1d_negative", "advection_1d", {"c": -2.5}, 1e-12),
    ("burgers_1d", "burgers_1d", {}, 1e-12),
    ("burgers_1d_mode_2", "burgers_1d", {"nu": 0.05, "a": 2.0, "wavenumber": 2}, 1e-10),
    ("kdv", "kdv", {}, 1e-10),
    ("kdv_slow", "kdv", {"c": 0.7, "x0": 5.0}, 1e-9),
    ("nls", "nls", {}, 1e-10),
    ("nls_backwards", "nls", {"a": 0.8, "v": -1.0, "x0": 3.0}, 1e-9),
    ("wave_1d", "wave_1d", {"c": 1.7}, 1e-11),
    ("taylor_green", "navier_stokes_2d", {}, 1e-12),
    ("taylor_green_m2_drag", "navier_stokes_2d", {"wavenumber": 2, "drag": 0.3}, 1e-12),
]


def residuals(prob, times, interior=False, field=None, params=None):
    """max |d/dt exact - f(t, exact)| at each time (over the cells away from the ends
    with ``interior``), one compiled program per problem. ``field`` and ``params``
    replace the problem's in ``f`` (to check that a wrong field fails)."""
    field = prob.vector_field if field is None else field
    params = prob.params if params is None else params

    @jax.jit
    @jax.vmap
    def one(t):
        state, rate = jax.jvp(lambda s: prob.exact(s, prob.params), (t,), (jnp.ones_like(t),))
        gap = jax.tree.map(jnp.subtract, rate, field(t, state, params))
        if interior:
            gap = jax.tree.map(lambda g: g[1:-1], gap)
        return jnp.stack([jnp.max(jnp.abs(g)) for g in jax.tree.leaves(gap)]).max()

    return np.asarray(one(jnp.asarray(times, dtype=float)))


def residual(prob, t):
    return float(residuals(prob, [t])[0])


@pytest.mark.parametrize(
    ("name", "overrides", "tolerance"),
    [c[1:] for c in RESIDUAL_CASES],
    ids=[c[0] for c in RESIDUAL_CASES],
)
def test_exact_solves_the_semi_discrete_equation(name, overrides, tolerance):
    prob = problems.get(name, **overrides)
    t0, t1 = prob.t_span
    assert max_error(prob.exact(t0, prob.params), prob.y0) == 0.0
    assert np.all(residuals(prob, [t0, t0 + 0.7, t1]) < tolerance), residuals(prob, [t0, t1])


def test_residual_detects_a_wrong_sign():
    """The residual check above is not vacuous: the same exact solution against the
    field with the velocity's sign flipped (advection), the dispersion's sign flipped
    (KdV) or the diffusivity doubled (heat) fails by orders of magnitude."""
    advection = problems.advection_1d(c=1.0)
    assert residuals(advection, [0.9], params={"c": -advection.params["c"]})[0] > 0.1
    heat = problems.heat_1d()
    assert residuals(heat, [0.9], params={"D": 2 * heat.params["D"]})[0] > 0.01
    soliton = problems.kdv()
    wrong = pde.semilinear(
        pde.FourierOperator(soliton.grid, lambda k, p: jax.lax.complex(0.0 * k, -(k**3))),
        spectral_nonlinear=soliton.vector_field.spectral_nonlinear,
    )
    assert residuals(soliton, [0.9], field=wrong)[0] > 0.01


def test_heat_dirichlet_residual_order():
    """The closed form of the continuous problem against the finite-difference field.
    Away from the walls the residual falls by 4 when n doubles (second order); in the
    cells next to the walls the 3-point Laplacian with its Dirichlet ghost cell is first
    order (see solvers.pde.fd) where u''' != 0, as for the sine modes."""
    inside, everywhere = [], []
    for n in (32, 64, 128):
        prob = problems.heat_1d(bc="dirichlet", n=n)
        assert max_error(prob.exact(0.0, prob.params), prob.y0) == 0.0
        inside.append(residuals(prob, [1.0], interior=True)[0])
        everywhere.append(residual(prob, 1.0))
    for errors, order in ((inside, 2), (everywhere, 1)):
        ratios = [errors[0] / errors[1], errors[1] / errors[2]]
        assert all(0.9 * 2**order < r < 1.1 * 2**order for r in ratios), (errors, ratios)


def test_fisher_travelling_wave_residual():
    """The Ablowitz-Zeppetella wave against the finite-difference field (dx = 0.25):
    O(dx^2) everywhere (the zero-flux walls see an almost flat solution); with D and r
    swapped in the field it fails by far."""
    prob = problems.fisher_kpp(initial="ablowitz_zeppetella", D=0.8, r=1.25)
    assert max_error(prob.exact(0.0, prob.params), prob.y0) == 0.0
    assert residual(prob, 3.0) < 1e-4
    swapped = {"D": prob.params["r"], "r": prob.params["D"]}
    assert residuals(prob, [3.0], params=swapped)[0] > 0.01


# ---------------------------------------------------------------------------------------
# Closed forms against formulas written out here


def test_exact_solutions_match_the_textbook_formulas():
    t = 1.3
    # Heat, periodic: each sine mode decays as exp(-D m^2 t).
    heat = problems.heat_1d(D=0.3, modes=(2, 7), amplitudes=(1.0, -0.4))
    x = np.asarray(heat.grid.x)
    want = np.exp(-0.3 * 4 * t) * np.sin(2 * x) - 0.4 * np.exp(-0.3 * 49 * t) * np.sin(7 * x)
    np.testing.assert_allclose(heat.exact(t, heat.params), want, rtol=0, atol=1e-15)
    # Heat, Dirichlet on [0, pi]: cell centres, the same sine modes.
    walls = problems.heat_1d(bc="dirichlet", n=16, D=0.2, modes=(1,), amplitudes=(1.0,))
    np.testing.assert_allclose(walls.grid.x, (np.arange(16) + 0.5) * np.pi / 16, rtol=1e-15)
    np.testing.assert_allclose(
        walls.exact(t, walls.params), np.exp(-0.2 * t) * np.sin(walls.grid.x), atol=1e-15
    )
    # Advection: u0(x - c t).
    advection = problems.advection_1d(c=0.7)
    x = np.asarray(advection.grid.x)
    np.testing.assert_allclose(advection.exact(t, advection.params), np.exp(np.sin(x - 0.7 * t)))
    # Burgers by Cole-Hopf: u = -2 nu phi_x / phi, phi = a + b exp(-nu t) cos x.
    burgers = problems.burgers_1d()
    x = np.asarray(burgers.grid.x)
    decay = np.exp(-0.1 * t)
    phi, phi_x = 1.5 + decay * np.cos(x), -decay * np.sin(x)
    np.testing.assert_allclose(burgers.exact(t, burgers.params), -0.2 * phi_x / phi, atol=1e-15)
    # KdV soliton (c/2) sech^2(sqrt(c)/2 (x - c t - x0)), here well inside the interval.
    soliton = problems.kdv(c=2.0, x0=-8.0)
    x = np.asarray(soliton.grid.x)
    want = 1.0 / np.cosh(np.sqrt(2.0) / 2 * (x - 2.0 * t + 8.0)) ** 2
    # (atol: the closed form wraps around the period, this formula does not)
    np.testing.assert_allclose(soliton.exact(t, soliton.params), want, rtol=1e-13, atol=1e-14)
    # NLS soliton a sech(a (x - v t - x0)) exp(i (v x + (a^2 - v^2) t / 2)).
    nls = problems.nls(a=1.2, v=0.4, x0=-3.0)
    x = np.asarray(nls.grid.x)
    want = 1.2 / np.cosh(1.2 * (x - 0.4 * t + 3.0)) * np.exp(1j * (0.4 * x + (1.44 - 0.16) * t / 2))
    np.testing.assert_allclose(nls.exact(t, nls.params), want, rtol=1e-12, atol=1e-14)
    # d'Alembert: (g(x - c t) + g(x + c t)) / 2, and v = u_t.
    wave = problems.wave_1d(c=1.5)
    x = np.asarray(wave.grid.x)

    def bump(z):
        return np.exp(-5 * (1 + np.cos(z)))

    u, v = wave.exact(t, wave.params)
    np.testing.assert_allclose(u, 0.5 * (bump(x - 1.5 * t) + bump(x + 1.5 * t)), atol=1e-15)
    np.testing.assert_allclose(wave.exact(0.0, wave.params)[1], 0.0, atol=0)
    # Taylor-Green: 2 m cos(m x) cos(m y) exp(-2 nu m^2 t).
    vortex = problems.navier_stokes_2d(wavenumber=2)
    X, Y = (np.asarray(c) for c in vortex.grid.x)
    want = 4 * np.cos(2 * X) * np.cos(2 * Y) * np.exp(-2 * 0.05 * 4 * t)
    np.testing.assert_allclose(vortex.exact(t, vortex.params), want, atol=1e-14)


def test_soliton_centres_wrap_around_the_period():
    """Past the end of the interval the soliton comes back in at the other end (with
    the NLS carrier phase continuous), as the periodic solution does."""
    soliton = problems.kdv(c=1.0, x0=0.0, length=60.0)
    assert max_error(soliton.exact(60.0, soliton.params), soliton.y0) < 1e-13
    # NLS: after T = L / v the envelope is back, and the carrier has turned by
    # exp(i (v L + (a^2 - v^2) T / 2)) (v L / 2 pi is not an integer here).
    nls = problems.nls(a=1.0, v=0.3, x0=0.0)
    length = nls.grid.lengths[0]
    period = length / 0.3
    turn = np.exp(1j * (0.3 * length + 0.5 * (1.0 - 0.09) * period))
    assert max_error(nls.exact(period, nls.params), nls.y0 * turn) < 1e-12


# ---------------------------------------------------------------------------------------
# Fields without a closed form, against discretisations written out here


def test_kuramoto_sivashinsky_field_and_kassam_trefethen_setup():
    prob = problems.kuramoto_sivashinsky()
    assert prob.grid.shape == (128,) and prob.t_span == (0.0, 150.0)
    assert prob.grid.domain == ((0.0, 32 * math.pi),)
    x = np.asarray(prob.grid.x)
    np.testing.assert_allclose(x, np.arange(128) * 32 * np.pi / 128, rtol=1e-15)
    np.testing.assert_allclose(prob.y0, np.cos(x / 16) * (1 + np.sin(x / 16)), rtol=1e-15)
    u = np.asarray(prob.y0) + 0.1 * np.sin(3 * x / 16)
    length = 32 * np.pi
    want = -0.5 * numpy_dx(u * u, length) - numpy_laplacian(u, length)
    want = want - numpy_laplacian(numpy_laplacian(u, length), length)
    np.testing.assert_allclose(
        prob.vector_field(0.0, jnp.asarray(u), prob.params), want, atol=1e-12
    )


def test_gray_scott_field_per_species_diffusion():
    prob = problems.gray_scott_2d(n=32, F=0.03, k=0.06)
    u, v = (np.asarray(a) for a in prob.y0)
    assert u.shape == v.shape == (32, 32)
    # Pearson's start: (1, 0) outside a central square, (1/2, 1/4) in it, +-1 % noise.
    assert np.all(np.abs(u[v == 0] - 1.0) <= 0.01) and np.all(np.abs(v[v > 0] - 0.25) <= 0.0025)
    rng = np.random.default_rng(1)
    u, v = u + 0.1 * rng.normal(size=u.shape), v + 0.1 * rng.normal(size=v.shape)
    du, dv = prob.vector_field(0.0, (jnp.asarray(u), jnp.asarray(v)), prob.params)
    uvv = u * v * v
    want_u = 2e-5 * numpy_laplacian(u, 1.0) - uvv + 0.03 * (1 - u)
    want_v = 1e-5 * numpy_laplacian(v, 1.0) + uvv - (0.03 + 0.06) * v
    np.testing.assert_allclose(du, want_u, atol=1e-13)
    np.testing.assert_allclose(dv, want_v, atol=1e-13)


def test_allen_cahn_and_fisher_fields_are_the_ghost_cell_stencils():
    ac = problems.allen_cahn(n=40, u_left=-0.8, u_right=1.2)
    assert ac.grid.domain == ((-1.0, 1.0),) and not ac.grid.periodic[0]
    x = np.asarray(ac.grid.x)
    np.testing.assert_allclose(ac.y0, 0.53 * x + 0.47 * np.sin(-1.5 * np.pi * x), rtol=1e-15)
    u = np.asarray(ac.y0) + 0.05 * np.cos(7 * x)
    lap = ghost_laplacian(u, 2 / 40, -0.8, 1.2, "dirichlet")
    want = 0.01 * lap + u - u**3
    np.testing.assert_allclose(ac.vector_field(0.0, jnp.asarray(u), ac.params), want, atol=1e-12)
    # The linear part alone has homogeneous conditions (a linear operator).
    linear = ac.linear_operator(jnp.asarray(u), ac.params)
    np.testing.assert_allclose(
        linear, 0.01 * ghost_laplacian(u, 2 / 40, 0, 0, "dirichlet"), atol=1e-12
    )
    assert ac.jacobian_structure == solvers.Banded(1, 1)

    fisher = problems.fisher_kpp(n=50, length=25.0, D=0.7, r=1.3)
    u = np.asarray(fisher.y0) + 0.1 * np.sin(np.asarray(fisher.grid.x))
    want = 0.7 * ghost_laplacian(u, 0.5, 0, 0, "neumann") + 1.3 * u * (1 - u)
    np.testing.assert_allclose(
        fisher.vector_field(0.0, jnp.asarray(u), fisher.params), want, atol=1e-12
    )
    assert fisher.jacobian_structure == solvers.Banded(1, 1)


def test_navier_stokes_nonlinear_term_forcing_and_invariants():
    prob = problems.navier_stokes_2d(n=32, nu=0.02)
    X, Y = (np.asarray(c) for c in prob.grid.x)
    # w = cos x + cos 2y: psi = cos x + cos(2y)/4, u = psi_y = -sin(2y)/2, v = -psi_x = sin x,
    # u w_x + v w_y = -(3/2) sin x sin 2y, so w_t = nu lap w + (3/2) sin x sin 2y.
    w = np.cos(X) + np.cos(2 * Y)
    want = 0.02 * (-np.cos(X) - 4 * np.cos(2 * Y)) + 1.5 * np.sin(X) * np.sin(2 * Y)
    np.testing.assert_allclose(
        prob.vector_field(0.0, jnp.asarray(w), prob.params), want, atol=1e-13
    )
    # Kolmogorov forcing: f(0) = -A n cos(n y); drag -alpha w.
    forced = problems.navier_stokes_2d(forcing="kolmogorov", n=32, amplitude=0.5, drag=0.2)
    np.testing.assert_allclose(
        forced.vector_field(0.0, jnp.zeros((32, 32)), forced.params),
        -0.5 * 4 * np.cos(4 * Y),
        atol=1e-13,
    )
    assert abs(float(jnp.mean(forced.y0))) < 1e-15
    np.testing.assert_allclose(float(jnp.sqrt(jnp.mean(forced.y0**2))), 1.0, rtol=1e-12)
    # Inviscid, unforced: the truncated nonlinear term conserves energy and enstrophy
    # (<psi, N> = <w, N> = 0) and has zero mean, for any field.
    inviscid = problems.navier_stokes_2d(n=32)
    rng = np.random.default_rng(0)
    w = jnp.asarray(rng.normal(size=(32, 32)))
    w = pde.spectral.dealias(w - jnp.mean(w), inviscid.grid)
    rate = inviscid.vector_field.nonlinear_part(0.0, w, inviscid.params)
    psi = -jnp.asarray(numpy_poisson(np.asarray(w)))
    scale = float(jnp.sum(jnp.abs(w * rate)))
    assert abs(float(jnp.sum(w * rate))) < 1e-13 * scale
    assert abs(float(jnp.sum(psi * rate))) < 1e-13 * scale
    assert abs(float(jnp.mean(rate))) < 1e-15 * scale


def numpy_poisson(w):
    """psi with lap psi = w (zero mean), on [0, 2 pi)^2."""
    n = w.shape[0]
    k = np.fft.fftfreq(n, d=1 / n)
    kx, ky = np.meshgrid(k, k, indexing="ij")
    k2 = kx**2 + ky**2
    k2[0, 0] = 1.0
    hat = -np.fft.fft2(w) / k2
    hat[0, 0] = 0.0
    return np.real(np.fft.ifft2(hat))


def test_wave_hamiltonian_generates_the_field():
    prob = problems.wave_1d(c=1.3)
    rng = np.random.default_rng(2)
    q, p = (pde.spectral.dealias(jnp.asarray(rng.normal(size=64)), prob.grid) for _ in range(2))
    dq, dp = prob.vector_field(0.0, (q, p), prob.params)
    grad_q, grad_p = jax.grad(prob.hamiltonian, argnums=(0, 1))(q, p, prob.params)
    np.testing.assert_allclose(dq, grad_p, atol=1e-13)
    np.testing.assert_allclose(dp, -grad_q, atol=1e-11)
    # H dx is the wave energy 1/2 int (v^2 + c^2 u_x^2) dx (fields without a Nyquist mode).
    energy = 0.5 * np.sum(np.asarray(p) ** 2 + 1.69 * numpy_dx(np.asarray(q), 2 * np.pi) ** 2)
    np.testing.assert_allclose(float(prob.hamiltonian(q, p, prob.params)), energy, rtol=1e-13)


# ---------------------------------------------------------------------------------------
# Solves: one compiled program per problem


def test_heat_1d_solve_and_its_derivative_in_D():
    """etdrk1 is exact in time for a linear problem: the solve matches exact to rounding,
    and its forward-mode derivative in D matches d/dD of the closed form."""
    prob = problems.heat_1d(n=32, D=0.2, t_span=(0.0, 0.8))

    def final_state(D):
        solution = solvers.solve(
            prob.vector_field, prob.y0, prob.t_span, {"D": D}, method="etdrk1", dt=0.2
        )
        return solution.ys[-1]

    state, tangent = jax.jit(lambda D: jax.jvp(final_state, (D,), (jnp.ones_like(D),)))(
        prob.params["D"]
    )
    x = np.asarray(prob.grid.x)
    t, D = 0.8, 0.2
    modes = ((1, 1.0), (3, 0.5), (5, 0.25))
    want = sum(a * np.exp(-D * m**2 * t) * np.sin(m * x) for m, a in modes)
    want_tangent = sum(-(m**2) * t * a * np.exp(-D * m**2 * t) * np.sin(m * x) for m, a in modes)
    np.testing.assert_allclose(state, want, atol=1e-14)
    np.testing.assert_allclose(tangent, want_tangent, atol=1e-13)
    assert max_error(state, prob.exact(0.8, prob.params)) < 1e-14


@pytest.mark.parametrize(
    ("name", "overrides", "density"),
    [
        ("advection_1d", {"c": -1.3}, lambda u: u),
        ("burgers_1d", {"n": 64}, lambda u: u),
        ("kdv", {"n": 64}, lambda u: u),
        ("nls", {"n": 64}, lambda psi: jnp.abs(psi) ** 2),
        ("navier_stokes_2d", {"n": 16}, lambda w: w),
    ],
)
def test_semi_discrete_conservation_laws(name, overrides, density):
    """d/dt int density(u) = <grad density, f(u)> vanishes for any state on the grid
    (random, smooth): mass (advection, Burgers, KdV), |psi|^2 (NLS), mean vorticity
    (Navier-Stokes). The solves below check the time integration keeps them too."""
    prob = problems.get(name, **overrides)
    rng = np.random.default_rng(5)
    leaf = prob.y0
    noise = rng.normal(size=leaf.shape) + (
        1j * rng.normal(size=leaf.shape) if leaf.dtype.kind == "c" else 0
    )
    state = leaf + pde.spectral.dealias(jnp.asarray(noise, leaf.dtype), prob.grid)

    @jax.jit
    def rate_and_scale(u):
        total = lambda v: prob.grid.integrate(density(v))  # noqa: E731
        _, rate = jax.jvp(total, (u,), (prob.vector_field(0.0, u, prob.params),))
        return rate, prob.grid.integrate(jnp.abs(prob.vector_field(0.0, u, prob.params)))

    rate, scale = rate_and_scale(state)
    assert abs(float(rate)) < 1e-13 * float(scale), (float(rate), float(scale))


def test_burgers_etdrk4_against_cole_hopf():
    prob = problems.burgers_1d(n=64, t_span=(0.0, 1.0))
    solution = prob.solve(method="etdrk4", dt=0.02)
    assert max_error(last(solution), prob.exact(1.0, prob.params)) < 1e-9
    assert abs(float(jnp.mean(last(solution)))) < 1e-15


def test_kdv_etdrk4_against_soliton_and_mass():
    prob = problems.kdv(t_span=(0.0, 4.0))
    solution = prob.solve(method="etdrk4", dt=0.01, ts=jnp.asarray([2.0, 4.0]))
    assert max_error(solution.ys[-1], prob.exact(4.0, prob.params)) < 1e-8
    mass = [float(prob.grid.integrate(u)) for u in (prob.y0, *solution.ys)]
    np.testing.assert_allclose(mass, mass[0], rtol=1e-13)
    np.testing.assert_allclose(mass[0], 2.0, rtol=1e-12)  # 2 sqrt(c)


def test_nls_etdrk4_against_soliton_and_mass():
    prob = problems.nls(t_span=(0.0, 3.0))
    solution = prob.solve(method="etdrk4", dt=0.01, ts=jnp.asarray([1.5, 3.0]))
    final = solution.ys[-1]
    assert final.dtype == jnp.complex128
    assert max_error(final, prob.exact(3.0, prob.params)) < 3e-9
    mass = [float(prob.grid.integrate(jnp.abs(psi) ** 2)) for psi in (prob.y0, *solution.ys)]
    np.testing.assert_allclose(mass, 2.0, rtol=1e-10)  # 2a


def test_kuramoto_sivashinsky_bounded_and_converged():
    """Kassam & Trefethen's run: etdrk4, dt = 1/4. At t = 10 it agrees with dt/4 (the
    fourth-order error); the chaotic solution stays bounded to t = 150. One compiled
    program serves all three runs (dt and t1 traced)."""
    prob = problems.kuramoto_sivashinsky()

    @jax.jit
    def final_state(dt, t1):
        return solvers.solve(
            prob.vector_field, prob.y0, (0.0, t1), prob.params, method="etdrk4", dt=dt,
            max_steps=640,
        ).ys[-1]  # fmt: skip

    coarse, fine = final_state(0.25, 10.0), final_state(0.0625, 10.0)
    assert max_error(coarse, fine) < 1e-4
    assert max_error(coarse, prob.y0) > 0.1
    end = final_state(0.25, 150.0)
    assert bool(jnp.all(jnp.isfinite(end))) and 1.0 < float(jnp.max(jnp.abs(end))) < 4.0


def test_allen_cahn_metastability_with_a_banded_stiff_method():
    """Rodas5 with the problem's banded Jacobian structure (imex2 on the same kind of
    finite-difference LinearOperator is exercised by the Fisher-KPP test): three
    interfaces persist to t = 25, then collapse (at t ~ 37.5) into one at x = 0."""
    prob = problems.allen_cahn(n=64)
    x = np.asarray(prob.grid.x)
    solution = prob.solve(
        method=solvers.Rodas5(linear_solver=prob.jacobian_structure),
        ts=jnp.asarray([25.0, 36.0, 70.0]),
        rtol=1e-6,
        atol=1e-8,
    )
    interfaces = [np.flatnonzero(np.diff(np.sign(np.asarray(u)))) for u in solution.ys]
    assert [len(i) for i in interfaces] == [3, 3, 1]
    assert abs(x[interfaces[2][0]]) < 0.05  # the one left is at x = 0
    np.testing.assert_allclose(np.asarray(solution.ys[-1])[[0, -1]], [-1.0, 1.0], atol=0.05)


def test_fisher_kpp_front_speed():
    """A steep front approaches the minimal speed 2 sqrt(D r) from below, with Bramson's
    logarithmic delay: x(t) = c* t - (3/2) sqrt(D/r) ln t + const."""
    D, r = 1.0, 2.25
    prob = problems.fisher_kpp(D=D, r=r, t_span=(0.0, 20.0))
    x = np.asarray(prob.grid.x)
    solution = prob.solve(method="imex2", dt=0.05, ts=jnp.asarray([5.0, 20.0]))

    def front(u):
        i = int(np.argmax(u < 0.5))
        return x[i - 1] + (u[i - 1] - 0.5) / (u[i - 1] - u[i]) * (x[i] - x[i - 1])

    start, end = (front(np.asarray(u)) for u in solution.ys)
    speed = (end - start) / 15.0
    minimal = 2 * math.sqrt(D * r)
    bramson = minimal - 1.5 * math.sqrt(D / r) * math.log(20.0 / 5.0) / 15.0
    assert -0.05 < speed / minimal - 1 < 0.0, speed
    assert abs(speed / bramson - 1) < 0.01, (speed, bramson)
    assert float(jnp.min(solution.ys)) > -1e-6 and float(jnp.max(solution.ys)) < 1 + 1e-6


def test_gray_scott_short_run():
    prob = problems.gray_scott_2d(n=32, t_span=(0.0, 200.0))
    u, v = last(prob.solve(method="imex2", dt=1.0))
    assert u.shape == v.shape == (32, 32)
    assert float(jnp.min(u)) > 0.0 and float(jnp.max(u)) < 1.02
    assert float(jnp.min(v)) > -0.01 and float(jnp.max(v)) < 0.5
    # The reaction has consumed u in the middle (the spot) and not at the edges.
    assert float(u[16, 16]) < 0.6 < float(u[0, 0])


def test_wave_leapfrog_against_dalembert_and_energy():
    prob = problems.wave_1d(t_span=(0.0, 2.0))
    ts = jnp.linspace(0.5, 2.0, 4)
    u, v = prob.solve(method="leapfrog", dt=0.01, ts=ts).ys
    error = max_error((u[-1], v[-1]), prob.exact(2.0, prob.params))
    assert 1e-6 < error < 1e-3, error  # second order in dt
    energy = jax.vmap(prob.hamiltonian, (0, 0, None))(u, v, prob.params)
    initial = prob.hamiltonian(*prob.y0, prob.params)
    np.testing.assert_allclose(energy, initial, rtol=1e-3)  # bounded O(dt^2) oscillation


def test_taylor_green_etdrk4_and_mean_vorticity():
    prob = problems.navier_stokes_2d(n=16, t_span=(0.0, 2.0))
    solution = prob.solve(method="etdrk4", dt=0.1)
    assert max_error(last(solution), prob.exact(2.0, prob.params)) < 1e-13
    assert abs(float(jnp.mean(last(solution)))) < 1e-15


# ---------------------------------------------------------------------------------------
# Overrides


def test_overrides_change_grid_parameters_and_span():
    heat = problems.heat_1d(D=0.5, n=20, t_span=(1.0, 3.0))
    assert heat.grid.shape == (20,) and float(heat.params["D"]) == 0.5 and heat.t_span == (1.0, 3.0)
    ks = problems.get("kuramoto_sivashinsky", n=64, nu=2.0)
    assert ks.y0.shape == (64,) and float(ks.params["nu"]) == 2.0
    ns = problems.navier_stokes_2d(forcing="kolmogorov", n=24, seed=3)
    assert ns.exact is None and set(ns.params) == {"nu", "drag", "amplitude"}
    assert ns.y0.shape == (24, 24) and ns.t_span == (0.0, 100.0)
    np.testing.assert_allclose(float(ns.params["drag"]), 0.1)
    other = problems.navier_stokes_2d(forcing="kolmogorov", n=24, seed=4)
    assert max_error(ns.y0, other.y0) > 0.1
    fisher = problems.fisher_kpp(initial="ablowitz_zeppetella")
    assert fisher.exact is not None and fisher.t_span == (0.0, 20.0)
    assert problems.fisher_kpp().exact is None
    gray = problems.gray_scott_2d(F=0.04, k=0.06, length=2.0, n=16)
    assert gray.grid.lengths == (2.0, 2.0) and float(gray.params["F"]) == 0.04
    soliton = problems.kdv(c=3.0, x0=2.0, t_span=(1.0, 2.0))
    peak = int(jnp.argmax(soliton.y0))
    assert abs(float(soliton.grid.x[peak]) - 2.0) < soliton.grid.dx[0]
    np.testing.assert_allclose(float(jnp.max(soliton.y0)), 1.5, rtol=0.02)  # c / 2
    # y0: a new start of the grid's shape (and dtype); a closed form no longer applies.
    start = np.linspace(0.0, 1.0, 32)
    moved = problems.advection_1d(y0=start)
    assert moved.exact is None and moved.y0.dtype == jnp.float64
    np.testing.assert_array_equal(moved.y0, start)
    assert problems.advection_1d().exact is not None
    pair = problems.gray_scott_2d(n=16, y0=[np.ones((16, 16)), np.zeros((16, 16))])
    assert isinstance(pair.y0, tuple) and pair.y0[1].shape == (16, 16)
    complex_start = problems.nls(n=64, y0=np.ones(64))
    assert complex_start.y0.dtype == jnp.complex128 and complex_start.exact is None


@pytest.mark.parametrize(
    ("name", "overrides", "error", "match"),
    [
        ("heat_1d", {"n": 4}, ValueError, "n >= 8"),
        ("heat_1d", {"n": 32.0}, ValueError, "integer number of grid points"),
        ("heat_1d", {"bc": "neumann"}, ValueError, "bc must be one of"),
        ("heat_1d", {"D": -1.0}, ValueError, "D > 0"),
        ("heat_1d", {"modes": (1, 40), "amplitudes": (1.0, 1.0)}, ValueError, "each mode"),
        ("heat_1d", {"modes": (1, 2)}, ValueError, "as many amplitudes as modes"),
        ("heat_2d", {"modes": (1, 2), "amplitudes": (1.0, 1.0)}, ValueError, "pair of integers"),
        ("burgers_1d", {"a": 0.5}, ValueError, "a > b > 0"),
        ("burgers_1d", {"wavenumber": 50}, ValueError, "wavenumber < n/3"),
        ("kdv", {"c": 0.0}, ValueError, "c > 0"),
        ("nls", {"a": -1.0}, ValueError, "a > 0"),
        ("kuramoto_sivashinsky", {"nu": float("nan")}, ValueError, "nu > 0"),
        ("allen_cahn", {"eps": 0.0}, ValueError, "eps > 0"),
        ("fisher_kpp", {"initial": "gaussian"}, ValueError, "initial must be one of"),
        ("fisher_kpp", {"x0": 200.0}, ValueError, "x0 in"),
        ("gray_scott_2d", {"F": -0.01}, ValueError, "F >= 0"),
        ("navier_stokes_2d", {"forcing": "random"}, ValueError, "forcing must be one of"),
        ("navier_stokes_2d", {"drag": -0.1}, ValueError, "drag >= 0"),
        ("navier_stokes_2d", {"wavenumber": 11}, ValueError, "wavenumber < n/3"),
        ("wave_1d", {"speed": 1.0}, TypeError, "valid overrides"),
        ("kuramoto_sivashinsky", {"y0": np.zeros(64)}, ValueError, "grid's shape"),
        ("wave_1d", {"y0": np.zeros(64)}, ValueError, "tuple of 2 fields"),
        ("kdv", {"t_span": (0.0, 1.0, 2.0)}, ValueError, "t_span"),
    ],
)
def test_bad_overrides_raise(name, overrides, error, match):
    with pytest.raises(error, match=match):
        problems.get(name, **overrides)
