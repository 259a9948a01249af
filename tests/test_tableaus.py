"""Butcher tableaus as data: order conditions by rooted trees, embedded and dense orders.

A Runge-Kutta method has order ``p`` iff ``b . Phi(t) = 1 / gamma(t)`` for every rooted
tree ``t`` with at most ``p`` nodes, where the stage weights are ``Phi(leaf) = 1`` and
``Phi([t_1, ..., t_m]) = prod_k A Phi(t_k)`` (elementwise), and the density is
``gamma(t) = |t| prod_k gamma(t_k)`` (Hairer, Norsett & Wanner I, section II.2). A
continuous extension ``b(theta)`` has order ``q`` iff
``b(theta) . Phi(t) = theta^|t| / gamma(t)`` for ``|t| <= q``.
"""

import functools

import jax.numpy as jnp
import numpy as np
import pytest
from helpers import ADAPTIVE_METHODS, ALL_METHODS, ALL_ORDERS, decay

import solvers
from solvers._tableaus import TABLEAUS

# ----------------------------------------------------------------------- rooted trees


@functools.cache
def trees(order: int) -> tuple:
    """All rooted trees with ``order`` nodes; a tree is the sorted tuple of its subtrees."""
    if order == 1:
        return ((),)
    return tuple(sorted({tuple(sorted(forest)) for forest in forests(order - 1)}))


@functools.cache
def forests(nodes: int, smallest: int = 1) -> tuple:
    """Multisets of trees with ``nodes`` nodes in all, each tree at least ``smallest``."""
    if nodes == 0:
        return ((),)
    result = []
    for size in range(smallest, nodes + 1):
        for tree in trees(size):
            for rest in forests(nodes - size, size):
                result.append((tree, *rest))
    return tuple(result)


def size(tree) -> int:
    return 1 + sum(size(child) for child in tree)


def density(tree) -> float:
    return size(tree) * float(np.prod([density(child) for child in tree]))


def stage_weights(a, tree) -> np.ndarray:
    value = np.ones(a.shape[0])
    for child in tree:
        value = value * (a @ stage_weights(a, child))
    return value


def residual(a, weights, tree, theta=1.0) -> float:
    return float(weights @ stage_weights(a, tree) - theta ** size(tree) / density(tree))


def max_residual(a, weights, order, theta=1.0) -> float:
    return max(abs(residual(a, weights, tree, theta)) for tree in trees(order))


def test_rooted_tree_counts():
    # OEIS A000081; 200 trees up to order 8.
    counts = [len(trees(n)) for n in range(1, 9)]
    assert counts == [1, 1, 2, 4, 9, 20, 48, 115]
    assert sum(counts) == 200
    for n in range(1, 9):
        assert all(size(tree) == n for tree in trees(n))
        assert len(set(trees(n))) == len(trees(n))


def test_densities_of_small_trees():
    leaf = ()
    assert density(leaf) == 1
    assert density((leaf,)) == 2  # the chain of 2 nodes
    assert density((leaf, leaf)) == 3  # the cherry
    assert density(((leaf,),)) == 6  # the chain of 3 nodes
    assert density((leaf, leaf, leaf)) == 4  # the bushy tree of 4 nodes


def test_rk4_satisfies_exactly_the_order_4_conditions():
    """A sanity check of the machinery on the textbook method."""
    tableau = TABLEAUS["rk4"]
    assert max_residual(tableau.a, tableau.b, 4) < 1e-15
    assert max_residual(tableau.a, tableau.b, 5) > 1e-3


# ------------------------------------------------------------------ order conditions


def test_every_method_has_a_tableau():
    assert sorted(TABLEAUS) == ALL_METHODS
    for name, order in ALL_ORDERS.items():
        assert TABLEAUS[name].order == order
        assert TABLEAUS[name].name == name


@pytest.mark.parametrize("name", ALL_METHODS)
def test_order_conditions(name):
    tableau = TABLEAUS[name]
    for order in range(1, tableau.order + 1):
        for tree in trees(order):
            error = residual(tableau.a, tableau.b, tree)
            assert abs(error) < 1e-12, (order, tree, error)


@pytest.mark.parametrize("name", ALL_METHODS)
def test_order_is_not_understated(name):
    tableau = TABLEAUS[name]
    assert max_residual(tableau.a, tableau.b, tableau.order + 1) > 1e-6


@pytest.mark.parametrize("name", ALL_METHODS)
def test_consistency(name):
    tableau = TABLEAUS[name]
    s = tableau.num_stages
    assert tableau.a.shape == (s, s) and tableau.b.shape == (s,) and tableau.c.shape == (s,)
    assert np.all(np.triu(tableau.a) == 0)
    np.testing.assert_allclose(tableau.a.sum(axis=1), tableau.c, atol=1e-14)
    np.testing.assert_allclose(tableau.b.sum(), 1.0, atol=1e-14)
    assert tableau.c[0] == 0 and np.all((tableau.c >= 0) & (tableau.c <= 1))
    if tableau.fsal:
        assert tableau.c[-1] == 1 and tableau.b[-1] == 0
        np.testing.assert_array_equal(tableau.a[-1], tableau.b)
    assert tableau.adaptive == (name in ADAPTIVE_METHODS)


# ------------------------------------------------------------------- embedded pairs

# The order of each embedded solution b_hat = b - b_error. DOP853 has two, of orders 5
# and 3; Hairer's combination of them behaves like a 7th-order estimate (error_order).
EMBEDDED = {
    "bosh3": [("b_error", 2)],
    "dopri5": [("b_error", 4)],
    "tsit5": [("b_error", 4)],
    "dopri8": [("b_error", 5), ("b_error2", 3)],
}


@pytest.mark.parametrize("name", ADAPTIVE_METHODS)
def test_embedded_solution_order(name):
    tableau = TABLEAUS[name]
    for field, order in EMBEDDED[name]:
        b_hat = tableau.b - getattr(tableau, field)
        np.testing.assert_allclose(getattr(tableau, field).sum(), 0.0, atol=1e-14)
        for n in range(1, order + 1):
            assert max_residual(tableau.a, b_hat, n) < 1e-12, (field, n)
        assert max_residual(tableau.a, b_hat, order + 1) > 1e-6, field
    if name != "dopri8":
        assert tableau.error_order == EMBEDDED[name][0][1]
        assert tableau.b_error2 is None
    else:
        assert tableau.error_order == 7


# --------------------------------------------------------------------- dense output


def dense_tableau(tableau, theta):
    """``(A, b(theta))`` of the continuous extension, over all stages it uses.

    Written from the formulas of the papers, independently of ``solvers._interp``:
    Hermite ``y0 + theta h f0 + theta^2 (3D - h(2 f0 + f1)) + theta^3 (-2D + h(f0 + f1))``
    with ``D = y1 - y0``; polynomial weights ``b_i(theta) = sum_j P_ij theta^(j+1)``;
    DOP853's ``contd8`` (Hairer's code) with three extra stages.
    """
    s = tableau.num_stages
    if tableau.dense == "poly":
        powers = theta ** np.arange(1, tableau.dense_weights.shape[1] + 1)
        return tableau.a, tableau.dense_weights @ powers
    if tableau.dense == "hermite":
        a = tableau.a
        if tableau.fsal:
            last = s - 1
        else:  # f1 = f(t + h, y1) is one more stage with weights b
            a = np.zeros((s + 1, s + 1))
            a[:s, :s] = tableau.a
            a[s, :s] = tableau.b
            last = s
        size_ = a.shape[0]
        b = np.zeros(size_)
        b[:s] = tableau.b
        e0 = np.eye(size_)[0]
        e1 = np.eye(size_)[last]
        weights = theta * e0 + theta**2 * (3 * b - 2 * e0 - e1) + theta**3 * (-2 * b + e0 + e1)
        return a, weights
    assert tableau.dense == "dop853"
    extra = len(tableau.extra_a)
    size_ = s + extra
    a = np.zeros((size_, size_))
    a[:s, :s] = tableau.a
    for i, row in enumerate(tableau.extra_a):
        a[s + i, : len(row)] = row
    b = np.zeros(size_)
    b[:s] = tableau.b
    e0, e1 = np.eye(size_)[0], np.eye(size_)[s - 1]
    one_minus = 1 - theta
    weights = (
        theta * b
        + theta * one_minus * (e0 - b)
        + theta**2 * one_minus * (2 * b - e0 - e1)
        + theta**2 * one_minus**2 * tableau.dense_d[0]
        + theta**3 * one_minus**2 * tableau.dense_d[1]
        + theta**3 * one_minus**3 * tableau.dense_d[2]
        + theta**4 * one_minus**3 * tableau.dense_d[3]
    )
    return a, weights


def continuous_order(name):
    """The order the continuous extension can have: at most the method's order."""
    tableau = TABLEAUS[name]
    return min(tableau.order, tableau.dense_order)


@pytest.mark.parametrize("name", ALL_METHODS)
def test_dense_output_reproduces_b_at_theta_one(name):
    tableau = TABLEAUS[name]
    a, weights = dense_tableau(tableau, 1.0)
    np.testing.assert_allclose(weights[: tableau.num_stages], tableau.b, atol=1e-12)
    np.testing.assert_allclose(weights[tableau.num_stages :], 0.0, atol=1e-12)
    _, at_zero = dense_tableau(tableau, 0.0)
    np.testing.assert_array_equal(at_zero, 0.0)
    if tableau.dense == "poly":
        np.testing.assert_allclose(tableau.dense_weights.sum(axis=1), tableau.b, atol=1e-12)


@pytest.mark.parametrize("name", ALL_METHODS)
def test_dense_output_continuous_order_conditions(name):
    tableau = TABLEAUS[name]
    order = continuous_order(name)
    for theta in (0.1, 0.37, 0.5, 0.81):
        a, weights = dense_tableau(tableau, theta)
        for n in range(1, order + 1):
            assert max_residual(a, weights, n, theta) < 1e-11, (theta, n)
    if order < tableau.order:
        a, weights = dense_tableau(tableau, 0.37)
        assert max_residual(a, weights, order + 1, 0.37) > 1e-6


def test_dense_output_orders_as_documented():
    assert {name: continuous_order(name) for name in ADAPTIVE_METHODS} == {
        "bosh3": 3,
        "dopri5": 4,
        "tsit5": 4,
        "dopri8": 7,
    }


# -------------------------------------------------------------- construction checks


def test_tableau_rejects_inconsistent_data():
    heun = TABLEAUS["heun"]
    with pytest.raises(ValueError, match="row sums"):
        solvers.ButcherTableau(name="bad", a=heun.a, b=heun.b, c=np.array([0.0, 0.5]), order=2)
    with pytest.raises(ValueError, match=r"sum\(b\)"):
        solvers.ButcherTableau(name="bad", a=heun.a, b=np.array([0.5, 0.6]), c=heun.c, order=2)
    with pytest.raises(ValueError, match="lower triangular"):
        solvers.ButcherTableau(
            name="bad", a=np.array([[0.0, 1.0], [1.0, 0.0]]), b=heun.b, c=heun.c, order=2
        )
    with pytest.raises(ValueError, match="must be"):
        solvers.ButcherTableau(name="bad", a=heun.a, b=np.array([1.0]), c=heun.c, order=2)
    with pytest.raises(ValueError, match=r"sum\(b_error\)"):
        solvers.ButcherTableau(
            name="bad", a=heun.a, b=heun.b, c=heun.c, order=2, b_error=np.array([0.1, 0.0])
        )
    with pytest.raises(ValueError, match="FSAL"):
        solvers.ButcherTableau(name="bad", a=heun.a, b=heun.b, c=heun.c, order=2, fsal=True)
    dopri5 = TABLEAUS["dopri5"]
    with pytest.raises(ValueError, match="theta=1"):
        solvers.ButcherTableau(
            name="bad",
            a=dopri5.a,
            b=dopri5.b,
            c=dopri5.c,
            order=5,
            dense="poly",
            dense_weights=dopri5.dense_weights * 1.01,
        )


def test_custom_tableau_runs_through_solve():
    """A user-defined tableau (Kutta's 3/8 rule) is a first-class method."""
    a = np.array([[0, 0, 0, 0], [1 / 3, 0, 0, 0], [-1 / 3, 1, 0, 0], [1, -1, 1, 0]], float)
    tableau = solvers.ButcherTableau(
        name="three_eighths", a=a, b=np.array([1, 3, 3, 1]) / 8, c=a.sum(axis=1), order=4
    )
    assert max_residual(tableau.a, tableau.b, 4) < 1e-15
    sol = solvers.solve(
        decay, jnp.array(1.0), (0.0, 1.0), 1.0, method=solvers.ExplicitRK(tableau), dt=0.05
    )
    np.testing.assert_allclose(sol.ys[-1], np.exp(-1.0), rtol=1e-7)
