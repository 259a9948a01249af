"""Cost of one parameter-fitting step: our adjoints next to diffrax's, and their memory.

Everything runs in one process, on the same machine, float64, Tsit5, rtol=1e-6,
atol=1e-9, the same max_steps (100_000 unless --max-steps) for every implementation:

* **Lotka-Volterra fit** (as in docs/fitting.md): alpha, beta, gamma, delta =
  [1.5, 1, 3, 1], y0 = [1, 1], ts = linspace(0, 10, 101), data = the solution plus
  N(0, 0.05^2) noise on both components; params0 = [1.2, 0.8, 2.5, 1.2]; loss = mean
  squared residual (fit's "l2"); optax.adam(0.05).
* **Lorenz-63 trajectory loss** (the problem of bench_lorenz.py and adjoint_memory.py,
  whose vector field, y0 and save times are reused): t in [0, 10], 101 save times,
  reference = our solve at sigma, rho, beta = 10, 28, 8/3 with rtol=1e-10,
  atol=1e-12; params0 = {sigma: 10.5, rho: 27.5, beta: 2.7}; loss = sum of squares of
  (trajectory - reference); optax.adam(1e-2).

For each problem and each implementation -- ``solvers.solve(..., adjoint=...)`` with
"checkpoint", "direct" and "backsolve", and ``diffrax.diffeqsolve`` (Tsit5,
PIDController, SaveAt(ts)) with its default RecursiveCheckpointAdjoint and with
BacksolveAdjoint -- it measures

1. the **optimisation step**: ``jax.jit`` of (loss, gradient, optax update), median (and
   minimum, which is steadier on a loaded machine) wall time over ``--repeats`` rounds
   after a warm-up, all callables taking turns in each round
   (benchmarks/_common.turn_times, as median_times), at fixed (params0, opt_state);
2. the **forward** loss alone (``jax.jit``), timed in the same rounds, and the ratio
   step / forward (target: <= 4 for ours);
3. the ratio diffrax default / ours for the step (target: >= 3 for Lorenz);
4. the solver's step counts, the compile time and XLA scratch memory
   (``temp_size_in_bytes``) of the compiled step;
5. the agreement of the gradients: max |g - g_ref| / max |g_ref| against ours
   "checkpoint" and against diffrax's default. (The discrete adjoints differentiate the
   computed solution, "backsolve" and BacksolveAdjoint the continuous one; Lorenz over
   [0, 10] is chaotic, so agreement there is only to rtol times a large factor.)
6. for Lotka-Volterra, ``solvers.fit``'s own compiled step (default adjoint), as
   (time of fit(steps=1 + K) - time of fit(steps=1)) / K after a compiling warm-up, which
   includes fit's per-step host round trip (loss check, progress logic).

Then the memory of the gradient as max_steps grows (1e3, 1e4, 1e5), with the builders of
benchmarks/adjoint_memory.py (Lorenz, loss = sum of squares of the saved states):
``temp_size_in_bytes`` of ``jit(grad(loss)).lower(params).compile()`` (compile only).

Usage (from the repository root, with the project's virtual environment):

    python benchmarks/bench_fit.py                 # full run: ~3 min on 2 idle cores (compiles)
    python benchmarks/bench_fit.py --quick         # smoke test: few repeats
    python benchmarks/bench_fit.py --save          # also write benchmarks/results/fit.json
    python benchmarks/bench_fit.py --repeats 101 --max-steps 4096 --lorenz-t1 1

With --save the tables and raw numbers go to benchmarks/results/fit.json
(fit_quick.json with --quick).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import diffrax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from jax.flatten_util import ravel_pytree  # noqa: E402

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(BENCH_DIR))

import adjoint_memory  # noqa: E402  (benchmarks/adjoint_memory.py: Lorenz and its builders)
from _common import fmt, machine, markdown_table, turn_times  # noqa: E402

import solvers  # noqa: E402

RTOL, ATOL = 1e-6, 1e-9
STRATEGIES = ["checkpoint", "direct", "backsolve"]
DIFFRAX_ADJOINTS = {
    "RecursiveCheckpoint": diffrax.RecursiveCheckpointAdjoint,
    "Backsolve": diffrax.BacksolveAdjoint,
}
DEFAULT_DIFFRAX = "diffrax RecursiveCheckpoint"
REFERENCE = "ours checkpoint"


# ---------------------------------------------------------------------------- problems


def lotka_volterra(t, y, params):
    alpha, beta, gamma, delta = params
    prey, predator = y[0], y[1]
    return jnp.stack(
        [alpha * prey - beta * prey * predator, delta * prey * predator - gamma * predator]
    )


def lv_case():
    y0 = jnp.array([1.0, 1.0])
    ts = jnp.linspace(0.0, 10.0, 101)
    true_params = jnp.array([1.5, 1.0, 3.0, 1.0])
    clean = solvers.solve(lotka_volterra, y0, (0.0, 10.0), true_params, ts=ts).ys
    data = clean + 0.05 * jax.random.normal(jax.random.key(0), clean.shape)
    return {
        "name": "Lotka-Volterra",
        "description": "Lotka-Volterra, 4 params, y0=[1,1], ts=linspace(0,10,101), "
        "data = solution + N(0, 0.05^2); loss = mean squared residual",
        "f": lotka_volterra,
        "y0": y0,
        "t_span": (0.0, 10.0),
        "ts": ts,
        "data": data,
        "params0": jnp.array([1.2, 0.8, 2.5, 1.2]),
        "loss": lambda ys, data: jnp.mean((ys - data) ** 2),
        "optimizer": optax.adam(0.05),
    }


def lorenz_case(t1):
    t0 = adjoint_memory.T0
    ts = jnp.linspace(t0, t1, 101)
    reference = solvers.solve(
        adjoint_memory.lorenz,
        adjoint_memory.Y0,
        (t0, t1),
        adjoint_memory.PARAMS,
        ts=ts,
        rtol=1e-10,
        atol=1e-12,
    ).ys
    params0 = {"sigma": jnp.float64(10.5), "rho": jnp.float64(27.5), "beta": jnp.float64(2.7)}
    return {
        "name": "Lorenz-63",
        "description": f"Lorenz-63, y0=[1,1,1], ts=linspace({t0:g},{t1:g},101), reference at "
        "(10, 28, 8/3); loss = sum of squares of (trajectory - reference)",
        "f": adjoint_memory.lorenz,
        "y0": adjoint_memory.Y0,
        "t_span": (t0, t1),
        "ts": ts,
        "data": reference,
        "params0": params0,
        "loss": lambda ys, data: jnp.sum((ys - data) ** 2),
        "optimizer": optax.adam(1e-2),
    }


# ---------------------------------------------------------------------------- builders
# Each returns params -> (loss, num_steps, num_accepted, num_rejected).


def ours(case, adjoint, max_steps):
    def run(params):
        sol = solvers.solve(
            case["f"],
            case["y0"],
            case["t_span"],
            params,
            method="tsit5",
            ts=case["ts"],
            rtol=RTOL,
            atol=ATOL,
            max_steps=max_steps,
            adjoint=adjoint,
        )
        s = sol.stats
        return case["loss"](sol.ys, case["data"]), (
            s["num_steps"],
            s["num_accepted"],
            s["num_rejected"],
        )

    return run


def theirs(case, adjoint, max_steps):
    term = diffrax.ODETerm(case["f"])

    def run(params):
        sol = diffrax.diffeqsolve(
            term,
            diffrax.Tsit5(),
            case["t_span"][0],
            case["t_span"][1],
            None,
            case["y0"],
            args=params,
            saveat=diffrax.SaveAt(ts=case["ts"]),
            stepsize_controller=diffrax.PIDController(rtol=RTOL, atol=ATOL),
            max_steps=max_steps,
            adjoint=adjoint(),
        )
        s = sol.stats
        return case["loss"](sol.ys, case["data"]), (
            s["num_steps"],
            s["num_accepted_steps"],
            s["num_rejected_steps"],
        )

    return run


def implementations(case, max_steps):
    impls = {f"ours {name}": ours(case, name, max_steps) for name in STRATEGIES}
    for name, adjoint in DIFFRAX_ADJOINTS.items():
        impls[f"diffrax {name}"] = theirs(case, adjoint, max_steps)
    return impls


def make_step(run, optimizer):
    """One optimisation step: loss and gradient through the solver, then the Optax update."""

    def step(params, opt_state):
        (value, _), grads = jax.value_and_grad(run, has_aux=True)(params)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, value, grads

    return step


def compile_timed(fn, *args):
    start = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    return compiled, time.perf_counter() - start


def rel_diff(value, reference):
    a, b = ravel_pytree(value)[0], ravel_pytree(reference)[0]
    return float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b)))


# ---------------------------------------------------------------------------- measuring


def measure_case(case, max_steps, repeats, log):
    params0, optimizer = case["params0"], case["optimizer"]
    opt_state = optimizer.init(params0)
    steps, forwards, compile_s, scratch = {}, {}, {}, {}
    for key, run in implementations(case, max_steps).items():
        log(f"{case['name']}: compiling {key}")
        steps[key], compile_s[key] = compile_timed(make_step(run, optimizer), params0, opt_state)
        forwards[key], _ = compile_timed(run, params0)
        scratch[key] = steps[key].memory_analysis().temp_size_in_bytes

    calls = {("step", k): (lambda fn=fn: fn(params0, opt_state)) for k, fn in steps.items()}
    calls.update({("forward", k): (lambda fn=fn: fn(params0)) for k, fn in forwards.items()})
    log(f"{case['name']}: timing {len(calls)} callables x {repeats} rounds")
    rounds = turn_times(calls, repeats)
    times = {k: statistics.median(v) for k, v in rounds.items()}
    minima = {k: min(v) for k, v in rounds.items()}

    grads = {k: fn(params0, opt_state)[3] for k, fn in steps.items()}
    results = {}
    for key in steps:
        loss, counts = forwards[key](params0)
        results[key] = {
            "forward_s": times[("forward", key)],
            "step_s": times[("step", key)],
            "forward_min_s": minima[("forward", key)],
            "step_min_s": minima[("step", key)],
            "step_over_forward": times[("step", key)] / times[("forward", key)],
            "step_over_forward_min": minima[("step", key)] / minima[("forward", key)],
            "diffrax_default_over_this": times[("step", DEFAULT_DIFFRAX)] / times[("step", key)],
            "diffrax_default_over_this_min": minima[("step", DEFAULT_DIFFRAX)]
            / minima[("step", key)],
            "loss": float(loss),
            "num_steps": int(counts[0]),
            "num_accepted": int(counts[1]),
            "num_rejected": int(counts[2]),
            "step_compile_s": compile_s[key],
            "step_scratch_bytes": int(scratch[key]),
            "grad": np.asarray(ravel_pytree(grads[key])[0]).tolist(),
            "grad_rel_diff_vs_ours_checkpoint": rel_diff(grads[key], grads[REFERENCE]),
            "grad_rel_diff_vs_diffrax_default": rel_diff(grads[key], grads[DEFAULT_DIFFRAX]),
        }
    return results


def measure_fit(case, max_steps, repeats, extra_steps, log):
    """Per-step time of solvers.fit (default adjoint) by differencing two fit lengths."""
    optimizer = case["optimizer"]  # one object: fit caches its compiled step on it

    def run(steps):
        start = time.perf_counter()
        result = solvers.fit(
            case["f"],
            case["y0"],
            case["ts"],
            case["data"],
            case["params0"],
            optimizer=optimizer,
            steps=steps,
            loss="l2",
            progress=False,
            method="tsit5",
            rtol=RTOL,
            atol=ATOL,
            max_steps=max_steps,
        )
        jax.block_until_ready(result.params)
        return time.perf_counter() - start, result

    log(f"{case['name']}: solvers.fit warm-up (compiles its step)")
    compile_and_one, first = run(1)
    short, long = [], []
    for _ in range(repeats):
        short.append(run(1)[0])
        long.append(run(1 + extra_steps)[0])
    per_step = (statistics.median(long) - statistics.median(short)) / extra_steps
    return {
        "per_step_s": per_step,
        "per_step_min_s": (min(long) - min(short)) / extra_steps,
        "fit_1_step_s": statistics.median(short),
        f"fit_{1 + extra_steps}_steps_s": statistics.median(long),
        "first_call_s": compile_and_one,
        "repeats": repeats,
        "first_loss": float(first.losses[0]),
    }


# ---------------------------------------------------------------------------- tables

TIMING_HEADER = [
    "implementation",
    "forward [ms]",
    "step [ms]",
    "step / forward",
    "diffrax default / this",
    "steps (acc/rej)",
    "grad rel. diff vs ours checkpoint",
    "vs diffrax default",
    "step compile [s]",
    "step scratch [kB]",
]


def pair(median, minimum, spec="{:.3g}"):
    """'median (min)'."""
    return f"{fmt(median, spec)} ({fmt(minimum, spec)})"


def timing_rows(results, fit_result=None):
    rows = []
    for key, r in results.items():
        rows.append(
            [
                key,
                pair(1e3 * r["forward_s"], 1e3 * r["forward_min_s"]),
                pair(1e3 * r["step_s"], 1e3 * r["step_min_s"]),
                pair(r["step_over_forward"], r["step_over_forward_min"], "{:.2f}"),
                pair(r["diffrax_default_over_this"], r["diffrax_default_over_this_min"], "{:.2f}"),
                f"{r['num_steps']} ({r['num_accepted']}/{r['num_rejected']})",
                fmt(r["grad_rel_diff_vs_ours_checkpoint"], "{:.1e}"),
                fmt(r["grad_rel_diff_vs_diffrax_default"], "{:.1e}"),
                fmt(r["step_compile_s"], "{:.2f}"),
                fmt(r["step_scratch_bytes"] / 1e3, "{:.1f}"),
            ]
        )
    if fit_result is not None:
        default, ours_forward = results[DEFAULT_DIFFRAX], results[REFERENCE]
        per_step, per_step_min = fit_result["per_step_s"], fit_result["per_step_min_s"]
        rows.append(
            [
                "solvers.fit step (auto)",
                "-",
                pair(1e3 * per_step, 1e3 * per_step_min),
                pair(
                    per_step / ours_forward["forward_s"],
                    per_step_min / ours_forward["forward_min_s"],
                    "{:.2f}",
                ),
                pair(default["step_s"] / per_step, default["step_min_s"] / per_step_min, "{:.2f}"),
            ]
            + ["-"] * 5
        )
    return rows


def memory_rows(memory):
    rows = []
    for name, sizes in memory.items():
        values = [sizes[m] for m in adjoint_memory.MEMORY_MAX_STEPS]
        rows.append(
            [name]
            + [fmt(v / 1e3, "{:,.1f}") for v in values]
            + [fmt(values[-1] / values[0], "{:.1f}")]
        )
    return rows


def targets(all_results):
    """{target: [met on medians, met on minima]}."""
    out = {}
    for problem, results in all_results.items():
        for key, r in results.items():
            if key.startswith("ours"):
                out[f"{problem}: {key} step / forward <= 4"] = [
                    r["step_over_forward"] <= 4,
                    r["step_over_forward_min"] <= 4,
                ]
    for key, r in all_results["Lorenz-63"].items():
        if key.startswith("ours"):
            out[f"Lorenz-63: diffrax default / {key} >= 3"] = [
                r["diffrax_default_over_this"] >= 3,
                r["diffrax_default_over_this_min"] >= 3,
            ]
    return out


# ---------------------------------------------------------------------------- main


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few repeats (smoke test)")
    parser.add_argument("--repeats", type=int, default=None, help="timing rounds (default 51)")
    parser.add_argument("--max-steps", type=int, default=100_000, help="max_steps for all solves")
    parser.add_argument("--lorenz-t1", type=float, default=adjoint_memory.T1, help="default 10")
    parser.add_argument("--no-memory", action="store_true", help="skip the max_steps memory table")
    parser.add_argument("--save", action="store_true", help="write benchmarks/results/fit.json")
    args = parser.parse_args()
    repeats = args.repeats or (5 if args.quick else 51)
    fit_repeats, fit_extra = (2, 20) if args.quick else (5, 100)

    t_start = time.perf_counter()
    load_start = os.getloadavg()[0]

    def log(message):
        print(f"[{time.perf_counter() - t_start:6.1f} s] {message}", flush=True)

    if load_start > 0.5:
        print(f"note: 1-min load average {load_start:.2f} at the start: timings will be noisy.")
    jax.block_until_ready(jax.jit(lambda x: x + 1)(jnp.ones(3)))  # backend start-up

    cases = {"Lotka-Volterra": lv_case(), "Lorenz-63": lorenz_case(args.lorenz_t1)}
    results = {
        name: measure_case(case, args.max_steps, repeats, log) for name, case in cases.items()
    }
    fit_result = measure_fit(cases["Lotka-Volterra"], args.max_steps, fit_repeats, fit_extra, log)
    memory = None if args.no_memory else adjoint_memory.memory_sizes(log)
    checks = targets(results)

    print()
    print(f"machine: {machine()}")
    print(
        f"Tsit5, rtol={RTOL:g}, atol={ATOL:g}, max_steps={args.max_steps:,}, float64; "
        f"times: median (min) of {repeats} rounds, callables taking turns; "
        "step = jit(loss + grad + adam update)"
    )
    for name, case in cases.items():
        print(f"\n### {name}: {case['description']}\n")
        fit_row = fit_result if name == "Lotka-Volterra" else None
        print(markdown_table(TIMING_HEADER, timing_rows(results[name], fit_row)))
    fr = fit_result
    print(
        f"\nsolvers.fit (LV, default adjoint): per step {1e3 * fr['per_step_s']:.3g} ms = "
        f"(median fit(steps={1 + fit_extra}) {fr[f'fit_{1 + fit_extra}_steps_s']:.3f} s - "
        f"median fit(steps=1) {fr['fit_1_step_s']:.3f} s) / {fit_extra}, {fit_repeats} repeats; "
        f"first call incl. compile {fr['first_call_s']:.2f} s; its first loss "
        f"{fr['first_loss']:.6g} vs this script's {results['Lotka-Volterra'][REFERENCE]['loss']:.6g}"
    )
    if memory is not None:
        print(
            "\n### Scratch memory of jit(grad(loss)) [kB] against max_steps "
            "(adjoint_memory.py's Lorenz over [0, 10])\n"
        )
        header = (
            ["strategy"]
            + [f"max_steps={m:,}" for m in adjoint_memory.MEMORY_MAX_STEPS]
            + ["1e5 / 1e3"]
        )
        print(markdown_table(header, memory_rows(memory)))
    print("\ntargets (on medians / on minima):")
    for key, (on_median, on_min) in checks.items():
        word = {True: "met    ", False: "NOT met"}
        print(f"  {word[on_median]} / {word[on_min]}  {key}")
    print("\ngradients (flattened; LV: alpha, beta, gamma, delta; Lorenz: beta, rho, sigma):")
    for name, res in results.items():
        for key, r in res.items():
            print(f"  {name:<15} {key:<28} {np.array2string(np.array(r['grad']), precision=6)}")
    wall = time.perf_counter() - t_start
    print(
        f"\ntotal wall time {wall:.1f} s, load average {load_start:.2f} -> {os.getloadavg()[0]:.2f}"
    )

    if args.save:
        out_dir = BENCH_DIR / "results"
        out_dir.mkdir(parents=True, exist_ok=True)
        out_file = out_dir / ("fit_quick.json" if args.quick else "fit.json")
        meta = {
            "problems": {name: case["description"] for name, case in cases.items()},
            "method": "tsit5 (ours) / diffrax.Tsit5 + PIDController",
            "rtol": RTOL,
            "atol": ATOL,
            "max_steps": args.max_steps,
            "repeats": repeats,
            "fit_timing": {"repeats": fit_repeats, "extra_steps": fit_extra},
            "step": "jax.jit of value_and_grad(loss) + optimizer.update + optax.apply_updates",
            "memory": "temp_size_in_bytes of jit(grad(loss)) from adjoint_memory.py builders",
            "load_average_1min_at_start_and_end": [load_start, os.getloadavg()[0]],
            "wall_time_s": wall,
            "machine": machine(),
            "versions": {
                "diffrax": diffrax.__version__,
                "optax": optax.__version__,
                "numpy": np.__version__,
            },
        }
        payload = {
            "meta": meta,
            "timing": results,
            "fit": fit_result,
            "memory_temp_bytes": memory,
            "targets": checks,
        }
        out_file.write_text(json.dumps(payload, indent=2, default=float))
        print(f"wrote {out_file.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
