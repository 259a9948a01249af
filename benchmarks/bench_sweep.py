"""Lorenz-63 ensemble throughput of `solvers.sweep` over 1, 2, 4 and 8 host devices.

The ensemble of bench_lorenz.py, scaled from N = 10^2 to 10^6 members:

    Lorenz-63, sigma=10, beta=8/3, y0=[1, 1, 1], t in [0, 10], rho = linspace(10, 40, N),
    Dormand-Prince 5(4), rtol=1e-6, atol=1e-9, float64, final state only.

Side by side in one process (8 CPU devices via solvers.use_host_devices(8)):

* ``solvers.sweep(..., method="dopri5", devices=jax.devices()[:k])``, k = 1, 2, 4, 8;
* ``jax.jit(jax.vmap(solvers.solve))`` and ``jax.jit(jax.vmap(diffrax.diffeqsolve))``
  (diffrax ``Dopri5``, ``PIDController``, ``SaveAt(t1=True)``) on one device;
* the numba ``prange`` Dopri5 loop of bench_lorenz.py over all cores.

Also measured: the targets of issue 3 (4 vs 1 device; sweep vs numba at N = 10^4), the
peak memory of a 10^6-member sweep saving 11 points each (in a subprocess), and the
lockstep cost of a sweep whose members need very different numbers of steps.

Usage (from the repository root):

    python benchmarks/bench_sweep.py           # full run (about 10 minutes on 2 cores)
    python benchmarks/bench_sweep.py --quick   # smoke test (< 1 minute)

Prints the tables and writes them as JSON to benchmarks/results/sweep.json
(sweep_quick.json with --quick). See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_platforms", "cpu")  # a host-device benchmark, even where a GPU is

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
import solvers  # noqa: E402

HOST_DEVICES = 8
solvers.use_host_devices(HOST_DEVICES)  # before anything starts JAX's backend

import bench_lorenz as bl  # noqa: E402  (same folder: the problem, numba loop, compile timer)
import diffrax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numba  # noqa: E402
import numpy as np  # noqa: E402
from _common import fmt, machine, markdown_table, median_times  # noqa: E402

METHOD = "dopri5"
DEVICE_COUNTS = (1, 2, 4, 8)
IN_AXES = (None, {"sigma": None, "rho": 0, "beta": None})
F = bl.make_lorenz()  # one function object: sweep caches its program per (f, shapes)

FULL = {
    # (N, sweep's chunk_size): 10^6 is chunked; 10^5 is run both ways.
    "rows": [(100, None), (1_000, None), (10_000, None), (100_000, None), (100_000, 16_384)]
    + [(1_000_000, 65_536)],
    "repeats": {100: 20, 1_000: 10, 10_000: 5, 100_000: 2, 1_000_000: 1},
    "max_n_one_device_jax": 100_000,  # jit(vmap) of ours and diffrax up to this N
    "memory": {"n": 1_000_000, "chunk_size": 65_536, "n_saves": 11, "also_unchunked": True},
    "lockstep": {"n": 20_000, "rho": (0.5, 30.0), "chunks": 8, "devices": (1, 8), "repeats": 3},
}
QUICK = {
    "rows": [(100, None), (1_000, None), (1_000, 256)],
    "repeats": {100: 3, 1_000: 2},
    "max_n_one_device_jax": 1_000,
    "memory": {"n": 20_000, "chunk_size": 4_096, "n_saves": 11, "also_unchunked": False},
    "lockstep": {"n": 2_000, "rho": (0.5, 30.0), "chunks": 8, "devices": (1, 8), "repeats": 1},
}


def params_for(rhos):
    return {"sigma": bl.SIGMA, "rho": np.asarray(rhos), "beta": bl.BETA}


def run_sweep(rhos, devices, **options):
    """The sweep of the benchmark: final state (or `ts=...`), Dopri5, rtol 1e-6, atol 1e-9."""
    options = {
        "method": METHOD,
        "rtol": bl.RTOL,
        "atol": bl.ATOL,
        "max_steps": bl.MAX_STEPS,
        **options,
    }
    return solvers.sweep(
        F, bl.Y0_NP, (bl.T0, bl.T1), params_for(rhos), in_axes=IN_AXES, devices=devices, **options
    )


def run_numba(rhos):
    return bl.dopri5_ensemble_nb(
        rhos, tuple(bl.Y0_NP), bl.T0, bl.T1, bl.SIGMA, bl.BETA, bl.RTOL, bl.ATOL, bl.MAX_STEPS
    )


def timed(call):
    start = time.perf_counter()
    out = jax.block_until_ready(call())
    return time.perf_counter() - start, out


def keep(store, key, call):
    """`call`, also storing its latest result in `store[key]` (for steps and checks)."""

    def wrapped():
        store[key] = call()
        return store[key]

    return wrapped


# ----------------------------------------------------------------------- throughput


def measure_n(n, chunk, cfg):
    """One row: every column on rho = linspace(10, 40, n), taking turns."""
    rhos = bl.ensemble_rhos(n)
    repeats = cfg["repeats"][n]
    row = {"n": n, "chunk_size": chunk, "repeats": repeats, "compile": {}, "checks": {}}
    last, calls = {}, {}

    # One-device JAX baselines, compiled ahead of time (compile_times clears JAX's caches,
    # so it runs before the sweeps compile theirs).
    if n <= cfg["max_n_one_device_jax"] and chunk is None:
        builds = {
            "jit_vmap": bl.ours_ensemble(METHOD),
            "diffrax": bl.diffrax_ensemble(diffrax.Dopri5),
        }
        rhos_dev = jnp.asarray(rhos)
        compile_s, compiled = bl.compile_times(builds, rhos_dev, repeats=1)
        row["compile"].update(compile_s)
        for key, fn in compiled.items():
            calls[key] = keep(last, key, lambda fn=fn: fn(rhos_dev))
            if n < 100_000:  # (compiled ahead of time; a large N needs no warm-up)
                timed(calls[key])

    # Sweeps: the first call compiles. Chunked: compile = first minus second call on one chunk.
    first = {}
    for k in DEVICE_COUNTS:
        key = f"sweep_{k}"
        devices = jax.devices()[:k]
        calls[key] = keep(last, key, lambda d=devices: run_sweep(rhos, d, chunk_size=chunk))
        if chunk is None:
            first[key], _ = timed(calls[key])
        else:
            t_first, _ = timed(lambda d=devices: run_sweep(rhos[:chunk], d, chunk_size=chunk))
            t_second, _ = timed(lambda d=devices: run_sweep(rhos[:chunk], d, chunk_size=chunk))
            row["compile"][key] = t_first - t_second
    calls["numba"] = keep(last, "numba", lambda: run_numba(rhos))
    if chunk is not None and n < 100_000:
        timed(calls["numba"])  # warm caches like the others

    times = median_times(calls, repeats, warmup=False)
    for key, t_first in first.items():
        row["compile"][key] = t_first - times[key]
    row["time"] = times
    row["traj_per_s"] = {key: n / t for key, t in times.items()}

    finals, accepted = {}, {}
    for key, out in last.items():
        if key.startswith("sweep"):
            finals[key] = np.asarray(out.ys)[:, -1]
            accepted[key] = np.asarray(out.stats["num_accepted"])
            k = int(key.split("_")[1])
            cost = solvers.lockstep_cost(out.stats["num_steps"], chunk, k)
            row.setdefault("lockstep_efficiency", {})[key] = cost["efficiency"]
        else:
            finals[key], accepted[key] = np.asarray(out[0]), np.asarray(out[1])
    row["mean_accepted"] = {key: float(np.mean(a)) for key, a in accepted.items()}
    # Checks: the sweeps agree with each other, and with numba where rho < 13.9 (no chaos).
    calm = rhos < 13.9
    ref = finals["numba"][calm]
    row["checks"]["max_abs_diff_sweep_k_vs_sweep_1"] = max(
        float(np.max(np.abs(finals[f"sweep_{k}"] - finals["sweep_1"]))) for k in DEVICE_COUNTS
    )
    if calm.any():
        row["checks"]["max_rel_diff_vs_numba_rho_lt_13.9"] = {
            key: float(np.max(np.abs(y[calm] - ref)) / np.max(np.abs(ref)))
            for key, y in finals.items()
            if key != "numba"
        }
    return row


# ------------------------------------------------------------------- memory (subprocess)


def peak_rss():
    """(VmHWM, ru_maxrss) in bytes: the peak resident set size of this process.

    Linux carries ru_maxrss over fork and exec, so in a child it is at least the
    parent's RSS at the fork; VmHWM (/proc/self/status) belongs to this program alone.
    """
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024.0  # KiB on Linux
    try:
        with open("/proc/self/status") as status:
            line = next(x for x in status if x.startswith("VmHWM:"))
        return float(line.split()[1]) * 1024.0, maxrss
    except (OSError, StopIteration):
        return maxrss, maxrss


def memory_child(n, chunk, n_saves):
    """Runs in a fresh process: a sweep of n members saving n_saves points; prints JSON."""
    jax.block_until_ready(jnp.ones(3) + 1)  # start the backend
    before, _ = peak_rss()
    rhos = bl.ensemble_rhos(n)
    ts = np.linspace(bl.T0, bl.T1, n_saves)
    start = time.perf_counter()
    sol = run_sweep(rhos, jax.devices(), chunk_size=chunk or None, ts=ts)
    jax.block_until_ready(sol.ys)
    wall = time.perf_counter() - start
    peak, maxrss = peak_rss()
    result_bytes = sum(np.asarray(leaf).nbytes for leaf in jax.tree.leaves(sol))
    print(
        json.dumps(
            {
                "n": n,
                "chunk_size": chunk or None,
                "n_saves": n_saves,
                "devices": jax.device_count(),
                "ys_shape": list(sol.ys.shape),
                "all_succeeded": bool(np.all(np.asarray(sol.status) == 0)),
                "wall_s": wall,
                "traj_per_s": n / wall,
                "peak_rss_bytes": peak,
                "ru_maxrss_bytes": maxrss,
                "rss_before_sweep_bytes": before,
                "result_bytes": result_bytes,
            }
        )
    )


def measure_memory(n, chunk, n_saves):
    command = [sys.executable, str(Path(__file__).resolve()), "--memory-child"]
    command += [str(n), str(chunk or 0), str(n_saves)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        return {"n": n, "chunk_size": chunk, "error": done.stderr[-3000:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------- lockstep


def measure_lockstep(cfg):
    """Plain, chunked, balance=True and sorted-by-true-cost sweeps of shuffled rho values.

    Member-steps used in lockstep come from `solvers.lockstep_cost` on the step counts in
    the order the members were solved: the original order, or sorted by cost for the
    balanced sweeps (balance=True sorts by the step counts of a pilot sweep at a
    tolerance 1000x looser; the pilot is rerun here to know that order).
    """
    n, (lo, hi), chunks = cfg["n"], cfg["rho"], cfg["chunks"]
    rhos = np.random.default_rng(0).permutation(np.linspace(lo, hi, n))
    out = {"n": n, "rho": [lo, hi], "order": "shuffled (seed 0)", "by_devices": {}}
    for k in cfg["devices"]:
        devices = jax.devices()[:k]
        chunk = -(-n // chunks)
        plain = run_sweep(rhos, devices)
        steps = np.asarray(plain.stats["num_steps"])
        # balance=True's pilot, as documented: final state, tolerances 1000x looser.
        pilot_options = {"rtol": min(1e-2, 1e3 * bl.RTOL), "atol": min(1e-2, 1e3 * bl.ATOL)}
        pilot = run_sweep(rhos, devices, throw=False, **pilot_options)
        pilot_steps = np.asarray(pilot.stats["num_steps"])
        variants = {
            "plain": ({}, steps, None),
            "chunked": ({"chunk_size": chunk}, steps, chunk),
            "balance=True": (
                {"chunk_size": chunk, "balance": True},
                steps[np.argsort(pilot_steps, kind="stable")],
                chunk,
            ),
            "balance=own steps": (
                {"chunk_size": chunk, "balance": steps},
                steps[np.argsort(steps, kind="stable")],
                chunk,
            ),
        }
        calls, rows, last = {}, {}, {}
        for name, (options, order, size) in variants.items():
            calls[name] = keep(last, name, lambda o=options, d=devices: run_sweep(rhos, d, **o))
            timed(calls[name])  # compile
            rows[name] = {"chunk_size": size, **solvers.lockstep_cost(order, size, k)}
        times = median_times(calls, cfg["repeats"], warmup=False)
        for name in variants:
            rows[name]["wall_s"] = times[name]
            same = np.array_equal(np.asarray(last[name].stats["num_steps"]), steps)
            rows[name]["same_step_counts_as_plain"] = bool(same)
        pilot_time, _ = timed(
            functools.partial(run_sweep, rhos, devices, throw=False, **pilot_options)
        )
        out["by_devices"][k] = {
            "variants": rows,
            "pilot": {"wall_s": pilot_time, **solvers.lockstep_cost(pilot_steps, None, k)},
            "member_steps": {"min": int(steps.min()), "max": int(steps.max())},
            "member_steps_mean": float(steps.mean()),
        }
    return out


# ------------------------------------------------------------------------------ report

COLUMNS = [f"sweep_{k}" for k in DEVICE_COUNTS] + ["jit_vmap", "diffrax", "numba"]
TITLES = [f"sweep {k} dev" for k in DEVICE_COUNTS] + [
    "jit(vmap) ours 1 dev",
    "jit(vmap) diffrax 1 dev",
    f"numba prange ({numba.get_num_threads()} thr)",
]


def ratio(a, b):
    return None if a is None or b is None else a / b


def label(row):
    chunk = row["chunk_size"]
    return f"{row['n']:,}" + (f" (chunk {chunk:,})" if chunk else "")


def report(res):
    rows = res["rows"]
    lines = ["Throughput [trajectories/s] (median wall time of the whole ensemble):", ""]
    lines.append(
        markdown_table(
            ["N", *TITLES],
            [[label(r)] + [fmt(r["traj_per_s"].get(c), "{:,.0f}") for c in COLUMNS] for r in rows],
        )
    )
    lines += ["", "Wall time per ensemble [s] / compile [s]:", ""]
    lines.append(
        markdown_table(
            ["N", *TITLES],
            [
                [label(r)]
                + [
                    f"{fmt(r['time'].get(c))} / {fmt(r['compile'].get(c), '{:.2f}')}"
                    if c in r["time"]
                    else "-"
                    for c in COLUMNS
                ]
                for r in rows
            ],
        )
    )
    lines += ["", "Ratios (time of the other / time of the sweep; > 1: the sweep is faster):", ""]
    ratio_rows = []
    for r in rows:
        t = r["time"]
        best = min((f"sweep_{k}" for k in DEVICE_COUNTS), key=lambda c: t[c])
        ratio_rows.append(
            [
                label(r),
                fmt(ratio(t["sweep_1"], t["sweep_4"]), "{:.2f}"),
                fmt(ratio(t["sweep_1"], t["sweep_8"]), "{:.2f}"),
                fmt(ratio(t["numba"], t["sweep_2"]), "{:.2f}"),
                fmt(ratio(t["numba"], t["sweep_4"]), "{:.2f}"),
                fmt(ratio(t["numba"], t["sweep_8"]), "{:.2f}"),
                fmt(ratio(t.get("diffrax"), t["sweep_1"]), "{:.2f}"),
                fmt(ratio(t.get("diffrax"), t[best]), "{:.2f}")
                + (f" ({best[6:]} dev)" if "diffrax" in t else ""),
                fmt(ratio(t.get("jit_vmap"), t["sweep_1"]), "{:.2f}"),
                " / ".join(f"{r['lockstep_efficiency'][f'sweep_{k}']:.2f}" for k in DEVICE_COUNTS),
            ]
        )
    lines.append(
        markdown_table(
            [
                "N",
                "1 dev / 4 dev",
                "1 dev / 8 dev",
                "numba / sweep 2 dev",
                "numba / sweep 4 dev",
                "numba / sweep 8 dev",
                "diffrax / sweep 1 dev",
                "diffrax / best sweep",
                "jit(vmap) ours / sweep 1 dev",
                "lockstep efficiency 1/2/4/8 dev",
            ],
            ratio_rows,
        )
    )
    lines += ["", "Mean accepted steps per member:", ""]
    lines.append(
        markdown_table(
            ["N", *TITLES],
            [
                [label(r)] + [fmt(r["mean_accepted"].get(c), "{:.1f}") for c in COLUMNS]
                for r in rows
            ],
        )
    )
    mem_rows = []
    for m in res["memory"]:
        if "error" in m:
            mem_rows.append([f"{m['n']:,}", str(m["chunk_size"]), "failed", "-", "-", "-", "-"])
            continue
        mem_rows.append(
            [
                f"{m['n']:,} x {m['n_saves']} saves",
                fmt(m["chunk_size"], "{:,}"),
                f"{m['peak_rss_bytes'] / 1e9:.2f} GB",
                f"{m['rss_before_sweep_bytes'] / 1e9:.2f} GB",
                f"{m['result_bytes'] / 1e9:.2f} GB",
                f"{m['wall_s']:.1f} s ({m['traj_per_s']:,.0f}/s)",
                str(m["all_succeeded"]),
            ]
        )
    lines += ["", f"Memory (a fresh process, {HOST_DEVICES} host devices; peak RSS = VmHWM):", ""]
    lines.append(
        markdown_table(
            ["sweep", "chunk_size", "peak RSS", "RSS before sweep", "result", "wall", "all ok"],
            mem_rows,
        )
    )
    lock = res["lockstep"]
    lines += [
        "",
        f"Lockstep cost: N={lock['n']:,}, rho = linspace({lock['rho'][0]}, {lock['rho'][1]}, N) "
        "shuffled; member-steps run in lockstep vs the members' own steps:",
        "",
    ]
    lock_rows = []
    for k, entry in lock["by_devices"].items():
        for name, v in entry["variants"].items():
            lock_rows.append(
                [
                    str(k),
                    name,
                    fmt(v["chunk_size"], "{:,}"),
                    f"{v['used']:,}",
                    f"{v['own']:,}",
                    f"{v['efficiency']:.2f}",
                    f"{v['wall_s']:.3f}",
                ]
            )
        p = entry["pilot"]
        lock_rows.append(
            [
                str(k),
                "(pilot of balance=True)",
                "-",
                f"{p['used']:,}",
                "-",
                "-",
                f"{p['wall_s']:.3f}",
            ]
        )
    lines.append(
        markdown_table(
            ["devices", "sweep", "chunk_size", "used", "own", "own/used", "wall [s]"], lock_rows
        )
    )
    return "\n".join(lines)


def targets(res):
    by_n = {r["n"]: r for r in res["rows"] if r["chunk_size"] is None}
    out = {}
    for n in (10_000, 100_000):
        if n in by_n:
            t = by_n[n]["time"]
            out[f"speedup_4_vs_1_device_N={n}"] = t["sweep_1"] / t["sweep_4"]
    if 10_000 in by_n:
        t = by_n[10_000]["time"]
        for k in DEVICE_COUNTS:
            out[f"numba_over_sweep_{k}_dev_N=10000"] = t["numba"] / t[f"sweep_{k}"]
    mem = [m for m in res["memory"] if m.get("chunk_size") and "error" not in m]
    if mem:
        out["memory_peak_GB"] = mem[0]["peak_rss_bytes"] / 1e9
    return out


# -------------------------------------------------------------------------------- main


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke test (< 1 minute)")
    parser.add_argument("--memory-child", nargs=3, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(*args.memory_child)
        return
    cfg = QUICK if args.quick else FULL

    t_start = time.perf_counter()
    load_start = os.getloadavg()[0]
    if load_start > 0.5:
        print(f"note: 1-min load average is {load_start:.2f}; other processes distort timings.")
    jax.block_until_ready(jnp.ones(3) + 1)  # backend start-up, not timed
    start = time.perf_counter()
    run_numba(bl.ensemble_rhos(16))
    numba_compile = time.perf_counter() - start

    def stamp(what):
        print(f"[{time.perf_counter() - t_start:6.1f} s] {what}", flush=True)

    res = {"rows": [], "memory": []}
    for n, chunk in cfg["rows"]:
        stamp(f"N = {n:,}, chunk_size = {chunk} ...")
        res["rows"].append(measure_n(n, chunk, cfg))
    mem = cfg["memory"]
    for chunk in [mem["chunk_size"]] + ([None] if mem["also_unchunked"] else []):
        stamp(f"memory: {mem['n']:,} members x {mem['n_saves']} saves, chunk_size={chunk} ...")
        res["memory"].append(measure_memory(mem["n"], chunk, mem["n_saves"]))
    stamp(f"lockstep cost, N = {cfg['lockstep']['n']:,} ...")
    res["lockstep"] = measure_lockstep(cfg["lockstep"])
    res["targets"] = targets(res)
    wall = time.perf_counter() - t_start

    print()
    print(report(res))
    print()
    print("targets:", json.dumps(res["targets"], indent=1))
    print(f"numba compile (first call): {numba_compile:.2f} s; total wall time {wall:.1f} s")

    skipped = [
        f"jit(vmap) of ours and of diffrax at N > {cfg['max_n_one_device_jax']:,} "
        "(one device; diffrax would take ~2.5 min per 10^6 run)",
    ] + [f"N = {n:,}, chunk_size = {c}" for n, c in FULL["rows"] if (n, c) not in cfg["rows"]]
    meta = {
        "problem": "Lorenz-63 sigma=10 beta=8/3, y0=[1,1,1], t in [0,10], rho=linspace(10,40,N), "
        "float64, final state",
        "method": "dopri5 (ours, numba), diffrax.Dopri5 + PIDController",
        "rtol": bl.RTOL,
        "atol": bl.ATOL,
        "config": {
            k: ({str(n): r for n, r in v.items()} if k == "repeats" else v) for k, v in cfg.items()
        },
        "host_devices": HOST_DEVICES,
        "numba_threads": numba.get_num_threads(),
        "numba_compile_s": numba_compile,
        "timing": "median over repeats, the columns taking turns; compile = first call minus the "
        "median (sweeps), first minus second call on one chunk (chunked sweeps), "
        "jax.jit(...).lower().compile() (jit(vmap) columns)",
        "skipped": skipped,
        "load_average_1min_at_start_and_end": [load_start, os.getloadavg()[0]],
        "wall_time_s": wall,
        "machine": machine(),
        "versions": {"diffrax": diffrax.__version__, "numba": numba.__version__},
    }
    out_file = (
        REPO_ROOT / "benchmarks" / "results" / ("sweep_quick.json" if args.quick else "sweep.json")
    )
    out_file.parent.mkdir(parents=True, exist_ok=True)
    out_file.write_text(json.dumps({"meta": meta, **res}, indent=2, default=float))
    print(f"wrote {out_file.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
