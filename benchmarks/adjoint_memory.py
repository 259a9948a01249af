"""Reverse-mode strategies side by side: scratch memory against max_steps, and time.

Problem (as in bench_lorenz.py): Lorenz-63, sigma=10, rho=28, beta=8/3, y0=[1, 1, 1],
t in [0, 10], tsit5, rtol=1e-6, atol=1e-9, float64, 101 save times; the loss is the sum
of squares of the saved states, differentiated with respect to (sigma, rho, beta).

1. Memory: ``temp_size_in_bytes`` of ``jax.jit(jax.grad(loss)).lower(params).compile()
   .memory_analysis()`` (XLA's scratch buffers, the part that the adjoint's records live
   in) for max_steps = 1e3, 1e4, 1e5 and each strategy ("checkpoint", "direct",
   "backsolve", and diffrax's default RecursiveCheckpointAdjoint). Compile only: nothing
   runs, so max_steps = 1e3 (too few steps for this solve) is fine here.
2. Time: median wall time of one compiled gradient per strategy (max_steps = 100_000),
   of diffrax's (Tsit5 + PIDController + SaveAt(ts)), and of the forward solves, so that
   the gradient/forward ratio can be read off. The callables take turns in each round.
   The gradients are compared with each other (relative difference to "checkpoint"):
   Lorenz over [0, 10] is chaotic, so they agree only to about rtol times a large
   amplification factor.

Usage (from the repository root, with the project's virtual environment):

    python benchmarks/adjoint_memory.py            # about a minute on 2 cores
    python benchmarks/adjoint_memory.py --repeats 5
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import diffrax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import median_times  # noqa: E402  (benchmarks/_common.py)

import solvers  # noqa: E402

T0, T1 = 0.0, 10.0
RTOL, ATOL = 1e-6, 1e-9
TIMING_MAX_STEPS = 100_000
MEMORY_MAX_STEPS = [1_000, 10_000, 100_000]
STRATEGIES = ["checkpoint", "direct", "backsolve"]
Y0 = jnp.array([1.0, 1.0, 1.0])
TS = jnp.linspace(T0, T1, 101)
PARAMS = {"sigma": jnp.float64(10.0), "rho": jnp.float64(28.0), "beta": jnp.float64(8.0 / 3.0)}


def lorenz(t, y, p):
    x, v, z = y[0], y[1], y[2]
    return jnp.stack([p["sigma"] * (v - x), x * (p["rho"] - z) - v, x * v - p["beta"] * z])


def ours(adjoint, max_steps):
    def trajectory(params):
        sol = solvers.solve(
            lorenz,
            Y0,
            (T0, T1),
            params,
            method="tsit5",
            ts=TS,
            rtol=RTOL,
            atol=ATOL,
            max_steps=max_steps,
            adjoint=adjoint,
        )
        return sol.ys

    return trajectory


def theirs(max_steps):
    term = diffrax.ODETerm(lorenz)

    def trajectory(params):
        sol = diffrax.diffeqsolve(
            term,
            diffrax.Tsit5(),
            T0,
            T1,
            None,
            Y0,
            args=params,
            saveat=diffrax.SaveAt(ts=TS),
            stepsize_controller=diffrax.PIDController(rtol=RTOL, atol=ATOL),
            max_steps=max_steps,  # default adjoint: RecursiveCheckpointAdjoint
        )
        return sol.ys

    return trajectory


def gradient(trajectory):
    return jax.grad(lambda params: jnp.sum(trajectory(params) ** 2))


def compiled(fn):
    return jax.jit(fn).lower(PARAMS).compile()


def memory_sizes(log=None):
    """{strategy: {max_steps: temp_size_in_bytes of the compiled gradient}}, ours and
    diffrax's default adjoint (compile only)."""
    builders = {name: (lambda m, name=name: ours(name, m)) for name in STRATEGIES}
    builders["diffrax RecursiveCheckpoint"] = theirs
    sizes = {}
    for name, build in builders.items():
        if log is not None:
            log(f"memory: compiling {name} for max_steps = {MEMORY_MAX_STEPS}")
        sizes[name] = {
            m: int(compiled(gradient(build(m))).memory_analysis().temp_size_in_bytes)
            for m in MEMORY_MAX_STEPS
        }
    return sizes


def memory_table():
    print("\nScratch memory of jit(grad(loss)): temp_size_in_bytes")
    print(
        f"{'strategy':<32}"
        + "".join(f"{f'max_steps={m:,}':>20}" for m in MEMORY_MAX_STEPS)
        + f"{'1e5 / 1e3':>12}"
    )
    for name, by_max_steps in memory_sizes().items():
        sizes = list(by_max_steps.values())
        print(
            f"{name:<32}"
            + "".join(f"{size:>20,}" for size in sizes)
            + f"{sizes[-1] / sizes[0]:>12.1f}"
        )


def timing_table(repeats):
    grads = {name: compiled(gradient(ours(name, TIMING_MAX_STEPS))) for name in STRATEGIES}
    grads["diffrax"] = compiled(gradient(theirs(TIMING_MAX_STEPS)))
    forwards = {
        "ours": compiled(ours("checkpoint", TIMING_MAX_STEPS)),
        "diffrax": compiled(theirs(TIMING_MAX_STEPS)),
    }
    calls = {("grad", k): (lambda fn=fn: fn(PARAMS)) for k, fn in grads.items()}
    calls.update({("forward", k): (lambda fn=fn: fn(PARAMS)) for k, fn in forwards.items()})
    times = median_times(calls, repeats)
    reference = np.array([float(v) for v in grads["checkpoint"](PARAMS).values()])

    print(f"\nTime per call, median of {repeats} (max_steps={TIMING_MAX_STEPS:,})")
    print(f"{'call':<36}{'ms':>10}{'/ its forward':>15}{'rel. diff. to checkpoint':>27}")
    for key in ["ours", "diffrax"]:
        print(f"{'forward solve (' + key + ')':<36}{1e3 * times[('forward', key)]:>10.3f}")
    for name, fn in grads.items():
        forward = times[("forward", "diffrax" if name == "diffrax" else "ours")]
        value = np.array([float(v) for v in fn(PARAMS).values()])
        difference = np.max(np.abs(value - reference)) / np.max(np.abs(reference))
        label = "grad, diffrax (RecursiveCheckpoint)" if name == "diffrax" else f"grad, {name}"
        print(
            f"{label:<36}{1e3 * times[('grad', name)]:>10.3f}"
            f"{times[('grad', name)] / forward:>15.2f}{difference:>27.2e}"
        )
    print("\ngradient d loss / d (beta, rho, sigma):")
    for name, fn in grads.items():
        print(f"  {name:<12}", {k: round(float(v), 4) for k, v in fn(PARAMS).items()})


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=21)
    options = parser.parse_args()
    print(
        f"{platform.machine()}, {os.cpu_count()} CPUs, jax {jax.__version__}, "
        f"diffrax {diffrax.__version__}, device {jax.devices()[0].platform}, "
        f"load {os.getloadavg()[0]:.2f}"
    )
    memory_table()
    timing_table(options.repeats)


if __name__ == "__main__":
    main()
