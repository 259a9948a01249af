"""Dense output of single steps, through the implementation in ``solvers._interp``.

The continuous extension of each method is checked on ``y' = 1 + y^2`` (exact
``tan``), whose derivatives are all non-zero: the error at ``t + theta h`` after one
step is ``O(h^(q+1))`` for a continuous extension of order ``q``.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import ALL_METHODS, fitted_slope, tan_field

from solvers._interp import dense_basis, dense_coefficients, dense_evaluate
from solvers._tableaus import TABLEAUS
from solvers.explicit import rk_stages

T0 = 0.2
Y0 = jnp.array([np.tan(T0)])


def step_sizes(order):
    """Steps in the asymptotic range yet with errors well above round-off."""
    return np.array([0.4, 0.28, 0.2, 0.14, 0.1]) / (1 if order >= 6 else 4)


def field(t, y):
    return tan_field(t, y, None)


@functools.cache
def step_function(name):
    """jitted ``(h, theta) -> (y1, dense(theta), d dense / d theta)``, one step from T0."""
    tableau = TABLEAUS[name]

    def run(h, theta):
        y1, ks = rk_stages(tableau, field, T0, Y0, h, field(T0, Y0))
        coefficients = dense_coefficients(tableau, field, T0, Y0, y1, h, ks)
        value, slope = jax.jvp(
            lambda th: dense_evaluate(tableau, Y0, coefficients, th), (theta,), (1.0,)
        )
        return y1, value, slope / h, coefficients

    return jax.jit(run)


@pytest.mark.parametrize("name", ALL_METHODS)
def test_dense_output_matches_endpoints(name):
    run = step_function(name)
    h = 0.3
    y1, at_zero, slope_zero, coefficients = run(h, 0.0)
    np.testing.assert_array_equal(at_zero, Y0)
    # The interpolant leaves y0 with the slope f(t0, y0).
    np.testing.assert_allclose(slope_zero, field(T0, Y0), rtol=1e-12)
    _, at_one, slope_one, _ = run(h, 1.0)
    np.testing.assert_allclose(at_one, y1, rtol=1e-14, atol=1e-15)
    tableau = TABLEAUS[name]
    assert dense_basis(tableau, jnp.asarray(0.5)).shape == (coefficients.shape[0],)
    if tableau.dense != "poly":
        # Hermite and DOP853's interpolants also arrive with the slope f(t1, y1).
        np.testing.assert_allclose(slope_one, field(T0 + h, y1), rtol=1e-12)


@pytest.mark.parametrize("name", ALL_METHODS)
def test_dense_output_local_order(name):
    tableau = TABLEAUS[name]
    order = min(tableau.order, tableau.dense_order)
    run = step_function(name)
    hs = step_sizes(order + 1)
    for theta in (0.37, 0.81):
        errors = []
        for h in hs:
            _, value, _, _ = run(h, theta)
            errors.append(abs(float(value[0]) - np.tan(T0 + theta * h)))
        slope = fitted_slope(hs, errors)
        assert slope > order + 1 - 0.3, (theta, slope, errors)


@pytest.mark.parametrize("name", ALL_METHODS)
def test_step_local_order(name):
    """The step itself: local error ``O(h^(p+1))`` (or smaller, where the leading
    error constant is tiny, as for Tsitouras' pair) for a method of order ``p``; the
    exact order is measured globally in ``test_explicit.py``."""
    order = TABLEAUS[name].order
    run = step_function(name)
    hs = step_sizes(order + 1)
    errors = [abs(float(run(h, 1.0)[0][0]) - np.tan(T0 + h)) for h in hs]
    assert fitted_slope(hs, errors) > order + 1 - 0.3, errors


def test_dense_evaluate_is_linear_in_coefficients():
    tableau = TABLEAUS["tsit5"]
    coefficients = jnp.arange(8.0).reshape(4, 2)
    y0 = jnp.array([1.0, -1.0])
    theta = jnp.asarray(0.3)
    basis = np.array([0.3, 0.09, 0.027, 0.0081])
    np.testing.assert_allclose(
        dense_evaluate(tableau, y0, coefficients, theta),
        np.asarray(y0) + basis @ np.asarray(coefficients),
        rtol=1e-14,
    )
