r"""Symplectic splitting methods for separable Hamiltonian systems with state ``(q, p)``.

For a separable Hamiltonian $H(q, p) = T(p) + V(q)$ the equations of motion

$$\dot q = \partial H / \partial p = T'(p), \qquad
  \dot p = -\partial H / \partial q = -V'(q)$$

split into two flows that are solved exactly by one explicit update each: the *drift*
$q \leftarrow q + c\,h\,T'(p)$ (``p`` fixed) and the *kick*
$p \leftarrow p - c\,h\,V'(q)$ (``q`` fixed). Every method here is a composition of
kicks and drifts; each sub-step is the exact flow of a Hamiltonian, so the step is a
symplectic map, and the compositions used here are symmetric, so the step is
time-reversible: $\Phi_{-h} \circ \Phi_h = \mathrm{id}$. Backward error analysis then
gives a modified Hamiltonian $\tilde H = H + O(h^p)$ that the numerical solution
conserves up to exponentially small terms, which is why the energy error stays
bounded, without drift, over very long times (Hairer, Lubich & Wanner, *Geometric
Numerical Integration*, 2nd ed., Springer 2006, chapters VI and IX).

The methods take the flat state and the flat vector field of the solve loop (the
interface of ``docs/methods.md``): the state ``y`` is ``[q, p]`` (for a user state
``(q, p)`` that is what flattening gives), a drift reads the ``q`` half of
``f(t, y)``, a kick the ``p`` half. They are only correct for separable ``H``: for a
non-separable one (``dq/dt`` depending on ``q``, or ``dp/dt`` on ``p``) they silently
drop to first order and are not symplectic.

References:
    L. Verlet, Phys. Rev. 159 (1967) 98-103 (leapfrog / velocity Verlet).
    H. Yoshida, "Construction of higher order symplectic integrators",
    Phys. Lett. A 150 (1990) 262-268.
    E. Forest and R. D. Ruth, "Fourth-order symplectic integration",
    Physica D 43 (1990) 105-117.
    W. Kahan and R.-C. Li, "Composition constants for raising the orders of
    unconventional schemes for ordinary differential equations",
    Math. Comp. 66 (1997) 1089-1099.
    E. Hairer, C. Lubich and G. Wanner, Geometric Numerical Integration, 2nd ed.,
    Springer (2006), sections II.4-II.5 and V.3.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import PyTree

from .explicit import Step

KICK = "kick"
DRIFT = "drift"


def _state_error(message: str) -> ValueError:
    return ValueError(
        message + " Symplectic methods need a state (q, p): a tuple of two arrays (or "
        "pytrees) of the same size, positions first, e.g. y0=(q0, p0); a flat 1-D "
        "array of even length is read as [q, p]."
    )


def check_qp_state(y0: PyTree, name: str = "a symplectic method") -> None:
    """Raise a ``ValueError`` unless ``y0`` is a ``(q, p)`` pair of equal size.

    Accepted: a tuple (or list, or named tuple) ``(q, p)`` whose two members are arrays
    or pytrees with the same total number of elements, or a flat 1-D array of even
    length (read as ``[q, p]``). A dict is refused: its keys are flattened in sorted
    order, so ``{"q": ..., "p": ...}`` would put ``p`` first.

    Args:
        y0: the user's initial state (before flattening).
        name: the method's name, for the message.
    """
    if isinstance(y0, (tuple, list)):
        if len(y0) != 2:
            raise _state_error(f"{name} got a state with {len(y0)} parts.")
        sizes = [sum(int(np.size(leaf)) for leaf in jax.tree.leaves(part)) for part in y0]
        if sizes[0] != sizes[1]:
            raise _state_error(
                f"{name} got q with {sizes[0]} elements and p with {sizes[1]}; they must "
                "match (p is the momentum conjugate to q)."
            )
        if sizes[0] == 0:
            raise _state_error(f"{name} got an empty state.")
        return
    if isinstance(y0, dict):
        raise _state_error(
            f"{name} got a dict; its keys flatten in sorted order, so the halves are not "
            "known. Pass a tuple (q, p)."
        )
    shape = np.shape(y0)
    if len(shape) == 1 and shape[0] % 2 == 0 and shape[0] > 0:
        return
    raise _state_error(f"{name} got a state of shape {shape}.")


@dataclasses.dataclass(frozen=True)
class SymplecticSplitting:
    r"""A symplectic splitting method: a fixed sequence of kicks and drifts.

    One step of size $h$ from $(q, p)$ applies, for ``kick_first=True``,

    $$K(b_0 h)\, D(a_0 h)\, K(b_1 h)\, D(a_1 h) \cdots D(a_{m-1} h)\, K(b_m h),$$

    with $K(c h): p \leftarrow p + c h\, \dot p(q)$ and
    $D(c h): q \leftarrow q + c h\, \dot q(p)$ (for ``kick_first=False`` the roles are
    swapped: drifts on the outside). ``outer`` holds the $m + 1$ coefficients $b$ of
    the outer kind, ``inner`` the $m$ coefficients $a$ of the other; both sum to 1.
    The last outer sub-step uses the rate at the end of the step, which is the first
    one of the next step, so it is carried as the method's state ("first same as
    last"): a step evaluates ``f`` ``2m`` times, ``m`` times for each half, and the
    expensive half (usually the force) ``m`` times. Time-dependent fields see the time
    advanced by the drifts (the extended phase space with $t$ as a position).

    Implements the method interface of ``docs/methods.md`` (fixed step:
    ``error_order = None``; dense output: the cubic Hermite interpolant of the step's
    end points and slopes, two evaluations of ``f``). Build one with
    `composition` or use `Leapfrog`, `Yoshida4`, `Ruth4`,
    `Yoshida6`, `KahanLi6`, `KahanLi8`.

    Attributes:
        name: the method's name.
        order: its classical order (even).
        outer: the ``m + 1`` coefficients of the outer sub-steps.
        inner: the ``m`` coefficients of the inner sub-steps.
        kick_first: whether the outer sub-steps are kicks (velocity-Verlet type) or
            drifts (position-Verlet type).
    """

    name: str
    order: int
    outer: tuple[float, ...]
    inner: tuple[float, ...]
    kick_first: bool = True

    def __post_init__(self):
        if len(self.outer) != len(self.inner) + 1 or not self.inner:
            raise ValueError(
                f"{self.name}: need m >= 1 inner and m + 1 outer coefficients, got "
                f"{len(self.inner)} and {len(self.outer)}."
            )
        for label, values in (("outer", self.outer), ("inner", self.inner)):
            if abs(math.fsum(values) - 1.0) > 1e-12:
                raise ValueError(
                    f"{self.name}: the {label} coefficients sum to {math.fsum(values)!r}; "
                    "a consistent splitting needs 1."
                )

    # The fixed-step part of the method interface.
    error_order = None
    dense_fevals = 2

    @property
    def force_evaluations(self) -> int:
        """Kick rates (``dp/dt``, usually the expensive force) evaluated per step: ``m``
        either way (kick first: ``m + 1`` kicks, the last one carried over)."""
        return len(self.inner)

    def operations(self) -> list[tuple[str, float]]:
        """The step's sub-steps in order, as ``(kind, coefficient)`` pairs."""
        outer_kind, inner_kind = (KICK, DRIFT) if self.kick_first else (DRIFT, KICK)
        ops = []
        for b, a in zip(self.outer, self.inner):
            ops += [(outer_kind, b), (inner_kind, a)]
        ops.append((outer_kind, self.outer[-1]))
        return ops

    def check_state(self, y0: PyTree) -> None:
        """Called by ``solve`` with the user's state: raises a ``ValueError`` unless it
        is a ``(q, p)`` pair of equal size (or a flat array of even length)."""
        check_qp_state(y0, f"method {self.name!r}")

    def _rate_half(self, kind, rate, n):
        return rate[n:] if kind == KICK else rate[:n]

    def init(self, f, t0, y0, args, f0):
        """The outer sub-step's half of ``f0 = f(t0, y0)`` (carried, FSAL)."""
        n = _half_size(y0, self.name)
        return self._rate_half(KICK if self.kick_first else DRIFT, f0, n)

    def step(self, f, t, y, h, args, state) -> Step:
        """One step: the kicks and drifts of `operations` (see the class)."""
        _refuse_continuous_adjoint(f, self.name)
        n = _half_size(y, self.name)
        h_state = jnp.asarray(h).astype(y.dtype)
        ops = self.operations()
        elapsed = 0.0  # the time advanced by the drifts so far, in units of h
        rate = state
        for index, (kind, coefficient) in enumerate(ops):
            if index > 0:
                if index == len(ops) - 1 and self.kick_first:
                    time = t + h  # the carried force belongs to the step's end
                else:
                    time = t + elapsed * h
                rate = self._rate_half(kind, f(time, y, args), n)
            increment = (coefficient * h_state) * rate
            # Updating the half in place (not splitting and re-joining the state) keeps
            # the step to one buffer, which XLA updates without copies.
            if kind == KICK:
                y = y.at[n:].add(increment)
            else:
                y = y.at[:n].add(increment)
                elapsed += coefficient
        return Step(y, None, (), rate, jnp.zeros((), jnp.int32), len(ops) - 1)

    def dense(self, f, t, h, y0, y1, dense_info, args):
        """Cubic Hermite coefficients ``(3, n)`` from ``y0, y1, f(t, y0), f(t+h, y1)``."""
        h_state = jnp.asarray(h).astype(y0.dtype)
        f0 = f(t, y0, args)
        f1 = f(t + h, y1, args)
        delta = y1 - y0
        return jnp.stack(
            [h_state * f0, 3 * delta - h_state * (2 * f0 + f1), -2 * delta + h_state * (f0 + f1)]
        )

    def interpolate(self, y0, coefficients, theta):
        """``y(t + theta h) = y0 + theta C_1 + theta^2 C_2 + theta^3 C_3``."""
        theta = jnp.asarray(theta).astype(coefficients.dtype)
        return y0 + theta * (coefficients[0] + theta * (coefficients[1] + theta * coefficients[2]))


def _half_size(y, name):
    size = y.shape[0]
    if size % 2:
        raise ValueError(
            f"method {name!r} needs a flat state [q, p] of even length, got {size}. (With "
            "adjoint='backsolve' the augmented adjoint system would be integrated, which "
            "these methods do not support: use the default adjoint.)"
        )
    return size // 2


def _refuse_continuous_adjoint(f, name):
    # The backsolve adjoint integrates the augmented system [y, a, g] with the same
    # method; that system is not a separable (q, p) system, so a splitting method would
    # be silently wrong (first order) there. Its field is recognisable by name.
    if "_augmented_field" in getattr(f, "__qualname__", ""):
        raise NotImplementedError(
            f"adjoint='backsolve' does not work with the symplectic method {name!r}: the "
            "adjoint system is not separable. Use adjoint='checkpoint' (the default), "
            "which differentiates the symplectic steps exactly."
        )


def composition(weights, *, name: str, order: int, kick_first: bool = True) -> SymplecticSplitting:
    r"""A composition of leapfrog steps, as one splitting method.

    With $\Phi_h$ the leapfrog (Störmer-Verlet) step, the composition

    $$\Psi_h = \Phi_{\gamma_m h} \circ \cdots \circ \Phi_{\gamma_1 h}$$

    has order $p + 2$ if $\Phi$ has (even) order $p$ and the weights satisfy the
    order conditions; a symmetric sequence ($\gamma_i = \gamma_{m+1-i}$) keeps the
    step symmetric (time-reversible). Merging the adjacent half-kicks gives the
    splitting with inner coefficients $a_i = \gamma_i$ and outer coefficients
    $b_0 = \gamma_1/2$, $b_i = (\gamma_i + \gamma_{i+1})/2$, $b_m = \gamma_m/2$
    (Hairer, Lubich & Wanner 2006, section V.3; Yoshida 1990).

    Args:
        weights: the $m$ weights $\gamma_i$; they must sum to 1.
        name: the method's name.
        order: the order the weights achieve (not checked here: the tests fit it).
        kick_first: compose velocity Verlet (kick-drift-kick, ``True``) or position
            Verlet (drift-kick-drift, ``False``).

    Returns:
        The `SymplecticSplitting`.
    """
    gammas = [float(w) for w in weights]
    outer = [gammas[0] / 2]
    outer += [(a + b) / 2 for a, b in zip(gammas[:-1], gammas[1:])]
    outer.append(gammas[-1] / 2)
    return SymplecticSplitting(name, int(order), tuple(outer), tuple(gammas), kick_first)


def triple_jump_weights(order: int) -> tuple[float, ...]:
    r"""Weights of Yoshida's recursive triple jump, reaching any even ``order``.

    From a symmetric method $\Phi$ of order $2k$, the symmetric composition
    $\Phi_{\gamma_1 h}\Phi_{\gamma_2 h}\Phi_{\gamma_1 h}$ with
    $\gamma_1 = 1 / (2 - 2^{1/(2k+1)})$, $\gamma_2 = 1 - 2\gamma_1$ has order
    $2k + 2$ (Yoshida 1990; Creutz & Gocksch, Phys. Rev. Lett. 63 (1989) 9-12;
    Hairer, Lubich & Wanner 2006, II.4, example 4.2). Starting from leapfrog
    (order 2), order $2k$ uses $3^{k-1}$ leapfrog steps: simple, but the large
    negative weights make its error constants much larger than those of
    `Yoshida6` or `KahanLi8` for the same order.

    Args:
        order: an even number ``>= 2``.

    Returns:
        The weights $\gamma_i$ (they sum to 1).
    """
    if order < 2 or order % 2:
        raise ValueError(f"triple_jump_weights needs an even order >= 2, got {order}.")
    weights = [1.0]
    for current in range(2, order, 2):
        root = 2.0 ** (1.0 / (current + 1))
        outer = 1.0 / (2.0 - root)
        middle = -root * outer
        weights = (
            [outer * w for w in weights]
            + [middle * w for w in weights]
            + [outer * w for w in weights]
        )
    return tuple(weights)


def _symmetric(half, center=None):
    """``half + [center] + reversed(half)``, the center making the sum 1."""
    if center is None:
        center = 1.0 - 2.0 * math.fsum(half)
    return tuple(half) + (center,) + tuple(reversed(half))


# Hairer, Lubich & Wanner (2006), section V.3.2, eqs. (3.11), (3.12) and (3.14).
YOSHIDA6_WEIGHTS = _symmetric(
    (0.78451361047755726382, 0.23557321335935813368, -1.17767998417887100695)
)
KAHAN_LI6_WEIGHTS = _symmetric(
    (
        0.39216144400731413928,
        0.33259913678935943860,
        -0.70624617255763935981,
        0.08221359629355080023,
    )
)
KAHAN_LI8_WEIGHTS = _symmetric(
    (
        0.13020248308889008087881763,
        0.56116298177510838456196441,
        -0.38947496264484728640807860,
        0.15884190655515560089621075,
        -0.39590389413323757733623154,
        0.18453964097831570709183254,
        0.25837438768632204729397911,
        0.29501172360931029887096624,
    )
)


def Leapfrog() -> SymplecticSplitting:
    r"""Leapfrog in velocity-Verlet form (kick-drift-kick), order 2.

    $$p_{1/2} = p_0 + \tfrac h2 \dot p(q_0), \quad q_1 = q_0 + h\,\dot q(p_{1/2}), \quad
      p_1 = p_{1/2} + \tfrac h2 \dot p(q_1).$$

    Symplectic and symmetric; one force evaluation per step (the last kick's force is
    the next step's first). Verlet, Phys. Rev. 159 (1967) 98-103; Hairer, Lubich &
    Wanner (2006), section I.3.
    """
    return composition((1.0,), name="leapfrog", order=2, kick_first=True)


def Yoshida4() -> SymplecticSplitting:
    r"""Yoshida's 4th-order method: the triple jump of position Verlet (drift first).

    With $\gamma_1 = 1/(2 - 2^{1/3})$ and $\gamma_2 = 1 - 2\gamma_1 = -2^{1/3}\gamma_1$,

    $$D(\tfrac{\gamma_1}{2} h)\,K(\gamma_1 h)\,D(\tfrac{\gamma_1+\gamma_2}{2} h)\,
      K(\gamma_2 h)\,D(\tfrac{\gamma_1+\gamma_2}{2} h)\,K(\gamma_1 h)\,
      D(\tfrac{\gamma_1}{2} h),$$

    the form in which Yoshida wrote it (positions updated first): 4 drifts, 3 kicks,
    3 force evaluations per step. Forest and Ruth found the same coefficients
    independently; `Ruth4` arranges them the other way round. Yoshida, Phys.
    Lett. A 150 (1990) 262-268; Hairer, Lubich & Wanner (2006), II.4.
    """
    return composition(triple_jump_weights(4), name="yoshida4", order=4, kick_first=False)


def Ruth4() -> SymplecticSplitting:
    r"""The 4th-order Forest-Ruth coefficients in velocity form (kick first).

    $$K(\tfrac{\gamma_1}{2} h)\,D(\gamma_1 h)\,K(\tfrac{\gamma_1+\gamma_2}{2} h)\,
      D(\gamma_2 h)\,K(\tfrac{\gamma_1+\gamma_2}{2} h)\,D(\gamma_1 h)\,
      K(\tfrac{\gamma_1}{2} h)$$

    with the weights of `Yoshida4`: the triple jump of velocity Verlet (of
    `Leapfrog`), 4 kicks and 3 drifts, 3 force evaluations per step (the last
    kick's force is carried to the next step). Forest and Ruth published the method
    with the positions updated first, which is `Yoshida4`; the velocity form is
    the same composition with the roles of $T$ and $V$ exchanged (Omelyan, Mryglod &
    Folk, Comput. Phys. Commun. 146 (2002) 188-202, discuss both forms). Same order
    and cost; the error constants differ (on Kepler's problem with $e = 0.5$ the
    energy error of this form is about twice that of `Yoshida4`). Forest &
    Ruth, Physica D 43 (1990) 105-117; Candy & Rozmus, J. Comput. Phys. 92 (1991)
    230-256.
    """
    return composition(triple_jump_weights(4), name="ruth4", order=4, kick_first=True)


def Yoshida6() -> SymplecticSplitting:
    """Yoshida's 6th-order composition of 7 leapfrog steps (his solution A).

    Yoshida, Phys. Lett. A 150 (1990) 262-268; weights as in Hairer, Lubich & Wanner
    (2006), V.3, eq. (3.11).
    """
    return composition(YOSHIDA6_WEIGHTS, name="yoshida6", order=6)


def KahanLi6() -> SymplecticSplitting:
    """Kahan and Li's 6th-order composition of 9 leapfrog steps.

    Kahan & Li, Math. Comp. 66 (1997) 1089-1099; Hairer, Lubich & Wanner (2006), V.3,
    eq. (3.12).
    """
    return composition(KAHAN_LI6_WEIGHTS, name="kahanli6", order=6)


def KahanLi8() -> SymplecticSplitting:
    """Kahan and Li's 8th-order composition of 17 leapfrog steps.

    Kahan & Li, Math. Comp. 66 (1997) 1089-1099; Hairer, Lubich & Wanner (2006), V.3,
    eq. (3.14).
    """
    return composition(KAHAN_LI8_WEIGHTS, name="kahanli8", order=8)


@dataclasses.dataclass(frozen=True)
class HamiltonianField:
    """The vector field of a Hamiltonian ``H(q, p, params)``; see `hamiltonian`."""

    H: Callable

    def __call__(self, t, y, params):
        if isinstance(y, (tuple, list)):
            q, p = y
            dH_dq, dH_dp = jax.grad(self.H, argnums=(0, 1))(q, p, params)
            minus_dH_dq = jax.tree.map(jnp.negative, dH_dq)
            if hasattr(y, "_fields"):  # a named tuple
                return type(y)(dH_dp, minus_dH_dq)
            return type(y)((dH_dp, minus_dH_dq))
        n = y.shape[0] // 2
        dH_dq, dH_dp = jax.grad(self.H, argnums=(0, 1))(y[:n], y[n:], params)
        return jnp.concatenate([dH_dp, -dH_dq])


def hamiltonian(H: Callable) -> HamiltonianField:
    r"""The vector field of Hamilton's equations for a scalar ``H(q, p, params)``.

    $$\dot q = \frac{\partial H}{\partial p}, \qquad
      \dot p = -\frac{\partial H}{\partial q},$$

    both from one ``jax.grad`` of ``H``. The returned ``f(t, y, params)`` takes ``y``
    as a tuple ``(q, p)`` (arrays or pytrees; returned in the same structure) or as a
    flat array ``[q, p]`` of even length, so it works with every method: the symplectic
    ones (which require ``H = T(p) + V(q)``, separable) and the Runge-Kutta ones (any
    ``H``). Under ``jit`` only the half a sub-step uses is computed (XLA removes the
    other), so a kick costs one gradient of ``V`` and a drift one of ``T``. The field
    is a frozen dataclass: two calls with the same ``H`` give equal (and equally
    hashed) fields, so ``solve`` reuses its compiled program.

    Args:
        H: ``H(q, p, params) -> scalar``, real-valued and differentiable.

    Returns:
        ``f(t, y, params) -> dy/dt``.

    Reference:
        E. Hairer, C. Lubich and G. Wanner, Geometric Numerical Integration, 2nd ed.,
        Springer (2006), section VI.1.
    """
    if not callable(H):
        raise TypeError(f"hamiltonian needs a callable H(q, p, params), got {H!r}.")
    return HamiltonianField(H)


METHODS = {
    "leapfrog": Leapfrog,
    "yoshida4": Yoshida4,
    "ruth4": Ruth4,
}
