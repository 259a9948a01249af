"""Helpers shared by the benchmark scripts: turn-taking timing and Markdown tables.

Imports nothing but JAX (no float64 switch, no numba/scipy), so every script can use it
whatever precision and backend it runs with.
"""

from __future__ import annotations

import os
import platform
import statistics
import time

import jax
import jax.numpy as jnp

# Lorenz-63, the problem every Lorenz benchmark here solves.
SIGMA, RHO, BETA = 10.0, 28.0, 8.0 / 3.0


def turn_times(calls, repeats, warmup=True):
    """Wall times in seconds, {key: [one per round]}, of each zero-argument call in `calls`.

    Each call is warmed up once (unless `warmup` is false: the caller has already run
    it); then the calls take turns, `repeats` rounds, so that all of them see the same
    machine load (the machine may be shared). The order rotates from round to round,
    so that no call is always the one that runs right after another (with cold caches).
    """
    return turn_clocks(calls, repeats, warmup)[0]


def turn_clocks(calls, repeats, warmup=True, clocks=(time.perf_counter,)):
    """:func:`turn_times` read on each of `clocks` (e.g. also `time.process_time`, the
    CPU time of this process, which waiting for a core does not count): one
    {key: [seconds per round]} per clock."""
    if warmup:
        for call in calls.values():
            jax.block_until_ready(call())
    keys = list(calls)
    times = [{key: [] for key in keys} for _ in clocks]
    for r in range(repeats):
        for key in keys[r % len(keys) :] + keys[: r % len(keys)]:
            starts = [clock() for clock in clocks]
            jax.block_until_ready(calls[key]())
            for series, clock, start in zip(times, clocks, starts):
                series[key].append(clock() - start)
    return times


def median_times(calls, repeats, warmup=True):
    """Median of :func:`turn_times` for each call: {key: seconds}."""
    return {key: statistics.median(ts) for key, ts in turn_times(calls, repeats, warmup).items()}


def markdown_table(header, rows):
    """A Markdown table with padded columns; `rows` hold strings."""
    cells = [list(header)] + [list(r) for r in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(header))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(line, widths)) + " |" for line in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def fmt(value, spec="{:.3g}"):
    """`spec.format(value)`, or "-" for None."""
    return "-" if value is None else spec.format(value)


def machine():
    """Platform, CPU count, JAX devices and the 1-minute load average, for the JSON."""
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "jax": jax.__version__,
        "jax_backend": jax.default_backend(),
        "jax_devices": [str(d) for d in jax.devices()],
        "load_average_1min": os.getloadavg()[0],
    }


def start_run():
    """Note the machine's load (a warning when other processes will distort timings) and
    start JAX's backend outside any timing; returns the 1-min load average."""
    load = os.getloadavg()[0]
    if load > 0.5:
        print(
            f"note: 1-min load average is {load:.2f} before starting; other processes "
            "on this machine will distort the timings."
        )
    jax.block_until_ready(jax.jit(lambda x: x + 1)(jnp.ones(3)))
    return load


def make_lorenz():
    """A fresh vector-field function object (fresh objects defeat JAX's trace caches)."""

    def lorenz(t, y, p):
        x, v, z = y[0], y[1], y[2]
        return jnp.stack([p["sigma"] * (v - x), x * (p["rho"] - z) - v, x * v - p["beta"] * z])

    return lorenz


def default_params():
    """Lorenz-63's parameters as float64 arrays (the caller enables x64)."""
    return {"sigma": jnp.float64(SIGMA), "rho": jnp.float64(RHO), "beta": jnp.float64(BETA)}
