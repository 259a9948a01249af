"""Step-size controllers: the PID controller of embedded pairs and constant steps.

A controller is a small frozen object with three pure functions on its own state
(the contract is in ``docs/methods.md``):

* ``init(method, f, t0, t1, y0, f0, args, dt, rtol, atol, max_step) -> (state, num_fevals)``
* ``propose(t, t1, state) -> h``: the step to attempt next (the loop may shorten it
  to land on ``t1``, a jump time or ``max_step``);
* ``adapt(method, t, y0, y1, error, h, clipped, state, rtol, atol, max_step)
  -> (accept, state)``: accept or reject the step of size ``h`` just attempted from
  ``t`` and choose the next.

References:
    Hairer, Norsett & Wanner (1993), section II.4 (error norm, initial step
    selection, "Automatic Step Size Control").
    Soderlind, "Digital filters in adaptive time-stepping", ACM TOMS 29 (2003).
"""

from __future__ import annotations

import dataclasses
import math

import jax.numpy as jnp


def rms_norm(x):
    """Root mean square of the moduli of ``x`` (0 for an empty array)."""
    if x.size == 0:
        return jnp.zeros((), jnp.finfo(x.dtype).dtype)
    return jnp.sqrt(jnp.mean(jnp.square(jnp.abs(x))))


def error_ratio(errors, y0, y1, rtol, atol):
    """Scaled error ``||e / (atol + rtol max(|y0|, |y1|))||_rms``; accept if <= 1.

    ``errors`` is one estimate, or DOP853's pair ``(e5, e3)`` combined as in Hairer's
    code: ``e5^2 / sqrt(e5^2 + 0.01 e3^2)``. Moduli are used for complex states.
    """
    scale = atol + rtol * jnp.maximum(jnp.abs(y0), jnp.abs(y1))
    if isinstance(errors, tuple):
        error, error3 = errors
        ratio = rms_norm(jnp.abs(error) / scale)
        ratio3 = rms_norm(jnp.abs(error3) / scale)
        denominator = jnp.sqrt(ratio**2 + 0.01 * ratio3**2)
        ratio = jnp.where(denominator > 0, ratio**2 / jnp.where(denominator > 0, denominator, 1), 0)
    else:
        ratio = rms_norm(jnp.abs(errors) / scale)
    finite = jnp.isfinite(ratio) & jnp.all(jnp.isfinite(y1))
    return jnp.where(finite, ratio, jnp.inf)


def initial_step(f, t0, t1, y0, f0, error_order, rtol, atol):
    """Hairer's starting step size (HNW I, II.4): costs one evaluation of ``f``.

    The trial step is capped at ``t1 - t0`` so that ``f`` is never evaluated outside
    the interval of integration.
    """
    span = t1 - t0
    scale = atol + rtol * jnp.abs(y0)
    d0 = rms_norm(jnp.abs(y0) / scale)
    d1 = rms_norm(jnp.abs(f0) / scale)
    h0 = jnp.where((d0 < 1e-5) | (d1 < 1e-5), 1e-6, 0.01 * d0 / jnp.where(d1 > 0, d1, 1))
    h0 = jnp.minimum(h0.astype(span.dtype), span)
    f1 = f(t0 + h0, y0 + h0.astype(y0.dtype) * f0)
    safe_h0 = jnp.where(h0 > 0, h0, 1)
    d2 = rms_norm(jnp.abs(f1 - f0) / scale) / safe_h0
    largest = jnp.maximum(d1, d2)
    h1 = jnp.where(
        largest <= 1e-15,
        jnp.maximum(1e-6, h0 * 1e-3),
        (0.01 / jnp.where(largest > 0, largest, 1)) ** (1.0 / (error_order + 1)),
    )
    return jnp.minimum(100 * h0, h1).astype(span.dtype)


@dataclasses.dataclass(frozen=True)
class PIDController:
    """The PID step-size controller for embedded pairs.

    Soderlind, "Digital filters in adaptive time-stepping", ACM TOMS 29 (2003) 1-26:
    with ``r_n = 1 / error_ratio_n`` and ``k = error_order + 1``, the step is scaled by
    ``safety * r_n^((p+i+d)/k) * r_{n-1}^(-(p+2d)/k) * r_{n-2}^(d/k)``, clipped to
    ``[factormin, factormax]`` after an accepted step and ``[factormin, safety]``
    after a rejected one. The default (``icoeff=1``, others 0) is the classical
    I controller; ``pcoeff=0.4, icoeff=0.3`` gives Hairer's PI controller.

    State: ``(h, 1/ratio_{n-1}, 1/ratio_{n-2})``.
    """

    pcoeff: float = 0.0
    icoeff: float = 1.0
    dcoeff: float = 0.0
    safety: float = 0.9
    factormin: float = 0.2
    factormax: float = 10.0

    def __post_init__(self):
        if not (0 < self.safety <= 1 and 0 < self.factormin <= 1 <= self.factormax):
            raise ValueError(
                "PIDController needs 0 < safety <= 1 and 0 < factormin <= 1 <= factormax, "
                f"got safety={self.safety}, factormin={self.factormin}, "
                f"factormax={self.factormax}."
            )

    def init(self, method, f, t0, t1, y0, f0, args, dt, rtol, atol, max_step):
        one = jnp.ones((), t0.dtype)
        if dt is None:
            h = initial_step(
                lambda t, y: f(t, y, args), t0, t1, y0, f0, method.error_order, rtol, atol
            )
            fevals = 1
        else:
            h, fevals = jnp.asarray(dt, t0.dtype), 0
        if max_step is not None:
            h = jnp.minimum(h, max_step)
        return (h, one, one), fevals

    def propose(self, t, t1, state):
        return state[0]

    def factor(self, error_order, ratio, accept, inverse_previous, inverse_previous2):
        """Step-size factor and ``1 / ratio`` for this step."""
        k = error_order + 1
        beta1 = (self.pcoeff + self.icoeff + self.dcoeff) / k
        beta2 = -(self.pcoeff + 2 * self.dcoeff) / k
        beta3 = self.dcoeff / k
        inverse = jnp.where(ratio > 0, 1 / jnp.where(ratio > 0, ratio, 1), jnp.inf)
        factor = self.safety * inverse**beta1
        if beta2 != 0:
            factor = factor * inverse_previous**beta2
        if beta3 != 0:
            factor = factor * inverse_previous2**beta3
        low = self.factormin
        high = jnp.where(accept, self.factormax, self.safety)
        factor = jnp.clip(jnp.nan_to_num(factor, nan=low, posinf=high), low, high)
        return factor, inverse

    def adapt(self, method, t, y0, y1, error, h, clipped, state, rtol, atol, max_step):
        h_proposed, inverse1, inverse2 = state
        ratio = error_ratio(error, y0, y1, rtol, atol)
        accept = ratio <= 1
        factor, inverse = self.factor(method.error_order, ratio, accept, inverse1, inverse2)
        # A step shortened to land on t1 or a jump time keeps the longer proposal.
        h_next = jnp.where(clipped & accept, jnp.maximum(h_proposed, h), h * factor)
        if max_step is not None:
            h_next = jnp.minimum(h_next, max_step)
        state = (
            h_next.astype(h_proposed.dtype),
            jnp.where(accept, inverse, inverse1),
            jnp.where(accept, inverse1, inverse2),
        )
        return accept, state


def fixed_step_count(span, dt):
    """Steps of size ``dt`` that cover ``span`` (a last short step lands on its end).

    A ratio within a relative ``1e-9`` (float64; looser for float32) of an integer
    counts as that integer, so ``dt = 0.1`` on ``(0, 1)`` takes 10 steps, not 11.
    Works on Python floats (a static count) and on traced arrays alike.
    """
    if isinstance(span, (int, float)) and isinstance(dt, (int, float)):
        ratio = span / dt
        nearest = round(ratio)
        close = abs(ratio - nearest) <= 1e-9 * max(1.0, ratio)
        return max(nearest if close else math.ceil(ratio), 1)
    ratio = span / dt
    nearest = jnp.round(ratio)
    tolerance = max(1e-9, 64 * float(jnp.finfo(ratio.dtype).eps)) * jnp.maximum(1.0, ratio)
    count = jnp.where(jnp.abs(ratio - nearest) <= tolerance, nearest, jnp.ceil(ratio))
    big = jnp.iinfo(jnp.int32).max // 2
    return jnp.clip(jnp.nan_to_num(count, nan=big, posinf=big), 1, big).astype(jnp.int32)


@dataclasses.dataclass(frozen=True)
class ConstantSteps:
    """Fixed steps on the grid ``t0 + k dt`` (the last one shortened onto ``t1``).

    Steps are placed by their index, not by summing ``dt``, so a long run does not
    drift off the grid. A step whose state is not finite is rejected (status
    non-finite). State: ``(k, num_steps, t0, dt)``.
    """

    def init(self, method, f, t0, t1, y0, f0, args, dt, rtol, atol, max_step):
        dt = jnp.asarray(dt, t0.dtype)
        count = fixed_step_count(t1 - t0, dt)
        return (jnp.zeros((), jnp.int32), count, t0, dt), 0

    def propose(self, t, t1, state):
        index, count, t0, dt = state
        end = jnp.where(index + 1 >= count, t1, t0 + (index + 1).astype(t.dtype) * dt)
        return end - t

    def adapt(self, method, t, y0, y1, error, h, clipped, state, rtol, atol, max_step):
        index, count, t0, dt = state
        accept = jnp.all(jnp.isfinite(y1))
        # A step cut short by a jump time does not reach its grid point: the next step
        # goes on to that point.
        reached = ~clipped | (h >= self.propose(t, t, state))
        return accept, (index + (accept & reached).astype(jnp.int32), count, t0, dt)


@dataclasses.dataclass(frozen=True)
class PredictiveController:
    """Gustafsson's predictive step-size controller, for implicit Runge-Kutta methods.

    After an accepted step with a previous accepted step, the new step is the smaller
    of the classical proposal ``h safety r^(1/k)`` and Gustafsson's prediction

    .. math::

        h_{n+1} = h_n \\, \\mathrm{safety} \\; r_n^{1/k}
                  \\frac{h_n}{h_{n-1}} \\Big(\\frac{r_n}{r_{n-1}}\\Big)^{1/k},
        \\qquad r = 1 / \\mathrm{error\\ ratio},\\; k = \\mathrm{error\\_order} + 1,

    which anticipates a growing error and so avoids rejections on stiff problems.
    A proposed change by a factor inside ``hold = (1.0, 1.2)`` keeps the step size,
    so an implicit method keeps its factorised Newton matrix. Factors are clipped to
    ``[factormin, factormax]`` (``[factormin, safety]`` after a rejection).

    Gustafsson, "Control-theoretic techniques for stepsize selection in implicit
    Runge-Kutta methods", ACM TOMS 20 (1994) 496-517; Hairer & Wanner II, IV.8.

    State: ``(h, h_previous, ratio_previous, have_previous)``.
    """

    safety: float = 0.9
    factormin: float = 0.2
    factormax: float = 8.0
    hold: tuple = (1.0, 1.2)

    def __post_init__(self):
        if not (0 < self.safety <= 1 and 0 < self.factormin <= 1 <= self.factormax):
            raise ValueError(
                "PredictiveController needs 0 < safety <= 1 and 0 < factormin <= 1 <= factormax."
            )
        low, high = self.hold
        if not low <= 1 <= high:
            raise ValueError(f"PredictiveController hold must bracket 1, got {self.hold}.")

    def init(self, method, f, t0, t1, y0, f0, args, dt, rtol, atol, max_step):
        (h, _, _), fevals = PIDController().init(
            method, f, t0, t1, y0, f0, args, dt, rtol, atol, max_step
        )
        return (h, h, jnp.ones((), h.dtype), jnp.zeros((), bool)), fevals

    def propose(self, t, t1, state):
        return state[0]

    def adapt(self, method, t, y0, y1, error, h, clipped, state, rtol, atol, max_step):
        h_proposed, h_previous, ratio_previous, have_previous = state
        ratio = error_ratio(error, y0, y1, rtol, atol)
        accept = ratio <= 1
        k = method.error_order + 1
        safe_ratio = jnp.where(ratio > 0, ratio, 1e-10)
        classical = self.safety * safe_ratio ** (-1.0 / k)
        predicted = (
            classical
            * (h / jnp.where(h_previous > 0, h_previous, h))
            * (ratio_previous / safe_ratio) ** (1.0 / k)
        )
        factor = jnp.where(accept & have_previous, jnp.minimum(classical, predicted), classical)
        high = jnp.where(accept, self.factormax, self.safety)
        factor = jnp.clip(
            jnp.nan_to_num(factor, nan=self.factormin, posinf=high), self.factormin, high
        )
        low, top = self.hold
        factor = jnp.where(accept & (factor >= low) & (factor <= top), 1.0, factor)
        h_next = jnp.where(clipped & accept, jnp.maximum(h_proposed, h * factor), h * factor)
        if max_step is not None:
            h_next = jnp.minimum(h_next, max_step)
        state = (
            h_next.astype(h_proposed.dtype),
            jnp.where(accept, h, h_previous).astype(h_proposed.dtype),
            jnp.where(accept, jnp.maximum(safe_ratio, 1e-4), ratio_previous).astype(
                h_proposed.dtype
            ),
            have_previous | accept,
        )
        return accept, state
