"""The continuous adjoint (``adjoint="backsolve"``): gradients in O(1) memory.

The forward pass keeps only the saved states. The backward pass integrates the
augmented system backwards in time, from save point to save point,

    y' = f(t, y, p),    a' = -a^T df/dy,    g' = -a^T df/dp,

from the last save point (``y`` = its saved value, ``a`` = its cotangent, ``g = 0``)
to ``t0``. When it reaches a save time it adds that save point's cotangent to ``a``
and restarts ``y`` from the value saved by the forward pass, so the error of the
backward reconstruction of ``y(t)`` never grows beyond one interval between save
points. At ``t0``, ``a`` is the gradient with respect to ``y0`` and ``g`` the one with
respect to the parameters.

The backward integration runs our own loop (:func:`solvers._loop.integrate`) with
the forward solve's method, ``rtol``, ``atol`` and ``max_steps`` (per interval between
save points), error control on the whole augmented state; fixed-step methods take
steps of the forward ``dt``. ``a^T df/dy`` and ``a^T df/dp`` come from one
``jax.vjp`` of the vector field per stage.

This is "optimise-then-discretise": the result is the exact gradient of the exact
solution, approximated to about the solver tolerance, not the exact gradient of the
computed solution (that is what ``"checkpoint"`` and ``"direct"`` give). Integrating
``y`` backwards is unstable for chaotic or stiff problems, and the gradient can then
be badly wrong; choose ``"backsolve"`` for its memory, e.g. neural ODEs over long
horizons. A backward integration that fails (for example runs out of ``max_steps``)
makes every cotangent NaN.

References:
    Pontryagin et al., *The Mathematical Theory of Optimal Processes*, 1962.
    Hindmarsh et al., "SUNDIALS: Suite of nonlinear and differential/algebraic
    equation solvers", ACM TOMS 31 (2005) (CVODES' adjoint sensitivity analysis).
    Chen, Rubanova, Bettencourt & Duvenaud, "Neural Ordinary Differential
    Equations", NeurIPS 2018, section 2 and appendix B.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.flatten_util import ravel_pytree

from . import _loop


def _is_differentiable(leaf) -> bool:
    return jnp.issubdtype(jnp.result_type(leaf), jnp.inexact)


def _augmented_field(f, n, treedef, differentiable, dtype):
    """The augmented vector field in reversed time ``s = -t``.

    The state is ``z = [y, a, g]`` (lengths ``n``, ``n``, ``m``); integrating in
    ``s`` flips the sign of every right-hand side:
    ``dy/ds = -f``, ``da/ds = a^T df/dy``, ``dg/ds = a^T df/dp``.
    """

    def field(s, z, args):
        leaves = jax.tree.leaves(args)
        parameters = [leaf for leaf, keep in zip(leaves, differentiable) if keep]

        def vector_field(y, parameters):
            parameters = iter(parameters)
            full = [
                next(parameters) if keep else leaf for leaf, keep in zip(leaves, differentiable)
            ]
            return f(-s, y, jax.tree.unflatten(treedef, full))

        y, a = z[:n], z[n : 2 * n]
        dy, vjp = jax.vjp(vector_field, y, parameters)
        a_dfdy, a_dfdp = vjp(a)
        a_dfdp = ravel_pytree(a_dfdp)[0].astype(dtype)
        return jnp.concatenate([-dy, a_dfdy, a_dfdp])

    return field


def make_backsolve_solver(cfg, f):
    """``run(args, y0, t0, t1, ts, h0, rtol, atol) -> (ys, stats, status)``, as
    :func:`solvers._loop.make_adaptive_solver`, with the continuous adjoint as its VJP.

    ``f(t, y, args)`` works on the flat state ``(n,)`` in increasing time ``t0 <= t1``.
    """

    def primal(args, y0, t0, t1, ts, h0, rtol, atol):
        ys, state, _, _ = _loop.integrate(cfg, f, args, y0, t0, t1, ts, h0, rtol, atol)
        return ys, _loop._stats(state), state.status

    run = jax.custom_vjp(primal)

    def forward(args, y0, t0, t1, ts, h0, rtol, atol):
        ys, state, _, _ = _loop.integrate(cfg, f, args, y0, t0, t1, ts, h0, rtol, atol)
        residuals = (args, y0, t0, t1, ts, h0, rtol, atol, ys)
        return (ys, _loop._stats(state), state.status), residuals

    def backward(residuals, cotangents):
        args, y0, t0, t1, ts, h0, rtol, atol, ys = residuals
        ys_bar = cotangents[0]
        dtype = y0.dtype
        n = y0.shape[0]
        # With ts=None the one output is y(t1): a save point at t1.
        save_ts = t1[None] if ts is None else ts
        num_saves = save_ts.shape[0]

        leaves, treedef = jax.tree.flatten(args)
        differentiable = tuple(_is_differentiable(leaf) for leaf in leaves)
        parameters = [leaf for leaf, keep in zip(leaves, differentiable) if keep]
        g_flat, unravel_g = ravel_pytree(parameters)
        augmented = _augmented_field(f, n, treedef, differentiable, dtype)
        # Fixed-step methods step backwards with the forward step size.
        h0_back = None if cfg.method.adaptive else h0

        def interval(carry):
            index, z, ok = carry
            start = -save_ts[index + 1]
            end = jnp.where(index >= 0, -save_ts[jnp.maximum(index, 0)], -t0)
            zs, state, _, _ = _loop.integrate(
                cfg, augmented, args, z, start, end, None, h0_back, rtol, atol
            )
            z = zs[0]
            at_save = index >= 0
            # Restart y from the forward solution; the save point's cotangent joins a.
            saved = ys[jnp.maximum(index, 0)]
            z = z.at[:n].set(jnp.where(at_save, saved, z[:n]))
            z = z.at[n : 2 * n].add(jnp.where(at_save, ys_bar[jnp.maximum(index, 0)], 0))
            return index - 1, z, ok & (state.status == _loop.SUCCESS)

        z = jnp.concatenate([ys[-1], ys_bar[-1], jnp.zeros_like(g_flat, dtype=dtype)])
        # The loop stores only the augmented state: memory independent of the steps.
        _, z, ok = lax.while_loop(
            lambda carry: (carry[0] >= -1) & carry[2],
            interval,
            (jnp.asarray(num_saves - 2, jnp.int32), z, jnp.asarray(True)),
        )
        nan = jnp.asarray(jnp.nan, dtype)

        def checked(x):
            return jnp.where(ok, x, nan).astype(jnp.result_type(x))

        a0 = checked(z[n : 2 * n])
        g = unravel_g(checked(z[2 * n :]).astype(g_flat.dtype))
        g = iter(g)
        args_bar = jax.tree.unflatten(
            treedef,
            [
                next(g) if keep else np.zeros(np.shape(leaf), jax.dtypes.float0)
                for leaf, keep in zip(leaves, differentiable)
            ],
        )

        # d y(t_i) / d t_i = f(t_i, y(t_i)); moving t0 moves the whole solution.
        slopes = jax.vmap(lambda t, y: f(t, y, args))(save_ts, ys)
        ts_bar = checked(jnp.sum(ys_bar * slopes, axis=1))
        t0_bar = checked(-jnp.vdot(a0, f(t0, y0, args)))
        if ts is None:
            ts_out, t1_bar = None, ts_bar[0]
        else:
            ts_out, t1_bar = ts_bar.astype(ts.dtype), jnp.zeros_like(t1)
        zero = jnp.zeros_like
        return (
            args_bar,
            a0,
            t0_bar.astype(t0.dtype),
            t1_bar.astype(t1.dtype),
            ts_out,
            None if h0 is None else zero(h0),
            zero(rtol),
            zero(atol),
        )

    run.defvjp(forward, backward)
    return run
