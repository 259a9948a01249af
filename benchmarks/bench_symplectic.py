"""Symplectic methods: step throughput on the outer solar system against diffrax's
SemiImplicitEuler, and the long-time energy error on Kepler's problem.

Everything runs in one process on the same machine, float64.

1. Throughput. The outer solar system (problems.outer_solar_system: the Sun and five
   planets in 3-D, state (q, p) of shapes (6, 3), Hairer-Lubich-Wanner's data), fixed
   step dt = 10 days, N steps (100,000; 20,000 with --quick), final state only:
     ours:    jax.jit(lambda y0: solvers.solve(f, y0, (0, N dt), params,
              method=m, dt=10.0).ys) for m in leapfrog, yoshida4, ruth4;
     diffrax: jax.jit(lambda y0: diffeqsolve((ODETerm(dq/dt(p)), ODETerm(dp/dt(q))),
              SemiImplicitEuler(), 0, N dt, 10.0, y0, params, SaveAt(t1=True),
              ConstantStepSize(), max_steps=N).ys).
   The vector fields are the same functions (velocity p/m; force: all pairs at once).
   Reported: time per step and steps per second (medians over repeats, the calls
   taking turns), the ratio ours/diffrax per step, force evaluations per step (ours:
   1 for leapfrog, 3 for yoshida4 and ruth4; SemiImplicitEuler: 1), and each method's
   relative energy error at the end (the symplectic Euler is order 1).
2. Equal accuracy. The same system over 200,000 days (the book's span) with a few
   step sizes per method, saving every 200 days: wall time, the largest relative
   energy error and the position error at the end (against kahanli8 at dt = 5 days),
   and, for each of ours, the speed-up over SemiImplicitEuler at dt = 10 days by the
   fastest step size whose energy and position errors are both no larger.
3. Energy. Kepler e = 0.5 in (q, p) form, 200 steps per orbit, 10^4 orbits (2 x 10^6
   steps; 10^3 orbits with --quick), saves every 997 steps (all phases of the orbit):
   max |H - H0| overall, in the first and in the last tenth, for yoshida4, ruth4 and
   leapfrog; and tsit5 at the same force budget (600 per orbit) for contrast.

Usage (from the repository root):

    python benchmarks/bench_symplectic.py           # full run
    python benchmarks/bench_symplectic.py --quick   # smoke test: shorter runs, few repeats

Prints Markdown tables and writes them as JSON to benchmarks/results/symplectic.json
(symplectic_quick.json with --quick). See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import traceback
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import diffrax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from _common import fmt, machine, markdown_table, median_times, start_run  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
import problems  # noqa: E402
import solvers  # noqa: E402

DT = 10.0  # days
OURS = ("leapfrog", "yoshida4", "ruth4")
FORCES_PER_STEP = {"leapfrog": 1, "yoshida4": 3, "ruth4": 3, "diffrax SemiImplicitEuler": 1}
ORDER = {"leapfrog": 2, "yoshida4": 4, "ruth4": 4, "diffrax SemiImplicitEuler": 1}
ERRORS = {}


def record_failure(what):
    ERRORS[what] = traceback.format_exc()
    print(f"!! '{what}' failed:\n{ERRORS[what]}", file=sys.stderr)


# ------------------------------------------------------------------- 1. throughput


def velocity(t, p, params):
    return p / params["masses"][:, None]


def force(t, q, params):
    masses = params["masses"]
    difference = q[None, :, :] - q[:, None, :]
    squared = jnp.sum(difference**2, axis=-1)
    self_pair = jnp.eye(q.shape[0], dtype=bool)
    inverse_cube = jnp.where(self_pair, 0.0, jnp.where(self_pair, 1.0, squared) ** -1.5)
    weights = params["G"] * masses[:, None] * masses[None, :] * inverse_cube
    return jnp.sum(weights[:, :, None] * difference, axis=1)


def field(t, y, params):
    q, p = y
    return (velocity(t, p, params), force(t, q, params))


def build_ours(method, steps, params):
    def run(y0):
        sol = solvers.solve(field, y0, (0.0, steps * DT), params, method=method, dt=DT)
        return jax.tree.map(lambda leaf: leaf[-1], sol.ys)

    return jax.jit(run)


def build_diffrax(steps, params):
    terms = (diffrax.ODETerm(velocity), diffrax.ODETerm(force))

    def run(y0):
        sol = diffrax.diffeqsolve(
            terms,
            diffrax.SemiImplicitEuler(),
            0.0,
            steps * DT,
            DT,
            y0,
            args=params,
            saveat=diffrax.SaveAt(t1=True),
            stepsize_controller=diffrax.ConstantStepSize(),
            max_steps=steps,
        )
        return jax.tree.map(lambda leaf: leaf[-1], sol.ys)

    return jax.jit(run)


def measure_throughput(steps, repeats):
    prob = problems.outer_solar_system()
    params, y0 = prob.params, prob.y0
    builds = {name: build_ours(name, steps, params) for name in OURS}
    builds["diffrax SemiImplicitEuler"] = build_diffrax(steps, params)
    compile_s, compiled = {}, {}
    for name, fn in builds.items():
        start = time.perf_counter()
        compiled[name] = fn.lower(y0).compile()
        compile_s[name] = time.perf_counter() - start
    calls = {name: (lambda fn=fn: fn(y0)) for name, fn in compiled.items()}
    times = median_times(calls, repeats=repeats)
    energy0 = float(prob.hamiltonian(*y0, params))
    rows = {}
    for name, fn in compiled.items():
        q, p = fn(y0)
        rows[name] = {
            "time_s": times[name],
            "time_per_step_us": 1e6 * times[name] / steps,
            "steps_per_s": steps / times[name],
            "compile_s": compile_s[name],
            "force_evaluations_per_step": FORCES_PER_STEP[name],
            "order": ORDER[name],
            "relative_energy_error_at_end": abs(
                float(prob.hamiltonian(q, p, params)) / energy0 - 1
            ),
            "jupiter_position_at_end": np.asarray(q[1]).tolist(),
        }
    base = rows["diffrax SemiImplicitEuler"]["steps_per_s"]
    for name in OURS:
        rows[name]["step_throughput_vs_diffrax_semi_implicit_euler"] = (
            rows[name]["steps_per_s"] / base
        )
    return {"steps": steps, "dt_days": DT, "span_days": steps * DT, "rows": rows}


def throughput_table(res):
    header = [
        "method",
        "order",
        "force evals / step",
        "µs / step",
        "steps / s",
        "ours / diffrax per step",
        "compile s",
        "rel. energy error at end",
    ]
    out = []
    for name, row in res["rows"].items():
        out.append(
            [
                name,
                str(row["order"]),
                str(row["force_evaluations_per_step"]),
                fmt(row["time_per_step_us"], "{:.3f}"),
                fmt(row["steps_per_s"], "{:,.0f}"),
                fmt(row.get("step_throughput_vs_diffrax_semi_implicit_euler"), "{:.2f}x"),
                fmt(row["compile_s"], "{:.2f}"),
                fmt(row["relative_energy_error_at_end"], "{:.1e}"),
            ]
        )
    return markdown_table(header, out)


# ----------------------------------------------------------- 2. at equal accuracy

SPAN = 200_000.0  # days, Hairer-Lubich-Wanner's
SAVE_EVERY = 200.0  # days; every step size below divides it, so saves are step ends
ACCURACY_STEPS = {
    "diffrax SemiImplicitEuler": (10.0, 5.0),
    "leapfrog": (10.0, 20.0, 25.0),
    "yoshida4": (40.0, 50.0, 100.0),
    "ruth4": (40.0, 50.0, 100.0),
}


def build_ours_saving(method, dt, params, ts):
    def run(y0):
        return solvers.solve(field, y0, (0.0, SPAN), params, method=method, dt=dt, ts=ts).ys

    return jax.jit(run)


def build_diffrax_saving(dt, params, ts):
    terms = (diffrax.ODETerm(velocity), diffrax.ODETerm(force))

    def run(y0):
        return diffrax.diffeqsolve(
            terms,
            diffrax.SemiImplicitEuler(),
            0.0,
            SPAN,
            dt,
            y0,
            args=params,
            saveat=diffrax.SaveAt(ts=ts),
            stepsize_controller=diffrax.ConstantStepSize(),
            max_steps=int(round(SPAN / dt)),
        ).ys

    return jax.jit(run)


def measure_accuracy(repeats):
    """Wall time, largest relative energy error (at 1,000 saves) and position error at
    the end (all bodies, against kahanli8 at dt = 5 days) over 200,000 days, for a
    few step sizes of each method; then the speed-up over diffrax's SemiImplicitEuler
    at dt = 10 days at equal or better accuracy."""
    prob = problems.outer_solar_system()
    params, y0 = prob.params, prob.y0
    ts = jnp.arange(1, int(SPAN / SAVE_EVERY) + 1) * SAVE_EVERY
    reference = solvers.solve(field, y0, (0.0, SPAN), params, method=solvers.KahanLi8(), dt=5.0)
    reference_q = np.asarray(reference.ys[0][-1])
    energy = jax.jit(jax.vmap(prob.hamiltonian, (0, 0, None)))
    energy0 = float(prob.hamiltonian(*y0, params))
    compiled = {}
    for name, steps in ACCURACY_STEPS.items():
        for dt in steps:
            if name.startswith("diffrax"):
                fn = build_diffrax_saving(dt, params, ts)
            else:
                fn = build_ours_saving(name, dt, params, ts)
            compiled[(name, dt)] = fn.lower(y0).compile()
    calls = {key: (lambda fn=fn: fn(y0)) for key, fn in compiled.items()}
    times = median_times(calls, repeats=repeats)
    rows = []
    for (name, dt), fn in compiled.items():
        q, p = fn(y0)
        rows.append(
            {
                "method": name,
                "dt_days": dt,
                "steps": int(round(SPAN / dt)),
                "force_evaluations": int(round(SPAN / dt)) * FORCES_PER_STEP[name],
                "time_s": times[(name, dt)],
                "max_relative_energy_error": float(
                    np.max(np.abs(np.asarray(energy(q, p, params)) / energy0 - 1))
                ),
                "max_position_error_at_end_au": float(
                    np.max(np.abs(np.asarray(q[-1]) - reference_q))
                ),
            }
        )
    base = next(
        r for r in rows if r["method"] == "diffrax SemiImplicitEuler" and r["dt_days"] == 10.0
    )
    speedups = {}
    for name in OURS:
        good = [
            r
            for r in rows
            if r["method"] == name
            and r["max_relative_energy_error"] <= base["max_relative_energy_error"]
            and r["max_position_error_at_end_au"] <= base["max_position_error_at_end_au"]
        ]
        if good:
            best = min(good, key=lambda r: r["time_s"])
            speedups[name] = {
                "dt_days": best["dt_days"],
                "speedup_vs_semi_implicit_euler_dt10": base["time_s"] / best["time_s"],
            }
    return {"span_days": SPAN, "rows": rows, "speedups_at_equal_or_better_accuracy": speedups}


def accuracy_table(res):
    header = [
        "method",
        "dt (days)",
        "force evals",
        "time ms",
        "max rel. energy error",
        "position error at end (AU)",
    ]
    out = [
        [
            r["method"],
            f"{r['dt_days']:g}",
            f"{r['force_evaluations']:,}",
            f"{1e3 * r['time_s']:.1f}",
            f"{r['max_relative_energy_error']:.1e}",
            f"{r['max_position_error_at_end_au']:.1e}",
        ]
        for r in res["rows"]
    ]
    return markdown_table(header, out)


# ------------------------------------------------------------------------ 3. energy


def measure_energy(orbits):
    prob = problems.kepler_qp(e=0.5)
    period = 2 * math.pi
    steps_per_orbit = 200
    dt = period / steps_per_orbit
    total = orbits * steps_per_orbit
    ts = np.arange(0, total + 1, 997) * dt
    energy0 = float(prob.hamiltonian(*prob.y0, prob.params))
    runs = {name: {"method": name, "dt": dt} for name in ("yoshida4", "ruth4", "leapfrog")}
    runs["tsit5 (600 f / orbit)"] = {"method": "tsit5", "rtol": 1e-8, "atol": 1e-11}
    rows = {}
    for name, options in runs.items():
        start = time.perf_counter()
        sol = solvers.solve(
            prob.vector_field,
            prob.y0,
            (0.0, total * dt),
            prob.params,
            ts=ts,
            max_steps=max(total, 100 * orbits),
            **options,
        )
        q, p = jax.block_until_ready(sol.ys)
        seconds = time.perf_counter() - start
        error = np.abs(
            np.asarray(jax.vmap(prob.hamiltonian, (0, 0, None))(q, p, prob.params)) - energy0
        )
        tenth = len(error) // 10
        rows[name] = {
            "steps": int(sol.stats["num_steps"]),
            "f_evaluations": int(sol.stats["num_fevals"]),
            "wall_s_with_compile": seconds,
            "max_abs_energy_error": float(error.max()),
            "first_tenth": float(error[:tenth].max()),
            "last_tenth": float(error[-tenth:].max()),
        }
    return {"orbits": orbits, "eccentricity": 0.5, "steps_per_orbit": steps_per_orbit, "rows": rows}


def energy_table(res):
    header = ["method", "steps", "max |H - H0|", "first tenth", "last tenth", "last / first"]
    out = []
    for name, row in res["rows"].items():
        out.append(
            [
                name,
                f"{row['steps']:,}",
                f"{row['max_abs_energy_error']:.3e}",
                f"{row['first_tenth']:.3e}",
                f"{row['last_tenth']:.3e}",
                f"{row['last_tenth'] / row['first_tenth']:.3f}",
            ]
        )
    return markdown_table(header, out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs, few repeats")
    args = parser.parse_args()
    cfg = (
        {"steps": 20_000, "repeats": 5, "orbits": 1_000}
        if args.quick
        else {"steps": 100_000, "repeats": 15, "orbits": 10_000}
    )
    t_start = time.perf_counter()
    load_start = start_run()
    res = {"config": cfg}
    for key, what, run in (
        ("throughput", "(1) throughput", lambda: measure_throughput(cfg["steps"], cfg["repeats"])),
        ("accuracy", "(2) equal accuracy", lambda: measure_accuracy(cfg["repeats"])),
        ("energy", "(3) energy", lambda: measure_energy(cfg["orbits"])),
    ):
        print(f"[{time.perf_counter() - t_start:6.1f} s] {what} ...", flush=True)
        try:
            res[key] = run()
        except Exception:
            record_failure(what)
    print()
    if "throughput" in res:
        r = res["throughput"]
        print(
            f"Outer solar system, dt = {DT:g} days, {r['steps']:,} steps "
            f"({r['span_days']:,.0f} days), final state only:"
        )
        print()
        print(throughput_table(r))
        print()
    if "accuracy" in res:
        r = res["accuracy"]
        print(
            f"Outer solar system over {r['span_days']:,.0f} days, saves every "
            f"{SAVE_EVERY:g} days; position error against kahanli8 at dt = 5 days:"
        )
        print()
        print(accuracy_table(r))
        print()
        for name, best in r["speedups_at_equal_or_better_accuracy"].items():
            print(
                f"  {name} at dt = {best['dt_days']:g} days: "
                f"{best['speedup_vs_semi_implicit_euler_dt10']:.1f}x faster than "
                "SemiImplicitEuler at dt = 10 days, with smaller energy and position errors"
            )
        print()
    if "energy" in res:
        r = res["energy"]
        print(
            f"Kepler e = {r['eccentricity']}, {r['steps_per_orbit']} steps per orbit, "
            f"{r['orbits']:,} orbits (energy error at saves every 997 steps):"
        )
        print()
        print(energy_table(r))
        print()
    print(f"total wall time {time.perf_counter() - t_start:.1f} s")
    if ERRORS:
        print("\nERRORS (tracebacks above / in the JSON):", list(ERRORS))
    out_dir = REPO_ROOT / "benchmarks" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    out_file = out_dir / ("symplectic_quick.json" if args.quick else "symplectic.json")
    meta = {
        "throughput": "outer_solar_system (Hairer-Lubich-Wanner I.2.4), float64, dt = 10 days, "
        "final state only; ours solvers.solve(method=...), diffrax diffeqsolve with "
        "SemiImplicitEuler, ConstantStepSize, SaveAt(t1=True); jitted, medians of turn-taking "
        "repeats",
        "accuracy": "outer_solar_system over 200,000 days, saves every 200 days, position "
        "reference kahanli8 dt = 5 days",
        "energy": "kepler_qp e=0.5, 200 steps per orbit, saves every 997 steps",
        "load_average_1min_at_start_and_end": [load_start, os.getloadavg()[0]],
        "wall_time_s": time.perf_counter() - t_start,
        "machine": machine(),
        "versions": {"diffrax": diffrax.__version__, "numpy": np.__version__},
    }
    payload = {"meta": meta, "results": res, "errors": ERRORS}
    out_file.write_text(json.dumps(payload, indent=2, default=float))
    print(f"wrote {out_file.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
