"""Finite-difference operators and boundary conditions of solvers.pde (fd.py,
boundary.py): convergence orders, exactness of the ghost cells, each boundary
condition, 2-D operators, upwinding, jit/grad, the Jacobian band, and the errors."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import fitted_slope

from solvers._linsolve import Banded
from solvers.pde.boundary import Dirichlet, Neumann, Periodic, Robin, faces, pad
from solvers.pde.fd import banded_structure, divergence, gradient, laplacian, upwind
from solvers.pde.grid import Grid

SIZES = (16, 32, 64)

# Jitted once per grid (static) and per condition type; boundary values are traced.
LAPLACIAN = jax.jit(laplacian, static_argnames=("grid", "order"))
GRADIENT = jax.jit(gradient, static_argnames=("grid", "axis", "order"))
DIVERGENCE = jax.jit(divergence, static_argnames=("grid", "order"))
UPWIND = jax.jit(upwind, static_argnames=("grid", "axis", "order"))
PAD = jax.jit(pad, static_argnames=("grid", "width"))


def smooth(x):
    """A smooth non-polynomial test function and its first two derivatives."""
    c = np.sin(1.0)
    u = np.exp(c * x) * np.cos(2 * x)
    du = np.exp(c * x) * (c * np.cos(2 * x) - 2 * np.sin(2 * x))
    d2u = np.exp(c * x) * ((c**2 - 4) * np.cos(2 * x) - 4 * c * np.sin(2 * x))
    return u, du, d2u


def bounded_bc(kind, a, b):
    """Conditions on [a, b] that ``smooth`` satisfies exactly."""
    (ua, ub), (dua, dub), _ = smooth(np.array([a, b]))
    if kind == "dirichlet":
        return (Dirichlet(ua), Dirichlet(ub))
    if kind == "neumann":  # outward derivatives: -u'(a), +u'(b)
        return (Neumann(-dua), Neumann(dub))
    alpha, beta = 2.0, 0.5
    return (
        Robin(alpha, beta, alpha * ua - beta * dua),
        Robin(alpha, beta, alpha * ub + beta * dub),
    )


def affine_parts(u_batch, grid, bc, order):
    """``laplacian`` on a batch whose last n + 1 rows are the identity and zeros:
    returns the results on the leading rows, the matrix A and the offset r of the
    affine map ``u -> A u + r``."""
    n = grid.shape[0]
    rows = np.asarray(LAPLACIAN(u_batch, grid, bc, order=order))
    offset = rows[-1]
    return rows[: -n - 1], (rows[-n - 1 : -1] - offset).T, offset


@functools.cache
def bounded_errors(kind, order):
    """Max-norm errors on SIZES of gradient, laplacian (everywhere and away from the
    faces) and of the solution of laplacian(u) = u'' (Dirichlet and Robin)."""
    a, b = 0.2, 1.3
    width = order // 2
    errors = {"gradient": [], "laplacian": [], "laplacian interior": [], "solution": []}
    steps = []
    for n in SIZES:
        grid = Grid(n, (a, b), periodic=False)
        u, du, d2u = smooth(np.asarray(grid.x))
        bc = bounded_bc(kind, a, b)
        batch = jnp.asarray(np.vstack([u, np.eye(n), np.zeros(n)]))
        (lap,), operator, offset = affine_parts(batch, grid, bc, order)
        lap_error = np.abs(lap - d2u)
        errors["gradient"].append(np.max(np.abs(GRADIENT(u, grid, bc, order=order) - du)))
        errors["laplacian"].append(np.max(lap_error))
        errors["laplacian interior"].append(np.max(lap_error[width:-width]))
        if kind != "neumann":  # pure Neumann is singular
            solution = np.linalg.solve(operator, d2u - offset)
            errors["solution"].append(np.max(np.abs(solution - u)))
        steps.append(grid.dx[0])
    return steps, errors


# ------------------------------------------------------------------ convergence


@pytest.mark.parametrize("order", [2, 4])
def test_periodic_convergence(order):
    errors_gradient, errors_laplacian, steps = [], [], []
    for n in SIZES:
        grid = Grid(n, (0.0, 2 * np.pi))
        x = np.asarray(grid.x)
        u = np.exp(np.sin(x))
        du = np.cos(x) * u
        d2u = (np.cos(x) ** 2 - np.sin(x)) * u
        errors_gradient.append(np.max(np.abs(GRADIENT(u, grid, Periodic(), order=order) - du)))
        errors_laplacian.append(np.max(np.abs(LAPLACIAN(u, grid, Periodic(), order=order) - d2u)))
        steps.append(grid.dx[0])
    assert abs(fitted_slope(steps, errors_gradient) - order) < 0.2
    assert abs(fitted_slope(steps, errors_laplacian) - order) < 0.2


@pytest.mark.parametrize("kind", ["dirichlet", "neumann", "robin"])
@pytest.mark.parametrize("order", [2, 4])
def test_bounded_convergence_matches_documented_orders(kind, order):
    """Interior cells at the stencil's order; the order/2 cells next to a face at the
    documented closure orders (gradient: 2, 3; laplacian: 1, 2)."""
    steps, errors = bounded_errors(kind, order)
    expected = {
        "gradient": {2: 2, 4: 3}[order],
        "laplacian": {2: 1, 4: 2}[order],
        "laplacian interior": order,
    }
    for name, value in expected.items():
        slope = fitted_slope(steps, errors[name])
        assert abs(slope - value) < 0.2, (name, slope)


@pytest.mark.parametrize(
    "kind, order, expected",
    [("dirichlet", 2, 2), ("robin", 2, 2), ("dirichlet", 4, 4), ("robin", 4, 3)],
)
def test_boundary_value_problem_converges(kind, order, expected):
    """Solving laplacian(u) = u'' recovers u at the documented global order."""
    steps, errors = bounded_errors(kind, order)
    assert abs(fitted_slope(steps, errors["solution"]) - expected) < 0.2


# ------------------------------------------------------------------ ghost cells


@pytest.mark.parametrize("width", [1, 2])
@pytest.mark.parametrize("kind", ["dirichlet", "neumann", "robin"])
def test_ghosts_exact_for_polynomials_of_degree_width_plus_one(kind, width):
    a, b, n = -0.5, 1.5, 8
    grid = Grid(n, (a, b), periodic=False)
    p = np.polynomial.Polynomial([0.7, -1.3, 2.1, 0.9][: width + 2])
    dp = p.deriv()
    if kind == "dirichlet":
        bc = (Dirichlet(p(a)), Dirichlet(p(b)))
    elif kind == "neumann":
        bc = (Neumann(-dp(a)), Neumann(dp(b)))
    else:
        bc = (
            Robin(1.5, 0.25, 1.5 * p(a) - 0.25 * dp(a)),
            Robin(1.5, 0.25, 1.5 * p(b) + 0.25 * dp(b)),
        )
    x_padded = a + (np.arange(-width, n + width) + 0.5) * grid.dx[0]
    padded = PAD(p(np.asarray(grid.x)), grid, bc, width=width)
    np.testing.assert_allclose(padded, p(x_padded), rtol=0, atol=1e-12)
    # One degree more is not exact (so the check above has teeth).
    q = np.polynomial.Polynomial([0.0] * (width + 2) + [1.0])
    if kind == "dirichlet":
        bc_q = (Dirichlet(q(a)), Dirichlet(q(b)))
    elif kind == "neumann":
        bc_q = (Neumann(-q.deriv()(a)), Neumann(q.deriv()(b)))
    else:
        bc_q = (
            Robin(1.5, 0.25, 1.5 * q(a) - 0.25 * q.deriv()(a)),
            Robin(1.5, 0.25, 1.5 * q(b) + 0.25 * q.deriv()(b)),
        )
    padded_q = PAD(q(np.asarray(grid.x)), grid, bc_q, width=width)
    assert np.max(np.abs(padded_q - q(x_padded))) > 1e-6


def test_ghost_formulas_width_one():
    grid = Grid(5, (0.0, 1.0), periodic=False)
    h = grid.dx[0]
    u = jnp.array([0.3, -1.2, 2.0, 0.5, 1.1])
    g, q = 0.7, -0.4
    dirichlet = pad(u, grid, Dirichlet(g))
    assert np.isclose(dirichlet[0], (8 * g - 6 * u[0] + u[1]) / 3)
    assert np.isclose(dirichlet[-1], (8 * g - 6 * u[-1] + u[-2]) / 3)
    neumann = pad(u, grid, Neumann(q))
    assert np.isclose(neumann[0], u[0] + h * q) and np.isclose(neumann[-1], u[-1] + h * q)
    alpha, beta = 2.0, 0.3
    robin = pad(u, grid, Robin(alpha, beta, g))
    expected = (g - alpha * (6 * u[0] - u[1]) / 8 + beta * u[0] / h) / (3 * alpha / 8 + beta / h)
    assert np.isclose(robin[0], expected)
    # Robin reduces to Dirichlet and Neumann.
    np.testing.assert_allclose(pad(u, grid, Robin(1.0, 0.0, g)), dirichlet, atol=1e-14)
    np.testing.assert_allclose(pad(u, grid, Robin(0.0, 1.0, q)), neumann, atol=1e-14)
    periodic = pad(u, Grid(5, (0.0, 1.0)), Periodic(), width=2)
    np.testing.assert_allclose(periodic, jnp.concatenate([u[-2:], u, u[:2]]))
    width_two = pad(u, grid, Dirichlet(g), width=2)
    assert np.isclose(width_two[1], (16 * g - 15 * u[0] + 5 * u[1] - u[2]) / 5)


def test_pad_2d_with_array_face_values():
    """Per-face arrays in 2-D; the ghosts of a quadratic are exact on every side."""
    grid = Grid((6, 5), ((0.0, 1.0), (-1.0, 1.0)), periodic=False)
    X, Y = (np.asarray(c) for c in grid.x)

    def p(x, y):
        return 1.0 + x - 2 * y + x * y + 0.5 * x**2 - y**2

    xs, ys = grid.axes
    bc = (
        (Dirichlet(p(0.0, ys)), Dirichlet(p(1.0, ys))),
        (Dirichlet(jnp.asarray(p(xs, -1.0))), Dirichlet(p(xs, 1.0))),
    )
    padded = np.asarray(PAD(p(X, Y), grid, bc))
    assert padded.shape == (8, 7)
    xg = (np.arange(-1, 7) + 0.5) * grid.dx[0]
    yg = -1.0 + (np.arange(-1, 6) + 0.5) * grid.dx[1]
    exact = p(xg[:, None], yg[None, :])
    np.testing.assert_allclose(padded[:, 1:-1], exact[:, 1:-1], atol=1e-12)
    np.testing.assert_allclose(padded[1:-1, :], exact[1:-1, :], atol=1e-12)
    np.testing.assert_allclose(LAPLACIAN(p(X, Y), grid, bc), np.full((6, 5), -1.0), atol=1e-10)


# ------------------------------------------------------------------ each condition


def test_dirichlet_sin():
    grid = Grid(64, (0.0, np.pi), periodic=False)
    x = np.asarray(grid.x)
    h = grid.dx[0]
    error = np.abs(LAPLACIAN(np.sin(x), grid, Dirichlet(0.0)) + np.sin(x))
    assert np.max(error[1:-1]) < h**2 / 10  # interior: h^2 |u^(4)| / 12
    assert h / 20 < error[0] < h  # the boundary cell: first order
    assert np.isclose(error[0], error[-1])  # the same closure on both faces


def test_neumann_cos_and_conservation():
    grid = Grid(64, (0.0, np.pi), periodic=False)
    x = np.asarray(grid.x)
    error = np.abs(LAPLACIAN(np.cos(x), grid, Neumann(0.0)) + np.cos(x))
    assert np.max(error) < grid.dx[0] ** 2 / 10  # the mirror ghost is exact for even u
    u = jnp.asarray(np.random.default_rng(0).normal(size=64))
    assert abs(float(jnp.sum(LAPLACIAN(u, grid, Neumann(0.0))))) < 1e-9
    # An outward flux q on both faces: the integral of u'' is the total flux 2 q.
    total = jnp.sum(LAPLACIAN(u, grid, Neumann(0.3))) * grid.dx[0]
    assert np.isclose(float(total), 2 * 0.3)


@pytest.mark.parametrize("order", [2, 4])
def test_robin_quadratic_and_nonzero_dirichlet_exact(order):
    grid = Grid(10, (0.0, 1.0), periodic=False)
    x = np.asarray(grid.x)
    u = x**2 + x + 1.0  # u(0) = 1, u'(0) = 1, u(1) = 3, u'(1) = 3
    robin = (Robin(2.0, 3.0, 2 * 1.0 - 3 * 1.0), Robin(2.0, 3.0, 2 * 3.0 + 3 * 3.0))
    np.testing.assert_allclose(LAPLACIAN(u, grid, robin, order=order), 2.0, atol=1e-10)
    np.testing.assert_allclose(GRADIENT(u, grid, robin, order=order), 2 * x + 1, atol=1e-10)
    dirichlet = (Dirichlet(1.0), Dirichlet(3.0))
    np.testing.assert_allclose(LAPLACIAN(u, grid, dirichlet, order=order), 2.0, atol=1e-10)
    mixed = (Dirichlet(1.0), Neumann(3.0))
    np.testing.assert_allclose(LAPLACIAN(u, grid, mixed, order=order), 2.0, atol=1e-10)
    wrong = (Dirichlet(1.0), Neumann(-3.0))  # the inward derivative: outward is the rule
    assert np.max(np.abs(LAPLACIAN(u, grid, wrong, order=order) - 2.0)) > 1.0


@pytest.mark.parametrize("order", [2, 4])
def test_spectrum_is_real_and_non_positive(order):
    n = 32
    grid = Grid(n, (0.0, 1.0), periodic=False)
    identity = jnp.eye(n)
    dirichlet, neumann = Robin(1.0, 0.0, 0.0), Robin(0.0, 1.0, 0.0)  # one compile for all
    for bc in (
        (dirichlet, dirichlet),
        (neumann, neumann),
        (Robin(1.0, 0.5, 0.0), Robin(1.0, 0.5, 0.0)),
        (dirichlet, neumann),
    ):
        eigenvalues = np.linalg.eigvals(np.asarray(LAPLACIAN(identity, grid, bc, order=order)))
        assert np.max(np.abs(eigenvalues.imag)) < 1e-8
        assert np.max(eigenvalues.real) < 1e-9
        if bc[1] is dirichlet:
            radius = np.max(np.abs(eigenvalues)) * grid.dx[0] ** 2
            assert abs(radius - {2: 4.6, 4: 6.2}[order]) < 0.1  # as documented in fd.py


def test_batch_axes_are_carried():
    grid = Grid(12, (0.0, 1.0), periodic=False)
    rng = np.random.default_rng(1)
    u = jnp.asarray(rng.normal(size=(3, 12)))
    values = jnp.asarray([0.0, 1.0, -2.0])
    # The face of a (3, 12) field is (3,): one boundary value per field of the batch.
    batched = LAPLACIAN(u, grid, Dirichlet(values))
    for i in range(3):
        single = LAPLACIAN(u[i], grid, Dirichlet(values[i]))
        np.testing.assert_allclose(batched[i], single, atol=1e-12)


# ------------------------------------------------------------------ 2-D


def test_2d_laplacian_mixed_periodic_and_dirichlet():
    errors, interior_errors, steps = [], [], []
    for n in SIZES:
        grid = Grid((n, n), ((0.0, 2 * np.pi), (0.0, 1.0)), periodic=(True, False))
        X, Y = (np.asarray(c) for c in grid.x)
        u = np.sin(X) * Y**3  # the cubic in y: only the boundary closure errs in y
        exact_boundary = (Dirichlet(0.0), Dirichlet(np.sin(grid.axes[0])))
        exact = np.sin(X) * (6 * Y - Y**3)
        error = np.abs(LAPLACIAN(u, grid, (Periodic(), exact_boundary)) - exact)
        errors.append(np.max(error))
        interior_errors.append(np.max(error[:, 1:-1]))
        steps.append(grid.dx[0])
    assert abs(fitted_slope(steps, interior_errors) - 2) < 0.2
    assert abs(fitted_slope(steps, errors) - 1) < 0.2  # the cells next to the faces


@functools.partial(jax.jit, static_argnames=("grid", "order"))
def div_grad_minus_laplacian(u, grid, order):
    div_grad = divergence(gradient(u, grid, Periodic(), order=order), grid, Periodic(), order=order)
    return jnp.max(jnp.abs(div_grad - laplacian(u, grid, Periodic(), order=order)))


@pytest.mark.parametrize("order", [2, 4])
def test_divergence_of_gradient_is_laplacian_to_truncation_order(order):
    differences, steps = [], []
    for n in (32, 64):  # two 2-D compiles per order
        grid = Grid((n, n), ((0.0, 2 * np.pi), (0.0, 2 * np.pi)))
        X, Y = grid.x
        u = jnp.exp(jnp.sin(X)) * jnp.cos(Y)
        differences.append(float(div_grad_minus_laplacian(u, grid, order)))
        steps.append(grid.dx[0])
    assert abs(fitted_slope(steps, differences) - order) < 0.2
    assert differences[-1] < {2: 0.05, 4: 1e-3}[order]  # |laplacian| is about 5


def test_2d_gradient_and_divergence_with_bounded_axes():
    grid = Grid((8, 6), ((0.0, 1.0), (0.0, 2.0)), periodic=False)
    X, Y = (np.asarray(c) for c in grid.x)
    xs, ys = grid.axes
    u = X**2 + X * Y - Y**2  # quadratic: the stencil and the ghosts are exact
    bc = (
        (Dirichlet(-(ys**2)), Neumann(2.0 + ys)),
        (Dirichlet(xs**2), Dirichlet(xs**2 + 2 * xs - 4.0)),
    )
    ux, uy = GRADIENT(u, grid, bc)
    np.testing.assert_allclose(ux, 2 * X + Y, atol=1e-10)
    np.testing.assert_allclose(uy, X - 2 * Y, atol=1e-10)
    np.testing.assert_allclose(GRADIENT(u, grid, bc, axis=-1), uy, atol=1e-14)
    # The normal components of (u_x, u_y) on the faces, as Dirichlet data.
    flux_bc = (
        (Dirichlet(ys), Dirichlet(2.0 + ys)),
        (Dirichlet(xs), Dirichlet(xs - 4.0)),
    )
    np.testing.assert_allclose(DIVERGENCE((ux, uy), grid, flux_bc), np.zeros((8, 6)), atol=1e-9)


# ------------------------------------------------------------------ upwind


def test_upwind_takes_the_upstream_side():
    grid = Grid(10, (0.0, 1.0))
    h = grid.dx[0]
    u = jnp.asarray(np.random.default_rng(2).normal(size=10))
    backward = (u - jnp.roll(u, 1)) / h
    forward = (jnp.roll(u, -1) - u) / h
    velocity = jnp.where(jnp.arange(10) < 5, 1.5, -0.5)
    expected = jnp.where(velocity > 0, velocity * backward, velocity * forward)
    np.testing.assert_allclose(UPWIND(u, velocity, grid, Periodic()), expected, atol=1e-12)
    np.testing.assert_allclose(UPWIND(u, 2.0, grid, Periodic()), 2.0 * backward, atol=1e-12)
    np.testing.assert_allclose(UPWIND(u, -2.0, grid, Periodic()), -2.0 * forward, atol=1e-12)
    second = (3 * u - 4 * jnp.roll(u, 1) + jnp.roll(u, 2)) / (2 * h)
    np.testing.assert_allclose(UPWIND(u, 1.0, grid, Periodic(), order=2), second, atol=1e-12)


def test_upwind_inflow_boundary_and_axis():
    grid = Grid((4, 6), ((0.0, 1.0), (0.0, 1.0)), periodic=(True, False))
    X, Y = (np.asarray(c) for c in grid.x)
    u = 3.0 * Y + X  # linear: both orders exact, the inflow value enters the ghost
    bc = (Periodic(), (Dirichlet(jnp.asarray(grid.axes[0])), Neumann(3.0)))
    for order in (1, 2):
        for velocity in (0.5, -0.5):
            result = UPWIND(u, velocity, grid, bc, axis=1, order=order)
            np.testing.assert_allclose(result, 3.0 * velocity, atol=1e-12)


@pytest.mark.parametrize("order", [1, 2])
def test_upwind_convergence(order):
    errors, steps = [], []
    for n in (32, 64, 128):
        grid = Grid(n, (0.0, 2 * np.pi))
        x = np.asarray(grid.x)
        velocity = np.cos(x)  # both signs
        result = UPWIND(np.sin(2 * x), velocity, grid, Periodic(), order=order)
        errors.append(np.max(np.abs(result - velocity * 2 * np.cos(2 * x))))
        steps.append(grid.dx[0])
    assert abs(fitted_slope(steps, errors) - order) < 0.2


# ------------------------------------------------------------------ jit and grad


def test_jit_grad_through_dirichlet_value_without_retracing():
    grid = Grid(16, (0.0, 1.0), periodic=False)
    u = jnp.asarray(np.cos(3 * np.asarray(grid.x)))
    traces = []

    @jax.jit
    def loss(bc):
        traces.append(None)
        return jnp.sum(laplacian(u, grid, (bc, Neumann(0.5)), order=4) ** 2) * grid.dx[0]

    def scalar_loss(value):
        return loss(Dirichlet(value))

    value = 0.8
    derivative = jax.grad(scalar_loss)(value)
    eps = 1e-6
    finite_difference = (scalar_loss(value + eps) - scalar_loss(value - eps)) / (2 * eps)
    assert abs(derivative) > 1.0
    assert np.isclose(derivative, finite_difference, rtol=1e-6)
    # The condition is a pytree: its gradient is a Dirichlet, new values do not retrace.
    bc_gradient = jax.grad(loss)(Dirichlet(0.3))
    assert isinstance(bc_gradient, Dirichlet) and jnp.shape(bc_gradient.value) == ()
    count = len(traces)
    loss(Dirichlet(1.7))
    assert len(traces) == count


def test_grad_through_robin_array_value():
    grid = Grid((5, 4), ((0.0, 1.0), (0.0, 1.0)), periodic=(False, True))
    u = jnp.asarray(np.random.default_rng(3).normal(size=(5, 4)))

    @jax.jit
    def loss(value):
        bc = ((Robin(1.0, 0.2, value), Neumann(0.0)), Periodic())
        return jnp.sum(jnp.sin(laplacian(u, grid, bc)))

    value = jnp.asarray([0.1, -0.2, 0.3, 0.4])
    derivative = jax.grad(loss)(value)
    eps = 1e-6
    finite_difference = [
        (loss(value + eps * e) - loss(value - eps * e)) / (2 * eps) for e in np.eye(4)
    ]
    np.testing.assert_allclose(derivative, finite_difference, rtol=1e-6, atol=1e-8)
    assert np.min(np.abs(derivative)) > 1e-3


# ------------------------------------------------------------------ band


@pytest.mark.parametrize(
    "shape, periodic, order",
    [
        (12, False, 2),
        (12, False, 4),
        ((5, 4), False, 2),
        ((5, 4), False, 4),
        ((5, 4), (False, True), 2),
        ((3, 3, 4), (False, True, True), 4),
    ],
)
def test_banded_structure_matches_jacobian(shape, periodic, order):
    ndim = 1 if isinstance(shape, int) else len(shape)
    grid = Grid(shape, [(0.0, 1.0)] * ndim, periodic=periodic)
    bc = tuple(Periodic() if p else (Dirichlet(1.0), Robin(1.0, 0.5, 0.0)) for p in grid.periodic)
    size = grid.size
    batch = jnp.concatenate([jnp.eye(size), jnp.zeros((1, size))]).reshape((size + 1,) + grid.shape)
    rows = np.asarray(LAPLACIAN(batch, grid, bc, order=order)).reshape(size + 1, size)
    jacobian = (rows[:-1] - rows[-1]).T  # the operator is affine: subtract L(0)
    i, j = np.nonzero(np.abs(jacobian) > 1e-12)
    band = banded_structure(grid, order=order)
    assert isinstance(band, Banded)
    assert band == Banded(int(np.max(i - j)), int(np.max(j - i)))


# ------------------------------------------------------------------ errors


def test_errors():
    bounded = Grid(8, (0.0, 1.0), periodic=False)
    periodic = Grid(8, (0.0, 1.0))
    mixed = Grid((4, 4), ((0.0, 1.0), (0.0, 1.0)), periodic=(True, False))
    u = jnp.zeros(8)
    with pytest.raises(ValueError, match="order 2 or 4"):
        gradient(u, periodic, Periodic(), order=3)
    with pytest.raises(ValueError, match="order 2 or 4"):
        laplacian(u, periodic, Periodic(), order=True)
    with pytest.raises(ValueError, match="order 1 or 2"):
        upwind(u, 1.0, periodic, Periodic(), order=4)
    with pytest.raises(ValueError, match="axis 1 is out of range"):
        gradient(u, periodic, Periodic(), axis=1)
    with pytest.raises(ValueError, match="Periodic\\(\\) on axis 0"):
        laplacian(u, bounded, Periodic())
    with pytest.raises(ValueError, match="Axis 0 of the grid is periodic"):
        laplacian(u, periodic, Dirichlet(0.0))
    with pytest.raises(ValueError, match="Axis 0 of the grid is periodic"):
        faces(Dirichlet(0.0), mixed)
    assert faces((Periodic(), Dirichlet(0.0)), mixed)[1][0].value == 0.0
    with pytest.raises(ValueError, match="3 entries for a 2-D grid"):
        faces((Periodic(), Dirichlet(0.0), Dirichlet(0.0)), mixed)
    with pytest.raises(TypeError, match="boundary condition"):
        faces("dirichlet", bounded)
    with pytest.raises(TypeError, match="entry for axis 1"):
        faces((Periodic(), 0.0), mixed)
    with pytest.raises(ValueError, match="trailing shape"):
        laplacian(jnp.zeros(7), bounded, Dirichlet(0.0))
    with pytest.raises(ValueError, match="tuple of 2 components"):
        divergence((jnp.zeros((4, 4)),), mixed, (Periodic(), Dirichlet(0.0)))
    with pytest.raises(ValueError, match="velocity must be a scalar"):
        upwind(u, jnp.ones(3), periodic, Periodic())
    with pytest.raises(ValueError, match="does not broadcast to the face"):
        laplacian(jnp.zeros((4, 4)), mixed, (Periodic(), Dirichlet(jnp.ones(3))))
    with pytest.raises(ValueError, match="not both zero"):
        Robin(0.0, 0, 1.0)
    with pytest.raises(ValueError, match="positive integer"):
        pad(u, bounded, Dirichlet(0.0), width=0)
    with pytest.raises(ValueError, match="at least 3 points"):
        laplacian(jnp.zeros(2), Grid(2, (0.0, 1.0), periodic=False), Dirichlet(0.0), order=4)
    with pytest.raises(ValueError, match="Periodic wrap-around on axis 0"):
        banded_structure(periodic)
    with pytest.raises(ValueError, match="Periodic wrap-around on axis 0"):
        banded_structure(Grid((4, 4), ((0.0, 1.0), (0.0, 1.0)), periodic=(True, False)))
