"""The DiffEqGPU ensemble benchmark: Lorenz in float32, Tsit5 at fixed and adaptive steps.

The setup of Utkarsh et al., "Automated translation and accelerated solving of
differential equations on multiple GPU platforms", CMAME 2024 (DiffEqGPU.jl; their
scripts and timings are in the GPUODEBenchmarks repository):

    Lorenz: sigma=10, beta=8/3, y0=[1, 0, 0], t in [0, 1], rho = linspace(0, 21, N), float32;
    (a) Tsit5 with 1000 fixed steps of dt=0.001, (b) Tsit5 adaptive at rtol=atol=1e-8
    (first step 0.001, as in their scripts); final state only.

Columns, all on the default JAX device (the GPU where there is one):

* ours, ``jax.jit(jax.vmap(solvers.solve))``: (a) the fixed-step Tsit5 (the Tsit5 tableau
  without its error estimator, as tests/helpers.py ``as_fixed_step``) with ``dt=0.001``;
  also with ``dt`` as a traced argument; (b) ``method="tsit5"``;
* ours, ``solvers.sweep`` (end to end: results gathered to the host and back);
* diffrax, ``jax.jit(jax.vmap(diffrax.diffeqsolve))``: ``Tsit5`` with ``ConstantStepSize``
  (a) or ``PIDController(rtol=atol=1e-8)`` (b).

Usage (from the repository root):

    python benchmarks/bench_diffeqgpu.py                          # CPU: N = 2^14
    python benchmarks/bench_diffeqgpu.py --n 1048576 8388608      # GPU: the published sizes

Writes benchmarks/results/diffeqgpu_<backend>.json (diffeqgpu_cpu.json, diffeqgpu_gpu.json).
See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import time
from pathlib import Path

import jax  # float32: x64 stays off

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
import diffrax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from _common import fmt, machine, markdown_table, turn_times  # noqa: E402

import solvers  # noqa: E402

SIGMA, BETA = 10.0, 8.0 / 3.0
T0, T1, DT = 0.0, 1.0, 0.001
RTOL = ATOL = 1e-8
Y0 = np.array([1.0, 0.0, 0.0], np.float32)

# Published DiffEqGPU.jl (EnsembleGPUKernel, GPUTsit5, V100) minimum times in ms, from the
# GPUODEBenchmarks repository (data/Julia_times_unadaptive.txt, Julia_times_adaptive.txt),
# and the paper's jit/vmap diffrax baseline (data/Jax_times_unadaptive.txt).
PUBLISHED_MS = {
    "fixed": {2**19: 9.74, 2**21: 36.69, 2**23: 145.32},
    "adaptive": {10**5: 1.21, 10**6: 8.49},
    "fixed_diffrax_vmap": {2**19: 730.5, 2**21: 2684.1, 2**23: 10038.1},
}

# Tsit5's propagated solution without its error estimator: a fixed-step method.
TSIT5_FIXED = solvers.ExplicitRK(
    dataclasses.replace(
        solvers.Tsit5().tableau, name="tsit5-fixed", b_error=None, error_order=None, b_error2=None
    )
)


def lorenz(t, y, rho):
    return jnp.stack([SIGMA * (y[1] - y[0]), y[0] * (rho - y[2]) - y[1], y[0] * y[1] - BETA * y[2]])


def ours_member(rho, dt, fixed):
    """Final state, attempted steps and failure flag of one member."""
    options = {} if fixed else {"rtol": RTOL, "atol": ATOL}
    method = TSIT5_FIXED if fixed else "tsit5"
    sol = solvers.solve(lorenz, Y0, (T0, T1), rho, method=method, dt=dt, throw=False, **options)
    return sol.ys[-1], sol.stats["num_steps"], sol.status != 0


def diffrax_member(rho, fixed):
    controller = (
        diffrax.ConstantStepSize() if fixed else diffrax.PIDController(rtol=RTOL, atol=ATOL)
    )
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(lorenz),
        diffrax.Tsit5(),
        T0,
        T1,
        DT,
        jnp.asarray(Y0),
        args=rho,
        saveat=diffrax.SaveAt(t1=True),
        stepsize_controller=controller,
        throw=False,
    )
    return sol.ys[-1], sol.stats["num_steps"], sol.result != diffrax.RESULTS.successful


def jit_vmap_columns(rhos):
    """{column: (function, args)} for the jax.jit(jax.vmap(...)) columns."""
    dt = jnp.float32(DT)
    return {
        "fixed/ours jit(vmap)": (jax.vmap(lambda r: ours_member(r, DT, True)), (rhos,)),
        "fixed/ours jit(vmap), dt traced": (
            jax.vmap(lambda r, d: ours_member(r, d, True), in_axes=(0, None)),
            (rhos, dt),
        ),
        "fixed/diffrax jit(vmap)": (jax.vmap(lambda r: diffrax_member(r, True)), (rhos,)),
        "adaptive/ours jit(vmap)": (jax.vmap(lambda r: ours_member(r, DT, False)), (rhos,)),
        "adaptive/diffrax jit(vmap)": (jax.vmap(lambda r: diffrax_member(r, False)), (rhos,)),
    }


def ours_sweep(rhos, fixed, chunk_size):
    options = {} if fixed else {"rtol": RTOL, "atol": ATOL}
    method = TSIT5_FIXED if fixed else "tsit5"
    sol = solvers.sweep(
        lorenz,
        Y0,
        (T0, T1),
        rhos,
        in_axes=(None, 0),
        method=method,
        dt=DT,
        chunk_size=chunk_size,
        throw=False,
        **options,
    )
    return sol.ys[:, -1], sol.stats["num_steps"], sol.status != 0


def memory_limit():
    """Bytes one program may use: the device's limit, or the host's available memory."""
    stats = jax.devices()[0].memory_stats() or {}
    if "bytes_limit" in stats:
        return int(stats["bytes_limit"])
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")


def program_bytes(compiled):
    analysis = compiled.memory_analysis()
    if analysis is None:
        return None
    return (
        analysis.temp_size_in_bytes
        + analysis.argument_size_in_bytes
        + analysis.output_size_in_bytes
    )


def measure_n(n, repeats, chunk_size, skip_diffrax):
    rhos = jnp.linspace(0.0, 21.0, n, dtype=jnp.float32)
    out = {"n": n, "compile_s": {}, "skipped": {}, "program_bytes": {}}
    calls, last = {}, {}
    limit = memory_limit()
    for key, (fn, args) in jit_vmap_columns(rhos).items():
        if skip_diffrax and "diffrax" in key:
            out["skipped"][key] = "--no-diffrax"
            continue
        start = time.perf_counter()
        compiled = jax.jit(fn).lower(*args).compile()
        out["compile_s"][key] = time.perf_counter() - start
        need = program_bytes(compiled)
        out["program_bytes"][key] = need
        if need is not None and need > 0.9 * limit:
            out["skipped"][key] = f"needs {need / 1e9:.3g} GB, {limit / 1e9:.3g} GB available"
            continue

        def call(key=key, compiled=compiled, args=args):
            last[key] = compiled(*args)
            return last[key]

        calls[key] = call
        jax.block_until_ready(call())  # warm-up
    for setup in ("fixed", "adaptive"):
        key = f"{setup}/ours sweep"

        def call(key=key, fixed=setup == "fixed"):
            last[key] = ours_sweep(rhos, fixed, chunk_size)
            return last[key]

        start = time.perf_counter()
        jax.block_until_ready(call())
        first = time.perf_counter() - start
        calls[key] = call
        out["compile_s"][key] = first  # minus the median, below

    times = turn_times(calls, repeats, warmup=False)
    out["median_ms"] = {key: 1e3 * statistics.median(ts) for key, ts in times.items()}
    out["min_ms"] = {key: 1e3 * min(ts) for key, ts in times.items()}
    for setup in ("fixed", "adaptive"):
        out["compile_s"][f"{setup}/ours sweep"] -= out["median_ms"][f"{setup}/ours sweep"] / 1e3
    out["traj_per_s"] = {key: n / (ms / 1e3) for key, ms in out["median_ms"].items()}
    out["mean_steps"] = {key: float(np.mean(np.asarray(v[1]))) for key, v in last.items()}
    out["failed_members"] = {key: int(np.sum(np.asarray(v[2]))) for key, v in last.items()}
    # Agreement of the final states (float32) with diffrax's, where diffrax ran.
    for setup in ("fixed", "adaptive"):
        ref = last.get(f"{setup}/diffrax jit(vmap)")
        if ref is None:
            continue
        ref = np.asarray(ref[0])
        for key, v in last.items():
            if key.startswith(setup) and "diffrax" not in key:
                diff = np.max(np.abs(np.asarray(v[0]) - ref)) / np.max(np.abs(ref))
                out.setdefault("max_rel_diff_vs_diffrax", {})[key] = float(diff)
    return out


def report(rows):
    table = []
    for r in rows:
        n = r["n"]
        for key in list(r["median_ms"]) + list(r["skipped"]):
            setup = key.split("/")[0]
            diffrax_ms = r["median_ms"].get(f"{setup}/diffrax jit(vmap)")
            published = PUBLISHED_MS[setup].get(n)
            if key in r["skipped"]:
                table.append([f"{n:,}", key, "skipped: " + r["skipped"][key]] + ["-"] * 7)
                continue
            ms = r["median_ms"][key]
            table.append(
                [
                    f"{n:,}",
                    key,
                    fmt(ms, "{:.4g}"),
                    fmt(r["min_ms"][key], "{:.4g}"),
                    fmt(r["traj_per_s"][key], "{:,.0f}"),
                    fmt(r["compile_s"].get(key), "{:.2f}"),
                    fmt(r["mean_steps"].get(key), "{:.1f}"),
                    str(r["failed_members"].get(key)),
                    fmt(None if diffrax_ms is None else diffrax_ms / ms, "{:.2f}"),
                    fmt(None if published is None else r["min_ms"][key] / published, "{:.2f}"),
                ]
            )
    return markdown_table(
        [
            "N",
            "setup / implementation",
            "median [ms]",
            "min [ms]",
            "traj/s (median)",
            "compile [s]",
            "mean steps",
            "failed",
            "diffrax / this",
            "this min / DiffEqGPU (V100)",
        ],
        table,
    )


def main():
    gpu = jax.default_backend() != "cpu"
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--n",
        type=int,
        nargs="+",
        default=[2**20, 2**23] if gpu else [2**14],
        help="ensemble sizes (default: 2^20 2^23 on a GPU, 2^14 on CPU)",
    )
    parser.add_argument("--repeats", type=int, default=5 if gpu else 3)
    parser.add_argument(
        "--chunk", type=int, default=2**20, help="sweep's chunk_size (default 2^20)"
    )
    parser.add_argument("--no-diffrax", action="store_true", help="leave the diffrax columns out")
    parser.add_argument("--out", help="JSON file (default results/diffeqgpu_<backend>.json)")
    args = parser.parse_args()

    t_start = time.perf_counter()
    print(f"backend: {jax.default_backend()}, devices: {jax.devices()}")
    rows = []
    for n in args.n:
        print(f"[{time.perf_counter() - t_start:6.1f} s] N = {n:,} ...", flush=True)
        rows.append(measure_n(n, args.repeats, min(args.chunk, n), args.no_diffrax))
    wall = time.perf_counter() - t_start
    print()
    print(report(rows))
    print()
    for r in rows:
        for key, diff in r.get("max_rel_diff_vs_diffrax", {}).items():
            print(f"N={r['n']:,} {key}: max |y - y_diffrax| / max |y_diffrax| = {diff:.1e}")
    print(
        "published DiffEqGPU.jl (V100) fixed-step 2^23: 145.3 ms (minimum of @benchmark); "
        "'this min / DiffEqGPU' compares our minimum with it (> 1: slower)."
    )
    print(f"total wall time {wall:.1f} s")

    meta = {
        "problem": "Lorenz sigma=10 beta=8/3, y0=[1,0,0], t in [0,1], rho=linspace(0,21,N), "
        "float32, final state",
        "fixed": "Tsit5 without error estimator, dt=0.001 (1000 steps); diffrax Tsit5 + "
        "ConstantStepSize, dt0=0.001",
        "adaptive": "Tsit5, rtol=atol=1e-8, first step 0.001; diffrax Tsit5 + PIDController",
        "repeats": args.repeats,
        "sweep_chunk_size": args.chunk,
        "timing": "columns take turns; median and minimum over repeats after a warm-up; "
        "compile = AOT lower().compile() (jit(vmap)), first call minus median (sweep)",
        "published_ms": {k: {str(n): v for n, v in d.items()} for k, d in PUBLISHED_MS.items()},
        "wall_time_s": wall,
        "machine": machine(),
        "versions": {"diffrax": diffrax.__version__},
    }
    backend = "cpu" if not gpu else "gpu"
    out_file = (
        Path(args.out)
        if args.out
        else REPO_ROOT / "benchmarks" / "results" / f"diffeqgpu_{backend}.json"
    )
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2, default=float))
    print(f"wrote {out_file}")


if __name__ == "__main__":
    main()
