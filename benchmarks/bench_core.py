"""Core features against diffrax: saving under vmap, compile time, gradients, events, dense output.

Everything runs in one process on the same machine. The Lorenz rows use the problem of
`bench_lorenz.py`:

    Lorenz-63, sigma=10, rho=28, beta=8/3, y0=[1, 1, 1], t in [0, 10], float64,
    rtol=1e-6, atol=1e-9, max_steps=100_000; ours: solvers.solve (tsit5); diffrax:
    diffeqsolve(ODETerm(f), Tsit5(), ..., stepsize_controller=PIDController(rtol, atol)).

1. saving under vmap: jax.jit(jax.vmap(...)) over rho = linspace(10, 40, N), N = 2,000
   and 200, keeping the final state only, 101 or 1,001 save points;
2. one jitted solve with 101 and with 1,001 save points;
3. compile times (single solve, ensemble, jit(grad(loss)));
4. the gradient of loss = sum of squares of the 101 saved states w.r.t. (sigma, rho, beta);
5. events: a bouncing ball's impact time, its error and its derivative w.r.t. g;
6. dense output: the cost of dense=True and the error of sol.evaluate (harmonic oscillator).

Usage (from the repository root):

    python benchmarks/bench_core.py           # full run
    python benchmarks/bench_core.py --quick   # smoke test: same problems, few repeats

Prints Markdown tables and writes them as JSON to benchmarks/results/core.json
(core_quick.json with --quick). See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import traceback
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import diffrax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optimistix as optx  # noqa: E402
from _common import (  # noqa: E402
    default_params,
    fmt,
    machine,
    make_lorenz,
    markdown_table,
    median_times,
    start_run,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
import solvers  # noqa: E402

# --------------------------------------------------------------------------- problem

SIGMA, RHO, BETA = 10.0, 28.0, 8.0 / 3.0
T0, T1 = 0.0, 10.0
RTOL, ATOL = 1e-6, 1e-9
MAX_STEPS = 100_000
Y0 = np.array([1.0, 1.0, 1.0])
SAVES = (None, 101, 1001)  # None: final state only

ERRORS = {}


def record_failure(what):
    tb = traceback.format_exc()
    ERRORS[what] = tb
    print(f"!! '{what}' failed:\n{tb}", file=sys.stderr)


def save_times(n_save):
    return None if n_save is None else jnp.linspace(T0, T1, n_save)


# ------------------------------------------------------------- builders (fresh functions)
# Each builder returns a *new* function, so compile times are honest. The functions
# return (saved states, accepted steps).


def ours_lorenz(n_save):
    def build():
        f, y0, ts = make_lorenz(), jnp.asarray(Y0), save_times(n_save)

        def run(params):
            sol = solvers.solve(
                f,
                y0,
                (T0, T1),
                params,
                ts=ts,
                rtol=RTOL,
                atol=ATOL,
                max_steps=MAX_STEPS,
                throw=False,
            )
            return sol.ys, sol.stats["num_accepted"]

        return run

    return build


def diffrax_lorenz(n_save):
    def build():
        term, y0, ts = diffrax.ODETerm(make_lorenz()), jnp.asarray(Y0), save_times(n_save)
        saveat = diffrax.SaveAt(t1=True) if ts is None else diffrax.SaveAt(ts=ts)

        def run(params):
            sol = diffrax.diffeqsolve(
                term,
                diffrax.Tsit5(),
                T0,
                T1,
                None,
                y0,
                args=params,
                saveat=saveat,
                stepsize_controller=diffrax.PIDController(rtol=RTOL, atol=ATOL),
                max_steps=MAX_STEPS,
                throw=False,
            )
            return sol.ys, sol.stats["num_accepted_steps"]

        return run

    return build


LORENZ = {"ours": ours_lorenz, "diffrax": diffrax_lorenz}


def ensemble(lib, n_save):
    """jit(vmap(...)) over rho (sigma and beta fixed)."""

    def build():
        run = LORENZ[lib](n_save)()

        def one(rho):
            return run({"sigma": jnp.float64(SIGMA), "rho": rho, "beta": jnp.float64(BETA)})

        return jax.vmap(one)

    return build


def single(lib, n_save):
    def build():
        run = LORENZ[lib](n_save)()
        return lambda params: run(params)[0]

    return build


def gradient(lib):
    """grad of the sum of squares of the 101 saved states w.r.t. the params dict
    (default adjoints: ours "auto", diffrax RecursiveCheckpointAdjoint)."""

    def build():
        run = LORENZ[lib](101)()
        return jax.grad(lambda params: jnp.sum(run(params)[0] ** 2))

    return build


# ------------------------------------------------------------------------ timing


def compile_times(builds, *args, repeats):
    """Median seconds of `jax.jit(build()).lower(*args).compile()` for each builder.

    Trace + lower + XLA compile, after `jax.clear_caches()` and with a new function
    object each time (nothing reused); the builders take turns. Returns
    ({key: seconds}, {key: compiled executable}).
    """
    times = {key: [] for key in builds}
    compiled = {}
    for _ in range(repeats):
        for key, build in builds.items():
            jax.clear_caches()
            fn = build()
            start = time.perf_counter()
            compiled[key] = jax.jit(fn).lower(*args).compile()
            times[key].append(time.perf_counter() - start)
    return {key: statistics.median(ts) for key, ts in times.items()}, compiled


def ms(seconds):
    return None if seconds is None else 1e3 * seconds


def ratio(a, b):
    return None if a is None or b in (None, 0) else a / b


# ------------------------------------------------------------------ 1. saving under vmap


def measure_saving(n, repeats):
    rhos = jnp.asarray(np.linspace(10.0, 40.0, n))
    calls, compile_once, accepted, finals = {}, {}, {}, {}
    for lib in LORENZ:
        for n_save in SAVES:
            key = (lib, n_save)
            start = time.perf_counter()
            fn = jax.jit(ensemble(lib, n_save)()).lower(rhos).compile()
            compile_once[key] = time.perf_counter() - start
            calls[key] = lambda fn=fn: fn(rhos)
    times = median_times(calls, repeats=repeats)
    for key, call in calls.items():
        ys, acc = call()
        accepted[key] = float(np.mean(np.asarray(acc)))
        finals[key] = np.asarray(ys)[:, -1]
    # Work and agreement check: members that settle without transient chaos (rho < 13.9).
    calm = np.linspace(10.0, 40.0, n) < 13.9
    ref = finals[("diffrax", None)][calm]
    agreement = {
        f"{lib}/{n_save}": float(np.max(np.abs(finals[(lib, n_save)][calm] - ref)))
        for lib, n_save in finals
    }
    return {
        "n": n,
        "time_s": {f"{lib}/{n_save}": t for (lib, n_save), t in times.items()},
        "compile_once_s": {f"{lib}/{s}": t for (lib, s), t in compile_once.items()},
        "mean_accepted": {f"{lib}/{s}": a for (lib, s), a in accepted.items()},
        "final_state_vs_diffrax_final_rho_lt_13.9": agreement,
    }


# ----------------------------------------------------- 2-4. single solves, compile, grad


def measure_single(cfg):
    params = default_params()
    builds = {(lib, s): single(lib, s) for lib in LORENZ for s in (101, 1001)}
    compiled = {key: jax.jit(b()).lower(params).compile() for key, b in builds.items()}
    calls = {key: (lambda fn=fn: fn(params)) for key, fn in compiled.items()}
    times = median_times(calls, repeats=cfg["repeats_single"])
    ys = {key: np.asarray(fn(params)) for key, fn in compiled.items()}
    # agreement of the 101 saves up to t = 2 (before chaos amplifies differences)
    diff = float(np.max(np.abs(ys[("ours", 101)][:21] - ys[("diffrax", 101)][:21])))
    return {
        "time_s": {f"{lib}/{s}": t for (lib, s), t in times.items()},
        "max_abs_diff_ours_vs_diffrax_t_le_2": diff,
    }


def measure_compile(cfg):
    params = default_params()
    rhos = jnp.asarray(np.linspace(10.0, 40.0, cfg["n"][0]))
    reps = cfg["repeats_compile"]
    out = {}
    out["single"], _ = compile_times(
        {lib: single(lib, 101) for lib in LORENZ}, params, repeats=reps
    )
    out["ensemble"], _ = compile_times(
        {lib: ensemble(lib, None) for lib in LORENZ}, rhos, repeats=reps
    )
    out["grad"], compiled = compile_times(
        {lib: gradient(lib) for lib in LORENZ}, params, repeats=reps
    )
    return out, compiled


def measure_grad(compiled, cfg):
    params = default_params()
    calls = {key: (lambda fn=fn: fn(params)) for key, fn in compiled.items()}
    times = median_times(calls, repeats=cfg["repeats_grad"])
    grads = {key: {k: float(v) for k, v in fn(params).items()} for key, fn in compiled.items()}
    return {"time_s": times, "grads": grads}


# -------------------------------------------------------------------------- 5. events

H0, G = 10.0, 9.81
BALL_RTOL, BALL_ATOL = 1e-10, 1e-12
BALL_T1 = 3.0  # past the impact at sqrt(2 h / g) = 1.43 s; the terminal event ends the solve


def ball(t, y, p):
    return jnp.stack([y[1], -p["g"] * jnp.ones_like(y[1])])


def ours_impact(g):
    sol = solvers.solve(
        ball,
        jnp.array([H0, 0.0]),
        (0.0, BALL_T1),
        {"g": g},
        rtol=BALL_RTOL,
        atol=BALL_ATOL,
        throw=False,
        event=solvers.Event(lambda t, y, p: y[0], direction=-1, terminal=True),
    )
    return sol.events[0].ts[0]


def diffrax_impact(g):
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(ball),
        diffrax.Tsit5(),
        0.0,
        BALL_T1,
        None,
        jnp.array([H0, 0.0]),
        args={"g": g},
        saveat=diffrax.SaveAt(t1=True),
        stepsize_controller=diffrax.PIDController(rtol=BALL_RTOL, atol=BALL_ATOL),
        event=diffrax.Event(
            lambda t, y, args, **kwargs: y[0],
            root_finder=optx.Newton(rtol=1e-12, atol=1e-12),
            direction=False,  # downcrossing
        ),
        max_steps=MAX_STEPS,
        throw=False,
    )
    return sol.ts[-1]


def measure_events(cfg):
    g = jnp.float64(G)
    exact_t = float(np.sqrt(2 * H0 / G))
    exact_dt = float(-0.5 * np.sqrt(2 * H0) * G**-1.5)
    fns = {"ours": ours_impact, "diffrax": diffrax_impact}
    out = {"time_s": {}, "impact_error": {}, "grad_error": {}, "grad_time_s": {}, "compile_s": {}}
    calls, gcalls = {}, {}
    for lib, fn in fns.items():
        try:
            start = time.perf_counter()
            solve_c = jax.jit(fn).lower(g).compile()
            grad_c = jax.jit(jax.grad(fn)).lower(g).compile()
            out["compile_s"][lib] = time.perf_counter() - start
            out["impact_error"][lib] = abs(float(solve_c(g)) - exact_t)
            out["grad_error"][lib] = abs(float(grad_c(g)) - exact_dt)
            calls[lib] = lambda c=solve_c: c(g)
            gcalls[lib] = lambda c=grad_c: c(g)
        except Exception:
            record_failure(f"events: {lib}")
    out["time_s"] = median_times(calls, repeats=cfg["repeats_single"])
    out["grad_time_s"] = median_times(gcalls, repeats=cfg["repeats_single"])
    out["exact"] = {"t_impact": exact_t, "dt_dg": exact_dt}
    return out


# -------------------------------------------------------------------- 6. dense output

OSC_T1, OSC_RTOL, OSC_ATOL = 10.0, 1e-8, 1e-10
EVAL_TS = np.linspace(0.0, OSC_T1, 1000)


def oscillator(t, y, p):
    return jnp.stack([y[1], -y[0]])


def ours_osc(dense, evaluate, max_steps=MAX_STEPS):
    def run(y0):
        sol = solvers.solve(
            oscillator,
            y0,
            (0.0, OSC_T1),
            None,
            rtol=OSC_RTOL,
            atol=OSC_ATOL,
            max_steps=max_steps,
            dense=dense,
            throw=False,
        )
        if evaluate:
            return sol.evaluate(jnp.asarray(EVAL_TS))
        return sol if dense else sol.ys

    return run


def diffrax_osc(dense, evaluate, max_steps=MAX_STEPS):
    def run(y0):
        sol = diffrax.diffeqsolve(
            diffrax.ODETerm(oscillator),
            diffrax.Tsit5(),
            0.0,
            OSC_T1,
            None,
            y0,
            saveat=diffrax.SaveAt(dense=True) if dense else diffrax.SaveAt(t1=True),
            stepsize_controller=diffrax.PIDController(rtol=OSC_RTOL, atol=OSC_ATOL),
            max_steps=max_steps,
            throw=False,
        )
        if evaluate:
            return jax.vmap(sol.evaluate)(jnp.asarray(EVAL_TS))
        return sol if dense else sol.ys

    return run


def measure_dense(cfg):
    y0 = jnp.array([1.0, 0.0])
    exact = np.stack([np.cos(EVAL_TS), -np.sin(EVAL_TS)], axis=1)
    # The dense buffers are sized by max_steps (100,000 as everywhere here); the "_1k"
    # variants use max_steps=1,000 (the oscillator needs far fewer steps) to show that
    # most of the cost of dense=True is allocating and returning those buffers.
    variants = {
        "plain": (False, False, MAX_STEPS),
        "dense": (True, False, MAX_STEPS),
        "dense+evaluate": (True, True, MAX_STEPS),
        "dense_1k": (True, False, 1000),
        "dense+evaluate_1k": (True, True, 1000),
    }
    calls, errors, steps = {}, {}, {}
    for lib, make in {"ours": ours_osc, "diffrax": diffrax_osc}.items():
        for name, (dense, evaluate, max_steps) in variants.items():
            fn = jax.jit(make(dense, evaluate, max_steps)).lower(y0).compile()
            calls[f"{lib}/{name}"] = lambda fn=fn: fn(y0)
            if name == "dense+evaluate":
                errors[lib] = float(np.max(np.abs(np.asarray(fn(y0)) - exact)))
            if name == "dense":
                sol = fn(y0)
                steps[lib] = int(
                    sol.stats["num_accepted" if lib == "ours" else "num_accepted_steps"]
                )
    times = median_times(calls, repeats=cfg["repeats_single"])
    return {"time_s": times, "evaluate_max_error": errors, "accepted_steps": steps}


# ------------------------------------------------------------------------------ tables


def saving_table(saving):
    header = [
        "N",
        "saved",
        "ours [ms]",
        "diffrax [ms]",
        "diffrax/ours",
        "ours: x final-state",
        "diffrax: x final-state",
        "mean accepted ours/diffrax",
    ]
    rows = []
    for res in saving:
        t, acc = res["time_s"], res["mean_accepted"]
        for s in SAVES:
            o, d = t[f"ours/{s}"], t[f"diffrax/{s}"]
            rows.append(
                [
                    f"{res['n']:,}",
                    "final state" if s is None else f"{s:,} points",
                    fmt(ms(o)),
                    fmt(ms(d)),
                    fmt(ratio(d, o), "{:.2f}"),
                    fmt(ratio(o, t["ours/None"]), "{:.2f}"),
                    fmt(ratio(d, t["diffrax/None"]), "{:.2f}"),
                    f"{acc[f'ours/{s}']:.1f}/{acc[f'diffrax/{s}']:.1f}",
                ]
            )
    return markdown_table(header, rows)


def core_table(res):
    header = ["measurement", "ours", "diffrax", "diffrax/ours (time)", "ours/diffrax (compile)"]
    rows = []

    def time_row(name, o, d, scale=1e3, spec="{:.3g}"):
        o = None if o is None else o * scale
        d = None if d is None else d * scale
        rows.append([name, fmt(o, spec), fmt(d, spec), fmt(ratio(d, o), "{:.2f}"), "-"])

    def compile_row(name, o, d):
        rows.append([name, fmt(o), fmt(d), "-", fmt(ratio(o, d), "{:.2f}")])

    def value_row(name, o, d, spec="{:.2e}"):
        rows.append([name, fmt(o, spec), fmt(d, spec), "-", "-"])

    if "single" in res:
        t = res["single"]["time_s"]
        time_row("(2) single solve, 101 saves [ms]", t["ours/101"], t["diffrax/101"])
        time_row("(2) single solve, 1,001 saves [ms]", t["ours/1001"], t["diffrax/1001"])
    if "compile" in res:
        c = res["compile"]
        compile_row("(3) compile: single solve, 101 saves [s]", *(c["single"][k] for k in LORENZ))
        n = res["config"]["n"][0]
        compile_row(
            f"(3) compile: jit(vmap) ensemble N={n:,} [s]", *(c["ensemble"][k] for k in LORENZ)
        )
        compile_row("(3) compile: jit(grad(loss)) [s]", *(c["grad"][k] for k in LORENZ))
    if "grad" in res:
        t = res["grad"]["time_s"]
        time_row("(4) gradient of the 101-save loss [ms]", t["ours"], t["diffrax"])
    if "events" in res:
        e = res["events"]
        time_row(
            "(5) ball: solve to impact [ms]", e["time_s"].get("ours"), e["time_s"].get("diffrax")
        )
        value_row(
            "(5) ball: impact time error vs sqrt(2h/g)",
            e["impact_error"].get("ours"),
            e["impact_error"].get("diffrax"),
        )
        value_row(
            "(5) ball: grad d t_impact/d g error",
            e["grad_error"].get("ours"),
            e["grad_error"].get("diffrax"),
        )
        time_row(
            "(5) ball: grad d t_impact/d g [ms]",
            e["grad_time_s"].get("ours"),
            e["grad_time_s"].get("diffrax"),
        )
    if "dense" in res:
        t, err = res["dense"]["time_s"], res["dense"]["evaluate_max_error"]
        time_row("(6) oscillator: solve, final state [ms]", t["ours/plain"], t["diffrax/plain"])
        time_row("(6) oscillator: solve, dense=True [ms]", t["ours/dense"], t["diffrax/dense"])
        time_row(
            "(6) oscillator: dense solve + evaluate at 1,000 t [ms]",
            t["ours/dense+evaluate"],
            t["diffrax/dense+evaluate"],
        )
        time_row(
            "(6) oscillator: solve, dense=True, max_steps=1,000 [ms]",
            t["ours/dense_1k"],
            t["diffrax/dense_1k"],
        )
        time_row(
            "(6) oscillator: dense + evaluate, max_steps=1,000 [ms]",
            t["ours/dense+evaluate_1k"],
            t["diffrax/dense+evaluate_1k"],
        )
        value_row("(6) oscillator: max \\|evaluate - exact\\|", err.get("ours"), err.get("diffrax"))
    return markdown_table(header, rows)


# -------------------------------------------------------------------------------- main


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="few repeats (smoke test)")
    args = parser.parse_args()
    if args.quick:
        cfg = dict(
            n=[2000, 200], repeats_ensemble=2, repeats_single=20, repeats_grad=5, repeats_compile=1
        )
    else:
        cfg = dict(
            n=[2000, 200],
            repeats_ensemble=7,
            repeats_single=200,
            repeats_grad=50,
            repeats_compile=3,
        )

    t_start = time.perf_counter()
    load_start = start_run()

    def stamp(what):
        print(f"[{time.perf_counter() - t_start:6.1f} s] {what} ...", flush=True)

    res = {"config": cfg}
    steps = [
        (
            "saving",
            "(1) saving under jit(vmap)",
            lambda: [measure_saving(n, cfg["repeats_ensemble"]) for n in cfg["n"]],
        ),
        ("single", "(2) single solves", lambda: measure_single(cfg)),
        ("compile", "(3) compile times", lambda: measure_compile(cfg)),
    ]
    for key, what, run in steps:
        stamp(what)
        try:
            res[key] = run()
        except Exception:
            record_failure(what)
    grad_compiled = None
    if "compile" in res:
        res["compile"], grad_compiled = res["compile"]
        stamp("(4) gradient")
        try:
            res["grad"] = measure_grad(grad_compiled, cfg)
        except Exception:
            record_failure("(4) gradient")
    for key, what, run in [
        ("events", "(5) events", lambda: measure_events(cfg)),
        ("dense", "(6) dense output", lambda: measure_dense(cfg)),
    ]:
        stamp(what)
        try:
            res[key] = run()
        except Exception:
            record_failure(what)

    print()
    if "saving" in res:
        print("Saving under jax.jit(jax.vmap(...)) over rho = linspace(10, 40, N), Lorenz-63:")
        print()
        print(saving_table(res["saving"]))
        print()
    print(core_table(res))
    print()
    if "grad" in res:
        print("gradients d loss / d params:", res["grad"]["grads"])
    if "single" in res:
        print(
            "single solve, 101 saves, max |ours - diffrax| for t <= 2:",
            f"{res['single']['max_abs_diff_ours_vs_diffrax_t_le_2']:.1e}",
        )
    for sv in res.get("saving", []):
        print(
            f"N={sv['n']}: final states on rho < 13.9, max |. - diffrax final|:",
            {k: f"{v:.1e}" for k, v in sv["final_state_vs_diffrax_final_rho_lt_13.9"].items()},
        )
    print(f"total wall time {time.perf_counter() - t_start:.1f} s")
    if ERRORS:
        print("\nERRORS (tracebacks above / in the JSON):", list(ERRORS))

    out_dir = REPO_ROOT / "benchmarks" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    out_file = out_dir / ("core_quick.json" if args.quick else "core.json")
    meta = {
        "lorenz": "Lorenz-63 sigma=10 rho=28 beta=8/3, y0=[1,1,1], t in [0,10], float64, "
        f"rtol={RTOL}, atol={ATOL}, max_steps={MAX_STEPS}; ours tsit5, diffrax Tsit5 + "
        "PIDController",
        "ensemble_params": "rho = linspace(10, 40, N); sigma=10, beta=8/3",
        "events": f"ball h0={H0}, g={G}, rtol={BALL_RTOL}, atol={BALL_ATOL}, t1={BALL_T1}; "
        "diffrax root finder optx.Newton(1e-12, 1e-12)",
        "dense": f"harmonic oscillator y''=-y, y0=[1,0], t in [0,{OSC_T1}], tsit5, "
        f"rtol={OSC_RTOL}, atol={OSC_ATOL}, max_steps={MAX_STEPS}, 1000 evaluation times",
        "compile_method": "median of jax.jit(fresh fn).lower(args).compile() after "
        "jax.clear_caches()",
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
