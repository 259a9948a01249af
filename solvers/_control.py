"""Step-size control: error norms, the PID controller and the initial step.

References:
    Hairer, Norsett & Wanner (1993), section II.4 (error norm, initial step
    selection, "Automatic Step Size Control").
    Soderlind, "Digital filters in adaptive time-stepping", ACM TOMS 29 (2003).
"""

from __future__ import annotations

import jax.numpy as jnp


def rms_norm(x):
    return jnp.sqrt(jnp.mean(jnp.square(x)))


def error_ratio(tableau, errors, y0, y1, rtol, atol):
    """Scaled error ``||e / (atol + rtol max(|y0|, |y1|))||_rms``; accept if <= 1.

    For DOP853 Hairer's combination of the 5th- and 3rd-order estimates is used:
    ``e5^2 / sqrt(e5^2 + 0.01 e3^2)``.
    """
    scale = atol + rtol * jnp.maximum(jnp.abs(y0), jnp.abs(y1))
    error, error2 = errors
    ratio = rms_norm(error / scale)
    if error2 is not None:
        ratio3 = rms_norm(error2 / scale)
        denominator = jnp.sqrt(ratio**2 + 0.01 * ratio3**2)
        ratio = jnp.where(denominator > 0, ratio**2 / denominator, 0.0)
    finite = jnp.isfinite(ratio) & jnp.all(jnp.isfinite(y1))
    return jnp.where(finite, ratio, jnp.inf)


def pid_factor(method, ratio, accept, inverse_previous, inverse_previous2):
    """Step-size factor of the PID controller (see :class:`ExplicitRK`)."""
    k = method.tableau.error_order + 1
    beta1 = (method.pcoeff + method.icoeff + method.dcoeff) / k
    beta2 = -(method.pcoeff + 2 * method.dcoeff) / k
    beta3 = method.dcoeff / k
    inverse = jnp.where(ratio > 0, 1 / ratio, jnp.inf)
    factor = method.safety * inverse**beta1
    if beta2 != 0:
        factor = factor * inverse_previous**beta2
    if beta3 != 0:
        factor = factor * inverse_previous2**beta3
    low = method.factormin
    high = jnp.where(accept, method.factormax, method.safety)
    factor = jnp.clip(jnp.nan_to_num(factor, nan=method.factormin, posinf=high), low, high)
    return factor, inverse


def initial_step(f, t0, y0, f0, error_order, rtol, atol):
    """Hairer's starting step size (HNW I, II.4): costs one evaluation of ``f``."""
    scale = atol + rtol * jnp.abs(y0)
    d0 = rms_norm(y0 / scale)
    d1 = rms_norm(f0 / scale)
    h0 = jnp.where((d0 < 1e-5) | (d1 < 1e-5), 1e-6, 0.01 * d0 / d1)
    f1 = f(t0 + h0, y0 + h0 * f0)
    d2 = rms_norm((f1 - f0) / scale) / h0
    largest = jnp.maximum(d1, d2)
    h1 = jnp.where(
        largest <= 1e-15,
        jnp.maximum(1e-6, h0 * 1e-3),
        (0.01 / largest) ** (1.0 / (error_order + 1)),
    )
    return jnp.minimum(100 * h0, h1).astype(y0.dtype)
