"""Fractal basins of attraction of the forced Duffing oscillator with ``solvers.sweep``.

    x'' + delta x' - x + x^3 = gamma cos(omega t),   delta = 0.15, gamma = 0.15, omega = 0.8,

is a particle in a double-well potential, damped and shaken. For these values it has
two periodic attractors, small oscillations inside the left well and inside the right
well, and the forcing is above the Melnikov threshold (gamma ~ 0.107 here) where the
saddle's stable and unstable manifolds tangle, so the boundary between their basins is
fractal (F. C. Moon and G.-X. Li, Phys. Rev. Lett. 55 (1985) 1439). Every point of a
384 x 384 grid of initial states (x0, v0) in [-2.5, 2.5]^2 at t = 0 (147,456
trajectories) is integrated over 16 forcing periods and coloured by the well that x
oscillates in during the last period.

The sweep batches the initial state (``in_axes=(0, None)``: one row of ``y0`` per
member, shared parameters) and saves 8 points of the last forcing period. An adaptive
loop under ``vmap`` runs in lockstep, as long as the slowest member of its chunk; the
script reports that lockstep efficiency (``solvers.lockstep_cost``) in grid order and
for members sorted by cost. The step counts vary little here (the right-hand panel),
so grid order is already about 90 % efficient, and ``balance=True`` does not pay: on
a 2-core machine its pilot solve (a compilation of its own and a pass over the whole
grid at loose tolerances) added about two thirds to the time of the sweep, for at most
10 % to win (pass ``--balance`` to measure it).

Prints what it did and writes ``basins.png`` into ``--out`` (default ``out/``): the
basins, and the number of steps each member took.
``--quick`` runs a reduced version in a few seconds.

Run:  python examples/sweep_basins.py [--out DIR] [--quick] [--devices N] [--grid N]
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
from matplotlib.colors import ListedColormap  # noqa: E402

DELTA, GAMMA, OMEGA = 0.15, 0.15, 0.8
PERIODS = 16
RTOL, ATOL = 1e-6, 1e-9


def duffing(t, y, params):
    delta, gamma, omega = params
    x, v = y[0], y[1]
    return jnp.stack([v, -delta * v + x - x**3 + gamma * jnp.cos(omega * t)])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out", help="folder for the figure (default: out/)")
    parser.add_argument("--quick", action="store_true", help="a coarse grid, a few seconds")
    parser.add_argument(
        "--devices",
        type=int,
        default=max(2, os.cpu_count() or 1),
        help="CPU devices to create (default: max(2, cpu count))",
    )
    parser.add_argument("--grid", type=int, help="grid points per side (default 384)")
    parser.add_argument("--balance", action="store_true", help="sort by a pilot solve's cost")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    side = args.grid or (64 if args.quick else 384)
    devices = jax.devices()
    size = side * side
    # About 1,000 members per device at a time (the loop state stays in the CPU caches);
    # 1,024 divides the grid, so no chunk is padded.
    chunk_size = min(size, 1_024 * len(devices))
    grid = np.linspace(-2.5, 2.5, side)
    x0, v0 = np.meshgrid(grid, grid)  # rows: v0, columns: x0
    y0 = np.stack([x0.ravel(), v0.ravel()], axis=1)  # (size, 2): one row per member
    period = 2 * np.pi / OMEGA
    t_end = PERIODS * period
    ts = jnp.linspace(t_end - period, t_end, 8)  # the last forcing period
    print(
        f"Forced Duffing (delta = {DELTA}, gamma = {GAMMA}, omega = {OMEGA}): {side} x {side} "
        f"= {size:,} initial states in [-2.5, 2.5]^2, t in [0, {t_end:.1f}] ({PERIODS} "
        f"periods), tsit5 at rtol {RTOL:g}, on {len(devices)} "
        f"{devices[0].platform.upper()} device(s) (os.cpu_count() = {os.cpu_count()}), "
        f"chunk_size {chunk_size:,}"
    )

    def run(y0, balance=False):
        return solvers.sweep(
            duffing,
            y0,
            (0.0, t_end),
            (DELTA, GAMMA, OMEGA),
            in_axes=(0, None),
            chunk_size=chunk_size,
            balance=balance,
            ts=ts,
            rtol=RTOL,
            atol=ATOL,
        )

    # Warm-up on one chunk: compiles the program every chunk of the sweep reuses.
    with Timer() as warm:
        jax.block_until_ready(run(y0[:chunk_size]).ys)
    with Timer() as timer:
        sols = jax.block_until_ready(run(y0, balance=args.balance))
    steps = np.asarray(sols.stats["num_steps"])
    grid_order = solvers.lockstep_cost(steps, chunk_size, len(devices))
    sorted_order = solvers.lockstep_cost(np.sort(steps), chunk_size, len(devices))
    how = "with balance=True (pilot solve included)" if args.balance else "in grid order"
    print(
        f"  compile + first chunk {warm.seconds:.2f} s; sweep {how} {timer.seconds:.2f} s "
        f"({size / timer.seconds:,.0f} trajectories/s)"
    )
    print(
        f"  steps per member {steps.min()}..{steps.max()} (mean {steps.mean():.0f}); "
        f"lockstep efficiency {grid_order['efficiency']:.2f} in grid order, "
        f"{sorted_order['efficiency']:.2f} sorted by cost (what balance aims at)"
    )

    x = np.asarray(sols.ys[:, :, 0])  # (size, 8): x over the last period
    settled = (x.min(axis=1) > 0) | (x.max(axis=1) < 0)  # stays inside one well
    well = np.where(settled, np.sign(x.mean(axis=1)), 0.0).reshape(side, side)
    print(
        f"  ends in the right well {100 * np.mean(well == 1):.1f} %, left well "
        f"{100 * np.mean(well == -1):.1f} %, crossing between wells "
        f"{100 * np.mean(well == 0):.2f} %"
    )

    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 5.6))
    extent = (grid[0], grid[-1], grid[0], grid[-1])
    colours = ListedColormap(["#3b6fb6", "#d9d9d9", "#e0803a"])
    left.imshow(
        well, origin="lower", extent=extent, cmap=colours, vmin=-1, vmax=1, interpolation="nearest"
    )
    left.set(
        xlabel=r"$x_0$",
        ylabel=r"$v_0$",
        title=f"attractor in the left (blue) / right (orange) well\n{side} x {side} initial states",
    )
    image = right.imshow(steps.reshape(side, side), origin="lower", extent=extent, cmap="viridis")
    figure.colorbar(image, ax=right, label="steps")
    right.set(xlabel=r"$x_0$", ylabel=r"$v_0$", title="steps per member (the cost balance sorts)")
    figure.suptitle(
        rf"Forced Duffing $x'' + {DELTA}\,x' - x + x^3 = {GAMMA}\cos({OMEGA}\,t)$: "
        "basins with solvers.sweep"
    )
    figure.tight_layout()
    path = out / "basins.png"
    figure.savefig(path, dpi=110)
    plt.close(figure)
    print(f"  wrote {path}")


if __name__ == "__main__":
    main()
