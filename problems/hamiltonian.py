"""Hamiltonian systems: gravitational N-body problems, and problems in canonical form
with state ``(q, p)`` and their Hamiltonian ``H(q, p, params)`` (for the symplectic
methods)."""

from __future__ import annotations

import math

import jax.numpy as jnp

from ._problem import Problem, as_params, as_state, as_t_span, register
from .mechanics import kepler_orbit, kepler_periapsis_state

# Hairer, Nørsett & Wanner I, section II.10, problem PLEI (also in the Bari "Test Set
# for IVP Solvers"): positions and velocities of the seven bodies at t = 0.
_PLEIADES_X = (3.0, 3.0, -1.0, -3.0, 2.0, -2.0, 2.0)
_PLEIADES_Y = (3.0, -3.0, 2.0, 0.0, 0.0, -4.0, 4.0)
_PLEIADES_VX = (0.0, 0.0, 0.0, 0.0, 0.0, 1.75, -1.5)
_PLEIADES_VY = (0.0, 0.0, 0.0, -1.25, 1.0, 0.0, 0.0)


def gravitational_acceleration(x, y, masses, G):
    r"""Planar Newtonian gravity on N bodies, all pairs at once.

    Args:
        x: ``(N,)`` x-positions.
        y: ``(N,)`` y-positions.
        masses: ``(N,)`` masses.
        G: gravitational constant (scalar).

    Returns:
        ``(ax, ay)``, each ``(N,)``: $a_i = G\sum_{j\ne i} m_j (r_j - r_i)/|r_j - r_i|^3$.
    """
    dx = x[None, :] - x[:, None]  # dx[i, j] = x_j - x_i
    dy = y[None, :] - y[:, None]
    distance_squared = dx**2 + dy**2
    self_pair = jnp.eye(x.shape[0], dtype=bool)
    # The diagonal (a body and itself) has dx = dy = 0; 1 there keeps it finite and
    # differentiable, and it contributes nothing because dx = dy = 0.
    inverse_cube = jnp.where(self_pair, 0.0, jnp.where(self_pair, 1.0, distance_squared) ** -1.5)
    weights = G * masses[None, :] * inverse_cube
    return jnp.sum(weights * dx, axis=1), jnp.sum(weights * dy, axis=1)


def _pleiades_field(t, y, params):
    n = params["masses"].shape[0]
    positions_x, positions_y = y[:n], y[n : 2 * n]
    velocities = y[2 * n :]
    ax, ay = gravitational_acceleration(positions_x, positions_y, params["masses"], params["G"])
    return jnp.concatenate([velocities, ax, ay])


@register("pleiades")
def pleiades(*, G=1.0, masses=None, y0=None, t_span=(0.0, 3.0)) -> Problem:
    r"""The Pleiades: seven stars in the plane under Newtonian gravity.

    $$\ddot x_i = G\sum_{j\ne i} m_j\,\frac{x_j - x_i}{r_{ij}^{3}}, \qquad
      \ddot y_i = G\sum_{j\ne i} m_j\,\frac{y_j - y_i}{r_{ij}^{3}}, \qquad
      r_{ij} = \sqrt{(x_i - x_j)^2 + (y_i - y_j)^2},$$

    for $i = 1, \dots, 7$ with masses $m_i = i$. The state is flat, shape ``(28,)``:
    ``[x(7), y(7), vx(7), vy(7)]``. The defaults are the book's: positions
    $x = (3, 3, -1, -3, 2, -2, 2)$, $y = (3, -3, 2, 0, 0, -4, 4)$, all velocities zero
    except $\dot x_6 = 1.75$, $\dot x_7 = -1.5$, $\dot y_4 = -1.25$, $\dot y_5 = 1$;
    $t \in [0, 3]$. Several close encounters make the step size vary strongly. The
    energy $\tfrac12\sum_i m_i |v_i|^2 - G\sum_{i<j} m_i m_j / r_{ij}$ and the momentum
    $\sum_i m_i v_i$ are conserved.

    Args:
        G: gravitational constant. Default 1.0.
        masses: ``(7,)`` masses (``params["masses"]`` is an array, not a scalar).
            Default ``[1, 2, ..., 7]``.
        y0: ``(28,)`` initial state. Default: the book's, above.
        t_span: default ``(0.0, 3.0)``.

    Returns:
        The `Problem` ``"pleiades"`` (shape ``(28,)``).

    Reference:
        E. Hairer, S. P. Nørsett and G. Wanner, Solving Ordinary Differential Equations
        I: Nonstiff Problems, 2nd ed., Springer (1993), section II.10 (problem PLEI).
    """
    masses = as_state(tuple(float(i) for i in range(1, 8)) if masses is None else masses)
    if y0 is None:
        y0 = _PLEIADES_X + _PLEIADES_Y + _PLEIADES_VX + _PLEIADES_VY
    y0 = as_state(y0)
    if masses.ndim != 1 or y0.shape != (4 * masses.shape[0],):
        raise ValueError(
            f"pleiades needs masses of shape (N,) and y0 of shape (4N,) = "
            f"[x(N), y(N), vx(N), vy(N)]; got masses {masses.shape} and y0 {y0.shape}."
        )
    return Problem(
        name="pleiades",
        vector_field=_pleiades_field,
        y0=y0,
        t_span=as_t_span(t_span),
        params={"G": jnp.asarray(G, dtype=float), "masses": masses},
        description="Seven-body gravitational problem (Pleiades) in the plane.",
        reference="E. Hairer, S. P. Nørsett, G. Wanner, Solving ODEs I (1993), sec. II.10.",
    )


# ---------------------------------------------------------------------------------------
# Problems in canonical form: state (q, p), with the Hamiltonian H(q, p, params).
#
# Each vector field below is written out by hand (rather than by jax.grad of H), so that
# every method pays only for the arithmetic of the equations of motion; the tests check
# it against Hamilton's equations from H.


def _pairwise_acceleration(q, masses, G):
    """``a_i = G sum_{j != i} m_j (q_j - q_i) / |q_j - q_i|^3`` for ``q`` of shape ``(N, d)``."""
    difference = q[None, :, :] - q[:, None, :]  # [i, j] = q_j - q_i
    squared = jnp.sum(difference**2, axis=-1)
    self_pair = jnp.eye(q.shape[0], dtype=bool)
    # 1 on the diagonal keeps it finite and differentiable; it is multiplied by 0.
    inverse_cube = jnp.where(self_pair, 0.0, jnp.where(self_pair, 1.0, squared) ** -1.5)
    weights = G * masses[None, :] * inverse_cube
    return jnp.sum(weights[:, :, None] * difference, axis=1)


def _pairwise_potential(q, masses, G):
    """``-G sum_{i<j} m_i m_j / |q_i - q_j|``."""
    difference = q[None, :, :] - q[:, None, :]
    squared = jnp.sum(difference**2, axis=-1)
    upper = jnp.triu(jnp.ones(squared.shape, dtype=bool), k=1)
    distance = jnp.sqrt(jnp.where(upper, squared, 1.0))
    return -G * jnp.sum(jnp.where(upper, masses[:, None] * masses[None, :] / distance, 0.0))


def _nbody_field(t, y, params):
    q, p = y
    masses = params["masses"]
    velocity = p / masses[:, None]
    force = masses[:, None] * _pairwise_acceleration(q, masses, params["G"])
    return (velocity, force)


def _nbody_hamiltonian(q, p, params):
    masses = params["masses"]
    kinetic = 0.5 * jnp.sum(jnp.sum(p**2, axis=-1) / masses)
    return kinetic + _pairwise_potential(q, masses, params["G"])


# ----------------------------------------------------------------------------- Kepler


def _kepler_qp_field(t, y, params):
    q, p = y
    radius_cubed = jnp.sum(q**2) ** 1.5
    return (p, -params["mu"] * q / radius_cubed)


def _kepler_qp_hamiltonian(q, p, params):
    return 0.5 * jnp.sum(p**2) - params["mu"] / jnp.sqrt(jnp.sum(q**2))


def kepler_invariants(q, p, mu):
    r"""Energy, angular momentum and Runge-Lenz vector of the planar Kepler problem.

    $$H = \tfrac12\lVert p\rVert^2 - \frac{\mu}{\lVert q\rVert}, \qquad
      L = q_x p_y - q_y p_x, \qquad
      A = (p_y L,\ -p_x L) - \mu\,\frac{q}{\lVert q\rVert}.$$

    On an ellipse of semi-major axis $a$ and eccentricity $e$ starting at periapsis on
    the positive $x$ axis: $H = -\mu/(2a)$, $L = \sqrt{\mu a (1-e^2)}$ and
    $A = (\mu e, 0)$ (it points to the periapsis; a method that lets the orbit precess
    turns it).

    Args:
        q: ``(..., 2)`` positions.
        p: ``(..., 2)`` momenta.
        mu: gravitational parameter (scalar).

    Returns:
        ``(H, L, A)``: shapes ``(...)``, ``(...)`` and ``(..., 2)``.

    Reference:
        E. Hairer, C. Lubich and G. Wanner, Geometric Numerical Integration, 2nd ed.,
        Springer (2006), sections I.2.3 and IV.1; H. Goldstein, Classical Mechanics,
        2nd ed. (1980), section 3.9.
    """
    q, p = jnp.asarray(q), jnp.asarray(p)
    radius = jnp.sqrt(jnp.sum(q**2, axis=-1))
    energy = 0.5 * jnp.sum(p**2, axis=-1) - mu / radius
    angular_momentum = q[..., 0] * p[..., 1] - q[..., 1] * p[..., 0]
    runge_lenz = (
        jnp.stack([p[..., 1] * angular_momentum, -p[..., 0] * angular_momentum], axis=-1)
        - mu * q / radius[..., None]
    )
    return energy, angular_momentum, runge_lenz


@register("kepler_qp")
def kepler_qp(*, e=0.6, mu=1.0, y0=None, t_span=(0.0, 20.0 * math.pi)) -> Problem:
    r"""The planar Kepler problem in canonical form, state ``(q, p)``.

    $$H(q, p) = \tfrac12\lVert p\rVert^2 - \frac{\mu}{\lVert q\rVert}, \qquad
      \dot q = p, \qquad \dot p = -\mu\,\frac{q}{\lVert q\rVert^3}.$$

    The same orbit as ``kepler`` (periapsis of an ellipse of semi-major axis 1 and
    eccentricity ``e``: $q = (1-e, 0)$, $p = (0, \sqrt{\mu(1+e)/(1-e)})$), with the
    state split into positions and momenta so that the symplectic methods
    (``leapfrog``, ``yoshida4``, ``ruth4``) apply: $H$ is separable. Invariants
    (`kepler_invariants`): the energy $H = -\mu/2$, the angular momentum
    $L = \sqrt{\mu(1-e^2)}$ and the Runge-Lenz vector $A = (\mu e, 0)$. Symplectic
    methods keep $H$ within a bound and $L$ exactly (it is a quadratic invariant of
    every kick and drift), but let the orbit precess, which turns $A$.

    Exact solution (as for ``kepler``): with $M = \sqrt\mu\,(t - t_0)$ and Kepler's
    equation $M = E - e\sin E$, $q = (\cos E - e,\ \sqrt{1-e^2}\sin E)$ and
    $p = \frac{\sqrt\mu}{1-e\cos E}(-\sin E,\ \sqrt{1-e^2}\cos E)$; ``exact(t,
    params)`` returns the pair ``(q, p)`` and is differentiable in ``e`` and ``mu``.

    Args:
        e: eccentricity, ``0 <= e < 1``. Default 0.6 (Hairer, Lubich & Wanner's).
        mu: gravitational parameter. Default 1.0.
        y0: initial state ``(q, p)``, each of shape ``(2,)``; default the periapsis
            state above (with ``y0`` given there is no ``exact``).
        t_span: default ``(0.0, 20*pi)``, ten periods.

    Returns:
        The `Problem` ``"kepler_qp"`` (state ``(q, p)``, shapes ``(2,)`` and ``(2,)``).

    Reference:
        E. Hairer, C. Lubich and G. Wanner, Geometric Numerical Integration, 2nd ed.,
        Springer (2006), section I.2.3.
    """
    if isinstance(e, (int, float)) and not 0.0 <= e < 1.0:
        raise ValueError(f"kepler_qp needs an elliptic orbit, 0 <= e < 1; got e={e}.")
    t_span = as_t_span(t_span)
    t0 = t_span[0]

    def exact(t, params):
        state = kepler_orbit(t - t0, params["e"], params["mu"])
        return state[:2], state[2:]

    if y0 is None:
        state = kepler_periapsis_state(e, mu)
        y0 = (state[:2], state[2:])
    else:
        y0, exact = _as_pair(y0, "kepler_qp", (2,)), None
    return Problem(
        name="kepler_qp",
        vector_field=_kepler_qp_field,
        y0=y0,
        t_span=t_span,
        params=as_params(e=e, mu=mu),
        exact=exact,
        hamiltonian=_kepler_qp_hamiltonian,
        description="Planar Kepler problem in canonical (q, p) form, elliptic orbit.",
        reference="E. Hairer, C. Lubich, G. Wanner, Geometric Numerical Integration (2006), I.2.3.",
    )


def _as_pair(y0, name, shape):
    """A user's ``(q, p)`` as two float arrays of ``shape``; a clear error otherwise."""
    if not isinstance(y0, (tuple, list)) or len(y0) != 2:
        raise ValueError(f"{name} needs y0 = (q, p), a pair of arrays of shape {shape}.")
    q, p = as_state(y0[0]), as_state(y0[1])
    if q.shape != shape or p.shape != shape:
        raise ValueError(f"{name} needs q and p of shape {shape}; got {q.shape} and {p.shape}.")
    return (q, p)


# ---------------------------------------------------------------------- Henon-Heiles


def _henon_heiles_field(t, y, params):
    (x, v), p = y
    lam = params["lam"]
    force = jnp.stack([-x - 2.0 * lam * x * v, -v - lam * (x**2 - v**2)])
    return (p, force)


def _henon_heiles_hamiltonian(q, p, params):
    x, v = q
    lam = params["lam"]
    return 0.5 * jnp.sum(p**2) + 0.5 * (x**2 + v**2) + lam * (x**2 * v - v**3 / 3.0)


@register("henon_heiles")
def henon_heiles(*, lam=1.0, y0=None, t_span=(0.0, 200.0)) -> Problem:
    r"""The Hénon-Heiles system: a star in an axisymmetric galactic potential.

    $$H = \tfrac12(p_x^2 + p_y^2) + \tfrac12(x^2 + y^2) + \lambda\Big(x^2 y - \frac{y^3}{3}\Big),$$

    $$\dot x = p_x,\quad \dot y = p_y,\quad \dot p_x = -x - 2\lambda x y,\quad
      \dot p_y = -y - \lambda(x^2 - y^2).$$

    State ``(q, p)`` with ``q = (x, y)``, ``p = (p_x, p_y)``; $H$ is separable. For
    $\lambda = 1$ the potential's saddles lie at energy $1/6$ (escape energy); at
    $E = 1/12$ nearly every orbit is regular, at $E = 1/8$ regular islands sit in a
    chaotic sea. The default start is $q = (0, 0.1)$, $p_y = 0$ and $p_x > 0$ chosen
    so that $H = 1/8$. The energy is the only known invariant.

    Args:
        lam: strength $\lambda$ of the cubic terms. Default 1.0.
        y0: initial state ``(q, p)``, each of shape ``(2,)``; default above.
        t_span: default ``(0.0, 200.0)``.

    Returns:
        The `Problem` ``"henon_heiles"`` (state ``(q, p)``, shapes ``(2,)``).

    Reference:
        M. Hénon and C. Heiles, "The applicability of the third integral of motion:
        some numerical experiments", Astron. J. 69 (1964) 73-79; E. Hairer, C. Lubich
        and G. Wanner, Geometric Numerical Integration, 2nd ed. (2006), section I.3.
    """
    if y0 is None:
        x, v, energy = 0.0, 0.1, 1.0 / 8.0
        lam_value = float(lam)
        potential = 0.5 * (x**2 + v**2) + lam_value * (x**2 * v - v**3 / 3.0)
        y0 = ((x, v), (math.sqrt(2.0 * (energy - potential)), 0.0))
    y0 = _as_pair(y0, "henon_heiles", (2,))
    return Problem(
        name="henon_heiles",
        vector_field=_henon_heiles_field,
        y0=y0,
        t_span=as_t_span(t_span),
        params=as_params(lam=lam),
        hamiltonian=_henon_heiles_hamiltonian,
        description="Hénon-Heiles galactic potential, canonical (q, p) form, energy 1/8.",
        reference="M. Hénon and C. Heiles, Astron. J. 69 (1964) 73-79.",
    )


# ------------------------------------------------------------- Fermi-Pasta-Ulam-Tsingou


def _bond_stretches(q):
    """``d_n = q_{n+1} - q_n``, ``n = 0..N``, with the fixed ends ``q_0 = q_{N+1} = 0``."""
    zero = jnp.zeros((1,), q.dtype)
    padded = jnp.concatenate([zero, q, zero])
    return padded[1:] - padded[:-1]


def _fput_field(t, y, params):
    q, p = y
    d = _bond_stretches(q)
    tension = d + params["alpha"] * d**2 + params["beta"] * d**3
    return (p, tension[1:] - tension[:-1])


def _fput_hamiltonian(q, p, params):
    d = _bond_stretches(q)
    potential = 0.5 * d**2 + params["alpha"] / 3.0 * d**3 + params["beta"] / 4.0 * d**4
    return 0.5 * jnp.sum(p**2) + jnp.sum(potential)


def fput_mode_energies(q, p):
    r"""Harmonic energies of the normal modes of the FPUT chain with fixed ends.

    $$Q_k = \sqrt{\tfrac{2}{N+1}}\sum_{n=1}^N q_n \sin\frac{nk\pi}{N+1},\quad
      \omega_k = 2\sin\frac{k\pi}{2(N+1)},\quad E_k = \tfrac12(P_k^2 + \omega_k^2 Q_k^2),$$

    $k = 1, \dots, N$ ($P_k$ likewise from $p$). Their sum is the quadratic part of
    $H$; the cubic and quartic terms exchange energy between them.

    Args:
        q: ``(..., N)`` displacements.
        p: ``(..., N)`` momenta.

    Returns:
        ``(..., N)``: $E_1, \dots, E_N$.

    Reference:
        E. Fermi, J. Pasta, S. Ulam (and M. Tsingou), Los Alamos report LA-1940
        (1955); T. Dauxois, "Fermi, Pasta, Ulam, and a mysterious lady", Physics Today
        61 (2008) 55-57.
    """
    q, p = jnp.asarray(q), jnp.asarray(p)
    n = q.shape[-1]
    index = jnp.arange(1, n + 1, dtype=q.dtype)
    transform = jnp.sqrt(2.0 / (n + 1)) * jnp.sin(
        jnp.pi * index[:, None] * index[None, :] / (n + 1)
    )
    frequencies = 2.0 * jnp.sin(jnp.pi * index / (2 * (n + 1)))
    modes_q, modes_p = q @ transform, p @ transform
    frequencies = jnp.broadcast_to(frequencies, modes_q.shape)
    return 0.5 * (modes_p**2 + frequencies**2 * modes_q**2)


@register("fput")
def fput(*, alpha=0.25, beta=0.0, n=32, amplitude=1.0, y0=None, t_span=(0.0, 10_500.0)) -> Problem:
    r"""The Fermi-Pasta-Ulam-Tsingou chain: $N$ unit masses joined by nonlinear springs.

    $$H = \sum_{n=1}^N \frac{p_n^2}{2} + \sum_{n=0}^{N}\Big(\frac{d_n^2}{2}
      + \frac{\alpha}{3} d_n^3 + \frac{\beta}{4} d_n^4\Big), \qquad d_n = q_{n+1} - q_n,
      \quad q_0 = q_{N+1} = 0,$$

    $$\dot q_n = p_n, \qquad \dot p_n = \tau(d_n) - \tau(d_{n-1}), \qquad
      \tau(d) = d + \alpha d^2 + \beta d^3.$$

    State ``(q, p)``, each ``(N,)``; $H$ is separable. The default is Fermi, Pasta, Ulam
    and Tsingou's $\alpha$ chain: $N = 32$, $\alpha = 1/4$, all the energy in the
    lowest normal mode, $q_n = A\sin(n\pi/(N+1))$, $p = 0$, $A = 1$. Instead of
    spreading over all modes (equipartition), the energy flows into the next few
    modes and comes back: `fput_mode_energies` shows $E_1$ falling below 10 % of its
    start and returning to about 98 % near $t \approx 154\,T_1$, $T_1 = 2\pi/\omega_1
    \approx 66$ (the default span covers one recurrence). The energy $H$ is the only
    invariant.

    Args:
        alpha: coefficient $\alpha$ of the cubic term. Default 0.25.
        beta: coefficient $\beta$ of the quartic term. Default 0.0.
        n: number of moving masses $N$ (a Python int; sets the state's shape).
            Default 32.
        amplitude: amplitude $A$ of the lowest mode in the default start. Default 1.0.
        y0: initial state ``(q, p)``, each of shape ``(n,)``; default above.
        t_span: default ``(0.0, 10500.0)``.

    Returns:
        The `Problem` ``"fput"`` (state ``(q, p)``, shapes ``(n,)``).

    Reference:
        E. Fermi, J. Pasta, S. Ulam, "Studies of nonlinear problems", Los Alamos report
        LA-1940 (1955), with M. Tsingou's computations; T. Dauxois, Physics Today 61
        (2008) 55-57; G. P. Berman and F. M. Izrailev, Chaos 15 (2005) 015104.
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 2:
        raise ValueError(f"fput needs an int n >= 2 masses, got {n!r}.")
    if y0 is None:
        index = jnp.arange(1, n + 1, dtype=float)
        y0 = (float(amplitude) * jnp.sin(jnp.pi * index / (n + 1)), jnp.zeros((n,)))
    y0 = _as_pair(y0, "fput", (n,))
    return Problem(
        name="fput",
        vector_field=_fput_field,
        y0=y0,
        t_span=as_t_span(t_span),
        params=as_params(alpha=alpha, beta=beta),
        hamiltonian=_fput_hamiltonian,
        description="Fermi-Pasta-Ulam-Tsingou alpha/beta chain with fixed ends, mode 1 excited.",
        reference="E. Fermi, J. Pasta, S. Ulam, Los Alamos report LA-1940 (1955).",
    )


# ---------------------------------------------------------------------- figure eight

# Chenciner & Montgomery's choreography, with the initial conditions computed by Simó
# (as quoted by Chenciner & Montgomery, Ann. Math. 152 (2000), section 1).
_FIGURE_EIGHT_Q1 = (0.97000436, -0.24308753)
_FIGURE_EIGHT_V3 = (-0.93240737, -0.86473146)
FIGURE_EIGHT_PERIOD = 6.32591398


@register("figure_eight")
def figure_eight(*, G=1.0, masses=None, y0=None, t_span=(0.0, FIGURE_EIGHT_PERIOD)) -> Problem:
    r"""Three equal masses chasing each other along a figure eight (a choreography).

    $$H = \sum_{i=1}^3 \frac{\lVert p_i\rVert^2}{2 m_i}
      - G\sum_{i<j}\frac{m_i m_j}{\lVert q_i - q_j\rVert}, \qquad
      \dot q_i = \frac{p_i}{m_i}, \qquad
      \dot p_i = G\sum_{j\ne i} m_i m_j\,\frac{q_j - q_i}{\lVert q_j - q_i\rVert^3}.$$

    State ``(q, p)``, each ``(3, 2)`` (body, coordinate), $p_i = m_i\dot q_i$. With
    $G = m_i = 1$ the Chenciner-Montgomery initial conditions
    $q_1 = -q_2 = (0.97000436, -0.24308753)$, $q_3 = 0$,
    $\dot q_3 = -2\dot q_1 = -2\dot q_2 = (-0.93240737, -0.86473146)$ give the
    figure-eight orbit of period $T \approx 6.32591398$ (`FIGURE_EIGHT_PERIOD`): every
    body runs along the same curve, a third of a period apart
    ($q_1(t + T/3) = q_3(t)$, and so on round the labels, to the precision of the
    8-digit initial data). Invariants: the energy, the total momentum (0) and the
    angular momentum (0). The orbit is stable (linearly, and numerically over many
    periods).

    Args:
        G: gravitational constant. Default 1.0.
        masses: ``(3,)`` masses (an array in ``params``). Default ``[1, 1, 1]``.
        y0: initial state ``(q, p)``, each of shape ``(3, 2)``; default above.
        t_span: default ``(0.0, 6.32591398)``, one period.

    Returns:
        The `Problem` ``"figure_eight"`` (state ``(q, p)``, shapes ``(3, 2)``).

    Reference:
        A. Chenciner and R. Montgomery, "A remarkable periodic solution of the
        three-body problem in the case of equal masses", Ann. Math. 152 (2000)
        881-901; C. Moore, Phys. Rev. Lett. 70 (1993) 3675-3679.
    """
    masses = as_state((1.0, 1.0, 1.0) if masses is None else masses)
    if masses.shape != (3,):
        raise ValueError(f"figure_eight needs masses of shape (3,), got {masses.shape}.")
    if y0 is None:
        q1 = jnp.asarray(_FIGURE_EIGHT_Q1, dtype=float)
        v3 = jnp.asarray(_FIGURE_EIGHT_V3, dtype=float)
        positions = jnp.stack([q1, -q1, jnp.zeros(2)])
        velocities = jnp.stack([-v3 / 2, -v3 / 2, v3])
        y0 = (positions, masses[:, None] * velocities)
    y0 = _as_pair(y0, "figure_eight", (3, 2))
    return Problem(
        name="figure_eight",
        vector_field=_nbody_field,
        y0=y0,
        t_span=as_t_span(t_span),
        params={"G": jnp.asarray(G, dtype=float), "masses": masses},
        hamiltonian=_nbody_hamiltonian,
        description="Figure-eight choreography of three equal masses (Chenciner-Montgomery).",
        reference="A. Chenciner and R. Montgomery, Ann. Math. 152 (2000) 881-901.",
    )


# ---------------------------------------------------------------- outer solar system

# Hairer, Lubich & Wanner (2006), section I.2.4: the Sun (with the inner planets' mass),
# Jupiter, Saturn, Uranus, Neptune and Pluto on September 5, 1994, 0h00 GST.
# Masses relative to the Sun, distances in astronomical units, time in Earth days.
OUTER_SOLAR_SYSTEM_BODIES = ("Sun", "Jupiter", "Saturn", "Uranus", "Neptune", "Pluto")
_OSS_G = 2.95912208286e-4
_OSS_MASSES = (
    1.00000597682,
    0.000954786104043,
    0.000285583733151,
    0.0000437273164546,
    0.0000517759138449,
    1.0 / 1.3e8,
)
_OSS_POSITIONS = (
    (0.0, 0.0, 0.0),
    (-3.5023653, -3.8169847, -1.5507963),
    (9.0755314, -3.0458353, -1.6483708),
    (8.3101420, -16.2901086, -7.2521278),
    (11.4707666, -25.7294829, -10.8169456),
    (-15.5387357, -25.2225594, -3.1902382),
)
_OSS_VELOCITIES = (
    (0.0, 0.0, 0.0),
    (0.00565429, -0.00412490, -0.00190589),
    (0.00168318, 0.00483525, 0.00192462),
    (0.00354178, 0.00137102, 0.00055029),
    (0.00288930, 0.00114527, 0.00039677),
    (0.00276725, -0.00170702, -0.00136504),
)


@register("outer_solar_system")
def outer_solar_system(*, G=_OSS_G, masses=None, y0=None, t_span=(0.0, 200_000.0)) -> Problem:
    r"""The outer solar system: the Sun and the five outer planets (Hairer-Lubich-Wanner).

    $$H = \frac12\sum_{i=0}^5 \frac{\lVert p_i\rVert^2}{m_i}
      - G\sum_{i<j}\frac{m_i m_j}{\lVert q_i - q_j\rVert}, \qquad
      \dot q_i = \frac{p_i}{m_i}, \qquad
      \dot p_i = G\sum_{j\ne i} m_i m_j\,\frac{q_j - q_i}{\lVert q_j - q_i\rVert^3}.$$

    State ``(q, p)``, each ``(6, 3)``: bodies in the order of
    `OUTER_SOLAR_SYSTEM_BODIES` (Sun, Jupiter, Saturn, Uranus, Neptune, Pluto), and
    $p_i = m_i\dot q_i$. Units: masses relative to the Sun (whose mass includes the
    inner planets, $m_0 = 1.00000597682$), distances in AU, time in Earth days,
    $G = 2.95912208286\cdot10^{-4}$. Positions and velocities are the book's Table
    (September 5, 1994); $m_5 = 1/(1.3\cdot10^8)$. The default span, 200,000 days
    (about 550 years, two Pluto orbits), is the book's. Invariants: the energy, the
    total momentum and the total angular momentum.

    Args:
        G: gravitational constant in AU^3 / (solar mass day^2). Default
            2.95912208286e-4.
        masses: ``(6,)`` masses. Default the book's.
        y0: initial state ``(q, p)``, each of shape ``(6, 3)``; default the book's.
        t_span: default ``(0.0, 200000.0)`` days.

    Returns:
        The `Problem` ``"outer_solar_system"`` (state ``(q, p)``, shapes ``(6, 3)``).

    Reference:
        E. Hairer, C. Lubich and G. Wanner, Geometric Numerical Integration, 2nd ed.,
        Springer (2006), section I.2.4 (Table 2.1).
    """
    masses = as_state(_OSS_MASSES if masses is None else masses)
    if masses.shape != (6,):
        raise ValueError(f"outer_solar_system needs masses of shape (6,), got {masses.shape}.")
    if y0 is None:
        y0 = (
            as_state(_OSS_POSITIONS),
            masses[:, None] * as_state(_OSS_VELOCITIES),
        )
    y0 = _as_pair(y0, "outer_solar_system", (6, 3))
    return Problem(
        name="outer_solar_system",
        vector_field=_nbody_field,
        y0=y0,
        t_span=as_t_span(t_span),
        params={"G": jnp.asarray(G, dtype=float), "masses": masses},
        hamiltonian=_nbody_hamiltonian,
        description="Sun and the five outer planets, canonical (q, p) form (Hairer-Lubich-Wanner).",
        reference="E. Hairer, C. Lubich, G. Wanner, Geometric Numerical Integration (2006), I.2.4.",
    )


# ---------------------------------------------------------------- charged particle


def _larmor(params):
    return params["charge"] * params["B"] / (2.0 * params["mass"])


def _penning_radial_squared(params):
    """Squared radial frequency in the Larmor frame, ``omega_L^2 - omega_z^2 / 2``."""
    return _larmor(params) ** 2 - 0.5 * params["omega_z"] ** 2


def _charged_particle_field(t, y, params):
    q, p = y
    m = params["mass"]
    radial = _penning_radial_squared(params)
    axial = params["omega_z"] ** 2
    stiffness = jnp.stack([radial, radial, axial])
    return (p / m, -m * stiffness * q)


def _charged_particle_hamiltonian(q, p, params):
    m = params["mass"]
    radial = _penning_radial_squared(params)
    axial = params["omega_z"] ** 2
    potential = 0.5 * m * (radial * (q[0] ** 2 + q[1] ** 2) + axial * q[2] ** 2)
    return 0.5 * jnp.sum(p**2) / m + potential


def charged_particle_lab_frame(t, q, p, params):
    r"""Map the ``charged_particle`` state from the Larmor frame to the laboratory.

    The Larmor frame turns about $\hat z$ with angular velocity
    $\Omega = -\omega_L\hat z$, $\omega_L = eB/(2m)$, and coincides with the laboratory
    frame at $t = 0$. With $R(\phi)$ the rotation by $\phi$ about $\hat z$:

    $$x = R(-\omega_L t)\,q, \qquad
      v = R(-\omega_L t)\Big(\frac{p}{m} + \Omega\times q\Big).$$

    Args:
        t: time (scalar, or ``(T,)`` with ``q``, ``p`` of shape ``(T, 3)``).
        q: ``(..., 3)`` Larmor-frame position.
        p: ``(..., 3)`` Larmor-frame momentum $m\,\dot q$.
        params: the problem's parameters.

    Returns:
        ``(x, v)``: laboratory position and velocity, each shaped like ``q``.

    Reference:
        J. Larmor, Phil. Mag. 44 (1897) 503-512; H. Goldstein, Classical Mechanics,
        2nd ed. (1980), section 5.9.
    """
    q, p = jnp.asarray(q), jnp.asarray(p)
    omega_larmor = _larmor(params)
    angle = -omega_larmor * jnp.asarray(t)
    cos, sin = jnp.cos(angle)[..., None], jnp.sin(angle)[..., None]

    def rotate(w):
        x, y, z = w[..., 0:1], w[..., 1:2], w[..., 2:3]
        return jnp.concatenate([cos * x - sin * y, sin * x + cos * y, z], axis=-1)

    # Omega x q with Omega = -omega_L z_hat.
    frame_velocity = omega_larmor * jnp.concatenate(
        [q[..., 1:2], -q[..., 0:1], jnp.zeros_like(q[..., 2:3])], axis=-1
    )
    return rotate(q), rotate(p / params["mass"] + frame_velocity)


@register("charged_particle")
def charged_particle(
    *, charge=1.0, mass=1.0, B=1.0, omega_z=0.5, y0=None, t_span=(0.0, 100.0)
) -> Problem:
    r"""A charged particle in a Penning trap, posed in the Larmor frame (separable).

    In the laboratory a particle of charge $e$ and mass $m$ moves in the uniform field
    $B\hat z$ and the electrostatic quadrupole
    $e\phi = \tfrac{m\omega_z^2}{2}\big(z^2 - \tfrac{x^2+y^2}{2}\big)$:
    $m\dot v = e(-\nabla\phi + v\times B\hat z)$. In canonical momenta
    $P = mv + eA$ its Hamiltonian $H = \lVert P - eA(x)\rVert^2/(2m) + e\phi(x)$ is **not
    separable** (the kinetic term couples $P$ and $x$), so the explicit splitting
    methods would lose their order and their symplecticity on it. For a *uniform* $B$
    and an *axisymmetric* $\phi$, Larmor's theorem removes the coupling exactly: in the
    frame turning about $\hat z$ at $-\omega_L$, $\omega_L = eB/(2m)$, the Lorentz force
    and the Coriolis force cancel and the remainder of the magnetic force acts as a
    harmonic potential. With $q$ the position and $p = m\dot q$ the momentum in that
    frame,

    $$H(q, p) = \frac{\lVert p\rVert^2}{2m}
      + \frac m2\Big(\omega_L^2 - \frac{\omega_z^2}{2}\Big)(q_x^2 + q_y^2)
      + \frac m2\,\omega_z^2 q_z^2,$$

    separable, and this problem integrates it; `charged_particle_lab_frame` maps a
    state back to the laboratory (the tests check the result against the Lorentz-force
    equations). A non-uniform field or a non-axisymmetric potential has no such frame:
    use a non-separable treatment there (an implicit symplectic method such as the
    implicit midpoint rule, or a volume-preserving Boris-type scheme), not these
    methods. The trap confines the particle if $\omega_c^2 > 2\omega_z^2$,
    $\omega_c = eB/m$; then the motion is harmonic with the radial frequency
    $\omega_r = \sqrt{\omega_L^2 - \omega_z^2/2}$ (in the laboratory: the cyclotron and
    magnetron frequencies $\omega_\pm = \omega_L \pm \omega_r$) and the axial frequency
    $\omega_z$, and ``exact`` gives it in closed form. Invariants: $H$, the canonical
    angular momentum $L_z = q_x p_y - q_y p_x$, and the radial and axial energies
    separately. The default start is the laboratory state $x = (1, 0, 0.5)$,
    $v = (0, 1, 0)$ at $t = 0$, where the two frames coincide.

    Args:
        charge: charge $e$. Default 1.0.
        mass: mass $m$. Default 1.0.
        B: magnetic field strength along $\hat z$. Default 1.0.
        omega_z: axial frequency $\omega_z$ of the electrostatic trap. Default 0.5.
        y0: Larmor-frame state ``(q, p)``, each of shape ``(3,)``; default above.
        t_span: default ``(0.0, 100.0)``.

    Returns:
        The `Problem` ``"charged_particle"`` (state ``(q, p)``, shapes ``(3,)``).

    Reference:
        L. S. Brown and G. Gabrielse, "Geonium theory: physics of a single electron or
        ion in a Penning trap", Rev. Mod. Phys. 58 (1986) 233-311; J. Larmor, Phil. Mag.
        44 (1897) 503-512; for non-separable charged-particle Hamiltonians: E. Hairer,
        C. Lubich and G. Wanner, Geometric Numerical Integration, 2nd ed. (2006),
        section VI.3 and VI.6.
    """
    values = (charge, mass, B, omega_z)
    if all(isinstance(v, (int, float)) for v in values):
        cyclotron = charge * B / mass
        if not cyclotron**2 > 2.0 * omega_z**2:
            raise ValueError(
                f"charged_particle: the trap does not confine the particle unless "
                f"(charge B / mass)^2 > 2 omega_z^2; got {cyclotron**2} <= {2 * omega_z**2}."
            )
    params = as_params(charge=charge, mass=mass, B=B, omega_z=omega_z)
    t_span = as_t_span(t_span)
    if y0 is None:
        position = jnp.asarray([1.0, 0.0, 0.5])
        velocity = jnp.asarray([0.0, 1.0, 0.0])
        omega_larmor = _larmor(params)
        # Larmor-frame velocity at t = 0: v - Omega x q.
        frame_velocity = omega_larmor * jnp.stack([position[1], -position[0], 0.0])
        y0 = (position, params["mass"] * (velocity - frame_velocity))
    y0 = _as_pair(y0, "charged_particle", (3,))
    t0 = t_span[0]

    def exact(t, params):
        q0, p0 = y0
        m = params["mass"]
        radial = jnp.sqrt(_penning_radial_squared(params))
        frequencies = jnp.stack([radial, radial, params["omega_z"]])
        phase = frequencies * (t - t0)
        cos, sin = jnp.cos(phase), jnp.sin(phase)
        q = q0 * cos + p0 / (m * frequencies) * sin
        p = p0 * cos - m * frequencies * q0 * sin
        return (q, p)

    return Problem(
        name="charged_particle",
        vector_field=_charged_particle_field,
        y0=y0,
        t_span=t_span,
        params=params,
        exact=exact,
        hamiltonian=_charged_particle_hamiltonian,
        description="Charged particle in a Penning trap, Larmor-frame canonical form (separable).",
        reference="L. S. Brown and G. Gabrielse, Rev. Mod. Phys. 58 (1986) 233-311.",
    )
