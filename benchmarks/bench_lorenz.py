"""Lorenz-63 benchmark: `solvers` against diffrax, scipy and a hand-written numba Dopri5.

Everything runs in one process on the same machine, on the same problem:

    Lorenz-63, sigma=10, rho=28, beta=8/3, y0=[1, 1, 1], t in [0, 10],
    rtol=1e-6, atol=1e-9, float64, saving at 101 equally spaced times.

Usage (from the repository root):

    python benchmarks/bench_lorenz.py           # full run (a few minutes on 2 cores)
    python benchmarks/bench_lorenz.py --quick   # smoke test (< 60 s)

Prints a table and writes it as JSON to benchmarks/results/lorenz.json
(benchmarks/results/lorenz_quick.json with --quick). See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import traceback
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import diffrax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numba  # noqa: E402
import numpy as np  # noqa: E402
import scipy  # noqa: E402
from _common import default_params, make_lorenz, median_times, start_run  # noqa: E402  (benchmarks/_common.py)
from scipy.integrate import solve_ivp  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
try:
    import solvers  # noqa: E402
except Exception:  # keeps the other columns usable while `solvers` is missing
    solvers = None
    SOLVERS_IMPORT_ERROR = traceback.format_exc()
else:
    SOLVERS_IMPORT_ERROR = None

# --------------------------------------------------------------------------- problem

SIGMA, RHO, BETA = 10.0, 28.0, 8.0 / 3.0
T0, T1 = 0.0, 10.0
RTOL, ATOL = 1e-6, 1e-9
MAX_STEPS = 100_000
Y0_NP = np.array([1.0, 1.0, 1.0])
TS_NP = np.linspace(T0, T1, 101)


def ensemble_rhos(n):
    """The ensemble's parameter sets: rho evenly spread over [10, 40], sigma and beta fixed."""
    return np.linspace(10.0, 40.0, n)


# ------------------------------------------------------------------- timing helpers


def compile_times(builds, *args, repeats):
    """Median seconds of `jax.jit(build()).lower(*args).compile()` for each builder in `builds`.

    This is trace + lower + XLA compile. Each builder makes a new function object
    every time and JAX's in-memory caches are cleared before each compile, so nothing
    is reused; the builders take turns, as in `median_times`. A builder that fails is
    recorded in ERRORS and left out. Returns ({key: seconds}, {key: compiled executable}).
    """
    times = {key: [] for key in builds}
    compiled = {}
    for _ in range(repeats):
        for key, build in builds.items():
            if key in FAILED:
                continue
            jax.clear_caches()
            fn = build()
            start = time.perf_counter()
            try:
                compiled[key] = jax.jit(fn).lower(*args).compile()
            except Exception:
                record_failure(key, "compile")
                continue
            times[key].append(time.perf_counter() - start)
    ok = [key for key in builds if key not in FAILED]
    return {key: statistics.median(times[key]) for key in ok}, {key: compiled[key] for key in ok}


# ------------------------------------------------------------- the JAX solves (builders)
# Each builder returns a *new* function of the parameters, so compile times are honest.


def ours_single(method):
    def build():
        f, y0, ts = make_lorenz(), jnp.asarray(Y0_NP), jnp.asarray(TS_NP)

        def run(params):
            sol = solvers.solve(
                f,
                y0,
                (T0, T1),
                params,
                method=method,
                ts=ts,
                rtol=RTOL,
                atol=ATOL,
                max_steps=MAX_STEPS,
            )
            return sol.ys

        return run

    return build


def diffrax_single():
    def build():
        term, y0, ts = diffrax.ODETerm(make_lorenz()), jnp.asarray(Y0_NP), jnp.asarray(TS_NP)

        def run(params):
            sol = diffrax.diffeqsolve(
                term,
                diffrax.Tsit5(),
                T0,
                T1,
                None,
                y0,
                args=params,
                saveat=diffrax.SaveAt(ts=ts),
                stepsize_controller=diffrax.PIDController(rtol=RTOL, atol=ATOL),
                max_steps=MAX_STEPS,
            )
            return sol.ys

        return run

    return build


def ours_ensemble(method):
    """jit(vmap(...)) over rho; final state only. Returns (final states, accepted steps)."""

    def build():
        f, y0 = make_lorenz(), jnp.asarray(Y0_NP)

        def one(rho):
            params = {"sigma": jnp.float64(SIGMA), "rho": rho, "beta": jnp.float64(BETA)}
            sol = solvers.solve(
                f,
                y0,
                (T0, T1),
                params,
                method=method,
                ts=None,
                rtol=RTOL,
                atol=ATOL,
                max_steps=MAX_STEPS,
            )
            return sol.ys[-1], sol.stats["num_accepted"]

        return jax.vmap(one)

    return build


def diffrax_ensemble(solver=diffrax.Tsit5):
    """jit(vmap(...)) of diffrax over rho with `solver` (a class); final state only."""

    def build():
        term, y0 = diffrax.ODETerm(make_lorenz()), jnp.asarray(Y0_NP)

        def one(rho):
            params = {"sigma": jnp.float64(SIGMA), "rho": rho, "beta": jnp.float64(BETA)}
            sol = diffrax.diffeqsolve(
                term,
                solver(),
                T0,
                T1,
                None,
                y0,
                args=params,
                saveat=diffrax.SaveAt(t1=True),
                stepsize_controller=diffrax.PIDController(rtol=RTOL, atol=ATOL),
                max_steps=MAX_STEPS,
            )
            return sol.ys[-1], sol.stats["num_accepted_steps"]

        return jax.vmap(one)

    return build


def ours_grad(method):
    def build():
        run = ours_single(method)()
        return jax.grad(lambda params: jnp.sum(run(params) ** 2))

    return build


def diffrax_grad():
    def build():
        run = diffrax_single()()  # default adjoint: RecursiveCheckpointAdjoint
        return jax.grad(lambda params: jnp.sum(run(params) ** 2))

    return build


def ours_stats(method):
    f = make_lorenz()
    sol = solvers.solve(
        f,
        jnp.asarray(Y0_NP),
        (T0, T1),
        default_params(),
        method=method,
        ts=jnp.asarray(TS_NP),
        rtol=RTOL,
        atol=ATOL,
        max_steps=MAX_STEPS,
    )
    s = sol.stats
    return {
        "accepted": int(s["num_accepted"]),
        "rejected": int(s["num_rejected"]),
        "steps": int(s["num_steps"]),
        "fevals": int(s["num_fevals"]),
        "y_final": np.asarray(sol.ys[-1]),
    }


def diffrax_stats():
    sol = diffrax.diffeqsolve(
        diffrax.ODETerm(make_lorenz()),
        diffrax.Tsit5(),
        T0,
        T1,
        None,
        jnp.asarray(Y0_NP),
        args=default_params(),
        saveat=diffrax.SaveAt(ts=jnp.asarray(TS_NP)),
        stepsize_controller=diffrax.PIDController(rtol=RTOL, atol=ATOL),
        max_steps=MAX_STEPS,
    )
    s = sol.stats
    # diffrax does not count vector-field evaluations.
    return {
        "accepted": int(s["num_accepted_steps"]),
        "rejected": int(s["num_rejected_steps"]),
        "steps": int(s["num_steps"]),
        "fevals": None,
        "y_final": np.asarray(sol.ys[-1]),
    }


# ------------------------------------------------------------------------------ scipy


def lorenz_np(t, y, sigma, rho, beta):
    x, v, z = y
    return np.array([sigma * (v - x), x * (rho - z) - v, x * v - beta * z])


def scipy_single(method):
    return solve_ivp(
        lorenz_np,
        (T0, T1),
        Y0_NP,
        method=method,
        t_eval=TS_NP,
        rtol=RTOL,
        atol=ATOL,
        args=(SIGMA, RHO, BETA),
    )


def scipy_stats(method):
    """Step counts from a run without t_eval (DOP853's dense output would add evaluations).

    Every attempted step costs 6 (RK45) or 12 (DOP853) evaluations, plus 2 at the start.
    """
    sol = solve_ivp(
        lorenz_np, (T0, T1), Y0_NP, method=method, rtol=RTOL, atol=ATOL, args=(SIGMA, RHO, BETA)
    )
    per_step = {"RK45": 6, "DOP853": 12}[method]
    steps = (sol.nfev - 2) // per_step
    accepted = len(sol.t) - 1
    return {
        "accepted": accepted,
        "rejected": steps - accepted,
        "steps": steps,
        "fevals": int(sol.nfev),
        "y_final": sol.y[:, -1],
    }


def scipy_ensemble(rhos, method):
    """Final states and accepted steps of each member, one solve_ivp call per member."""
    finals, accepted = [], []
    for rho in rhos:
        sol = solve_ivp(
            lorenz_np,
            (T0, T1),
            Y0_NP,
            method=method,
            rtol=RTOL,
            atol=ATOL,
            args=(SIGMA, float(rho), BETA),
        )
        finals.append(sol.y[:, -1])
        accepted.append(len(sol.t) - 1)
    return np.array(finals), np.array(accepted)


# ------------------------------------------------------------------------------ numba
# Dormand-Prince 5(4) (the tableau of scipy's RK45 and diffrax's Dopri5), RMS error norm
# of err / (atol + rtol * max(|y0|, |y1|)), I-controller
# factor = clip(0.9 * err^(-1/5), 0.2, 10), factor <= 1 right after a rejection
# (scipy's RK45 rules), Hairer's initial step (Solving ODEs I, II.4; scipy's
# select_initial_step). The state and stages are 3-tuples, which numba keeps in registers.

DP_A2 = (1 / 5,)
DP_A3 = (3 / 40, 9 / 40)
DP_A4 = (44 / 45, -56 / 15, 32 / 9)
DP_A5 = (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729)
DP_A6 = (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656)
DP_B = (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84)  # b7 = 0 (FSAL)
DP_E = (71 / 57600, 0.0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40)  # b - b_hat


@numba.njit(inline="always")
def _lorenz_nb(y, sigma, rho, beta):
    return (sigma * (y[1] - y[0]), y[0] * (rho - y[2]) - y[1], y[0] * y[1] - beta * y[2])


@numba.njit(inline="always")
def _combine(y, h, ks, cs):
    """y + h * sum_j cs[j] * ks[j], for 3-vectors held in tuples."""
    s0 = s1 = s2 = 0.0
    for j in range(len(cs)):
        s0 += cs[j] * ks[j][0]
        s1 += cs[j] * ks[j][1]
        s2 += cs[j] * ks[j][2]
    return (y[0] + h * s0, y[1] + h * s1, y[2] + h * s2)


@numba.njit(inline="always")
def _rms(v, scale):
    return np.sqrt(((v[0] / scale[0]) ** 2 + (v[1] / scale[1]) ** 2 + (v[2] / scale[2]) ** 2) / 3.0)


@numba.njit
def dopri5_nb(y0, t0, t1, sigma, rho, beta, rtol, atol, max_steps):
    """Adaptive Dopri5 from t0 to t1 > t0; y0 a 3-tuple.

    Returns (y(t1), accepted, rejected, fevals).
    """
    y = y0
    k1 = _lorenz_nb(y, sigma, rho, beta)

    # Hairer's initial step size.
    scale = (atol + rtol * abs(y[0]), atol + rtol * abs(y[1]), atol + rtol * abs(y[2]))
    d0 = _rms(y, scale)
    d1 = _rms(k1, scale)
    h0 = 1e-6 if (d0 < 1e-5 or d1 < 1e-5) else 0.01 * d0 / d1
    f1 = _lorenz_nb(_combine(y, h0, (k1,), (1.0,)), sigma, rho, beta)
    d2 = _rms((f1[0] - k1[0], f1[1] - k1[1], f1[2] - k1[2]), scale) / h0
    if d1 <= 1e-15 and d2 <= 1e-15:
        h1 = max(1e-6, h0 * 1e-3)
    else:
        h1 = (0.01 / max(d1, d2)) ** (1.0 / 5.0)
    h = min(100.0 * h0, h1)
    fevals = 2

    t = t0
    accepted = 0
    rejected = 0
    last_rejected = False
    while t < t1 and accepted + rejected < max_steps:
        t_new = min(t + h, t1)
        h = t_new - t
        k2 = _lorenz_nb(_combine(y, h, (k1,), DP_A2), sigma, rho, beta)
        k3 = _lorenz_nb(_combine(y, h, (k1, k2), DP_A3), sigma, rho, beta)
        k4 = _lorenz_nb(_combine(y, h, (k1, k2, k3), DP_A4), sigma, rho, beta)
        k5 = _lorenz_nb(_combine(y, h, (k1, k2, k3, k4), DP_A5), sigma, rho, beta)
        k6 = _lorenz_nb(_combine(y, h, (k1, k2, k3, k4, k5), DP_A6), sigma, rho, beta)
        y_new = _combine(y, h, (k1, k2, k3, k4, k5, k6), DP_B)
        k7 = _lorenz_nb(y_new, sigma, rho, beta)
        fevals += 6
        err = _combine((0.0, 0.0, 0.0), h, (k1, k2, k3, k4, k5, k6, k7), DP_E)
        scale = (
            atol + rtol * max(abs(y[0]), abs(y_new[0])),
            atol + rtol * max(abs(y[1]), abs(y_new[1])),
            atol + rtol * max(abs(y[2]), abs(y_new[2])),
        )
        err_norm = _rms(err, scale)

        if err_norm < 1.0:
            factor = 10.0 if err_norm == 0.0 else min(10.0, 0.9 * err_norm ** (-1.0 / 5.0))
            if last_rejected:
                factor = min(1.0, factor)
            t, y, k1 = t_new, y_new, k7
            accepted += 1
            last_rejected = False
        else:
            factor = max(0.2, 0.9 * err_norm ** (-1.0 / 5.0))
            rejected += 1
            last_rejected = True
        h = h * factor
    return y, accepted, rejected, fevals


@numba.njit(parallel=True)
def dopri5_ensemble_nb(rhos, y0, t0, t1, sigma, beta, rtol, atol, max_steps):
    """All members in a prange loop (all cores); final state and accepted steps of each."""
    m = rhos.shape[0]
    finals = np.empty((m, 3))
    accepted = np.empty(m, dtype=np.int64)
    for i in numba.prange(m):
        y, acc, _, _ = dopri5_nb(y0, t0, t1, sigma, rhos[i], beta, rtol, atol, max_steps)
        finals[i, 0], finals[i, 1], finals[i, 2] = y
        accepted[i] = acc
    return finals, accepted


def numba_stats():
    y, acc, rej, fev = dopri5_nb(tuple(Y0_NP), T0, T1, SIGMA, RHO, BETA, RTOL, ATOL, MAX_STEPS)
    return {
        "accepted": int(acc),
        "rejected": int(rej),
        "steps": int(acc + rej),
        "fevals": int(fev),
        "y_final": np.array(y),
    }


def check_numba_against_scipy():
    """Numba Dopri5 at rtol 1e-6 against scipy DOP853 at rtol=atol=1e-12.

    Non-chaotic members (rho < 24) are compared at t=10, chaotic ones at t=1.
    Returns the largest relative difference max|y - y_ref| / max|y_ref|.
    """
    worst = 0.0
    for rho, t1 in [
        (10.0, 10.0),
        (15.0, 10.0),
        (20.0, 10.0),
        (28.0, 1.0),
        (35.0, 1.0),
        (40.0, 1.0),
    ]:
        y, _, _, _ = dopri5_nb(tuple(Y0_NP), T0, t1, SIGMA, rho, BETA, RTOL, ATOL, MAX_STEPS)
        ref = solve_ivp(
            lorenz_np,
            (T0, t1),
            Y0_NP,
            method="DOP853",
            rtol=1e-12,
            atol=1e-12,
            args=(SIGMA, rho, BETA),
        ).y[:, -1]
        worst = max(worst, float(np.max(np.abs(np.array(y) - ref)) / np.max(np.abs(ref))))
    return worst


def reference_final_state():
    """y(10) at rho=28 from scipy DOP853 at rtol=atol=1e-13 (for the error row)."""
    return solve_ivp(
        lorenz_np, (T0, T1), Y0_NP, method="DOP853", rtol=1e-13, atol=1e-13, args=(SIGMA, RHO, BETA)
    ).y[:, -1]


# ----------------------------------------------------------------------- measurements
# Each returns {column: value}; columns are "ours_tsit5", "ours_dopri5", "diffrax",
# "scipy", "numba". A failure in our library is recorded, not fatal.

OURS = {"ours_tsit5": "tsit5", "ours_dopri5": "dopri5"}
ERRORS = {}
FAILED = set()


def record_failure(key, what):
    tb = traceback.format_exc()
    ERRORS[f"{key}: {what}"] = tb
    FAILED.add(key)
    print(f"!! {key} failed in '{what}':\n{tb}", file=sys.stderr)


def jax_builders(ours_builder, diffrax_builder):
    """{column: builder} for our two methods (when `solvers` imports) and diffrax."""
    builds = {}
    if solvers is None:
        for key in OURS:
            ERRORS.setdefault(key, "import solvers failed:\n" + SOLVERS_IMPORT_ERROR)
            FAILED.add(key)
    else:
        builds = {key: ours_builder(method) for key, method in OURS.items()}
    builds["diffrax"] = diffrax_builder()
    return builds


def measure_single(cfg):
    """(a) latency of one compiled solve with 101 saves, and (b) its compile time."""
    params = default_params()
    compile_s, compiled = compile_times(
        jax_builders(ours_single, diffrax_single), params, repeats=cfg["repeats_compile"]
    )
    calls = {key: (lambda fn=fn: fn(params)) for key, fn in compiled.items()}
    latency = median_times(calls, repeats=cfg["repeats_single"])
    # scipy separately: 25 ms of Python between two 1-ms JAX calls would chill the caches
    latency.update(
        median_times(
            {"scipy": lambda: scipy_single("RK45"), "scipy_dop853": lambda: scipy_single("DOP853")},
            repeats=cfg["repeats_scipy"],
        )
    )
    return latency, compile_s


def measure_ensemble(cfg):
    """(c) jit(vmap) over N parameter sets, final state only; scipy and numba alongside."""
    n = cfg["n_ensemble"]
    rhos_np = ensemble_rhos(n)
    rhos = jnp.asarray(rhos_np)
    compile_out, compiled = compile_times(
        jax_builders(ours_ensemble, diffrax_ensemble), rhos, repeats=cfg["repeats_compile"]
    )

    # numba: compile time = first call minus a steady call (measured below)
    args = (rhos_np, tuple(Y0_NP), T0, T1, SIGMA, BETA, RTOL, ATOL, MAX_STEPS)
    start = time.perf_counter()
    dopri5_ensemble_nb(*args)
    numba_first_call = time.perf_counter() - start
    threads = numba.get_num_threads()

    def numba_one_thread():
        numba.set_num_threads(1)
        try:
            return dopri5_ensemble_nb(*args)
        finally:
            numba.set_num_threads(threads)

    calls = {key: (lambda fn=fn: fn(rhos)) for key, fn in compiled.items()}
    calls["numba"] = lambda: dopri5_ensemble_nb(*args)
    calls["numba_1thread"] = numba_one_thread  # per-core comparison with 1-device JAX
    time_out = median_times(calls, repeats=cfg["repeats_ensemble"])
    compile_out["numba"] = numba_first_call - time_out["numba"]

    steps_out, finals = {}, {}
    for key, call in calls.items():
        if key != "numba_1thread":
            y, acc = call()
            steps_out[key] = float(np.mean(np.asarray(acc)))
            finals[key] = np.asarray(y)

    # scipy: a subset of members spread over the whole rho range, extrapolated to n
    idx = np.linspace(0, n - 1, cfg["n_scipy_ensemble"]).round().astype(int)
    start = time.perf_counter()
    _, acc = scipy_ensemble(rhos_np[idx], "RK45")
    time_out["scipy"] = (time.perf_counter() - start) * n / len(idx)
    steps_out["scipy"] = float(np.mean(acc))

    # agreement of the final states on members that settle without transient chaos (rho < 13.9)
    calm = rhos_np < 13.9
    ref = finals["numba"][calm]
    agreement = {
        key: float(np.max(np.abs(y[calm] - ref)) / np.max(np.abs(ref)))
        for key, y in finals.items()
        if key != "numba"
    }
    return {
        "time": time_out,
        "compile": compile_out,
        "mean_accepted": steps_out,
        "numba_1thread": time_out.pop("numba_1thread"),
        "numba_threads": threads,
        "scipy_members_timed": int(len(idx)),
        "agreement_vs_numba_rho_lt_13.9": agreement,
    }


def measure_grad(cfg):
    """(d) jit(grad) of the sum of squares of the 101 saved states w.r.t. the params dict."""
    params = default_params()
    compile_out, compiled = compile_times(
        jax_builders(ours_grad, diffrax_grad), params, repeats=cfg["repeats_compile"]
    )
    calls = {key: (lambda fn=fn: fn(params)) for key, fn in compiled.items()}
    time_out = median_times(calls, repeats=cfg["repeats_grad"])
    grads = {key: {k: float(v) for k, v in fn(params).items()} for key, fn in compiled.items()}
    return {"time": time_out, "compile": compile_out, "grads": grads}


def measure_steps():
    """(e) step counts of the single solve, and the error of y(10) against a tight reference."""
    out = {}
    for key, method in OURS.items():
        out[key] = None
        if key not in FAILED and solvers is not None:
            try:
                out[key] = ours_stats(method)
            except Exception:
                record_failure(key, "step counts")
    out["diffrax"] = diffrax_stats()
    out["scipy"] = scipy_stats("RK45")
    out["scipy_dop853"] = scipy_stats("DOP853")
    out["numba"] = numba_stats()
    ref = reference_final_state()
    for st in out.values():
        if st is not None:
            st["error_t10"] = float(np.max(np.abs(st.pop("y_final") - ref)))
    return out


# ------------------------------------------------------------------------------ table

COLUMNS = ["ours_tsit5", "ours_dopri5", "diffrax", "scipy", "numba"]
HEADER = [
    "measurement",
    "ours (tsit5)",
    "ours (dopri5)",
    "diffrax",
    "scipy",
    "numba",
    "ratio diffrax/ours",
    "ratio scipy/ours",
    "ratio numba/ours",
]


def row(name, values, scale=1.0, fmt="{:.3g}"):
    """A table row. Ratios compare like with like: diffrax (Tsit5) / ours tsit5,
    scipy (RK45 = Dopri5) / ours dopri5, numba (Dopri5) / ours dopri5."""
    vals = {c: (None if values.get(c) is None else values[c] * scale) for c in COLUMNS}

    def ratio(a, b):
        return None if vals[a] is None or vals[b] in (None, 0) else vals[a] / vals[b]

    ratios = {
        "diffrax/ours": ratio("diffrax", "ours_tsit5"),
        "scipy/ours": ratio("scipy", "ours_dopri5"),
        "numba/ours": ratio("numba", "ours_dopri5"),
    }
    return {"measurement": name, "fmt": fmt, **vals, **{f"ratio {k}": v for k, v in ratios.items()}}


def build_rows(res, cfg):
    n = cfg["n_ensemble"]
    single, comp, ens, grad, steps = (
        res["single_latency"],
        res["single_compile"],
        res["ensemble"],
        res["grad"],
        res["steps"],
    )
    rows = [
        row("(a) single solve, 101 saves [ms]", single, 1e3),
        row("(b) single solve compile [s]", comp),
        row(f"(c) ensemble N={n}, final state [s]", ens["time"]),
        row("(c) ensemble compile [s]", ens["compile"]),
        row("(c) ensemble mean accepted steps", ens["mean_accepted"], fmt="{:.1f}"),
        row("(d) gradient of trajectory loss [ms]", grad["time"], 1e3),
        row("(d) gradient compile [s]", grad["compile"]),
    ]
    for field in ["accepted", "rejected", "steps", "fevals"]:
        vals = {c: (None if steps.get(c) is None else steps[c][field]) for c in COLUMNS}
        rows.append(row(f"(e) single solve: {field}", vals, fmt="{:.0f}"))
    vals = {c: (None if steps.get(c) is None else steps[c]["error_t10"]) for c in COLUMNS}
    rows.append(row("(e) single solve: max |y(10) - y_ref|", vals, fmt="{:.2e}"))
    # scipy DOP853 and numba-on-one-thread rows (one column only)
    rows.append(row("scipy DOP853: single solve [ms]", {"scipy": single["scipy_dop853"]}, 1e3))
    d = steps["scipy_dop853"]
    rows.append(row("scipy DOP853: accepted/rejected/fevals", {"scipy": None}, fmt="{}"))
    rows[-1]["scipy"] = f"{d['accepted']}/{d['rejected']}/{d['fevals']}"
    rows.append(row(f"numba on 1 thread: ensemble N={n} [s]", {"numba": ens["numba_1thread"]}))
    return rows


def fmt_cell(value, fmt):
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    return fmt.format(value)


def render_table(rows):
    cells = [HEADER]
    for r in rows:
        cells.append(
            [r["measurement"]]
            + [fmt_cell(r[c], r["fmt"]) for c in COLUMNS]
            + [
                fmt_cell(r[k], "{:.2f}")
                for k in ["ratio diffrax/ours", "ratio scipy/ours", "ratio numba/ours"]
            ]
        )
    widths = [max(len(line[i]) for line in cells) for i in range(len(HEADER))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(line, widths)) + " |" for line in cells]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


# ------------------------------------------------------------------------------- main


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small ensemble, few repeats (< 60 s)")
    args = parser.parse_args()
    if args.quick:
        cfg = dict(
            n_ensemble=200,
            n_scipy_ensemble=10,
            repeats_single=50,
            repeats_scipy=5,
            repeats_ensemble=3,
            repeats_grad=5,
            repeats_compile=1,
        )
    else:
        cfg = dict(
            n_ensemble=10_000,
            n_scipy_ensemble=50,
            repeats_single=300,
            repeats_scipy=20,
            repeats_ensemble=5,
            repeats_grad=50,
            repeats_compile=3,
        )

    t_start = time.perf_counter()
    load_start = start_run()

    print("numba Dopri5 vs scipy DOP853 (tight tol), max relative difference:", end=" ", flush=True)
    numba_check = check_numba_against_scipy()
    print(f"{numba_check:.2e}", "OK" if numba_check < 1e-4 else "MISMATCH")

    res = {}
    print(f"[{time.perf_counter() - t_start:5.1f} s] (e) step counts ...", flush=True)
    res["steps"] = measure_steps()
    print(
        f"[{time.perf_counter() - t_start:5.1f} s] (a, b) single-solve latency and compile time ...",
        flush=True,
    )
    res["single_latency"], res["single_compile"] = measure_single(cfg)
    print(
        f"[{time.perf_counter() - t_start:5.1f} s] (c) ensemble of {cfg['n_ensemble']} ...",
        flush=True,
    )
    res["ensemble"] = measure_ensemble(cfg)
    print(f"[{time.perf_counter() - t_start:5.1f} s] (d) gradient ...", flush=True)
    res["grad"] = measure_grad(cfg)

    rows = build_rows(res, cfg)
    print()
    print(render_table(rows))
    print()
    ens = res["ensemble"]
    print(
        f"scipy ensemble: {ens['scipy_members_timed']} members timed (RK45, one solve_ivp call "
        f"each), extrapolated linearly to N={cfg['n_ensemble']}."
    )
    print(
        f"numba ensemble: prange over {ens['numba_threads']} threads; JAX ensembles: jit(vmap) on "
        f"{jax.device_count()} CPU device."
    )
    print(
        "final-state agreement with numba on members with rho < 13.9 (max rel. diff):",
        {k: f"{v:.1e}" for k, v in ens["agreement_vs_numba_rho_lt_13.9"].items()},
    )
    print("gradients d loss / d params:", res["grad"]["grads"])
    print(f"total wall time {time.perf_counter() - t_start:.1f} s")
    if ERRORS:
        print("\nERRORS in our library (tracebacks above / in the JSON):", list(ERRORS))

    out_dir = REPO_ROOT / "benchmarks" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    out_file = out_dir / ("lorenz_quick.json" if args.quick else "lorenz.json")
    meta = {
        "problem": "Lorenz-63 sigma=10 rho=28 beta=8/3, y0=[1,1,1], t in [0,10], float64",
        "rtol": RTOL,
        "atol": ATOL,
        "n_saves": len(TS_NP),
        "config": cfg,
        "ensemble_params": "rho = linspace(10, 40, N); sigma=10, beta=8/3",
        "ratios": "diffrax/ours_tsit5, scipy(RK45)/ours_dopri5, numba(Dopri5)/ours_dopri5",
        "compile_method": "median of jax.jit(fresh fn).lower(args).compile() after jax.clear_caches(); "
        "numba: first call minus steady call",
        "scipy_ensemble": f"{ens['scipy_members_timed']} members timed, extrapolated to N",
        "numba_threads": ens["numba_threads"],
        "numba_vs_scipy_dop853_check": numba_check,
        "load_average_1min_at_start_and_end": [load_start, os.getloadavg()[0]],
        "wall_time_s": time.perf_counter() - t_start,
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "jax_devices": [str(d) for d in jax.devices()],
        },
        "versions": {
            "python": platform.python_version(),
            "jax": jax.__version__,
            "diffrax": diffrax.__version__,
            "scipy": scipy.__version__,
            "numba": numba.__version__,
            "numpy": np.__version__,
        },
    }
    table = [{k: v for k, v in r.items() if k != "fmt"} for r in rows]
    payload = {"meta": meta, "table": table, "raw": res, "errors": ERRORS}
    out_file.write_text(json.dumps(payload, indent=2, default=float))
    print(f"wrote {out_file.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
