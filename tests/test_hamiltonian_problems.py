"""The Hamiltonian problems in canonical (q, p) form: their fields are Hamilton's
equations of their ``prob.hamiltonian``, and each one's invariants and physics (Kepler's
invariants, FPUT recurrence, the figure-eight choreography, the outer solar system
against scipy, the Penning trap against the Lorentz-force equations)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree
from scipy.integrate import solve_ivp

import problems
import solvers

NAMES = [
    "kepler_qp",
    "henon_heiles",
    "fput",
    "figure_eight",
    "outer_solar_system",
    "charged_particle",
]


def along(hamiltonian, ys, params):
    """``H`` at every saved state ``(q[i], p[i])``."""
    return np.asarray(jax.vmap(hamiltonian, (0, 0, None))(ys[0], ys[1], params))


def scipy_reference(prob, times, rtol=1e-12, atol=1e-12):
    """DOP853 on the flattened state, at ``times``; returns ``(q, p)`` with a leading
    time axis."""
    y0, unravel = ravel_pytree(prob.y0)
    field = jax.jit(lambda t, y: ravel_pytree(prob.vector_field(t, unravel(y), prob.params))[0])
    result = solve_ivp(
        lambda t, y: np.asarray(field(t, jnp.asarray(y))),
        (prob.t_span[0], float(np.max(times))),
        np.asarray(y0),
        method="DOP853",
        t_eval=times,
        rtol=rtol,
        atol=atol,
    )
    assert result.success
    return jax.vmap(unravel)(jnp.asarray(result.y.T))


@pytest.mark.parametrize("name", NAMES)
def test_field_is_hamiltons_equations_of_its_hamiltonian(name):
    prob = problems.get(name)
    assert prob.hamiltonian is not None
    solvers.Leapfrog().check_state(prob.y0)  # a (q, p) pair of equal size
    from_h = solvers.hamiltonian(prob.hamiltonian)

    @jax.jit
    @jax.vmap
    def both(y):
        return (
            ravel_pytree(prob.vector_field(0.0, y, prob.params))[0],
            ravel_pytree(from_h(0.0, y, prob.params))[0],
        )

    rng = np.random.default_rng(1)
    scales = np.array([0.0, 0.05, 0.1])

    def perturbed(leaf):
        noise = rng.normal(size=(3, *leaf.shape))
        return leaf[None] + scales.reshape((3,) + (1,) * leaf.ndim) * noise

    got, want = both(jax.tree.map(perturbed, prob.y0))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * float(jnp.max(jnp.abs(want))))


def test_kepler_qp_invariants_on_the_exact_orbit():
    e, mu = 0.7, 1.3
    prob = problems.kepler_qp(e=e, mu=mu)
    times = jnp.linspace(0.0, 3 * 2 * math.pi / math.sqrt(mu), 97)
    q, p = jax.vmap(prob.exact, (0, None))(times, prob.params)
    energy, momentum, runge_lenz = problems.kepler_invariants(q, p, mu)
    np.testing.assert_allclose(energy, -mu / 2, rtol=1e-12)
    np.testing.assert_allclose(along(prob.hamiltonian, (q, p), prob.params), -mu / 2, rtol=1e-12)
    np.testing.assert_allclose(momentum, math.sqrt(mu * (1 - e**2)), rtol=1e-12)
    np.testing.assert_allclose(
        runge_lenz, np.broadcast_to([mu * e, 0.0], runge_lenz.shape), atol=1e-12
    )
    # The vector field keeps all three (d/dt = their derivative along f vanishes) at
    # states off the orbit too; the Runge-Lenz vector is special to the 1/r potential,
    # so this checks the field, not just the formula.
    rng = np.random.default_rng(2)
    for _ in range(4):
        y = (jnp.asarray(rng.normal(size=2)), jnp.asarray(rng.normal(size=2)))
        rates = jax.jvp(
            lambda y: problems.kepler_invariants(*y, mu),
            (y,),
            (prob.vector_field(0.0, y, prob.params),),
        )[1]
        for rate in rates:
            np.testing.assert_allclose(rate, 0.0, atol=1e-12)


def test_henon_heiles_energy_bounded_and_orbit_matches_scipy():
    prob = problems.henon_heiles()
    assert abs(float(prob.hamiltonian(*prob.y0, prob.params)) - 1 / 8) < 1e-15
    ts = np.linspace(0.0, 200.0, 401)
    sol = prob.solve(method="yoshida4", dt=0.05, ts=ts)
    drift = np.abs(along(prob.hamiltonian, sol.ys, prob.params) - 1 / 8)
    assert drift.max() < 1e-6, drift.max()
    # The first few time units, before chaos amplifies the differences.
    reference = scipy_reference(prob, ts[:11])
    for got, want in zip(sol.ys, reference):
        np.testing.assert_allclose(got[:11], want, atol=1e-5)


@pytest.fixture(scope="module")
def fput_run():
    prob = problems.fput()
    ts = np.linspace(0.0, prob.t_span[1], 351)
    return prob, ts, prob.solve(method="leapfrog", dt=0.1, ts=ts)


def test_fput_energy_sharing_and_recurrence(fput_run):
    # Fermi, Pasta, Ulam and Tsingou's observations (Dauxois 2008, Fig. 1).
    prob, ts, leapfrog = fput_run
    period = 2 * math.pi / (2 * math.sin(math.pi / (2 * 33)))  # of the lowest mode
    modes = np.asarray(problems.fput_mode_energies(*leapfrog.ys))
    start = modes[0, 0]
    assert modes[0, 1:].max() < 1e-12 * start  # all the energy in mode 1 at first
    share = modes[:, 0] / start
    middle = (ts > 20 * period) & (ts < 120 * period)
    late = (ts > 140 * period) & (ts < 165 * period)
    # The energy leaves mode 1 for the next few modes ...
    assert share[middle].min() < 0.15
    assert (modes[middle][:, 1:5].sum(axis=1) / start).max() > 0.8
    # ... never reaches the high modes (no equipartition) ...
    assert modes[:, 10:].max() < 1e-3 * start
    # ... and comes back: the recurrence, near 154 periods of mode 1.
    assert share[late].max() > 0.95
    assert 145 * period < ts[late][np.argmax(share[late])] < 162 * period
    energy = along(prob.hamiltonian, leapfrog.ys, prob.params)
    assert np.abs(energy / energy[0] - 1).max() < 1e-3


def test_figure_eight_choreography_and_invariants():
    prob = problems.figure_eight()
    period = problems.FIGURE_EIGHT_PERIOD
    ts = np.array([period / 3, 2 * period / 3, period])
    sol = prob.solve(method="yoshida4", dt=period / 1500, ts=ts)
    q0, p0 = prob.y0
    q, p = sol.ys
    for k in range(3):
        # After k thirds of a period each body is where the previous one started:
        # q_1(t + T/3) = q_3(t), q_2(t + T/3) = q_1(t), q_3(t + T/3) = q_2(t).
        shifted_q, shifted_p = np.roll(q0, k + 1, axis=0), np.roll(p0, k + 1, axis=0)
        np.testing.assert_allclose(q[k], shifted_q, atol=2e-7)
        np.testing.assert_allclose(p[k], shifted_p, atol=2e-7)
    # The total momentum and angular momentum are zero and stay zero to rounding.
    total_momentum = np.asarray(jnp.sum(p, axis=1))
    angular = np.asarray(jnp.sum(q[..., 0] * p[..., 1] - q[..., 1] * p[..., 0], axis=1))
    assert np.abs(total_momentum).max() < 1e-13 and np.abs(angular).max() < 1e-13
    energy = along(prob.hamiltonian, sol.ys, prob.params)
    assert np.abs(energy - float(prob.hamiltonian(q0, p0, prob.params))).max() < 1e-9


def test_outer_solar_system_against_scipy_and_invariants():
    prob = problems.outer_solar_system()
    ts = np.linspace(0.0, 8_000.0, 5)  # Jupiter's period is about 4,330 days
    sol = solvers.solve(
        prob.vector_field, prob.y0, (0.0, 8_000.0), prob.params, method="yoshida4", dt=10.0, ts=ts
    )
    reference = scipy_reference(prob, ts)
    np.testing.assert_allclose(sol.ys[0], reference[0], atol=1e-5)  # AU
    q, p = sol.ys
    masses = prob.params["masses"]
    momentum = np.asarray(jnp.sum(p, axis=1))
    angular = np.asarray(jnp.sum(jnp.cross(q, p), axis=1))
    np.testing.assert_allclose(momentum, np.broadcast_to(momentum[0], momentum.shape), atol=1e-17)
    np.testing.assert_allclose(angular, np.broadcast_to(angular[0], angular.shape), rtol=1e-12)
    energy = along(prob.hamiltonian, sol.ys, prob.params)
    assert np.abs(energy / energy[0] - 1).max() < 1e-8
    # Jupiter keeps to its orbit: 4.95 to 5.46 AU from the Sun.
    distance = np.linalg.norm(np.asarray(q[:, 1] - q[:, 0]), axis=-1)
    assert np.all((distance > 4.9) & (distance < 5.5)), distance
    assert float(masses[0]) == 1.00000597682


def lorentz_field(t, y, params):
    """Laboratory equations ``x' = v``, ``m v' = e(E + v x B)`` of the Penning trap."""
    x, v = y[:3], y[3:]
    m, e, B, omega_z = params["mass"], params["charge"], params["B"], params["omega_z"]
    # e E = -grad(e phi), e phi = m omega_z^2 (z^2 - (x^2 + y^2) / 2) / 2.
    electric = m * omega_z**2 * jnp.stack([x[0] / 2, x[1] / 2, -x[2]])
    magnetic = e * B * jnp.stack([v[1], -v[0], jnp.zeros_like(v[0])])
    return jnp.concatenate([v, (electric + magnetic) / m])


def test_charged_particle_larmor_frame_reproduces_the_lorentz_force():
    prob = problems.charged_particle()
    ts = np.linspace(0.0, 60.0, 13)
    exact = jax.vmap(prob.exact, (0, None))(jnp.asarray(ts), prob.params)
    sol = prob.solve(method="yoshida4", dt=0.02, ts=ts)
    for got, want in zip(sol.ys, exact):
        np.testing.assert_allclose(got, want, atol=1e-7)
    # Back in the laboratory: the solution of m v' = e (E + v x B), started from the
    # factory's laboratory state x = (1, 0, 0.5), v = (0, 1, 0).
    x, v = problems.charged_particle_lab_frame(jnp.asarray(ts), *exact, prob.params)
    np.testing.assert_allclose(x[0], [1.0, 0.0, 0.5], atol=1e-15)
    np.testing.assert_allclose(v[0], [0.0, 1.0, 0.0], atol=1e-15)
    field = jax.jit(lambda t, y: lorentz_field(t, y, prob.params))
    lab = solve_ivp(
        lambda t, y: np.asarray(field(t, jnp.asarray(y))),
        (0.0, 60.0),
        np.concatenate([x[0], v[0]]),
        method="DOP853",
        t_eval=ts,
        rtol=1e-12,
        atol=1e-12,
    ).y.T
    np.testing.assert_allclose(x, lab[:, :3], atol=1e-8)
    np.testing.assert_allclose(v, lab[:, 3:], atol=1e-8)
    # Invariants: H, the canonical angular momentum L_z, and the axial energy.
    q, p = sol.ys
    energy = along(prob.hamiltonian, sol.ys, prob.params)
    assert np.abs(energy - energy[0]).max() < 1e-8
    lz = np.asarray(q[:, 0] * p[:, 1] - q[:, 1] * p[:, 0])
    assert np.abs(lz - lz[0]).max() < 1e-12
    omega_z = float(prob.params["omega_z"])
    axial = np.asarray(p[:, 2] ** 2 / 2 + omega_z**2 * q[:, 2] ** 2 / 2)
    assert np.abs(axial - axial[0]).max() < 1e-8


def test_charged_particle_refuses_an_unconfining_trap():
    with pytest.raises(ValueError, match="does not confine"):
        problems.charged_particle(B=0.5, omega_z=0.5)
