"""Kramers' escape problem: exit times from a double well, against Kramers' rate.

Overdamped Langevin dynamics dX = -V'(X) dt + sqrt(2 D) dW in the double well
V(x) = h (x^2 - 1)^2 (problems.double_well_langevin) started at the left minimum
x = -1. The particle rattles in its well and, rarely, is kicked over the barrier of
height h at x = 0; the exit time is the first time it reaches the right minimum x = +1.
For h/D >> 1 exits are rare and memoryless: the exit time is nearly exponential with
Kramers' rate (Smoluchowski limit)

    k = sqrt(V''(-1) |V''(0)|) / (2 pi) exp(-h/D) = sqrt(32) h / (2 pi) exp(-h/D),

while the exact mean first-passage time is the double integral
tau = (1/D) int_{-1}^{1} e^{V(y)/D} int_{-inf}^{y} e^{-V(z)/D} dz dy
(problems.double_well_mean_exit_time), which tends to 1/k as h/D grows (here
h/D = 4: tau k = 1.14).

The ensemble is `jax.jit(jax.vmap(...))` of `solvers.solve_sde` over split keys, with
SRA1 (additive noise: strong order 1.5), dt = 0.02, the state saved at every step;
the exit time of a path is the first saved time with x >= 1. The Monte Carlo
mean must match the exact tau within its statistical error (plus the save spacing).

Reference: H. A. Kramers, Physica 7 (1940) 284-304; P. Hanggi, P. Talkner,
M. Borkovec, Rev. Mod. Phys. 62 (1990) 251-341; C. W. Gardiner, Handbook of
Stochastic Methods (5.2.7) for the mean first-passage time.

Prints the checks and writes ``double_well_exit.png`` into ``--out`` (default
``out/``). Exits with an error if a check fails. ``--quick`` uses a lower barrier
(h/D = 2, tau = 10.3) and 500 paths.

Run:  python examples/sde_double_well_exit.py [--out DIR] [--quick]
"""

from __future__ import annotations

import math

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import matplotlib  # noqa: E402
import numpy as np  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from _report import Timer, parse_arguments, save_figure  # noqa: E402  (examples/_report.py)

import problems  # noqa: E402

DT = 0.02
SAVE_EVERY = 1  # steps between saved states: every step
CHUNK = 500  # paths per compiled call (bounds the memory of the Brownian trees)


def exit_times(prob, keys):
    """First saved time with x >= 1 for each key (inf if never), and the first 3 paths."""
    t0, t1 = prob.t_span
    steps = round((t1 - t0) / DT)
    ts = t0 + DT * np.arange(0, steps + 1, SAVE_EVERY)

    @jax.jit
    @jax.vmap
    def one(key):
        x = prob.solve_sde(key=key, dt=DT, method="sra1", ts=ts).ys[:, 0]
        reached = x >= 1.0
        return jnp.where(jnp.any(reached), jnp.asarray(ts)[jnp.argmax(reached)], jnp.inf), x

    times, samples = [], None
    for start in range(0, keys.shape[0], CHUNK):
        chunk_times, paths = one(keys[start : start + CHUNK])
        times.append(np.asarray(chunk_times))
        if samples is None:
            samples = np.asarray(paths[:3])
    return np.concatenate(times), ts, samples


def main(argv=None):
    args, out = parse_arguments(__doc__, argv, "h/D = 2 and 500 paths")
    if args.quick:
        prob = problems.double_well_langevin(barrier=1.0, temperature=0.5, t_span=(0.0, 80.0))
        count = 500
    else:
        prob = problems.double_well_langevin(barrier=1.0, temperature=0.25, t_span=(0.0, 700.0))
        count = 4000
    failures = []
    with Timer() as total:
        h, d = float(prob.params["barrier"]), float(prob.params["temperature"])
        tau = problems.double_well_mean_exit_time(prob.params)
        rate = float(problems.double_well_kramers_rate(prob.params))
        print(
            f"Double well V = h (x^2 - 1)^2, h = {h:g}, D = {d:g} (h/D = {h / d:g}), from x = -1 "
            f"to x = +1; {count:,} paths on [0, {prob.t_span[1]:g}], SRA1, dt = {DT}"
        )
        print(
            f"1. exact mean exit time (quadrature) tau = {tau:.3f}; Kramers 1/k = {1 / rate:.3f} "
            f"(tau k = {tau * rate:.3f}: Kramers' formula is the h/D -> inf limit)"
        )
        keys = jax.random.split(jax.random.key(11), count)
        with Timer() as timer:
            times, ts, samples = exit_times(prob, keys)
        exited = np.isfinite(times)
        finite = times[exited]
        mean = finite.mean()
        standard_error = finite.std() / math.sqrt(finite.size)
        spacing = DT * SAVE_EVERY
        ok = abs(mean - tau) < 4 * standard_error + spacing and exited.mean() > 0.995
        if not ok:
            failures.append(f"mean exit time {mean:.3f} vs tau {tau:.3f}")
        # Exponential law check: the median of an exponential is ln 2 times its mean.
        median_ratio = np.median(finite) / mean
        print(
            f"2. {count:,} paths in {timer.seconds:.1f} s (with compilation): "
            f"{exited.mean() * 100:.1f} % exited before t = {prob.t_span[1]:g}; mean exit time "
            f"{mean:.3f} +- {standard_error:.3f} (exact {tau:.3f}; "
            f"{(mean - tau) / standard_error:+.1f} standard errors) [{'ok' if ok else 'FAILED'}]"
        )
        print(
            f"   median / mean = {median_ratio:.3f} (exponential law: ln 2 = {math.log(2):.3f}); "
            f"rate from the mean 1/mean = {1 / mean:.5f}, Kramers k = {rate:.5f}"
        )
        figure(out, prob, ts, samples, finite, tau, rate)
    print(f"done in {total.seconds:.1f} s; figure in {out}/")
    if failures:
        raise SystemExit("check failed: " + "; ".join(failures))


def figure(out, prob, ts, samples, times, tau, rate):
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.6))
    for path in samples:
        left.plot(ts, path, lw=0.6)
    for level in (-1.0, 0.0, 1.0):
        left.axhline(level, color="k", lw=0.6, ls=":" if level else "--")
    h, d = float(prob.params["barrier"]), float(prob.params["temperature"])
    left.set(
        xlabel="t",
        ylabel="x(t)",
        title=f"three paths, h/D = {h / d:g} (minima at +-1, barrier at 0)",
    )
    grid = np.linspace(0, np.quantile(times, 0.995), 300)
    right.hist(times, bins=60, density=True, alpha=0.5, color="C0", label="exit times (SRA1)")
    right.plot(
        grid,
        np.exp(-grid / tau) / tau,
        "k",
        lw=1.5,
        label=rf"$e^{{-t/\tau}}/\tau$, exact $\tau$ = {tau:.1f}",
    )
    right.plot(
        grid,
        rate * np.exp(-rate * grid),
        "C3--",
        lw=1.5,
        label=f"Kramers: $k e^{{-kt}}$, 1/k = {1 / rate:.1f}",
    )
    right.set(
        xlabel="exit time", ylabel="density", title=f"{times.size:,} exit times from the left well"
    )
    right.legend()
    path = save_figure(fig, out, "double_well_exit.png")
    print(f"   wrote {path}")


if __name__ == "__main__":
    main()
