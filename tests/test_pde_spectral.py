"""Spectral operators and the Grid: exactness on trigonometric polynomials, spectral
convergence on smooth periodic data, dealiasing, layouts and errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from solvers import pde
from solvers.pde import spectral


def test_grid_layouts():
    periodic = pde.Grid(8, (0.0, 2.0))
    np.testing.assert_allclose(periodic.x, np.arange(8) * 0.25)
    bounded = pde.Grid(4, (0.0, 1.0), periodic=False)
    np.testing.assert_allclose(bounded.x, [0.125, 0.375, 0.625, 0.875])
    grid2 = pde.Grid((4, 6), ((0, 1), (0, 3)), periodic=(True, False))
    x, y = grid2.x
    assert x.shape == y.shape == (4, 6)
    np.testing.assert_allclose(y[0], (np.arange(6) + 0.5) * 0.5)
    assert grid2.dx == (0.25, 0.5)
    assert grid2.spectral_shape(real=False) == (4, 6)
    k = pde.Grid((4, 6), ((0, 2 * np.pi), (0, 2 * np.pi))).wavenumbers()
    assert k[0].shape == (4, 1) and k[1].shape == (1, 4)
    np.testing.assert_allclose(
        pde.Grid(16, (0, 2 * np.pi)).integrate(jnp.cos(pde.Grid(16, (0, 2 * np.pi)).x) ** 2), np.pi
    )


@pytest.mark.parametrize(
    "shape, domain, periodic, error",
    [
        ((1,), (0, 1), True, ">= 2"),
        ((4, 4, 4, 4), ((0, 1),) * 4, True, "1-D, 2-D or 3-D"),
        ((4,), (1, 0), True, "a < b"),
        ((4,), (0, np.inf), True, "a < b"),
        ((4, 4), ((0, 1),), True, "intervals"),
        ((4, 4), ((0, 1), (0, 1)), (True,), "entries"),
    ],
)
def test_grid_errors(shape, domain, periodic, error):
    with pytest.raises(ValueError, match=error):
        pde.Grid(shape, domain, periodic=periodic)


def test_wavenumbers_need_periodic_grid():
    with pytest.raises(ValueError, match="periodic"):
        pde.Grid(8, (0, 1), periodic=False).wavenumbers()
    with pytest.raises(ValueError, match="finite-difference"):
        spectral.derivative(jnp.ones(8), pde.Grid(8, (0, 1), periodic=False))


def test_derivatives_exact_on_trigonometric_polynomials():
    grid = pde.Grid(32, (0.0, 4 * np.pi))  # k = n / 2
    x = grid.x
    u = jnp.sin(1.5 * x) + 0.3 * jnp.cos(4 * x)
    np.testing.assert_allclose(
        spectral.derivative(u, grid), 1.5 * jnp.cos(1.5 * x) - 1.2 * jnp.sin(4 * x), atol=1e-12
    )
    np.testing.assert_allclose(
        spectral.derivative(u, grid, order=3),
        -(1.5**3) * jnp.cos(1.5 * x) + 0.3 * 64 * jnp.sin(4 * x),
        atol=1e-10,
    )
    np.testing.assert_allclose(
        spectral.laplacian(u, grid), -2.25 * jnp.sin(1.5 * x) - 4.8 * jnp.cos(4 * x), atol=1e-11
    )


def test_spectral_convergence_on_smooth_periodic_data():
    """exp(sin x): the error falls faster than any power of dx (here below 1e-13 at
    n = 32 from 1e-2 at n = 8)."""
    errors = []
    for n in (8, 16, 32):
        grid = pde.Grid(n, (0.0, 2 * np.pi))
        x = grid.x
        u = jnp.exp(jnp.sin(x))
        errors.append(float(jnp.max(jnp.abs(spectral.derivative(u, grid) - jnp.cos(x) * u))))
    assert errors[0] > 1e-4 and errors[2] < 1e-12
    assert errors[1] / errors[2] > 1e4  # not algebraic: 2^k with k large


def test_two_and_three_dimensions_and_complex_fields():
    grid = pde.Grid((16, 12), ((0, 2 * np.pi), (0, 2 * np.pi)))
    x, y = grid.x
    u = jnp.sin(2 * x) * jnp.cos(3 * y)
    np.testing.assert_allclose(spectral.laplacian(u, grid), -13 * u, atol=1e-11)
    dx, dy = spectral.gradient(u, grid)
    np.testing.assert_allclose(dy, -3 * jnp.sin(2 * x) * jnp.sin(3 * y), atol=1e-11)
    psi = jnp.exp(1j * (2 * x - y).astype(jnp.complex128))
    np.testing.assert_allclose(spectral.laplacian(psi, grid), -5 * psi, atol=1e-11)
    assert spectral.laplacian(psi, grid).dtype == jnp.complex128
    grid3 = pde.Grid((8, 8, 8), ((0, 2 * np.pi),) * 3)
    a, b, c = grid3.x
    w = jnp.sin(a) * jnp.sin(2 * b) * jnp.cos(c)
    np.testing.assert_allclose(spectral.laplacian(w, grid3), -6 * w, atol=1e-11)


def test_nyquist_mode_of_odd_derivative_is_dropped():
    grid = pde.Grid(8, (0.0, 2 * np.pi))
    nyquist = jnp.cos(4 * grid.x)  # (-1)^j: its derivative samples to zero
    np.testing.assert_allclose(spectral.derivative(nyquist, grid), 0.0, atol=1e-13)
    # the second derivative keeps it
    np.testing.assert_allclose(
        spectral.derivative(nyquist, grid, order=2), -16 * nyquist, atol=1e-12
    )


def test_dealias_two_thirds_rule():
    grid = pde.Grid(24, (0.0, 2 * np.pi))  # k_max = 12: keep |k| < 8
    mask = spectral.dealias_mask(grid)
    assert mask.shape == (13,)
    assert mask[:8].all() and not mask[8:].any()
    x = grid.x
    u = jnp.cos(3 * x) + jnp.cos(9 * x)
    np.testing.assert_allclose(spectral.dealias(u, grid), jnp.cos(3 * x), atol=1e-13)
    with pytest.raises(ValueError, match="fraction"):
        spectral.dealias_mask(grid, fraction=0)


def test_fourier_operator_matches_spectral_derivatives_and_differentiates():
    grid = pde.Grid(16, (0.0, 2 * np.pi))
    op = pde.FourierOperator(grid, lambda k, p: -p * k**2)
    u = jnp.sin(grid.x) + jnp.cos(3 * grid.x)
    np.testing.assert_allclose(op(u, 0.7), 0.7 * spectral.laplacian(u, grid), atol=1e-12)
    grad = jax.grad(lambda p: jnp.sum(op(u, p) * u))(0.7)
    np.testing.assert_allclose(grad, float(jnp.sum(spectral.laplacian(u, grid) * u)), rtol=1e-12)
    # float32 fields stay float32 (k is handed to the symbol in the state's precision)
    u32 = u.astype(jnp.float32)
    assert op(u32, jnp.float32(0.7)).dtype == jnp.float32


def test_errors():
    grid = pde.Grid(8, (0.0, 1.0))
    with pytest.raises(ValueError, match="order"):
        spectral.derivative(jnp.ones(8), grid, order=0)
    with pytest.raises(ValueError, match="axis"):
        spectral.derivative(jnp.ones(8), grid, axis=1)
    with pytest.raises(ValueError, match="trailing shape"):
        spectral.derivative(jnp.ones(9), grid)
    with pytest.raises(TypeError, match="Grid"):
        pde.FourierOperator("grid", lambda k, p: k)
    with pytest.raises(ValueError, match="one per field"):
        pde.FourierOperator(grid, lambda k, p: (k, k, k)).eigenvalues(
            None, (jnp.ones(8), jnp.ones(8))
        )
    with pytest.raises(TypeError, match="structure"):
        pde.LinearOperator(lambda u, p: u, structure="banded")
