"""Variable-order BDF (NDF): the difference-array algebra, the controller, accuracy
against scipy's Radau at tight tolerance (Robertson, HIRES, Van der Pol), order
selection, tolerance proportionality, dense output and events, jit/vmap/jvp and the
banded linear solver.

The compiled programs are shared: one vmapped Robertson solve (accuracy, vmap,
tolerances, finite differences), one jvp, one HIRES solve per linear solver, one Van
der Pol solve with dense output and a terminal event, and one jitted step for the
order test.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from helpers import fitted_slope
from scipy.integrate import solve_ivp

import solvers
from solvers.bdf import BDF, BDFController, BDFError, change_differences

# ------------------------------------------------------------------ problems


def robertson(t, y, p):
    return jnp.stack(
        [
            -p[0] * y[0] + p[2] * y[1] * y[2],
            p[0] * y[0] - p[1] * y[1] ** 2 - p[2] * y[1] * y[2],
            p[1] * y[1] ** 2,
        ]
    )


def robertson_np(t, y, p):
    return np.array(
        [
            -p[0] * y[0] + p[2] * y[1] * y[2],
            p[0] * y[0] - p[1] * y[1] ** 2 - p[2] * y[1] * y[2],
            p[1] * y[1] ** 2,
        ]
    )


def robertson_jacobian_np(t, y, p):
    return np.array(
        [
            [-p[0], p[2] * y[2], p[2] * y[1]],
            [p[0], -2 * p[1] * y[1] - p[2] * y[2], -p[2] * y[1]],
            [0.0, 2 * p[1] * y[1], 0.0],
        ]
    )


ROBERTSON_Y0 = jnp.array([1.0, 0.0, 0.0])
K2, K3 = 3e7, 1e4


def hires(t, y, p):
    """HIRES (Hairer & Wanner II, IV.10); its Jacobian has bandwidth (2, 2)."""
    y1, y2, y3, y4, y5, y6, y7, y8 = (y[i] for i in range(8))
    return jnp.stack(
        [
            -1.71 * y1 + 0.43 * y2 + 8.32 * y3 + 0.0007,
            1.71 * y1 - 8.75 * y2,
            -10.03 * y3 + 0.43 * y4 + 0.035 * y5,
            8.32 * y2 + 1.71 * y3 - 1.12 * y4,
            -1.745 * y5 + 0.43 * y6 + 0.43 * y7,
            -p * y6 * y8 + 0.69 * y4 + 1.71 * y5 - 0.43 * y6 + 0.69 * y7,
            p * y6 * y8 - 1.81 * y7,
            -p * y6 * y8 + 1.81 * y7,
        ]
    )


def hires_np(t, y):
    return np.array(
        [
            -1.71 * y[0] + 0.43 * y[1] + 8.32 * y[2] + 0.0007,
            1.71 * y[0] - 8.75 * y[1],
            -10.03 * y[2] + 0.43 * y[3] + 0.035 * y[4],
            8.32 * y[1] + 1.71 * y[2] - 1.12 * y[3],
            -1.745 * y[4] + 0.43 * y[5] + 0.43 * y[6],
            -280.0 * y[5] * y[7] + 0.69 * y[3] + 1.71 * y[4] - 0.43 * y[5] + 0.69 * y[6],
            280.0 * y[5] * y[7] - 1.81 * y[6],
            -280.0 * y[5] * y[7] + 1.81 * y[6],
        ]
    )


def hires_jacobian_np(t, y):
    J = np.zeros((8, 8))
    J[0, :3] = [-1.71, 0.43, 8.32]
    J[1, :2] = [1.71, -8.75]
    J[2, 2:5] = [-10.03, 0.43, 0.035]
    J[3, 1:4] = [8.32, 1.71, -1.12]
    J[4, 4:7] = [-1.745, 0.43, 0.43]
    J[5, 3:8] = [0.69, 1.71, -280.0 * y[7] - 0.43, 0.69, -280.0 * y[5]]
    J[6, 5:8] = [280.0 * y[7], -1.81, 280.0 * y[5]]
    J[7, 5:8] = [-280.0 * y[7], 1.81, -280.0 * y[5]]
    return J


HIRES_Y0 = jnp.array([1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0057])
HIRES_T1 = 321.8122
HIRES_TS = jnp.linspace(0.0, HIRES_T1, 9)[1:]


def van_der_pol(t, y, mu):
    return jnp.stack([y[1], mu * (1.0 - y[0] ** 2) * y[1] - y[0]])


def van_der_pol_np(t, y, mu):
    return np.array([y[1], mu * (1.0 - y[0] ** 2) * y[1] - y[0]])


def van_der_pol_jacobian_np(t, y, mu):
    return np.array([[0.0, 1.0], [-2.0 * mu * y[0] * y[1] - 1.0, mu * (1.0 - y[0] ** 2)]])


def downward_zero(t, y, mu):
    return y[0]


MU = 1e3
VDP_Y0 = jnp.array([2.0, 0.0])
VDP_TS = jnp.linspace(50.0, 800.0, 16)
# The first relaxation jump, x: 2 -> -2, crosses x = 0 at t ~ 807.
VDP_EVENT = solvers.Event(downward_zero, direction=-1, terminal=True)


def radau(fun, span, y0, jac=None, **kwargs):
    """scipy's Radau IIA at rtol 1e-10: errors ~1e-9, far below what is tested."""
    return solve_ivp(
        fun, span, np.asarray(y0), method="Radau", rtol=1e-10, atol=1e-15, jac=jac, **kwargs
    )


# ------------------------------------------------------------- compiled solves


def robertson_final(k1, shift, rtol, t1):
    """The state at ``t1`` from ``y0 = (1 - shift, shift, 0)`` with rate ``k1``."""
    sol = solvers.solve(
        robertson,
        jnp.stack([1.0 - shift, shift, jnp.zeros_like(shift)]),
        (0.0, t1),
        jnp.stack([k1, jnp.asarray(K2), jnp.asarray(K3)]),
        method="bdf",
        rtol=rtol,
        atol=1e-4 * rtol,
    )
    return sol.ys[-1], sol.stats["num_steps"]


@jax.jit
@functools.partial(jax.vmap, in_axes=(0, 0, None, None))
def robertson_batch(k1, shift, rtol, t1):
    """``(y(t1), dy(t1)/dk1, steps)`` per member: one compiled program (jit of vmap of
    jvp) serves the accuracy, vmap, tolerance and derivative tests (batches of 4)."""
    (y, steps), (tangent, _) = jax.jvp(
        lambda k: robertson_final(k, shift, rtol, t1), (k1,), (jnp.ones_like(k1),)
    )
    return y, tangent, steps


WEIGHTS = jnp.array([1.0, 1e4, 2.0])


@jax.jit
def robertson_gradient(k1, shift):
    """Reverse mode: the discrete adjoint that records every step with BDF's history
    (the checkpoint adjoint replays the same steps; it costs twice the compile time)."""

    def loss(k1, shift):
        sol = solvers.solve(
            robertson,
            jnp.stack([1.0 - shift, shift, jnp.zeros_like(shift)]),
            (0.0, 40.0),
            jnp.stack([k1, jnp.asarray(K2), jnp.asarray(K3)]),
            method="bdf",
            rtol=1e-10,
            atol=1e-14,
            adjoint="direct",
        )
        return jnp.dot(WEIGHTS, sol.ys[-1])

    return jax.grad(loss, argnums=(0, 1))(k1, shift)


def solve_hires(linear_solver):
    return solvers.solve(
        hires,
        HIRES_Y0,
        (0.0, HIRES_T1),
        280.0,
        method=BDF(linear_solver=linear_solver),
        ts=HIRES_TS,
        rtol=1e-6,
        atol=1e-10,
    )


@pytest.fixture(scope="module")
def hires_dense():
    return solve_hires(None)


@pytest.fixture(scope="module")
def van_der_pol_solution():
    return solvers.solve(
        van_der_pol,
        VDP_Y0,
        (0.0, 2.0 * MU),
        MU,
        method="bdf",
        ts=VDP_TS,
        rtol=1e-6,
        atol=1e-10,
        dense=True,
        event=VDP_EVENT,
    )


@pytest.fixture(scope="module")
def van_der_pol_reference():
    def crossing(t, y, mu):
        return y[0]

    crossing.terminal = True
    crossing.direction = -1
    return solve_ivp(
        van_der_pol_np,
        (0.0, 2.0 * MU),
        np.asarray(VDP_Y0),
        method="Radau",
        rtol=1e-9,
        atol=1e-13,
        jac=van_der_pol_jacobian_np,
        args=(MU,),
        dense_output=True,
        events=crossing,
    )


@functools.cache
def robertson_reference(k1, t1):
    p = (k1, K2, K3)
    sol = radau(robertson_np, (0.0, t1), ROBERTSON_Y0, jac=robertson_jacobian_np, args=(p,))
    return sol.y[:, -1]


# ------------------------------------------------------------- the algebra


def _backward_differences(values, order):
    """``D^j`` at the newest point from values at ``x_0 > x_1 > ... > x_order``."""
    rows, table = [values[0]], values
    for _ in range(order):
        table = table[:-1] - table[1:]
        rows.append(table[0])
    return np.array(rows)


def test_change_differences_reinterpolates_the_same_polynomial():
    # D^0..D^k of a degree-k polynomial at spacing h, rescaled to spacing 0.37 h,
    # must be the polynomial's differences at the new spacing (exact for degree <= k).
    rng = np.random.default_rng(0)
    max_order, n = 5, 2
    for order in range(1, max_order + 1):
        coefficients = rng.normal(size=(order + 1, n))

        def polynomial(x, coefficients=coefficients):
            return sum(c * x**i for i, c in enumerate(coefficients))

        t, h, factor = 0.3, 0.2, 0.37
        old = np.array([polynomial(t - m * h) for m in range(order + 1)])
        new = np.array([polynomial(t - m * factor * h) for m in range(order + 1)])
        D = np.zeros((max_order + 3, n))
        D[: order + 1] = _backward_differences(old, order)
        D[order + 1 :] = rng.normal(size=(max_order + 2 - order, n))  # left alone
        changed = jax.jit(change_differences)(
            jnp.asarray(D), jnp.asarray(order, jnp.int32), jnp.asarray(factor)
        )
        np.testing.assert_allclose(
            changed[: order + 1], _backward_differences(new, order), atol=1e-12
        )
        np.testing.assert_array_equal(changed[order + 1 :], D[order + 1 :])


def test_interpolant_is_the_backward_difference_polynomial():
    # The dense output of a step through a polynomial of degree <= k reproduces it.
    method = BDF()
    rng = np.random.default_rng(1)
    order, n, h, t1 = 3, 2, 0.5, 2.0
    coefficients = rng.normal(size=(order + 1, n))

    def polynomial(x):
        return sum(c * x**i for i, c in enumerate(coefficients))

    past = np.array([polynomial(t1 - m * h) for m in range(order + 1)])
    D = np.zeros((method.max_order + 3, n))
    D[: order + 1] = _backward_differences(past, order)
    y0, y1 = jnp.asarray(polynomial(t1 - h)), jnp.asarray(polynomial(t1))
    info = (jnp.asarray(D[1 : method.max_order + 1]), jnp.asarray(order, jnp.int32))

    @jax.jit
    def interpolant(thetas):
        c = method.dense(None, t1 - h, h, y0, y1, info, None)
        return jax.vmap(lambda theta: method.interpolate(y0, c, theta))(thetas)

    thetas = np.array([0.0, 0.25, 0.6, 1.0])
    values = interpolant(jnp.asarray(thetas))
    exact = np.array([polynomial(t1 - h + theta * h) for theta in thetas])
    np.testing.assert_allclose(values, exact, atol=1e-12)
    assert np.array_equal(values[0], y0)


def test_controller_factors_clipping_and_max_step():
    controller = BDFController()
    method = BDF()
    y = jnp.ones(2)
    h = jnp.asarray(0.1)
    order = jnp.asarray(3, jnp.int32)

    @functools.partial(jax.jit, static_argnames=("max_step",))
    def adapt(error, factor, clipped=False, max_step=None, proposal=0.1, safety=0.9):
        report = BDFError(jnp.full(2, error), order, jnp.asarray(factor), jnp.asarray(safety))
        return controller.adapt(
            method,
            0.0,
            y,
            y,
            report,
            h,
            jnp.asarray(clipped),
            jnp.asarray(proposal),
            1e-3,
            0.0,
            max_step,
        )

    accept, h_next = adapt(5e-4, 2.5)  # ratio 0.5: accept, the method's factor
    assert bool(accept) and np.isclose(float(h_next), 0.25)
    accept, h_next = adapt(2e-3, 2.5)  # ratio 2: reject, 0.9 * 2^(-1/4)
    assert not bool(accept) and np.isclose(float(h_next), 0.1 * 0.9 * 2 ** (-0.25))
    # The method's own (Newton-dependent) safety factor after a rejection.
    accept, h_next = adapt(2e-3, 2.5, safety=0.75)
    assert not bool(accept) and np.isclose(float(h_next), 0.1 * 0.75 * 2 ** (-0.25))
    accept, h_next = adapt(1.0, 2.5)  # ratio 1000: clipped to the smallest factor
    assert not bool(accept) and np.isclose(float(h_next), 0.02)
    accept, h_next = adapt(np.inf, 2.5)  # Newton failure
    assert not bool(accept) and np.isclose(float(h_next), 0.02)
    _, h_next = adapt(5e-4, 1.0, clipped=True, proposal=0.4)  # keeps the longer proposal
    assert np.isclose(float(h_next), 0.4)
    _, h_next = adapt(5e-4, 2.5, max_step=0.15)
    assert np.isclose(float(h_next), 0.15)
    with pytest.raises(TypeError, match="BDFController works with solvers.BDF"):
        controller.adapt(method, 0.0, y, y, y, h, False, h, 1e-3, 0.0, None)


def test_options_are_checked():
    with pytest.raises(ValueError, match="max_order"):
        BDF(max_order=6)
    with pytest.raises(TypeError, match="linear_solver"):
        BDF(linear_solver="dense")
    assert isinstance(BDF().default_controller, BDFController)
    assert solvers.BDF is BDF and solvers.BDFController is BDFController


def oscillator(t, y, omega):
    return jnp.stack([y[1], -(omega**2) * y[0]])


@jax.jit
def oscillator_orders(t1):
    """Drive BDF and its controller through the documented interface (init, propose,
    step, adapt) in a loop; record the order of every accepted step (0: none)."""
    method, controller = BDF(), BDFController()
    rtol, atol, omega = 1e-8, 1e-10, jnp.asarray(2.0)
    t, y = jnp.zeros_like(t1), jnp.array([1.0, 0.0])
    f0 = oscillator(t, y, omega)
    state = method.init(oscillator, t, y, omega, f0, tolerances=(rtol, atol))
    control, _ = controller.init(method, oscillator, t, t1, y, f0, omega, None, rtol, atol, None)
    orders = jnp.zeros((400,), jnp.int32)

    def body(carry):
        t, y, state, control, orders, count, attempts = carry
        h = controller.propose(t, t1, control)
        clipped = h >= t1 - t
        h = jnp.where(clipped, t1 - t, h)
        step = method.step(oscillator, t, y, h, omega, state)
        accept, control = controller.adapt(
            method, t, y, step.y, step.error, h, clipped, control, rtol, atol, None
        )
        accept = accept & (step.status == 0)
        orders = orders.at[count].set(jnp.where(accept, step.error.order, orders[count]))
        return (
            jnp.where(accept, jnp.where(clipped, t1, t + h), t),
            jnp.where(accept, step.y, y),
            jax.tree.map(lambda new, old: jnp.where(accept, new, old), step.state, state),
            control,
            orders,
            count + accept.astype(jnp.int32),
            attempts + 1,
        )

    def running(carry):
        t, count, attempts = carry[0], carry[5], carry[6]
        return (t < t1) & (count < orders.shape[0]) & (attempts < 1000)

    zero = jnp.zeros((), jnp.int32)
    t, y, _, _, orders, _, _ = jax.lax.while_loop(
        running, body, (t, y, state, control, orders, zero, zero)
    )
    return t, y, orders


def test_order_rises_from_one_and_varies():
    # On a smooth problem at a tight tolerance the order climbs from 1 through the
    # orders in between to 4 or 5, where most of the steps are taken.
    t, y, orders = oscillator_orders(jnp.asarray(6.0))
    orders = np.asarray(orders)
    orders = orders[orders > 0]
    assert float(t) == 6.0
    np.testing.assert_allclose(y, [np.cos(12.0), -2.0 * np.sin(12.0)], atol=1e-6)
    assert orders[0] == 1 and max(orders) >= 4
    assert len(set(orders.tolist())) >= 4
    assert np.sum(orders >= 4) > len(orders) // 2


# ------------------------------------------------------------- accuracy


def test_robertson_to_1e5_under_jit_and_vmap():
    k1s = jnp.array([0.03, 0.04, 0.05, 0.06])
    ys, _, steps = robertson_batch(k1s, jnp.zeros(4), 1e-6, 1e5)
    for k1, y in zip(np.asarray(k1s), np.asarray(ys)):
        reference = robertson_reference(float(k1), 1e5)
        np.testing.assert_allclose(y, reference, rtol=1e-4)
    # scipy's BDF takes about 330 steps here.
    assert np.all(np.asarray(steps) < 600)


def test_error_is_proportional_to_the_tolerance():
    k1s = jnp.array([0.03, 0.04, 0.05, 0.06])
    rtols = np.array([1e-4, 1e-5, 1e-6, 1e-7, 1e-8])
    errors = []
    for rtol in rtols:
        ys, _, _ = robertson_batch(k1s, jnp.zeros(4), float(rtol), 1e5)
        errors.append(
            max(
                np.max(np.abs(y - r) / np.abs(r))
                for y, r in zip(
                    np.asarray(ys), (robertson_reference(float(k), 1e5) for k in np.asarray(k1s))
                )
            )
        )
    errors = np.array(errors)
    assert np.all(np.diff(np.log(errors)) < 0), errors
    assert 0.7 < fitted_slope(rtols, errors) < 1.3, errors
    assert np.all(errors < 30 * rtols), errors


@pytest.fixture(scope="module")
def robertson_differences():
    """Central differences of ``y(40)`` in ``k1`` and in the initial ``shift``, and the
    forward-mode derivative in ``k1``. (A shift below ``-sqrt(k1/k2) ~ -3.7e-5`` would
    make ``y2' = k1 y1 - k2 y2^2 - ...`` negative: the solution blows up.)"""
    k1, eps = 0.04, 1e-7
    k1s = jnp.array([k1 + eps, k1 - eps, k1, k1])
    shifts = jnp.array([0.0, 0.0, eps, -eps])
    ys, tangents, _ = robertson_batch(k1s, shifts, 1e-10, 40.0)
    by_k1 = (ys[0] - ys[1]) / (2 * eps)
    by_shift = (ys[2] - ys[3]) / (2 * eps)
    return by_k1, by_shift, (tangents[0] + tangents[1]) / 2


def test_jvp_matches_finite_differences(robertson_differences):
    # Forward mode goes through Newton by the implicit function theorem (custom_root)
    # and through the step-size and difference-array updates.
    by_k1, _, tangent = robertson_differences
    np.testing.assert_allclose(tangent, by_k1, rtol=1e-5, atol=1e-9)
    assert np.all(np.abs(np.asarray(by_k1)) > 1e-6)


def test_gradient_matches_finite_differences(robertson_differences):
    # Reverse mode: the adjoint replays each step from its recorded history (D, order,
    # h); the history's cotangent reaches the parameters and y0 through D = [y0, f0].
    by_k1, by_shift, _ = robertson_differences
    gradient_k1, gradient_shift = robertson_gradient(jnp.asarray(0.04), jnp.asarray(0.0))
    np.testing.assert_allclose(gradient_k1, np.dot(WEIGHTS, by_k1), rtol=1e-5)
    # (The shift moves the fast transient: step decisions make its differences noisier.)
    np.testing.assert_allclose(gradient_shift, np.dot(WEIGHTS, by_shift), rtol=1e-4)
    assert abs(float(gradient_shift)) > 1e-2


def test_hires_matches_scipy(hires_dense):
    reference = radau(
        hires_np, (0.0, HIRES_T1), HIRES_Y0, jac=hires_jacobian_np, t_eval=np.asarray(HIRES_TS)
    )
    scale = np.max(np.abs(reference.y), axis=1)
    error = np.abs(np.asarray(hires_dense.ys) - reference.y.T) / scale
    assert int(hires_dense.status) == 0
    assert np.max(error) < 1e-4, np.max(error, axis=0)


def test_banded_linear_solver_matches_dense(hires_dense):
    banded = solve_hires(solvers.Banded(2, 2))
    np.testing.assert_allclose(banded.ys, hires_dense.ys, rtol=1e-9, atol=1e-14)
    assert int(banded.stats["num_steps"]) == int(hires_dense.stats["num_steps"])
    # Five grouped JVPs per Jacobian instead of eight columns.
    assert int(banded.stats["num_fevals"]) < int(hires_dense.stats["num_fevals"])


def test_van_der_pol_dense_output_and_terminal_event(van_der_pol_solution, van_der_pol_reference):
    sol, reference = van_der_pol_solution, van_der_pol_reference
    assert int(sol.status) == 0
    # The terminal event: the crossing of x = 0 in the first relaxation jump.
    t_event = reference.t_events[0][0]
    assert abs(float(sol.events[0].ts[0]) - t_event) < 1e-4 * t_event
    assert int(sol.events[0].count) == 1 and abs(float(sol.events[0].ys[0, 0])) < 1e-10
    scale = np.max(np.abs(reference.y), axis=1)
    # Save points, interpolated inside steps, on the slow branch up to the jump.
    exact = reference.sol(np.asarray(VDP_TS)).T
    assert np.max(np.abs(np.asarray(sol.ys) - exact) / scale) < 1e-4
    # evaluate() uses every step's own interpolant (dense=True); it stops at the event.
    times = np.linspace(0.5, 800.0, 41)
    dense = np.asarray(sol.evaluate(jnp.asarray(times)))
    error = np.abs(dense - reference.sol(times).T) / scale
    assert np.max(error) < 1e-4, np.max(error, axis=0)
