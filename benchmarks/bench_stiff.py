"""Stiff solvers: work-precision diagrams and speed targets against diffrax and scipy.

Everything runs in one process on the same machine, float64.

1. Work-precision. Robertson (t to 1e5), HIRES, OREGO, Van der Pol (mu = 1e3) and the
   1-D Brusselator (n = 32, dimension 64) from `problems`, at rtol = 1e-4 ... 1e-10 and
   atol = 1e-4 * rtol, final state only:
   * ours: jax.jit of solvers.solve(..., method=m) for m in rodas5, radau5, kvaerno5,
     kvaerno3, bdf, auto (rtol and atol are traced arguments: one compile per method
     and problem);
   * diffrax: jax.jit of diffeqsolve(ODETerm(f), Kvaerno5(), ...,
     stepsize_controller=PIDController(rtol, atol), SaveAt(t1=True));
   * scipy: solve_ivp with BDF, Radau and LSODA on a plain-numpy right-hand side with
     its analytic Jacobian (dense; written out below and checked against jax.jacfwd).
   Error = max_i |y_i - ref_i| / (|ref_i| + atol) at t1, against `reference_solution`
   (the Brusselator at n = 32 has none: scipy Radau at rtol 1e-13 computes it, checked
   against LSODA). Time = best of several calls (compiled beforehand for the JAX
   columns), the competitors taking turns.
2. Targets (same run, rtol 1e-6 unless said): our best method vs diffrax Kvaerno5 and
   scipy LSODA on Robertson and HIRES; steps and time on Van der Pol; jit(vmap) of
   1,000 Robertson solves with rate constants perturbed by +-10% vs 1,000 LSODA calls;
   the Brusselator at n = 512 with banded and matrix-free linear algebra vs dense LU;
   method="auto" vs the best single stiff method (Van der Pol) and vs tsit5 (Lorenz-63).

Usage (from the repository root):

    python benchmarks/bench_stiff.py           # full run
    python benchmarks/bench_stiff.py --quick   # smoke test (2 tolerances, a subset)

Prints Markdown tables, writes benchmarks/results/stiff.json and the figure
benchmarks/results/stiff_work_precision.png (*_quick.* with --quick). See
benchmarks/README.md.
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

# One BLAS thread (unless the caller says otherwise): OpenBLAS's worker threads, which
# jaxlib's LAPACK factorisations and scipy share, spin while waiting and, on a loaded
# machine, made a dense 128 x 128 Radau solve 5-60x slower and its time erratic.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import diffrax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import scipy  # noqa: E402
from _common import fmt, machine, markdown_table, start_run  # noqa: E402
from scipy.integrate import solve_ivp  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
import problems  # noqa: E402
import solvers  # noqa: E402

OURS = ["rodas5", "radau5", "kvaerno5", "kvaerno3", "bdf", "auto"]
SCIPY = ["BDF", "Radau", "LSODA"]
PROBLEMS = ["robertson", "hires", "orego", "van_der_pol_stiff", "brusselator_1d"]
RTOLS = [1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9, 1e-10]
ATOL_FACTOR = 1e-4  # atol = ATOL_FACTOR * rtol on every problem
TARGET_RTOL = 1e-6
MAX_STEPS = 100_000
# diffrax's PIDController docstring suggests PI coefficients such as these for "moderate
# difficulty problems ... (many mildly stiff problems)"; measured as an extra column on
# the problems of the targets.
PI_COEFFICIENTS = {"pcoeff": 0.3, "icoeff": 0.3}
DIFFRAX_PI = "diffrax Kvaerno5 PI(0.3, 0.3)"
PI_PROBLEMS = ("robertson", "hires", "van_der_pol_stiff")

ERRORS = {}


def record_failure(what):
    tb = traceback.format_exc()
    ERRORS[what] = tb
    print(f"!! '{what}' failed:\n{tb}", file=sys.stderr)


def has_bdf():
    return hasattr(solvers, "BDF")


# ----------------------------------------------------------- numpy fields for scipy
# Plain numpy copies of the catalogue's vector fields and their analytic Jacobians
# (scipy calls them once per evaluation; a jitted JAX callback costs far more per call).


def np_robertson(p):
    k1, k2, k3 = p["k1"], p["k2"], p["k3"]

    def f(t, y):
        a, b, c = y
        return np.array([-k1 * a + k3 * b * c, k1 * a - k3 * b * c - k2 * b * b, k2 * b * b])

    def jac(t, y):
        a, b, c = y
        return np.array(
            [[-k1, k3 * c, k3 * b], [k1, -k3 * c - 2 * k2 * b, -k3 * b], [0.0, 2 * k2 * b, 0.0]]
        )

    return f, jac


def np_hires(p):
    k = [None] + [p[f"k{i}"] for i in range(1, 10)]
    oks = p["oks"]
    linear = np.zeros((8, 8))
    linear[0, :3] = [-k[1], k[2], k[6]]
    linear[1, :2] = [k[1], -(k[2] + k[3])]
    linear[2, 2:5] = [-(k[6] + k[1]), k[2], k[5]]
    linear[3, 1:4] = [k[3], k[1], -(k[4] + k[2])]
    linear[4, 4:7] = [-(k[5] + k[1]), k[2], k[2]]
    linear[5, 3:7] = [k[8], k[1], -k[2], k[8]]
    linear[6, 6] = -(k[2] + k[8] + k[9])
    linear[7, 6] = k[2] + k[8] + k[9]
    source = np.zeros(8)
    source[0] = oks
    k7 = k[7]

    def f(t, y):
        out = linear @ y + source
        binding = k7 * y[5] * y[7]
        out[5] -= binding
        out[6] += binding
        out[7] -= binding
        return out

    def jac(t, y):
        j = linear.copy()
        for row, sign in ((5, -1.0), (6, 1.0), (7, -1.0)):
            j[row, 5] += sign * k7 * y[7]
            j[row, 7] += sign * k7 * y[5]
        return j

    return f, jac


def np_orego(p):
    s, q, w = p["s"], p["q"], p["w"]

    def f(t, y):
        a, b, c = y
        return np.array([s * (b + a * (1.0 - q * a - b)), (c - (1.0 + a) * b) / s, w * (a - c)])

    def jac(t, y):
        a, b, c = y
        return np.array(
            [
                [s * (1.0 - 2.0 * q * a - b), s * (1.0 - a), 0.0],
                [-b / s, -(1.0 + a) / s, 1.0 / s],
                [w, 0.0, -w],
            ]
        )

    return f, jac


def np_van_der_pol(p):
    mu = p["mu"]

    def f(t, y):
        x, v = y
        return np.array([v, mu * (1.0 - x * x) * v - x])

    def jac(t, y):
        x, v = y
        return np.array([[0.0, 1.0], [-2.0 * mu * x * v - 1.0, mu * (1.0 - x * x)]])

    return f, jac


def np_brusselator(p):
    a_, b_, alpha = p["A"], p["B"], p["alpha"]
    ub, vb = p["u_boundary"], p["v_boundary"]

    def f(t, y):
        u, v = y[0::2], y[1::2]
        c = alpha * (u.size + 1) ** 2
        lap_u = np.empty_like(u)
        lap_v = np.empty_like(v)
        lap_u[1:-1] = u[:-2] - 2 * u[1:-1] + u[2:]
        lap_v[1:-1] = v[:-2] - 2 * v[1:-1] + v[2:]
        lap_u[0] = ub - 2 * u[0] + u[1]
        lap_u[-1] = u[-2] - 2 * u[-1] + ub
        lap_v[0] = vb - 2 * v[0] + v[1]
        lap_v[-1] = v[-2] - 2 * v[-1] + vb
        reaction = u * u * v
        out = np.empty_like(y)
        out[0::2] = a_ + reaction - (b_ + 1.0) * u + c * lap_u
        out[1::2] = b_ * u - reaction + c * lap_v
        return out

    def jac(t, y):
        u, v = y[0::2], y[1::2]
        n = u.size
        c = alpha * (n + 1) ** 2
        j = np.zeros((2 * n, 2 * n))
        iu, iv = np.arange(0, 2 * n, 2), np.arange(1, 2 * n, 2)
        j[iu, iu] = 2 * u * v - (b_ + 1.0) - 2 * c
        j[iu, iv] = u * u
        j[iv, iu] = b_ - 2 * u * v
        j[iv, iv] = -u * u - 2 * c
        idx = np.arange(2 * n - 2)
        j[idx, idx + 2] = c
        j[idx + 2, idx] = c
        return j

    return f, jac


def np_brusselator_band(p):
    """The Brusselator's Jacobian as its five diagonals, ``band[2 + i - j, j] = J[i, j]``
    (LAPACK/LSODA packed storage; offsets j - i = 2, 1, 0, -1, -2 by row)."""
    b_, alpha = p["B"], p["alpha"]

    def band(t, y):
        u, v = y[0::2], y[1::2]
        c = alpha * (u.size + 1) ** 2
        out = np.zeros((5, y.size))
        out[0, 2:] = c
        out[1, 1::2] = u * u
        out[2, 0::2] = 2 * u * v - (b_ + 1.0) - 2 * c
        out[2, 1::2] = -u * u - 2 * c
        out[3, 0::2] = b_ - 2 * u * v
        out[4, :-2] = c
        return out

    return band


def sparse_of_band(band):
    from scipy.sparse import dia_matrix

    n = band.shape[1]
    return dia_matrix((band, [2, 1, 0, -1, -2]), shape=(n, n)).tocsc()


NUMPY_FIELDS = {
    "robertson": np_robertson,
    "hires": np_hires,
    "orego": np_orego,
    "van_der_pol_stiff": np_van_der_pol,
    "brusselator_1d": np_brusselator,
}


def host_params(prob):
    return {k: float(v) for k, v in prob.params.items()}


def check_numpy_fields(prob, f, jac):
    """Largest relative difference of the numpy field and Jacobian from the JAX field
    and jax.jacfwd, at y0 and at the reference (or y0 + 10% noise)."""
    rng = np.random.default_rng(0)
    y0 = np.asarray(prob.y0)
    points = [y0, y0 * (1 + 0.1 * rng.standard_normal(y0.shape)) + 1e-3]
    worst = 0.0
    for y in points:
        fj = np.asarray(prob.vector_field(0.0, jnp.asarray(y), prob.params))
        jj = np.asarray(
            jax.jacfwd(lambda z: prob.vector_field(0.0, z, prob.params))(jnp.asarray(y))
        )
        worst = max(
            worst,
            np.max(np.abs(f(0.0, y) - fj)) / (np.max(np.abs(fj)) + 1e-300),
            np.max(np.abs(jac(0.0, y) - jj)) / (np.max(np.abs(jj)) + 1e-300),
        )
    return float(worst)


# ------------------------------------------------------------------------ problems


def setup_problem(name, n_bruss):
    prob = problems.get(name, n=n_bruss) if name == "brusselator_1d" else problems.get(name)
    f, jac = NUMPY_FIELDS[name](host_params(prob))
    entry = {"prob": prob, "f": f, "jac": jac, "check": check_numpy_fields(prob, f, jac)}
    if prob.reference_solution is not None:
        entry["ref"] = np.asarray(prob.reference_solution)
        entry["ref_source"] = "problem.reference_solution"
    else:
        entry["ref"], entry["ref_source"] = scipy_reference(prob, f, jac)
    return entry


def scipy_reference(prob, f, jac, rtol=1e-13, atol=1e-15):
    """Final state by scipy Radau at tight tolerance, checked against LSODA."""
    y0, (t0, t1) = np.asarray(prob.y0), prob.t_span
    radau = solve_ivp(f, (t0, t1), y0, method="Radau", jac=jac, rtol=rtol, atol=atol)
    lsoda = solve_ivp(f, (t0, t1), y0, method="LSODA", jac=jac, rtol=1e-12, atol=1e-14)
    ref = radau.y[:, -1]
    agree = float(np.max(np.abs(lsoda.y[:, -1] - ref) / (np.abs(ref) + 1e-14)))
    return ref, (
        f"scipy Radau rtol={rtol:g} atol={atol:g} (analytic Jacobian); LSODA at rtol=1e-12 "
        f"agrees to {agree:.1e} (relative)"
    )


def error_of(y, ref, atol):
    """max_i |y_i - ref_i| / (|ref_i| + atol); inf for a non-finite state."""
    y = np.asarray(y, dtype=float)
    if not np.all(np.isfinite(y)):
        return math.inf
    return float(np.max(np.abs(y - ref) / (np.abs(ref) + atol)))


# --------------------------------------------------------------------- the solves


def ours_fn(prob, method, max_steps=MAX_STEPS):
    """A function (params, rtol, atol) -> (y(t1), stats, status) for jax.jit."""

    def run(params, rtol, atol):
        sol = solvers.solve(
            prob.vector_field,
            prob.y0,
            prob.t_span,
            params,
            method=method,
            rtol=rtol,
            atol=atol,
            max_steps=max_steps,
            throw=False,
        )
        keys = ("num_steps", "num_accepted", "num_rejected", "num_fevals")
        keys += ("num_switches", "num_stiff_steps")  # method="auto" only
        stats = {k: sol.stats[k] for k in keys if k in sol.stats}
        return sol.ys[-1], stats, sol.status

    return run


def diffrax_fn(prob, max_steps=MAX_STEPS, **controller):
    """diffrax Kvaerno5 with PIDController(rtol, atol, **controller) (default: the
    I-controller, pcoeff=0, icoeff=1)."""
    term = diffrax.ODETerm(prob.vector_field)
    t0, t1 = prob.t_span

    def run(params, rtol, atol):
        sol = diffrax.diffeqsolve(
            term,
            diffrax.Kvaerno5(),
            t0,
            t1,
            None,
            prob.y0,
            args=params,
            saveat=diffrax.SaveAt(t1=True),
            stepsize_controller=diffrax.PIDController(rtol=rtol, atol=atol, **controller),
            max_steps=max_steps,
            throw=False,
        )
        stats = {
            "num_steps": sol.stats["num_steps"],
            "num_accepted": sol.stats["num_accepted_steps"],
            "num_rejected": sol.stats["num_rejected_steps"],
        }
        return sol.ys[-1], stats, sol.result._value

    return run


def compile_fn(fn, prob):
    tol = jnp.float64(1e-6)
    start = time.perf_counter()
    compiled = jax.jit(fn).lower(prob.params, tol, tol).compile()
    return compiled, time.perf_counter() - start


def scipy_call(entry, method, rtol, atol):
    prob = entry["prob"]

    def call():
        return solve_ivp(
            entry["f"],
            prob.t_span,
            np.asarray(prob.y0),
            method=method,
            jac=entry["jac"],
            rtol=rtol,
            atol=atol,
        )

    return call


# ------------------------------------------------------------------------ timing


def best_times(calls, repeats, budget_s=1.5, slow_s=0.5):
    """Best (minimum) wall time of each zero-argument call, and its last result.

    Each call is run once to warm up (and to get its result; a warm-up longer than
    `slow_s` counts as a timed run, the JAX calls being compiled beforehand); then the
    calls take turns
    for up to `repeats` rounds, the order rotating from round to round, a call leaving
    the rounds once it has used `budget_s` seconds (after at least 2 timed runs).
    Returns ({key: best seconds}, {key: [all timed seconds]}, {key: result}).
    """
    results, spent, times = {}, {}, {key: [] for key in calls}
    for key, call in calls.items():
        start = time.perf_counter()
        results[key] = jax.block_until_ready(call())
        spent[key] = time.perf_counter() - start
        if spent[key] > slow_s:  # nothing left to warm up at this scale: a sample
            times[key].append(spent[key])
    keys = list(calls)
    for r in range(repeats):
        for key in keys[r % len(keys) :] + keys[: r % len(keys)]:
            if len(times[key]) >= 2 and sum(times[key]) > budget_s:
                continue
            if len(times[key]) >= 1 and spent[key] > budget_s:  # very slow: once only
                continue
            start = time.perf_counter()
            jax.block_until_ready(calls[key]())
            times[key].append(time.perf_counter() - start)
    return {key: min(ts) for key, ts in times.items()}, times, results


def ours_record(result, ref, atol):
    y, stats, status = result
    status = int(status)
    rec = {k: int(v) for k, v in stats.items()}
    rec["status"] = status
    if status != 0:
        rec["failed"] = solvers.status_message(status)
        rec["error"] = math.nan
    else:
        rec["error"] = error_of(y, ref, atol)
    return rec


def diffrax_record(result, ref, atol):
    y, stats, status = result
    status = int(status)
    rec = {k: int(v) for k, v in stats.items()}
    rec["status"] = status
    if status != 0:
        rec["failed"] = f"diffrax RESULTS code {status}"
        rec["error"] = math.nan
    else:
        rec["error"] = error_of(y, ref, atol)
    return rec


def scipy_record(sol, ref, atol):
    rec = {
        "num_accepted": len(sol.t) - 1,
        "num_fevals": int(sol.nfev),
        "num_jevals": int(sol.njev),
        "num_lu": int(sol.nlu),
        "status": int(sol.status),
    }
    if not sol.success:
        rec["failed"] = sol.message
        rec["error"] = math.nan
    else:
        rec["error"] = error_of(sol.y[:, -1], ref, atol)
    return rec


# ------------------------------------------------------------- 1. work-precision


def competitors(methods):
    names = [f"ours {m}" for m in methods] + ["diffrax Kvaerno5"]
    return names + [f"scipy {m}" for m in SCIPY]


def work_precision(name, entry, methods, rtols, repeats, stamp, pi_variant=False):
    prob, ref = entry["prob"], entry["ref"]
    compiled, compile_s = {}, {}
    builders = {f"ours {m}": (lambda m=m: ours_fn(prob, m)) for m in methods}
    builders["diffrax Kvaerno5"] = lambda: diffrax_fn(prob)
    if pi_variant:
        builders[DIFFRAX_PI] = lambda: diffrax_fn(prob, **PI_COEFFICIENTS)
    for key, build in builders.items():
        stamp(f"{name}: compile {key}")
        try:
            compiled[key], compile_s[key] = compile_fn(build(), prob)
        except Exception:
            record_failure(f"{name}: compile {key}")
    points = []
    for rtol in rtols:
        atol = ATOL_FACTOR * rtol
        stamp(f"{name}: rtol={rtol:g}")
        r, a = jnp.float64(rtol), jnp.float64(atol)
        calls = {
            key: (lambda fn=fn, r=r, a=a: fn(prob.params, r, a)) for key, fn in compiled.items()
        }
        for m in SCIPY:
            calls[f"scipy {m}"] = scipy_call(entry, m, rtol, atol)
        try:
            best, all_times, results = best_times(calls, repeats)
        except Exception:
            record_failure(f"{name}: rtol={rtol:g}")
            continue
        row = {"rtol": rtol, "atol": atol, "results": {}}
        for key, result in results.items():
            if key.startswith("ours"):
                rec = ours_record(result, ref, atol)
            elif key.startswith("diffrax"):
                rec = diffrax_record(result, ref, atol)
            else:
                rec = scipy_record(result, ref, atol)
            rec["time_s"] = best[key]
            rec["times_s"] = all_times[key]
            row["results"][key] = rec
        points.append(row)
    return {
        "problem": name,
        "dimension": int(np.asarray(prob.y0).size),
        "t_span": prob.t_span,
        "reference": entry["ref_source"],
        "numpy_field_check": entry["check"],
        "compile_s": compile_s,
        "points": points,
    }


def wp_table(wp):
    header = ["rtol", "competitor", "time [ms]", "error", "steps (acc/rej)", "fevals", "note"]
    rows = []
    for row in wp["points"]:
        for key, rec in row["results"].items():
            steps = f"{rec.get('num_accepted', '-')}/{rec.get('num_rejected', '-')}"
            rows.append(
                [
                    f"{row['rtol']:.0e}",
                    key,
                    fmt(1e3 * rec["time_s"]),
                    fmt(rec["error"], "{:.1e}"),
                    steps,
                    str(rec.get("num_fevals", "-")),
                    rec.get("failed", "")[:60],
                ]
            )
    return markdown_table(header, rows)


def point_at(wp, rtol):
    for row in wp["points"]:
        if math.isclose(row["rtol"], rtol):
            return row["results"]
    return None


def ok(rec):
    return rec is not None and "failed" not in rec and math.isfinite(rec["error"])


def best_ours(results, allowed=None):
    """(key, record) of our fastest successful method in one work-precision point."""
    ours = {
        k: r
        for k, r in results.items()
        if k.startswith("ours") and ok(r) and (allowed is None or k[5:] in allowed)
    }
    if not ours:
        return None, None
    key = min(ours, key=lambda k: ours[k]["time_s"])
    return key, ours[key]


def time_at_error(wp, key, error):
    """Time `key` needs for the given error: (seconds, exact) with exact=True for a
    log-log interpolation between two measured points, False for an upper bound (the
    error is larger than all of `key`'s: the time of its least accurate point); None if
    the error is smaller than all of `key`'s."""
    pts = sorted(
        (r["results"][key]["error"], r["results"][key]["time_s"])
        for r in wp["points"]
        if key in r["results"] and ok(r["results"][key]) and r["results"][key]["error"] > 0
    )
    if not pts or error < pts[0][0]:
        return None
    if error > pts[-1][0]:
        return pts[-1][1], False
    le = np.log([p[0] for p in pts])
    lt = np.log([p[1] for p in pts])
    # errors need not be monotone in rtol: interpolate on the points sorted by error
    return float(np.exp(np.interp(np.log(error), le, lt))), True


# ------------------------------------------------------------------ figure


STYLE = {
    "ours rodas5": ("C0", "o", "-"),
    "ours radau5": ("C1", "s", "-"),
    "ours kvaerno5": ("C2", "^", "-"),
    "ours kvaerno3": ("C3", "v", "-"),
    "ours bdf": ("C4", "D", "-"),
    "ours auto": ("C5", "P", "-"),
    "diffrax Kvaerno5": ("k", "^", "--"),
    DIFFRAX_PI: ("gray", "^", "--"),
    "scipy BDF": ("C6", "D", ":"),
    "scipy Radau": ("C7", "s", ":"),
    "scipy LSODA": ("C8", "x", ":"),
}


def plot(wps, path, title_note):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(wps)
    cols = min(3, n + 1)  # one more panel for the legend
    rows = math.ceil((n + 1) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 4.2 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    handles = {}
    for ax, wp in zip(axes.flat, wps):
        keys = []
        for row in wp["points"]:
            keys += [k for k in row["results"] if k not in keys]
        for key in keys:
            pts = [
                (row["results"][key]["error"], row["results"][key]["time_s"])
                for row in wp["points"]
                if key in row["results"] and ok(row["results"][key])
            ]
            if not pts:
                continue
            color, marker, line = STYLE.get(key, ("gray", ".", "-"))
            (h,) = ax.loglog(
                [p[0] for p in pts],
                [1e3 * p[1] for p in pts],
                color=color,
                marker=marker,
                linestyle=line,
                markersize=4,
                label=key,
            )
            handles[key] = h
        ax.set_title(f"{wp['problem']} (n = {wp['dimension']})")
        ax.set_xlabel("error  max |y - ref| / (|ref| + atol)")
        ax.set_ylabel("wall time [ms]")
        ax.grid(True, which="both", alpha=0.3)
    axes.flat[n].legend(list(handles.values()), list(handles), loc="center", fontsize=9)
    rtols = sorted({row["rtol"] for wp in wps for row in wp["points"]}, reverse=True)
    fig.suptitle(
        f"Work-precision, rtol {rtols[0]:.0e} ... {rtols[-1]:.0e}, atol = "
        f"{ATOL_FACTOR:.0e} rtol, best of several runs ({title_note})"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ------------------------------------------------------------------ 2. targets


def robertson_ensemble(methods, batch, repeats, stamp):
    """jit(vmap) of `batch` Robertson solves, k_i * U(0.9, 1.1), vs LSODA in a loop."""
    prob = problems.get("robertson")
    rng = np.random.default_rng(2024)
    base = host_params(prob)
    factors = rng.uniform(0.9, 1.1, size=(batch, 3))
    ks = {name: base[name] * factors[:, i] for i, name in enumerate(("k1", "k2", "k3"))}
    batch_params = {k: jnp.asarray(v) for k, v in ks.items()}
    rtol, atol = TARGET_RTOL, ATOL_FACTOR * TARGET_RTOL
    out = {"batch": batch, "rtol": rtol, "atol": atol, "seed": 2024, "ours": {}}

    # scipy: LSODA in a Python loop, numpy field and analytic Jacobian
    stamp(f"ensemble: {batch} LSODA calls")
    y0 = np.asarray(prob.y0)
    finals = np.empty((batch, 3))
    start = time.perf_counter()
    steps = 0
    for i in range(batch):
        f, jac = np_robertson({k: ks[k][i] for k in ks})
        sol = solve_ivp(f, prob.t_span, y0, method="LSODA", jac=jac, rtol=rtol, atol=atol)
        finals[i] = sol.y[:, -1]
        steps += len(sol.t) - 1
    out["lsoda_loop_s"] = time.perf_counter() - start
    out["lsoda_mean_accepted"] = steps / batch

    for m in methods:
        stamp(f"ensemble: compile ours {m}")
        try:
            fn = ours_fn(prob, m)
            vm = jax.vmap(lambda p, fn=fn: fn(p, jnp.float64(rtol), jnp.float64(atol)))
            start = time.perf_counter()
            compiled = jax.jit(vm).lower(batch_params).compile()
            compile_s = time.perf_counter() - start
            best, times, res = best_times({m: lambda c=compiled: c(batch_params)}, repeats, 10.0)
            y, stats, status = res[m]
            y = np.asarray(y)
            diff = np.max(np.abs(y - finals) / (np.abs(finals) + atol), axis=1)
            out["ours"][m] = {
                "time_s": best[m],
                "times_s": times[m],
                "compile_s": compile_s,
                "failed_members": int(np.sum(np.asarray(status) != 0)),
                "mean_accepted": float(np.mean(np.asarray(stats["num_accepted"]))),
                "max_steps_member": int(np.max(np.asarray(stats["num_steps"]))),
                "max_rel_diff_vs_lsoda": float(np.max(diff)),
                "median_rel_diff_vs_lsoda": float(np.median(diff)),
            }
        except Exception:
            record_failure(f"ensemble: ours {m}")
    return out


def brusselator_structures(n, repeats, stamp, variants):
    """Brusselator n points (dimension 2n) at rtol 1e-6: banded / matrix-free vs dense."""
    prob = problems.get("brusselator_1d", n=n)
    f, jac = np_brusselator(host_params(prob))
    stamp(f"brusselator n={n}: scipy reference")
    ref, ref_source = scipy_reference_banded(prob, f, jac)
    rtol, atol = TARGET_RTOL, ATOL_FACTOR * TARGET_RTOL
    r, a = jnp.float64(rtol), jnp.float64(atol)
    compiled, compile_s = {}, {}
    for key, method in variants.items():
        stamp(f"brusselator n={n}: compile {key}")
        try:
            compiled[key], compile_s[key] = compile_fn(ours_fn(prob, method), prob)
        except Exception:
            record_failure(f"brusselator n={n}: compile {key}")
    stamp(f"brusselator n={n}: timing")
    calls = {key: (lambda c=c: c(prob.params, r, a)) for key, c in compiled.items()}
    band = np_brusselator_band(host_params(prob))
    y0 = np.asarray(prob.y0)
    for m in ("Radau", "BDF"):
        calls[f"scipy {m} (sparse J)"] = lambda m=m: solve_ivp(
            f, prob.t_span, y0, method=m, jac=lambda t, y: sparse_of_band(band(t, y)),
            rtol=rtol, atol=atol,
        )  # fmt: skip
    calls["scipy LSODA (banded J)"] = lambda: solve_ivp(
        f, prob.t_span, y0, method="LSODA", jac=band, lband=2, uband=2, rtol=rtol, atol=atol
    )
    best, all_times, results = best_times(calls, repeats, budget_s=6.0)
    out = {
        "n": n,
        "dimension": 2 * n,
        "rtol": rtol,
        "atol": atol,
        "reference": ref_source,
        "compile_s": compile_s,
        "results": {},
    }
    for key, result in results.items():
        if key.startswith("scipy"):
            rec = scipy_record(result, ref, atol)
        else:
            rec = ours_record(result, ref, atol)
        rec["time_s"] = best[key]
        rec["times_s"] = all_times[key]
        out["results"][key] = rec
    return out


def scipy_reference_banded(prob, f, jac, rtol=1e-11, atol=1e-13):
    """Reference for the large Brusselator: scipy Radau with a sparse (banded) Jacobian."""
    band = np_brusselator_band(host_params(prob))
    y = np.asarray(prob.y0) + 0.1
    if not np.allclose(sparse_of_band(band(0.0, y)).toarray(), jac(0.0, y), rtol=0, atol=1e-12):
        raise AssertionError("banded Brusselator Jacobian differs from the dense one")
    start = time.perf_counter()
    sol = solve_ivp(
        f,
        prob.t_span,
        np.asarray(prob.y0),
        method="Radau",
        jac=lambda t, y: sparse_of_band(band(t, y)),
        rtol=rtol,
        atol=atol,
    )
    took = time.perf_counter() - start
    return sol.y[:, -1], f"scipy Radau rtol={rtol:g} atol={atol:g}, sparse Jacobian ({took:.1f} s)"


def lorenz_auto(repeats, stamp):
    """method="auto" vs "tsit5" on problems.get("lorenz63"), rtol 1e-6, atol 1e-9."""
    prob = problems.get("lorenz63")
    r, a = jnp.float64(1e-6), jnp.float64(1e-9)
    compiled, compile_s = {}, {}
    for m in ("tsit5", "auto"):
        stamp(f"lorenz63: compile {m}")
        compiled[m], compile_s[m] = compile_fn(ours_fn(prob, m), prob)
    calls = {m: (lambda c=c: c(prob.params, r, a)) for m, c in compiled.items()}
    best, all_times, results = best_times(calls, max(repeats, 7), budget_s=1.0)
    out = {"rtol": 1e-6, "atol": 1e-9, "t_span": prob.t_span, "compile_s": compile_s, "results": {}}
    ys = {}
    for m, (y, stats, status) in results.items():
        ys[m] = np.asarray(y)
        out["results"][m] = {
            **{k: int(v) for k, v in stats.items()},
            "status": int(status),
            "time_s": best[m],
            "times_s": all_times[m],
        }
    out["max_abs_diff_auto_vs_tsit5"] = float(np.max(np.abs(ys["auto"] - ys["tsit5"])))
    return out


def ratio(a, b):
    return None if a is None or b in (None, 0) else a / b


def targets(res, methods):
    """The targets table: rows of (what, ours, other, ratio, target, met)."""
    rows = []
    wp = {w["problem"]: w for w in res.get("work_precision", [])}

    def add(what, ours_desc, other_desc, value, target, met):
        rows.append(
            {
                "what": what,
                "ours": ours_desc,
                "other": other_desc,
                "value": value,
                "target": target,
                "met": met,
            }
        )

    for name in ("robertson", "hires"):
        if name not in wp:
            continue
        pt = point_at(wp[name], TARGET_RTOL)
        if pt is None:
            continue
        key, rec = best_ours(pt)
        if key is None:
            add(
                f"{name}: best of ours vs diffrax Kvaerno5", "all failed", "-", None, ">= 3x", False
            )
            continue
        for other, target in (("diffrax Kvaerno5", 3.0), ("scipy LSODA", 1.0), (DIFFRAX_PI, None)):
            o = pt.get(other)
            if o is None:
                continue
            value = ratio(o["time_s"], rec["time_s"]) if ok(o) else None
            add(
                f"{name}: {key} vs {other}, time",
                f"{1e3 * rec['time_s']:.3g} ms, err {rec['error']:.1e}",
                f"{1e3 * o['time_s']:.3g} ms, err {o['error']:.1e}" if ok(o) else "failed",
                value,
                "(info)" if target is None else f">= {target:g}x",
                None if target is None else (value is not None and value >= target),
            )
            eq = time_at_error(wp[name], key, o["error"]) if ok(o) else None
            t_eq = None if eq is None else eq[0]
            value = ratio(o["time_s"], t_eq) if ok(o) else None
            add(
                f"{name}: {key} vs {other}, at {other}'s error",
                "-"
                if eq is None
                else f"{'' if eq[1] else '<= '}{1e3 * t_eq:.3g} ms "
                f"({'interpolated' if eq[1] else 'its least accurate point'})",
                f"{1e3 * o['time_s']:.3g} ms" if ok(o) else "failed",
                value,
                "(info)" if eq is None or eq[1] else "(info: >= ratio)",
                None,
            )

    if "van_der_pol_stiff" in wp:
        pt = point_at(wp["van_der_pol_stiff"], TARGET_RTOL)
        if pt is not None:
            key, rec = best_ours(pt)
            o = pt.get("diffrax Kvaerno5")
            if key is not None and ok(o):
                value = ratio(o["time_s"], rec["time_s"])
                add(
                    f"van_der_pol_stiff: {key} vs diffrax Kvaerno5, time",
                    f"{1e3 * rec['time_s']:.3g} ms, err {rec['error']:.1e}",
                    f"{1e3 * o['time_s']:.3g} ms, err {o['error']:.1e}",
                    value,
                    ">= 3x",
                    value >= 3,
                )
                value = ratio(o["num_steps"], rec["num_steps"])
                add(
                    f"van_der_pol_stiff: {key} vs diffrax Kvaerno5, steps (attempted)",
                    f"{rec['num_steps']} ({rec['num_accepted']} acc)",
                    f"{o['num_steps']} ({o['num_accepted']} acc)",
                    value,
                    "fewer (> 1x)",
                    rec["num_steps"] < o["num_steps"],
                )
            # auto vs the best single stiff method
            stiff = [m for m in methods if m != "auto"]
            key_s, rec_s = best_ours(pt, allowed=stiff)
            rec_a = pt.get("ours auto")
            if key_s is not None and ok(rec_a):
                value = ratio(rec_a["time_s"], rec_s["time_s"])
                add(
                    f"van_der_pol_stiff: auto vs {key_s} (best single stiff), time auto/best",
                    f"{1e3 * rec_a['time_s']:.3g} ms, err {rec_a['error']:.1e}",
                    f"{1e3 * rec_s['time_s']:.3g} ms, err {rec_s['error']:.1e}",
                    value,
                    "<= 1.5x",
                    value <= 1.5,
                )
            elif rec_a is not None:
                add(
                    "van_der_pol_stiff: auto vs best single stiff",
                    "auto failed",
                    "-",
                    None,
                    "<= 1.5x",
                    False,
                )

    ens = res.get("ensemble")
    if ens and ens["ours"]:
        good = {m: r for m, r in ens["ours"].items() if r["failed_members"] == 0}
        pool = good or ens["ours"]
        m = min(pool, key=lambda k: pool[k]["time_s"])
        rec = pool[m]
        value = ratio(ens["lsoda_loop_s"], rec["time_s"])
        add(
            f"robertson ensemble of {ens['batch']}: jit(vmap) {m} vs LSODA loop",
            f"{rec['time_s']:.3g} s ({rec['failed_members']} failed)",
            f"{ens['lsoda_loop_s']:.3g} s",
            value,
            ">= 5x",
            value >= 5 and rec["failed_members"] == 0,
        )

    br = res.get("brusselator")
    if br:
        rs = br["results"]
        for fast, slow in (
            ("radau5 Banded(2, 2)", "radau5 dense"),
            ("radau5 MatrixFree()", "radau5 dense"),
            ("kvaerno5 Banded(2, 2)", "kvaerno5 dense"),
            ("rodas5 Banded(2, 2)", "rodas5 dense"),
            ("bdf Banded(2, 2)", "bdf dense"),
        ):
            if fast not in rs or slow not in rs:
                continue
            a, b = rs[fast], rs[slow]
            value = ratio(b["time_s"], a["time_s"]) if ok(a) and ok(b) else None
            add(
                f"brusselator n={br['n']}: {fast} vs {slow}",
                f"{1e3 * a['time_s']:.4g} ms, err {a['error']:.1e}"
                if ok(a)
                else f"failed: {a.get('failed')}",
                f"{1e3 * b['time_s']:.4g} ms, err {b['error']:.1e}"
                if ok(b)
                else f"failed: {b.get('failed')}",
                value,
                ">= 5x",
                value is not None and value >= 5,
            )

    if br:
        rs = br["results"]
        banded = {k: r for k, r in rs.items() if "Banded" in k and ok(r)}
        scipy_ = {k: r for k, r in rs.items() if k.startswith("scipy") and ok(r)}
        if banded and scipy_:
            k1 = min(banded, key=lambda k: banded[k]["time_s"])
            k2 = min(scipy_, key=lambda k: scipy_[k]["time_s"])
            a, b = banded[k1], scipy_[k2]
            add(
                f"brusselator n={br['n']}: {k1} vs {k2} (fastest of each)",
                f"{1e3 * a['time_s']:.4g} ms, err {a['error']:.1e}",
                f"{1e3 * b['time_s']:.4g} ms, err {b['error']:.1e}",
                ratio(b["time_s"], a["time_s"]),
                "(info)",
                None,
            )

    lz = res.get("lorenz")
    if lz:
        a, t = lz["results"]["auto"], lz["results"]["tsit5"]
        value = ratio(a["time_s"], t["time_s"])
        add(
            "lorenz63: auto vs tsit5, time auto/tsit5",
            f"{1e3 * a['time_s']:.3g} ms, {a['num_steps']} steps",
            f"{1e3 * t['time_s']:.3g} ms, {t['num_steps']} steps",
            value,
            "<= 1.3x",
            value <= 1.3 and a["status"] == 0,
        )
    return rows


def targets_table(rows):
    header = ["target", "ours", "other", "ratio", "goal", "met"]
    out = []
    for r in rows:
        met = "-" if r["met"] is None else ("yes" if r["met"] else "NO")
        out.append([r["what"], r["ours"], r["other"], fmt(r["value"], "{:.2f}"), r["target"], met])
    return markdown_table(header, out)


# --------------------------------------------------------------------------- main


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke test: 2 tolerances, a subset")
    parser.add_argument("--problems", nargs="*", help="work-precision problems (default: all)")
    parser.add_argument("--methods", nargs="*", help="our methods (default: all)")
    parser.add_argument(
        "--skip", nargs="*", default=[], choices=["wp", "ensemble", "brusselator", "lorenz"]
    )
    parser.add_argument("--out", help="JSON path (default benchmarks/results/stiff[_quick].json)")
    parser.add_argument(
        "--merge",
        action="store_true",
        help="keep the parts of the existing JSON that this run skips (and the "
        "work-precision problems it does not run), then redo the targets and the figure",
    )
    args = parser.parse_args()
    out_dir = REPO_ROOT / "benchmarks" / "results"
    suffix = "_quick" if args.quick else ""
    out_file = Path(args.out) if args.out else out_dir / f"stiff{suffix}.json"
    figure = out_file.with_name(f"stiff_work_precision{suffix}.png")

    methods = [m for m in OURS if m != "bdf" or has_bdf()]
    if args.quick:
        cfg = dict(
            rtols=[1e-5, 1e-6],  # 1e-6: the targets table
            problems=["robertson", "van_der_pol_stiff"],
            methods=["rodas5", "auto"],
            repeats=2,
            batch=20,
            ensemble_methods=["rodas5"],
            n_wp=32,
            n_structures=64,
            structure_methods=["radau5"],
            diffrax_pi_problems=(),
        )
    else:
        cfg = dict(
            rtols=RTOLS,
            problems=PROBLEMS,
            methods=methods,
            repeats=9,
            batch=1000,
            ensemble_methods=["rodas5", "kvaerno5", "radau5"],
            n_wp=32,
            n_structures=512,
            structure_methods=["radau5", "kvaerno5", "rodas5"],
            diffrax_pi_problems=PI_PROBLEMS,
        )
    if args.problems:
        cfg["problems"] = args.problems
    if args.methods:
        cfg["methods"] = args.methods
    cfg["atol"] = f"{ATOL_FACTOR:g} * rtol"
    cfg["bdf_available"] = has_bdf()

    t_start = time.perf_counter()
    load_start = start_run()

    def stamp(what):
        print(f"[{time.perf_counter() - t_start:6.1f} s] {what} ...", flush=True)

    res = {"config": cfg}
    if "wp" not in args.skip:
        res["work_precision"] = []
        for name in cfg["problems"]:
            try:
                stamp(f"{name}: setup")
                entry = setup_problem(name, cfg["n_wp"])
                wp = work_precision(
                    name,
                    entry,
                    cfg["methods"],
                    cfg["rtols"],
                    cfg["repeats"],
                    stamp,
                    pi_variant=name in cfg["diffrax_pi_problems"],
                )
                res["work_precision"].append(wp)
                print(wp_table(wp))
            except Exception:
                record_failure(f"work-precision {name}")
    if "ensemble" not in args.skip:
        try:
            res["ensemble"] = robertson_ensemble(
                cfg["ensemble_methods"], cfg["batch"], cfg["repeats"], stamp
            )
        except Exception:
            record_failure("ensemble")
    if "brusselator" not in args.skip:
        variants = {}
        for m in cfg["structure_methods"]:
            variants[f"{m} dense"] = m
            factory = {
                "radau5": solvers.Radau5,
                "kvaerno5": solvers.Kvaerno5,
                "rodas5": solvers.Rodas5,
            }[m]
            variants[f"{m} Banded(2, 2)"] = factory(linear_solver=solvers.Banded(2, 2))
            if m == "radau5":
                variants[f"{m} MatrixFree()"] = factory(linear_solver=solvers.MatrixFree())
        try:
            res["brusselator"] = brusselator_structures(
                cfg["n_structures"], min(cfg["repeats"], 3), stamp, variants
            )
        except Exception:
            record_failure("brusselator structures")
    if "lorenz" not in args.skip:
        try:
            res["lorenz"] = lorenz_auto(cfg["repeats"], stamp)
        except Exception:
            record_failure("lorenz auto")

    merged = {}
    if args.merge and out_file.exists():
        old = json.loads(out_file.read_text())
        old_res = old["results"]
        for key in ("ensemble", "brusselator", "lorenz"):
            if key not in res and key in old_res:
                res[key] = old_res[key]
                merged[key] = old["meta"].get("run_started")
        done = {w["problem"] for w in res.get("work_precision", [])}
        kept = [w for w in old_res.get("work_precision", []) if w["problem"] not in done]
        if kept:
            res["work_precision"] = sorted(
                res.get("work_precision", []) + kept,
                key=lambda w: PROBLEMS.index(w["problem"]) if w["problem"] in PROBLEMS else 99,
            )
            merged["work_precision"] = [w["problem"] for w in kept]
        for key, value in old.get("errors", {}).items():
            ERRORS.setdefault(f"(earlier run) {key}", value)
        merged["earlier_meta"] = old["meta"]
    try:
        rows = targets(res, cfg["methods"])
    except Exception:
        record_failure("targets table")
        rows = []
    res["targets"] = rows
    print()
    for wp in res.get("work_precision", []):
        print(f"## {wp['problem']} (dimension {wp['dimension']}), reference: {wp['reference']}")
        print(f"numpy field/Jacobian vs JAX: max rel diff {wp['numpy_field_check']:.1e}")
        print("compile [s]:", {k: round(v, 2) for k, v in wp["compile_s"].items()})
        print(wp_table(wp))
        print()
    if "ensemble" in res:
        e = res["ensemble"]
        print(
            f"ensemble: {e['batch']} LSODA calls {e['lsoda_loop_s']:.3g} s "
            f"(mean accepted {e['lsoda_mean_accepted']:.1f});",
            {m: {k: v for k, v in r.items() if k != "times_s"} for m, r in e["ours"].items()},
        )
    if "brusselator" in res:
        b = res["brusselator"]
        print(f"brusselator n={b['n']} (reference: {b['reference']}):")
        for k, r in b["results"].items():
            print(
                f"  {k:24s} {1e3 * r['time_s']:10.4g} ms  err {r['error']:.1e}  steps "
                f"{r['num_accepted']}/{r.get('num_rejected', '-')}  fevals {r['num_fevals']}  "
                f"compile {b['compile_s'].get(k, math.nan):.1f} s {r.get('failed', '')}"
            )
    print()
    print(f"Targets (rtol = {TARGET_RTOL:g}, atol = {ATOL_FACTOR * TARGET_RTOL:g}):")
    print(targets_table(rows))
    wall = time.perf_counter() - t_start
    print(f"total wall time {wall:.1f} s")
    if ERRORS:
        print("\nERRORS (tracebacks above / in the JSON):", list(ERRORS))

    out_file.parent.mkdir(parents=True, exist_ok=True)
    if res.get("work_precision"):
        try:
            plot(res["work_precision"], figure, "quick" if args.quick else "full run")
            print(f"wrote {figure}")
        except Exception:
            record_failure("figure")
    meta = {
        "error": "max_i |y_i(t1) - ref_i| / (|ref_i| + atol)",
        "time": "best (minimum) of several calls, competitors taking turns; JAX columns "
        "compiled beforehand (rtol and atol traced)",
        "ours": "jax.jit of solvers.solve(f, y0, t_span, params, method=m, rtol, atol, "
        f"max_steps={MAX_STEPS}, throw=False), final state",
        "diffrax": "jax.jit of diffeqsolve(ODETerm(f), Kvaerno5(), t0, t1, None, y0, args, "
        f"SaveAt(t1=True), PIDController(rtol, atol), max_steps={MAX_STEPS})",
        "scipy": "solve_ivp(f_numpy, t_span, y0, method, jac=analytic dense numpy Jacobian, "
        "rtol, atol); Brusselator n=512: sparse (Radau, BDF) / banded (LSODA) Jacobian",
        "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
        "run_started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(time.time() - wall)),
        "command": " ".join(sys.argv[1:]),
        "merged_from_earlier_run": merged,
        "load_average_1min_at_start_and_end": [load_start, os.getloadavg()[0]],
        "wall_time_s": wall,
        "machine": machine(),
        "versions": {
            "diffrax": diffrax.__version__,
            "numpy": np.__version__,
            "scipy": scipy.__version__,
        },
    }
    payload = {"meta": meta, "results": res, "errors": ERRORS}
    out_file.write_text(json.dumps(payload, indent=2, default=float))
    print(f"wrote {out_file}")


if __name__ == "__main__":
    main()
