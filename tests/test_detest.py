"""The non-stiff DETEST set (Hull, Enright, Fellen & Sedgwick, "Comparing numerical
methods for ordinary differential equations", SIAM J. Numer. Anal. 9, 1972): 25
problems in five classes (A: single equations, B: small systems, C: larger linear and
N-body systems, D: Kepler orbits of growing eccentricity, E: second-order equations
from physics), each on t in [0, 20], solved with `solve` and compared with scipy's
DOP853 at rtol = atol = 1e-13 at the end and at 20 save points.

Each field is written once against an array module (``numpy`` for scipy, ``jax.numpy``
for us). Problems that share a field (C1-C3, D1-D5) share one compiled solve.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import solvers

scipy_integrate = pytest.importorskip("scipy.integrate")

T1 = 20.0
TS = np.linspace(1.0, T1, 20)


def a1(t, y, xp, p):
    return -y


def a2(t, y, xp, p):
    return -0.5 * y**3


def a3(t, y, xp, p):
    return y * xp.cos(t)


def a4(t, y, xp, p):
    return 0.25 * y * (1.0 - y / 20.0)


def a5(t, y, xp, p):
    return (y - t) / (y + t)


def b1(t, y, xp, p):
    return xp.stack([2.0 * (y[0] - y[0] * y[1]), -(y[1] - y[0] * y[1])])


def b2(t, y, xp, p):
    return xp.stack([-y[0] + y[1], y[0] - 2.0 * y[1] + y[2], y[1] - y[2]])


def b3(t, y, xp, p):
    return xp.stack([-y[0], y[0] - y[1] ** 2, y[1] ** 2])


def b4(t, y, xp, p):
    r = xp.sqrt(y[0] ** 2 + y[1] ** 2)
    return xp.stack([-y[1] - y[0] * y[2] / r, y[0] - y[1] * y[2] / r, y[0] / r])


def b5(t, y, xp, p):
    return xp.stack([y[1] * y[2], -y[0] * y[2], -0.51 * y[0] * y[1]])


def linear(t, y, xp, p):
    """C1-C4: y' = A y."""
    return p @ y


def c5(t, y, xp, p):
    """Five outer planets around the Sun (masses in solar units; the Sun's, m0, includes
    the inner planets), heliocentric positions q and velocities v:
    q_i'' = k2 (-(m0 + m_i) q_i / r_i^3 + sum_{j != i} m_j ((q_j - q_i) / d_ij^3 - q_j / r_j^3))."""
    masses, k2 = p
    q, v = y[:15].reshape(5, 3), y[15:].reshape(5, 3)
    radius3 = xp.sum(q**2, axis=1) ** 1.5
    difference = q[None, :, :] - q[:, None, :]  # [i, j] = q_j - q_i
    distance3 = xp.sum(difference**2, axis=2) ** 1.5 + xp.eye(5)  # no self-force
    direct = xp.sum(masses[None, :, None] * difference / distance3[:, :, None], axis=1)
    indirect = masses[:, None] * q / radius3[:, None]
    acceleration = k2 * (
        -(SUN + masses)[:, None] * q / radius3[:, None]
        + direct
        - (xp.sum(indirect, axis=0)[None, :] - indirect)
    )
    return xp.concatenate([v.reshape(15), acceleration.reshape(15)])


SUN = 1.00000597682


def kepler(t, y, xp, p):
    r3 = (y[0] ** 2 + y[1] ** 2) ** 1.5
    return xp.stack([y[2], y[3], -y[0] / r3, -y[1] / r3])


def e1(t, y, xp, p):
    return xp.stack([y[1], -(y[1] / (t + 1.0) + (1.0 - 0.25 / (t + 1.0) ** 2) * y[0])])


def e2(t, y, xp, p):
    return xp.stack([y[1], (1.0 - y[0] ** 2) * y[1] - y[0]])


def e3(t, y, xp, p):
    return xp.stack([y[1], y[0] ** 3 / 6.0 - y[0] + 2.0 * xp.sin(2.78535 * t)])


def e4(t, y, xp, p):
    return xp.stack([y[1], 0.032 - 0.4 * y[1] ** 2])


def e5(t, y, xp, p):
    return xp.stack([y[1], xp.sqrt(1.0 + y[1] ** 2) / (25.0 - t)])


def _chain(n, k):
    """C1 (k = 0: y1' = -y1, yi' = y(i-1) - yi, yn' = y(n-1)) and C2 (k = 1: rates i)."""
    a = np.zeros((n, n))
    for i in range(n - 1):
        rate = (i + 1.0) if k else 1.0
        a[i, i] -= rate
        a[i + 1, i] += rate
    return a


def _tridiagonal(n):
    return -2.0 * np.eye(n) + np.eye(n, k=1) + np.eye(n, k=-1)


def _c5():
    masses = np.array(
        [0.000954786104043, 0.000285583733151, 0.0000437273164546, 0.0000517759138449, 2.78e-9]
    )
    q = [
        [3.42947415189, 3.35386959711, 1.35494901715],
        [6.64145542550, 5.97156957878, 2.18231499728],
        [11.2630437207, 14.6952576794, 6.27960525067],
        [-30.1552268759, 1.65699966404, 1.43785752721],
        [-21.1238353380, 28.4465098142, 15.3882659679],
    ]
    v = [
        [-0.557160570446, 0.505696783289, 0.230578543901],
        [-0.415570776342, 0.365682722812, 0.169143213293],
        [-0.325325669158, 0.189706021964, 0.0877265322780],
        [-0.0240476254170, -0.287659532608, -0.117219543175],
        [-0.176860753121, -0.216393453025, -0.0148647893090],
    ]
    y0 = np.concatenate([np.ravel(q), np.ravel(v)])
    return y0, (masses, 2.95912208286e-4)


def _kepler_y0(e):
    return np.array([1.0 - e, 0.0, 0.0, np.sqrt((1.0 + e) / (1.0 - e))])


def _unit(n):
    return np.eye(n)[0]


# name -> (field, y0, params)
PROBLEMS = {
    "A1": (a1, np.array([1.0]), None),
    "A2": (a2, np.array([1.0]), None),
    "A3": (a3, np.array([1.0]), None),
    "A4": (a4, np.array([1.0]), None),
    "A5": (a5, np.array([4.0]), None),
    "B1": (b1, np.array([1.0, 3.0]), None),
    "B2": (b2, np.array([2.0, 0.0, 1.0]), None),
    "B3": (b3, np.array([1.0, 0.0, 0.0]), None),
    "B4": (b4, np.array([3.0, 0.0, 0.0]), None),
    "B5": (b5, np.array([0.0, 1.0, 1.0]), None),
    "C1": (linear, _unit(10), _chain(10, 0)),
    "C2": (linear, _unit(10), _chain(10, 1)),
    "C3": (linear, _unit(10), _tridiagonal(10)),
    "C4": (linear, _unit(51), _tridiagonal(51)),
    "C5": (c5, *_c5()),
    **{f"D{i + 1}": (kepler, _kepler_y0(e), None) for i, e in enumerate([0.1, 0.3, 0.5, 0.7, 0.9])},
    "E1": (e1, np.array([0.6713967071418030, 0.09540051444747446]), None),
    "E2": (e2, np.array([2.0, 0.0]), None),
    "E3": (e3, np.array([0.0, 0.0]), None),
    "E4": (e4, np.array([30.0, 0.0]), None),
    "E5": (e5, np.array([0.0, 0.0]), None),
}


@functools.cache
def _ours(field, method, rtol):
    """One compiled solve per field (problems sharing a field share it)."""

    def run(y0, params):
        return solvers.solve(
            lambda t, y, p: field(t, y, jnp, p),
            y0,
            (0.0, T1),
            params,
            ts=jnp.asarray(TS),
            method=method,
            rtol=rtol,
            atol=rtol,
        )

    return jax.jit(run)


@functools.cache
def _reference(name):
    """scipy's DOP853 at rtol = atol = 1e-13 at the save points."""
    return _scipy(name, "DOP853", 1e-13)[0]


def _scipy(name, method, rtol):
    field, y0, params = PROBLEMS[name]
    sol = scipy_integrate.solve_ivp(
        lambda t, y: field(t, y, np, params),
        (0.0, T1),
        y0,
        method=method,
        t_eval=TS,
        rtol=rtol,
        atol=rtol,
    )
    assert sol.success, (name, method, sol.message)
    return sol.y.T, sol.nfev


def _error(ys, name, rtol):
    """Largest error at the save points in units of the tolerance's scale."""
    reference = _reference(name)
    return float(np.max(np.abs(np.asarray(ys) - reference) / (rtol * (1.0 + np.abs(reference)))))


# dopri8 on the problems that share a field (one compile for C1-C3, one for C4, one
# for D1-D5): the eight-stage pair is the costliest to compile.
CASES = [
    ("dopri5", "RK45", 1e-7, list(PROBLEMS)),
    ("dopri8", "DOP853", 1e-10, ["C1", "C2", "C3", "C4", "D1", "D2", "D3", "D4", "D5"]),
]


@pytest.mark.parametrize("ours,theirs,rtol,names", CASES, ids=["dopri5-RK45", "dopri8-DOP853"])
def test_detest_nonstiff_set_against_scipy_with_the_same_method(ours, theirs, rtol, names):
    """Every problem succeeds with the same error as scipy's implementation of the same
    Runge-Kutta pair at the same tolerance (within 60 %, or one tolerance unit), and
    about the same number of evaluations of f (within 10 %). The global errors
    themselves range from 0.2 to 2500 tolerance units (the eccentric orbits D3-D5
    accumulate phase error), so the comparison is with a peer, not with the
    tolerance."""
    rows, problems = [], []
    for name in names:
        field, y0, params = PROBLEMS[name]
        sol = _ours(field, ours, rtol)(jnp.asarray(y0), params)
        assert int(sol.status) == 0, (name, sol.message)
        ys, nfev = _scipy(name, theirs, rtol)
        mine, peer = _error(sol.ys, name, rtol), _error(ys, name, rtol)
        evaluations = int(sol.stats["num_fevals"]) / nfev
        rows.append(f"{name}: error {mine:.3g} vs {peer:.3g}, evaluations x{evaluations:.2f}")
        if mine > 1.6 * peer + 1.0 or not 0.9 < evaluations < 1.1:
            problems.append(rows[-1])
    print(f"\n{ours} vs scipy {theirs} at rtol = atol = {rtol}:\n" + "\n".join(rows))
    assert not problems, problems
