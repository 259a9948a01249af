"""Events: zero crossings of ``condition(t, y, params)`` located on the dense output.

After every accepted step the loop evaluates each event's condition at the step's
end. A sign change between the step's two ends (in the event's direction) means a
crossing inside the step; its position ``theta*`` in ``(0, 1]`` is the root of

.. math::  G(\\theta) = g\\big(t_n + \\theta h_n,\\; y_n + \\textstyle\\sum_j
           \\phi_j(\\theta) C_j\\big),

found on the method's own interpolant by the Illinois variant of regula falsi
(bracketed, superlinear) down to a few ulps of ``theta``. The root is differentiable
by the implicit function theorem: ``dtheta* = -(dG/dp) / (dG/dtheta)`` for any input
``p`` of ``G`` (the step's start, its dense coefficients, the parameters), so event
times and states have exact derivatives in forward and reverse mode.

References:
    Shampine & Thompson, "Event location for ordinary differential equations",
    Comput. Math. Appl. 39 (2000) 43-54.
    Dowell & Jarratt, "A modified regula falsi method for computing the root of an
    equation", BIT 11 (1971) 168-174 (the Illinois algorithm).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import lax


@dataclasses.dataclass(frozen=True)
class Event:
    """A zero crossing of ``condition(t, y, params)`` to locate during a solve.

    Args:
        condition: ``condition(t, y, params) -> scalar``; ``y`` is a pytree like
            ``y0``. An event is a sign change of its value.
        direction: ``+1``: only crossings from negative to positive (as the
            integration proceeds), ``-1``: only positive to negative, ``0``: both.
        terminal: stop the integration at the first crossing.
        max_events: crossings recorded (the count goes on past it).

    A crossing is detected when the condition has different signs at the two ends of
    an accepted step, so two crossings inside one step go unseen; bound the step with
    ``max_step`` if the condition can oscillate faster than the solution.
    """

    condition: Callable
    direction: int = 0
    terminal: bool = True
    max_events: int = 1

    def __post_init__(self):
        if not callable(self.condition):
            raise TypeError("Event.condition must be callable as condition(t, y, params).")
        if self.direction not in (-1, 0, 1):
            raise ValueError(f"Event.direction must be -1, 0 or +1, got {self.direction!r}.")
        if not isinstance(self.max_events, int) or self.max_events < 1:
            raise ValueError(f"Event.max_events must be a positive int, got {self.max_events!r}.")
        if not isinstance(self.terminal, bool):
            raise TypeError(f"Event.terminal must be a bool, got {self.terminal!r}.")


def crossed(direction, before, after):
    """Did the condition cross zero (in ``direction``) between two step ends?"""
    up = (before < 0) & (after >= 0)
    down = (before > 0) & (after <= 0)
    if direction > 0:
        return up
    if direction < 0:
        return down
    return up | down


@functools.partial(jax.custom_jvp, nondiff_argnums=(0,))
def find_root(G, operands):
    """The root ``theta`` in ``[0, 1]`` of ``G(theta, operands)``, given
    ``G(0) G(1) <= 0``; differentiable in ``operands`` (implicit function theorem).
    ``operands[0]`` sets the dtype of ``theta``."""
    dtype = jnp.result_type(operands[0])
    low = jnp.zeros((), dtype)
    high = jnp.ones((), dtype)
    g_low, g_high = G(low, operands).astype(dtype), G(high, operands).astype(dtype)
    tolerance = 4 * jnp.finfo(dtype).eps

    def cond(carry):
        low, high, g_low, g_high, _, iteration = carry
        return (high - low > tolerance) & (g_low != 0) & (g_high != 0) & (iteration < 200)

    def body(carry):
        low, high, g_low, g_high, side, iteration = carry
        denominator = g_high - g_low
        secant = jnp.where(denominator != 0, (low * g_high - high * g_low) / denominator, 0.5)
        # Regula falsi with the Illinois halving; bisection when it stalls at an end.
        middle = jnp.where(
            (secant > low) & (secant < high) & (iteration % 8 != 7), secant, (low + high) / 2
        )
        g_middle = G(middle, operands).astype(dtype)
        same_as_low = jnp.sign(g_middle) == jnp.sign(g_low)
        new_low = jnp.where(same_as_low, middle, low)
        new_high = jnp.where(same_as_low, high, middle)
        new_g_low = jnp.where(same_as_low, g_middle, jnp.where(side == -1, g_low / 2, g_low))
        new_g_high = jnp.where(same_as_low, jnp.where(side == 1, g_high / 2, g_high), g_middle)
        new_side = jnp.where(same_as_low, 1, -1).astype(jnp.int32)
        return new_low, new_high, new_g_low, new_g_high, new_side, iteration + 1

    low, high, g_low, g_high, _, _ = lax.while_loop(
        cond, body, (low, high, g_low, g_high, jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))
    )
    return jnp.where(g_low == 0, low, high)


@find_root.defjvp
def _find_root_jvp(G, primals, tangents):
    (operands,) = primals
    (operands_dot,) = tangents
    theta = find_root(G, operands)
    slope = jax.grad(lambda th: G(th, operands))(theta)
    _, value_dot = jax.jvp(lambda o: G(theta, o), (operands,), (operands_dot,))
    # A crossing where G is flat has no derivative: NaN, not a plausible number.
    scale = jnp.where(slope != 0, -1 / jnp.where(slope != 0, slope, 1), jnp.nan)
    return theta, (value_dot * scale).astype(theta.dtype)
