"""Bifurcation diagram of the Lorenz-63 system with ``solvers.sweep``.

For each of 10,000 values of the Rayleigh parameter rho in [25, 325] (sigma = 10,
beta = 8/3) the script integrates past a transient, then records z(t) on a fine
uniform grid and plots the local maxima of z against rho: chaotic bands broken by
periodic windows (near rho = 100, 133, 145-166, 181), the period-doubling cascade
between rho ~ 214 and 313, and the single stable periodic orbit above rho ~ 313.

How the sweep is organised:

1. The transient: one ``sweep`` over the rho batch (``in_axes=(None, axes)``: one
   shared initial state), final state only.
2. The recording: ``--windows`` sweeps over consecutive windows of one time unit, each
   saving ``--saves`` points and starting from the previous window's final state
   (``in_axes=(0, axes)``: initial state and rho both batched). Short windows keep the
   save buffer small: an adaptive loop under ``vmap`` carries its whole buffer of save
   points through every step, so a few long windows cost more than many short ones.
3. The local maxima of z are found in numpy, refined by a parabola through the three
   samples around each.

The rho grid is already ordered by cost (larger rho, faster oscillations, more steps),
so contiguous chunks hold members of similar cost; ``chunk_size`` keeps each device's
share of a chunk narrow in rho, which is what ``balance=True`` would otherwise arrange
(at the price of a pilot solve, which on this grid measured no faster than plain
chunks). The script reports the lockstep efficiency with and without chunks, from
``solvers.lockstep_cost``.

Prints what it did and writes ``bifurcation.png`` into ``--out`` (default ``out/``).
``--quick`` runs a reduced version in a few seconds.

Run:  python examples/sweep_bifurcation.py [--out DIR] [--quick] [--devices N]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import jax
from _report import Timer  # noqa: E402  (examples/_report.py)

import solvers


def _devices_flag(argv=None) -> int:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--devices", type=int, default=max(2, os.cpu_count() or 1))
    return parser.parse_known_args(argv)[0].devices


# One JAX device per CPU core (or --devices): must come before JAX starts its backend.
solvers.use_host_devices(_devices_flag(sys.argv[1:]))
jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import matplotlib  # noqa: E402
import numpy as np  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import problems  # noqa: E402

RTOL, ATOL = 1e-6, 1e-9


def local_maxima(samples):
    """Rows of ``samples`` (N, T) -> (member index, refined maximum) of every interior peak."""
    left, mid, right = samples[:, :-2], samples[:, 1:-1], samples[:, 2:]
    member, column = np.nonzero((mid > left) & (mid >= right))
    a, b, c = left[member, column], mid[member, column], right[member, column]
    curvature = a - 2 * b + c  # < 0 at a peak
    safe = np.where(curvature < 0, curvature, -1.0)
    peak = b - (c - a) ** 2 / (8 * safe)
    return member, np.where(curvature < 0, peak, b)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out", help="folder for the figure (default: out/)")
    parser.add_argument("--quick", action="store_true", help="fewer rho values, a few seconds")
    parser.add_argument(
        "--devices",
        type=int,
        default=max(2, os.cpu_count() or 1),
        help="CPU devices to create (default: max(2, cpu count))",
    )
    parser.add_argument("--rho", type=int, help="number of rho values (default 10,000)")
    parser.add_argument("--windows", type=int, help="recording windows of one time unit")
    parser.add_argument("--saves", type=int, default=50, help="save points per window")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    num_rho = args.rho or (400 if args.quick else 10_000)
    windows = args.windows or (4 if args.quick else 20)
    transient = 10.0 if args.quick else 40.0
    devices = jax.devices()
    chunk_size = max(len(devices), num_rho // 8)

    prob = problems.get("lorenz63")
    rhos = np.linspace(25.0, 325.0, num_rho)
    params = {"sigma": 10.0, "rho": rhos, "beta": 8.0 / 3.0}
    axes = {"sigma": None, "rho": 0, "beta": None}
    print(
        f"Lorenz-63 bifurcation diagram: {num_rho:,} values of rho in [25, 325] on "
        f"{len(devices)} {devices[0].platform.upper()} device(s) (os.cpu_count() = "
        f"{os.cpu_count()}), tsit5 at rtol {RTOL:g}, chunk_size {chunk_size}"
    )

    with Timer() as total:
        # 1. Transient: one shared initial state, final state only.
        with Timer() as first:
            sols = solvers.sweep(
                prob.vector_field,
                prob.y0,
                (0.0, transient),
                params,
                in_axes=(None, axes),
                chunk_size=chunk_size,
                rtol=RTOL,
                atol=ATOL,
            )
            state = np.asarray(sols.ys[:, -1])
        steps = np.asarray(sols.stats["num_steps"])
        chunked = solvers.lockstep_cost(steps, chunk_size, len(devices))
        whole = solvers.lockstep_cost(steps, None, len(devices))
        print(
            f"  transient t in [0, {transient:g}]: {first.seconds:.2f} s with compilation, "
            f"{num_rho / first.seconds:,.0f} trajectories/s; steps per member "
            f"{steps.min()}..{steps.max()} (rho orders the cost)"
        )
        print(
            f"  lockstep efficiency (solvers.lockstep_cost): {chunked['efficiency']:.2f} "
            f"with chunk_size {chunk_size}, {whole['efficiency']:.2f} as one chunk"
        )

        # 2. Record z on a uniform grid, window after window.
        saves = args.saves
        ts = jnp.linspace(0.0, 1.0, saves + 1)[1:]
        z = np.empty((num_rho, windows * saves))
        used = own = 0
        with Timer() as record:
            for window in range(windows):
                sols = solvers.sweep(
                    prob.vector_field,
                    state,
                    (0.0, 1.0),
                    params,
                    in_axes=(0, axes),
                    chunk_size=chunk_size,
                    ts=ts,
                    rtol=RTOL,
                    atol=ATOL,
                )
                ys = np.asarray(sols.ys)
                z[:, window * saves : (window + 1) * saves] = ys[:, :, 2]
                state = ys[:, -1]
                cost = solvers.lockstep_cost(sols.stats["num_steps"], chunk_size, len(devices))
                used, own = used + cost["used"], own + cost["own"]
        print(
            f"  recording: {windows} windows of one time unit, {saves} saves each "
            f"(z stored as a {z.shape[0]:,} x {z.shape[1]} array, {z.nbytes / 1e6:.0f} MB): "
            f"{record.seconds:.2f} s, {num_rho * windows / record.seconds:,.0f} "
            f"trajectory-windows/s, lockstep efficiency {own / used:.2f}"
        )

        # 3. Local maxima of z.
        member, peaks = local_maxima(z)
        counts = np.bincount(member, minlength=num_rho)
    print(
        f"  {peaks.size:,} local maxima of z (per rho: {counts.min()}..{counts.max()}); "
        f"sweep total {total.seconds:.2f} s"
    )

    figure, axes_ = plt.subplots(figsize=(10, 6))
    axes_.plot(rhos[member], peaks, ",", color="k", alpha=0.25, rasterized=True)
    axes_.set(
        xlabel=r"$\rho$",
        ylabel=r"local maxima of $z$",
        title=rf"Lorenz-63 bifurcation diagram ($\sigma$ = 10, $\beta$ = 8/3, "
        rf"{num_rho:,} values of $\rho$, solvers.sweep on {len(devices)} devices)",
        xlim=(rhos[0], rhos[-1]),
    )
    figure.tight_layout()
    path = out / "bifurcation.png"
    figure.savefig(path, dpi=130)
    plt.close(figure)
    print(f"  wrote {path}")


if __name__ == "__main__":
    main()
