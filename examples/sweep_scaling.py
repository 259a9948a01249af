"""Throughput of ``solvers.sweep`` against the number of devices (CPU host devices).

A fixed ensemble, 20,000 Lorenz-63 trajectories (sigma = 10, rho = 28, beta = 8/3)
from random initial states in the box [-20, 20] x [-20, 20] x [0, 50], integrated
over t in [0, 10] with dopri5 at rtol 1e-6 (final state only), is swept on 1, 2, 4,
... of the devices the script creates. Each device count is called twice: the first
call compiles (its compile time is printed separately), the second is timed.

The CPU is split into devices with ``solvers.use_host_devices`` (by default twice the
core count, at least 4, so that the curve shows where it saturates). Each device runs
its share of the batch in its own thread, so throughput grows with the device count
up to about the number of cores and then flattens.

Each device count is measured twice: with the whole batch in one call (each device's
share is ``N / devices`` members) and with ``chunk_size`` set to 1,000 members per
device. The vectorised loop is memory-bound on a CPU: a share of ten thousand members
streams its state through the caches at every step, one of a thousand stays in them.
So the whole-batch curve rises faster than linearly (more devices, smaller shares), and
the chunked curve, with a fixed share size, isolates what the extra threads give.
(A device's share also iterates as long as its slowest member; the lockstep efficiency
column, from ``solvers.lockstep_cost``, shows how much that costs.)

Prints a table and writes ``scaling.png`` into ``--out`` (default ``out/``), with the
ideal linear scaling from one device for reference.
``--quick`` runs a reduced version in a few seconds.

Run:  python examples/sweep_scaling.py [--out DIR] [--quick] [--devices N] [--members N]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import jax

import solvers


def _default_devices() -> int:
    return max(4, 2 * (os.cpu_count() or 1))


def _devices_flag(argv=None) -> int:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--devices", type=int, default=_default_devices())
    return parser.parse_known_args(argv)[0].devices


# Split the CPU into devices (or --devices): must come before JAX starts its backend.
solvers.use_host_devices(_devices_flag(sys.argv[1:]))
jax.config.update("jax_enable_x64", True)

import matplotlib  # noqa: E402
import numpy as np  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import problems  # noqa: E402

RTOL, ATOL = 1e-6, 1e-9


def device_counts(available: int) -> list[int]:
    """1, 2, 4, ... up to ``available`` (and ``available`` itself)."""
    counts = [1]
    while counts[-1] * 2 <= available:
        counts.append(counts[-1] * 2)
    if counts[-1] != available:
        counts.append(available)
    return counts


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out", help="folder for the figure (default: out/)")
    parser.add_argument("--quick", action="store_true", help="a small ensemble, a few seconds")
    parser.add_argument(
        "--devices",
        type=int,
        default=_default_devices(),
        help="CPU devices to create (default: max(4, 2 x cpu count))",
    )
    parser.add_argument("--members", type=int, help="ensemble size (default 20,000)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    size = args.members or (2_000 if args.quick else 20_000)
    t1 = 5.0 if args.quick else 10.0
    prob = problems.get("lorenz63")
    rng = np.random.default_rng(0)
    y0 = rng.uniform([-20.0, -20.0, 0.0], [20.0, 20.0, 50.0], size=(size, 3))
    devices = jax.devices()
    cores = os.cpu_count()
    print(
        f"Lorenz-63 final-state ensemble: {size:,} random initial states, t in [0, {t1:g}], "
        f"dopri5 at rtol {RTOL:g}; {len(devices)} {devices[0].platform.upper()} devices "
        f"created, os.cpu_count() = {cores}"
    )
    share = 250 if args.quick else 1_000
    print(
        f"  {'':>7} {'':>9} {'whole batch at once':^24}   "
        f"{f'chunks of {share:,} per device':^24}\n"
        f"  {'devices':>7} {'compile s':>9} {'run s':>7} {'traj/s':>8} {'speed-up':>8}   "
        f"{'run s':>7} {'traj/s':>8} {'speed-up':>8}   {'lockstep eff.':>13}"
    )

    def timed(count, chunk_size):
        """(compile seconds, best run seconds of two, solution)."""

        def run():
            start = time.perf_counter()
            sols = solvers.sweep(
                prob.vector_field,
                y0,
                (0.0, t1),
                prob.params,
                in_axes=(0, None),
                devices=devices[:count],
                chunk_size=chunk_size,
                method="dopri5",
                rtol=RTOL,
                atol=ATOL,
            )
            jax.block_until_ready(sols)
            return time.perf_counter() - start, sols

        first, _ = run()
        seconds, sols = min(run(), run(), key=lambda pair: pair[0])
        return first - seconds, seconds, sols

    counts = device_counts(len(devices))
    whole, chunked = [], []  # trajectories per second
    for count in counts:
        compile_seconds, seconds, sols = timed(count, None)
        whole.append(size / seconds)
        _, chunk_seconds, _ = timed(count, share * count)
        chunked.append(size / chunk_seconds)
        efficiency = solvers.lockstep_cost(sols.stats["num_steps"], num_devices=count)
        print(
            f"  {count:>7} {compile_seconds:>9.2f} {seconds:>7.3f} {whole[-1]:>8,.0f} "
            f"{whole[-1] / whole[0]:>8.2f}   {chunk_seconds:>7.3f} {chunked[-1]:>8,.0f} "
            f"{chunked[-1] / chunked[0]:>8.2f}   {efficiency['efficiency']:>13.2f}"
        )
    steps = np.asarray(sols.stats["num_steps"])
    best = int(np.argmax(chunked))
    print(
        f"  steps per member {steps.min()}..{steps.max()} (mean {steps.mean():.0f}); best "
        f"{chunked[best]:,.0f} trajectories/s on {counts[best]} devices in chunks, "
        f"{chunked[best] / chunked[0]:.2f}x one device in chunks and "
        f"{chunked[best] / whole[0]:.2f}x one device with the whole batch, on {cores} core(s)"
    )

    figure, axes = plt.subplots(figsize=(7, 4.8))
    axes.plot(counts, whole, "o-", label="whole batch at once")
    axes.plot(counts, chunked, "s-", label=f"chunk_size = {share:,} x devices")
    axes.plot(counts, [chunked[0] * c for c in counts], "k--", lw=1, label="ideal linear scaling")
    if cores:
        axes.axvline(cores, color="grey", lw=1, ls=":", label=f"os.cpu_count() = {cores}")
    axes.set(
        xscale="log",
        yscale="log",
        xlabel="devices (CPU host devices)",
        ylabel="trajectories / s",
        title=f"solvers.sweep: Lorenz-63 ensemble of {size:,}, dopri5 rtol {RTOL:g}",
    )
    axes.set_xticks(counts, [str(c) for c in counts])
    axes.set_xticks([], minor=True)
    axes.legend()
    figure.tight_layout()
    path = out / "scaling.png"
    figure.savefig(path, dpi=110)
    plt.close(figure)
    print(f"  wrote {path}")


if __name__ == "__main__":
    main()
