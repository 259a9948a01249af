"""Hamiltonian systems: gravitational N-body problems (and, later, symplectic test cases)."""

from __future__ import annotations

import jax.numpy as jnp

from ._problem import Problem, as_state, as_t_span, register

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
