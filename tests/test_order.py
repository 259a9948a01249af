"""Order conditions of every tableau and measured convergence orders."""

import dataclasses
import functools

import jax.numpy as jnp
import numpy as np
import pytest

import solvers
from solvers._tableaus import TABLEAUS


def _trees(order):
    """Rooted trees with `order` nodes, each as a sorted tuple of child subtrees."""
    if order == 1:
        return [()]
    result = set()
    # Partition order - 1 nodes among children.
    for children in _forests(order - 1):
        result.add(tuple(sorted(children)))
    return sorted(result)


@functools.cache
def _forests(nodes):
    if nodes == 0:
        return [()]
    forests = set()
    for first in range(1, nodes + 1):
        for tree in _trees(first):
            for rest in _forests(nodes - first):
                forests.add(tuple(sorted((tree, *rest))))
    return sorted(forests)


def _size(tree):
    return 1 + sum(_size(child) for child in tree)


def _density(tree):
    return _size(tree) * np.prod([_density(child) for child in tree]) if tree else 1.0


def _stage_weights(tableau, tree):
    """Elementary weight vector Phi_i(tree) over the stages."""
    value = np.ones(tableau.num_stages)
    for child in tree:
        value = value * (tableau.a @ _stage_weights(tableau, child))
    return value


def _order_condition_residual(tableau, weights, tree):
    return float(weights @ _stage_weights(tableau, tree) - 1.0 / _density(tree))


def test_tree_counts():
    # OEIS A000081: 1, 1, 2, 4, 9, 20, 48, 115.
    assert [len(_trees(n)) for n in range(1, 9)] == [1, 1, 2, 4, 9, 20, 48, 115]


@pytest.mark.parametrize("name", sorted(TABLEAUS))
def test_order_conditions(name):
    tableau = TABLEAUS[name]
    for order in range(1, tableau.order + 1):
        for tree in _trees(order):
            residual = _order_condition_residual(tableau, tableau.b, tree)
            assert abs(residual) < 1e-10, (name, order, tree, residual)
    # The method is not of higher order than claimed.
    higher = [abs(_order_condition_residual(tableau, tableau.b, tree))
              for tree in _trees(tableau.order + 1)]
    assert max(higher) > 1e-8


@pytest.mark.parametrize("name", [n for n in sorted(TABLEAUS) if TABLEAUS[n].adaptive])
def test_embedded_solution_order(name):
    tableau = TABLEAUS[name]
    # DOP853's two estimators come from embedded solutions of orders 5 and 3; their
    # combination behaves as order 7 (the controller's error_order).
    embedded = (
        [(tableau.b_error, 5), (tableau.b_error2, 3)]
        if name == "dopri8"
        else [(tableau.b_error, tableau.error_order)]
    )
    for b_error, order in embedded:
        b_hat = tableau.b - b_error
        for tree_order in range(1, order + 1):
            for tree in _trees(tree_order):
                assert abs(_order_condition_residual(tableau, b_hat, tree)) < 1e-10


def test_tableau_rejects_inconsistent_data():
    good = TABLEAUS["heun"]
    with pytest.raises(ValueError, match="row sums"):
        solvers.ButcherTableau(name="bad", a=good.a, b=good.b, c=np.array([0.0, 0.5]),
                               order=2)
    with pytest.raises(ValueError, match="sum\\(b\\)"):
        solvers.ButcherTableau(name="bad", a=good.a, b=np.array([0.5, 0.6]), c=good.c,
                               order=2)


def _decay(t, y, k):
    return -k * y


def _oscillator(t, y, omega):
    return jnp.stack([y[1], -(omega**2) * y[0]])


FIXED = {"euler": 1, "midpoint": 2, "heun": 2, "ralston": 2, "rk4": 4}


def _slope(step_sizes, errors):
    return np.polyfit(np.log(step_sizes), np.log(errors), 1)[0]


@pytest.mark.parametrize("name,order", sorted(FIXED.items()))
def test_fixed_step_convergence_order(name, order):
    step_sizes = np.array([0.1, 0.05, 0.025, 0.0125])
    errors = []
    for dt in step_sizes:
        sol = solvers.solve(_oscillator, jnp.array([1.0, 0.0]), (0.0, 2.0), 1.3,
                            method=name, dt=float(dt))
        exact = np.array([np.cos(1.3 * 2.0), -1.3 * np.sin(1.3 * 2.0)])
        errors.append(np.max(np.abs(np.asarray(sol.ys[-1]) - exact)))
    assert abs(_slope(step_sizes, errors) - order) < 0.2


@pytest.mark.parametrize("name,order", sorted(FIXED.items()))
def test_fixed_step_dense_output_order(name, order):
    """Save points between grid nodes converge at the method's order (dense output
    of order >= the method's, up to 3 for the Hermite interpolant)."""
    step_sizes = np.array([0.1, 0.05, 0.025, 0.0125])
    ts = jnp.array([0.0137, 0.731, 1.3333])
    errors = []
    for dt in step_sizes:
        sol = solvers.solve(_decay, jnp.array(1.0), (0.0, 2.0), 0.7, method=name,
                            dt=float(dt), ts=ts)
        errors.append(np.max(np.abs(np.asarray(sol.ys) - np.exp(-0.7 * np.asarray(ts)))))
    assert _slope(step_sizes, errors) > min(order, 4) - 0.2


ADAPTIVE = {"bosh3": 3, "dopri5": 5, "tsit5": 5, "dopri8": 8}


@pytest.mark.parametrize("name,order", sorted(ADAPTIVE.items()))
def test_adaptive_pair_convergence_order(name, order):
    """The propagated solution of each pair, run on a fixed grid, converges at its order."""
    tableau = dataclasses.replace(
        TABLEAUS[name], name=name + "-fixed", b_error=None, error_order=None, b_error2=None
    )
    method = solvers.ExplicitRK(tableau)
    step_sizes = {3: [0.1, 0.05, 0.025, 0.0125], 5: [0.2, 0.1, 0.05, 0.025],
                  8: [0.5, 0.4, 0.3, 0.25]}[order]
    omega, t1 = 1.0, 6.0
    exact = np.array([np.cos(omega * t1), -omega * np.sin(omega * t1)])
    errors = []
    for dt in step_sizes:
        sol = solvers.solve(_oscillator, jnp.array([1.0, 0.0]), (0.0, t1), omega,
                            method=method, dt=dt)
        errors.append(np.max(np.abs(np.asarray(sol.ys[-1]) - exact)))
    assert abs(_slope(np.array(step_sizes), errors) - order) < 0.2, errors


@pytest.mark.parametrize("name", sorted(ADAPTIVE))
def test_error_decreases_with_tolerance(name):
    omega, t1 = 1.0, 4.0
    exact = np.array([np.cos(omega * t1), -omega * np.sin(omega * t1)])
    errors = []
    for tol in [1e-5, 1e-8, 1e-11]:
        sol = solvers.solve(_oscillator, jnp.array([1.0, 0.0]), (0.0, t1), omega,
                            method=name, rtol=tol, atol=tol)
        errors.append(np.max(np.abs(np.asarray(sol.ys[-1]) - exact)))
        assert errors[-1] < 100 * tol
    assert errors[0] > errors[1] > errors[2]


@pytest.mark.parametrize("name", sorted(ADAPTIVE))
def test_adaptive_dense_output_accuracy(name):
    """Dense output between steps is as accurate as the steps (to the tolerance)."""
    ts = jnp.linspace(0.0, 5.0, 53)
    sol = solvers.solve(_oscillator, jnp.array([1.0, 0.0]), (0.0, 5.0), 2.0, method=name,
                        ts=ts, rtol=1e-9, atol=1e-9)
    assert int(sol.stats["num_accepted"]) < 53 * 3 or name == "bosh3"
    exact = np.cos(2.0 * np.asarray(ts))
    assert np.max(np.abs(np.asarray(sol.ys[:, 0]) - exact)) < 1e-7


@pytest.mark.parametrize("name", sorted(ADAPTIVE))
def test_adaptive_pair_dense_output_order(name):
    """Off-grid save points converge at least at the dense output's order."""
    tableau = dataclasses.replace(
        TABLEAUS[name], name=name + "-fixed", b_error=None, error_order=None, b_error2=None
    )
    method = solvers.ExplicitRK(tableau)
    step_sizes = np.array([0.4, 0.3, 0.2, 0.15])
    ts = jnp.array([0.517, 1.291, 2.843, 3.777])
    errors = []
    for dt in step_sizes:
        sol = solvers.solve(_oscillator, jnp.array([1.0, 0.0]), (0.0, 4.0), 1.0,
                            method=method, dt=float(dt), ts=ts)
        errors.append(np.max(np.abs(np.asarray(sol.ys[:, 0]) - np.cos(np.asarray(ts)))))
    assert _slope(step_sizes, errors) > tableau.dense_order - 0.2, errors
