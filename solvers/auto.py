"""Automatic stiffness switching: ``method="auto"``.

The solve starts with an explicit method (``tsit5``) and watches the product of the
step size and an estimate of the Jacobian's spectral radius, ``h rho``. An explicit
method held at its stability boundary (``h rho`` near 3.3 for Tsitouras' and
Dormand-Prince's pairs) while accuracy would allow longer steps is the sign of
stiffness: after ``switch_after`` such accepted steps (counted as in Hairer's DOPRI5,
reset after six non-stiff ones) the solve continues with the stiff method
(``rodas5``). ``rho`` comes from a power iteration carried from step to step (one
Jacobian-vector product per step, in both modes); when the stiff method's own steps
come back inside the explicit method's stability region (``h rho < 1.6``) for
``switch_back_after`` steps, it returns to the explicit method. This is the strategy
of LSODA (Petzold, SIAM J. Sci. Stat. Comput. 4 (1983) 136-148) and of
DifferentialEquations.jl's ``AutoTsit5(Rodas5())``.

In explicit mode the larger of that and a free stage estimate is used, for tableaus
whose last two stages are both at ``c = 1`` (``tsit5``, ``dopri5``):
``rho ~ |k_s - k_{s-1}| / |y_1 - Y_{s-1}|`` (Hairer, Norsett & Wanner I, section IV.2,
"stiffness detection"). Both are lower bounds of the spectral radius; the stage
estimate alone can stay below the limit for thousands of steps that are in fact held
by stability (Robertson at rtol 1e-10).
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import equinox.internal as eqxi
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ._control import PIDController, PredictiveController
from ._tableaus import weighted_sum
from .explicit import ExplicitRK, Step, Tsit5

# |h rho| beyond which the explicit method is held by stability (DOPRI5's 3.25).
STABILITY_LIMIT = 3.25
# Below this the stiff method's steps would be stable for the explicit one too.
RETURN_LIMIT = 1.6


class AutoState(NamedTuple):
    """``stiff``: which method runs; ``count``: stiff-looking (explicit mode) or
    non-stiff-looking (stiff mode) accepted steps in a row; ``calm``: non-stiff steps in
    a row in explicit mode (six reset ``count``); ``direction``: the power iteration's
    vector; the two methods' own states; counters reported in ``sol.stats``."""

    stiff: Any
    count: Any
    calm: Any
    direction: Any
    explicit: Any
    implicit: Any
    rtol: Any
    atol: Any
    num_switches: Any
    num_stiff_steps: Any


class SwitchedError(NamedTuple):
    """The error estimate of whichever method took the step, and which one it was."""

    error: Any
    stiff: Any


def _rms(x):
    return jnp.sqrt(jnp.mean(jnp.abs(x) ** 2))


def _when(condition, compute, like):
    """``compute()`` if any member needs it, else zeros shaped like it (an unbatched
    cond: outside ``vmap`` only the method in use runs)."""
    return lax.cond(
        eqxi.unvmap_any(condition),
        compute,
        lambda: jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), like),
    )


def _default_stiff():
    from .rosenbrock import Rodas5

    return Rodas5()


@dataclasses.dataclass(frozen=True)
class Auto:
    """Explicit while non-stiff, a stiff method when stiffness is detected (and back).

    Attributes:
        explicit: the explicit method (an adaptive :class:`~solvers.ExplicitRK`).
        stiff: the stiff method (default ``solvers.Rodas5()``; any adaptive implicit
            method of the library).
        switch_after: stiff-looking accepted steps before switching to ``stiff``.
        switch_back_after: non-stiff-looking stiff steps before switching back.
        stiff_limit: ``h rho`` above which an explicit step counts as held by
            stability.
    """

    explicit: Any = dataclasses.field(default_factory=Tsit5)
    stiff: Any = dataclasses.field(default_factory=_default_stiff)
    switch_after: int = 15
    switch_back_after: int = 5
    stiff_limit: float = STABILITY_LIMIT

    name = "auto"
    uses_tolerances = True
    replay_state = True

    def __post_init__(self):
        for role, method in (("explicit", self.explicit), ("stiff", self.stiff)):
            if getattr(method, "error_order", None) is None:
                raise ValueError(f"Auto needs an adaptive {role} method, got {method!r}.")
        if not isinstance(self.explicit, ExplicitRK):
            raise TypeError("Auto's explicit method must be an explicit Runge-Kutta method.")

    @property
    def order(self) -> int:
        return min(self.explicit.order, self.stiff.order)

    @property
    def error_order(self) -> int:
        # Used for the first step's size; the controller uses the active method's.
        return self.explicit.error_order

    @property
    def adaptive(self) -> bool:
        return True

    @property
    def dense_fevals(self) -> int:
        return max(self.explicit.dense_fevals, self.stiff.dense_fevals)

    @property
    def default_controller(self):
        return AutoController()

    def _init_stiff(self, f, t, y, args, f0, tolerances):
        if getattr(self.stiff, "uses_tolerances", False):
            return self.stiff.init(f, t, y, args, f0, tolerances=tolerances)
        return self.stiff.init(f, t, y, args, f0)

    def init(self, f, t0, y0, args, f0, tolerances=(1e-6, 1e-9)):
        return self.resume(f, t0, y0, args, f0, (jnp.zeros((), bool),), tolerances)

    # The adjoint replays a step from (t, y) and the recorded history: which method ran.
    def history(self, state):
        return (state.stiff,)

    def resume(self, f, t, y, args, f0, past, tolerances):
        (stiff,) = past
        real = jnp.real(y).dtype
        rtol, atol = tolerances
        zero = jnp.zeros((), jnp.int32)
        direction = jnp.ones_like(y) / np.sqrt(y.shape[0])
        return AutoState(
            stiff,
            zero,
            zero,
            direction,
            self.explicit.init(f, t, y, args, f0),
            self._init_stiff(f, t, y, args, f0, tolerances),
            jnp.asarray(rtol, real),
            jnp.asarray(atol, real),
            zero,
            zero,
        )

    def statistics(self, state):
        """``num_switches`` (explicit to stiff or back) and ``num_stiff_steps`` (accepted
        steps taken by the stiff method), added to ``sol.stats``."""
        return {"num_switches": state.num_switches, "num_stiff_steps": state.num_stiff_steps}

    def _shapes(self, f, t, y, h, args, state):
        return (
            jax.eval_shape(lambda: self.explicit.step(f, t, y, h, args, state.explicit)),
            jax.eval_shape(lambda: self.stiff.step(f, t, y, h, args, state.implicit)),
        )

    def step(self, f, t, y, h, args, state) -> Step:
        stiff = state.stiff
        stage_estimate = self._has_stage_estimate(y)
        # The explicit step always runs (it is cheap next to a stiff step, and a cond
        # around it costs more than it saves outside vmap); the stiff step, with the
        # power iteration for rho, only when some member is stiff.
        explicit = self.explicit.step(f, t, y, h, args, state.explicit)

        def stiff_step():
            step = self.stiff.step(f, t, y, h, args, state.implicit)
            return (step,) + self._power(f, t + h, step.y, args, state.direction)

        shapes = jax.eval_shape(stiff_step)
        implicit, rho_power, direction = _when(stiff, stiff_step, shapes)
        # The power iteration runs in explicit mode too: the stage estimate alone is a
        # lower bound that can stay below the limit for thousands of steps held by
        # stability (Robertson at rtol 1e-10).
        explicit_rho, explicit_direction = self._power(f, t + h, explicit.y, args, state.direction)
        rho_power = jnp.where(stiff, rho_power, explicit_rho)
        direction = jnp.where(stiff, direction, explicit_direction)
        y1 = jnp.where(stiff, implicit.y, explicit.y)
        error = jax.tree.map(
            lambda a, b: jnp.where(stiff, a, b),
            implicit.error,
            _like(explicit.error, implicit.error),
        )
        status = jnp.where(stiff, implicit.status, explicit.status).astype(jnp.int32)
        fevals = explicit.num_fevals + 1 + jnp.where(stiff, implicit.num_fevals + 1, 0)

        # Stiffness: h rho against the explicit method's stability limit.
        h_real = jnp.abs(h)
        if stage_estimate:
            stages = self._stage_estimate(t, y, h, explicit)
            rho = jnp.where(stiff, rho_power, jnp.maximum(rho_power, stages))
        else:
            rho = rho_power
        held = h_real * rho > self.stiff_limit
        calm_enough = h_real * rho < RETURN_LIMIT
        # Explicit mode: count held steps; six calm ones in a row forget them.
        calm = jnp.where(stiff | held, 0, state.calm + 1)
        count_explicit = jnp.where(held, state.count + 1, jnp.where(calm >= 6, 0, state.count))
        count_stiff = jnp.where(calm_enough, state.count + 1, 0)
        count = jnp.where(stiff, count_stiff, count_explicit)
        to_stiff = ~stiff & (count >= self.switch_after)
        to_explicit = stiff & (count >= self.switch_back_after)
        switch = to_stiff | to_explicit

        # The method taking over starts from (t + h, y1).
        tolerances = (state.rtol, state.atol)

        def take_over():
            f1 = f(t + h, y1, args)
            return (
                self.explicit.init(f, t + h, y1, args, f1),
                self._init_stiff(f, t + h, y1, args, f1, tolerances),
            )

        fresh_explicit, fresh_implicit = _when(
            switch, take_over, jax.eval_shape(lambda: (state.explicit, state.implicit))
        )
        explicit_next = _select(
            to_explicit, fresh_explicit, _select(stiff, state.explicit, explicit.state)
        )
        implicit_next = _select(
            to_stiff, fresh_implicit, _select(stiff, implicit.state, state.implicit)
        )
        fevals = (fevals + jnp.where(switch, 1, 0)).astype(jnp.int32)
        new_state = AutoState(
            stiff ^ switch,
            jnp.where(switch, 0, count).astype(jnp.int32),
            calm.astype(jnp.int32),
            direction,
            explicit_next,
            implicit_next,
            state.rtol,
            state.atol,
            state.num_switches + switch.astype(jnp.int32),
            state.num_stiff_steps + stiff.astype(jnp.int32),
        )
        dense_info = (explicit.dense_info, implicit.dense_info, stiff)
        return Step(y1, SwitchedError(error, stiff), dense_info, new_state, status, fevals)

    @staticmethod
    def _power(f, t, y, args, direction):
        """One power-iteration step for the Jacobian's spectral radius at ``(t, y)``."""
        product = jax.jvp(lambda z: f(t, z, args), (y,), (direction,))[1]
        rho = jnp.sqrt(jnp.sum(jnp.abs(product) ** 2))
        ok = jnp.isfinite(rho) & (rho > 0)
        return rho, jnp.where(ok, product / jnp.where(ok, rho, 1), direction)

    def _has_stage_estimate(self, y):
        c = np.asarray(self.explicit.tableau.c)
        return self.explicit.tableau.num_stages >= 3 and c[-1] == 1 and c[-2] == 1

    def _stage_estimate(self, t, y, h, explicit):
        """Hairer's stage-difference estimate of ``rho`` for tableaus ending in two
        stages at ``c = 1`` (0 when the tableau has no such pair)."""
        tableau = self.explicit.tableau
        c = np.asarray(tableau.c)
        if tableau.num_stages < 3 or not (c[-1] == 1 and c[-2] == 1):
            return jnp.zeros((), jnp.real(y).dtype)
        ks = list(explicit.dense_info)
        h_state = jnp.asarray(h).astype(y.dtype)
        second_last = y + h_state * weighted_sum(tableau.a[-2, :-2], ks[:-2])
        numerator = _rms(ks[-1] - ks[-2])
        denominator = _rms(explicit.y - second_last)
        return jnp.where(denominator > 0, numerator / jnp.where(denominator > 0, denominator, 1), 0)

    def dense(self, f, t, h, y0, y1, dense_info, args):
        explicit_info, implicit_info, stiff = dense_info
        explicit_shape = jax.eval_shape(
            lambda: self.explicit.dense(f, t, h, y0, y1, explicit_info, args)
        )
        implicit_shape = jax.eval_shape(
            lambda: self.stiff.dense(f, t, h, y0, y1, implicit_info, args)
        )
        explicit = _when(
            ~stiff,
            lambda: self.explicit.dense(f, t, h, y0, y1, explicit_info, args),
            explicit_shape,
        )
        implicit = _when(
            stiff, lambda: self.stiff.dense(f, t, h, y0, y1, implicit_info, args), implicit_shape
        )
        # The idle method's coefficients are zero, so interpolate can add both.
        return (
            jax.tree.map(lambda c: jnp.where(stiff, 0, c), explicit),
            jax.tree.map(lambda c: jnp.where(stiff, c, 0), implicit),
        )

    def interpolate(self, y0, coefficients, theta):
        explicit, implicit = coefficients
        # Linear in (y0, coefficients): y0 enters once, each idle part contributes 0.
        return self.explicit.interpolate(y0, explicit, theta) + (
            self.stiff.interpolate(y0, implicit, theta) - y0
        )


def _select(condition, new, old):
    return jax.tree.map(lambda a, b: jnp.where(condition, a, b), new, old)


def _like(value, template):
    """``value`` broadcast to the structure of ``template`` (error estimates of the two
    methods are both arrays like ``y``, or pairs for DOP853)."""
    if isinstance(template, tuple) and not isinstance(value, tuple):
        return tuple(value for _ in template)
    if isinstance(value, tuple) and not isinstance(template, tuple):
        return value[0]
    return value


@dataclasses.dataclass(frozen=True)
class AutoController:
    """The step-size controller of :class:`Auto`: the PID controller's proposal while the
    explicit method runs, the predictive controller's (which holds the step size so the
    stiff method keeps its factorisation) while the stiff one does."""

    explicit: Any = dataclasses.field(default_factory=PIDController)
    stiff: Any = dataclasses.field(default_factory=PredictiveController)

    def init(self, method, f, t0, t1, y0, f0, args, dt, rtol, atol, max_step):
        first, fevals = self.explicit.init(
            method, f, t0, t1, y0, f0, args, dt, rtol, atol, max_step
        )
        second, _ = self.stiff.init(
            method.stiff, f, t0, t1, y0, f0, args, first[0], rtol, atol, max_step
        )
        return (first, second), fevals

    def propose(self, t, t1, state):
        return state[0][0]

    def adapt(self, method, t, y0, y1, error, h, clipped, state, rtol, atol, max_step):
        first, second = state
        accept_e, first_new = self.explicit.adapt(
            method.explicit, t, y0, y1, error.error, h, clipped, first, rtol, atol, max_step
        )
        accept_s, second_new = self.stiff.adapt(
            method.stiff, t, y0, y1, error.error, h, clipped, second, rtol, atol, max_step
        )
        stiff = error.stiff
        accept = jnp.where(stiff, accept_s, accept_e)
        h_next = jnp.where(stiff, second_new[0], first_new[0])
        first_new = (h_next,) + tuple(first_new[1:])
        second_new = (h_next,) + tuple(second_new[1:])
        return accept, (first_new, second_new)
