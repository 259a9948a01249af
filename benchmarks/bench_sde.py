"""SDE ensembles against diffrax: 10^4 Ornstein-Uhlenbeck paths, 1,000 Euler-Maruyama steps.

Both libraries integrate the same problem, in one process, on the CPU, in float64:

    dX = theta (mu - X) dt + sigma dW, theta = 1, mu = 1, sigma = 0.5, X0 = -1,
    t in [0, 1], dt = 1e-3 (1,000 steps), final state only, N = 10,000 paths
    (jax.jit(jax.vmap(...)) over jax.random.split(key, N));

with a Brownian path that is a function of the key alone (not of dt) on both sides:

* ours: solvers.solve_sde(..., method="euler_maruyama", noise="additive") (the dyadic
  Brownian tree of solvers.brownian_path, generated level by level for the whole grid);
* diffrax: diffeqsolve(MultiTerm(ODETerm(f), ControlTerm(g, VirtualBrownianTree(0, 1,
  tol, shape=(1,), key))), Euler(), 0, 1, dt, ...), tol = dt/2 (the coarsest tolerance
  that still resolves the grid; diffrax's own examples use tol = dt/50, slower).

Extra rows, for reference: ours with SRA1 (same grid); diffrax with tol = dt/50; and
diffrax with UnsafeBrownianPath (fresh normals per step: fast, but the path changes with
dt, so it cannot be refined; not what the target compares against).

Each column's final states are checked against the exact mean and variance of the OU
process (problems.ornstein_uhlenbeck_moments), within Monte Carlo error.

Usage (from the repository root):

    python benchmarks/bench_sde.py           # full run (several minutes: diffrax is slow)
    python benchmarks/bench_sde.py --quick   # smoke test: N = 1,000 paths, 2 rounds

Prints a Markdown table and writes it as JSON to benchmarks/results/sde.json
(sde_quick.json with --quick). See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
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

THETA, MU, SIGMA, X0 = 1.0, 1.0, 0.5, -1.0
T0, T1, DT = 0.0, 1.0, 1e-3
ERRORS = {}


def record_failure(what):
    ERRORS[what] = traceback.format_exc()
    print(f"!! '{what}' failed:\n{ERRORS[what]}", file=sys.stderr)


def drift(t, y, p):
    return p["theta"] * (p["mu"] - y)


def diffusion(t, y, p):
    return p["sigma"] * jnp.ones_like(y)


def diffusion_matrix(t, y, p):
    return p["sigma"] * jnp.ones((1, 1), y.dtype)


PARAMS = {k: jnp.float64(v) for k, v in (("theta", THETA), ("mu", MU), ("sigma", SIGMA))}
Y0 = jnp.array([X0])


def ours(method):
    def one(key):
        sol = solvers.solve_sde(
            drift, diffusion, Y0, (T0, T1), PARAMS, key=key, method=method, dt=DT,
            noise="additive", throw=False,
        )  # fmt: skip
        return sol.ys[-1, 0]

    return jax.vmap(one)


def ours_tree_only():
    """The Brownian increments alone (the part of our solve that is not the scan); their
    sum of squares uses every one of them."""
    return jax.vmap(lambda key: jnp.sum(solvers.brownian_path(key, (T0, T1), DT).dw ** 2))


def diffrax_solve(brownian, adjoint=None):
    # UnsafeBrownianPath works only with a forward-mode adjoint (no reverse-mode replay).
    options = {} if adjoint is None else {"adjoint": adjoint}

    def one(key):
        path = brownian(key)
        terms = diffrax.MultiTerm(
            diffrax.ODETerm(drift), diffrax.ControlTerm(diffusion_matrix, path)
        )
        sol = diffrax.diffeqsolve(
            terms, diffrax.Euler(), T0, T1, DT, Y0, args=PARAMS,
            saveat=diffrax.SaveAt(t1=True), max_steps=2000, throw=False, **options,
        )  # fmt: skip
        return sol.ys[-1, 0]

    return jax.vmap(one)


def virtual_tree(tol):
    return lambda key: diffrax.VirtualBrownianTree(T0, T1, tol=tol, shape=(1,), key=key)


def unsafe_path(key):
    return diffrax.UnsafeBrownianPath(shape=(1,), key=key)


COLUMNS = {
    "ours euler_maruyama": lambda: ours("euler_maruyama"),
    "diffrax Euler + VirtualBrownianTree(tol=dt/2)": lambda: diffrax_solve(virtual_tree(DT / 2)),
    "ours sra1": lambda: ours("sra1"),
    "ours Brownian path only": ours_tree_only,
    "diffrax Euler + VirtualBrownianTree(tol=dt/50)": lambda: diffrax_solve(virtual_tree(DT / 50)),
    "diffrax Euler + UnsafeBrownianPath (not dt-independent)": lambda: diffrax_solve(
        unsafe_path, diffrax.ForwardMode()
    ),
}
TARGET = ("diffrax Euler + VirtualBrownianTree(tol=dt/2)", "ours euler_maruyama")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="N = 1,000 paths, 2 rounds")
    args = parser.parse_args()
    paths = 1_000 if args.quick else 10_000
    repeats = 2 if args.quick else 5
    t_start = time.perf_counter()
    load_start = start_run()
    keys = jax.random.split(jax.random.key(0), paths)

    compiled, compile_s, finals = {}, {}, {}
    for name, build in COLUMNS.items():
        print(f"[{time.perf_counter() - t_start:6.1f} s] compile {name} ...", flush=True)
        try:
            start = time.perf_counter()
            compiled[name] = jax.jit(build()).lower(keys).compile()
            compile_s[name] = time.perf_counter() - start
            finals[name] = np.asarray(compiled[name](keys))  # also the warm-up
        except Exception:
            record_failure(name)
    print(f"[{time.perf_counter() - t_start:6.1f} s] timing, {repeats} rounds ...", flush=True)
    calls = {name: (lambda fn=fn: fn(keys)) for name, fn in compiled.items()}
    times = median_times(calls, repeats=repeats, warmup=False)

    prob = problems.ornstein_uhlenbeck(theta=THETA, mu=MU, sigma=SIGMA, y0=[X0])
    mean, variance = (float(np.asarray(m)[0]) for m in problems.ornstein_uhlenbeck_moments(
        T1, prob.params, prob.y0))  # fmt: skip
    reference = times.get(TARGET[0])
    rows, checks = [], {}
    for name in COLUMNS:
        t = times.get(name)
        final = finals.get(name)
        check = "-"
        if final is not None and name != "ours Brownian path only":
            z_mean = (final.mean() - mean) / np.sqrt(variance / paths)
            z_var = (final.var() / variance - 1) / np.sqrt(2 / paths)
            checks[name] = {"mean": float(final.mean()), "variance": float(final.var()),
                            "z_mean": float(z_mean), "z_variance": float(z_var)}  # fmt: skip
            check = f"{final.mean():.4f} / {final.var():.4f} (z = {z_mean:+.1f}, {z_var:+.1f})"
        rows.append(
            [
                name,
                fmt(None if t is None else 1e3 * t, "{:.4g}"),
                fmt(None if t is None or reference is None else reference / t, "{:.3g}"),
                fmt(compile_s.get(name), "{:.2f}"),
                check,
            ]
        )
    table = markdown_table(
        [
            "column",
            "time [ms]",
            "diffrax VBT(dt/2) / this",
            "compile [s]",
            "mean / variance of X(1) (z-scores)",
        ],
        rows,
    )
    print()
    print(
        f"{paths:,} OU paths, {round((T1 - T0) / DT):,} steps of dt = {DT:g}, float64, CPU; "
        f"exact mean {mean:.4f}, variance {variance:.4f}:"
    )
    print()
    print(table)
    if reference is not None and TARGET[1] in times:
        print(f"\nratio diffrax VirtualBrownianTree / ours: {reference / times[TARGET[1]]:.1f}x")
    print(f"total wall time {time.perf_counter() - t_start:.1f} s")
    if ERRORS:
        print("\nERRORS (tracebacks above / in the JSON):", list(ERRORS))

    out_dir = REPO_ROOT / "benchmarks" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    out_file = out_dir / ("sde_quick.json" if args.quick else "sde.json")
    meta = {
        "problem": f"OU theta={THETA} mu={MU} sigma={SIGMA} X0={X0}, t in [{T0}, {T1}], "
        f"dt={DT}, {paths} paths (jit(vmap) over split keys), final state, float64",
        "timing": f"median of {repeats} rounds, the columns taking turns (_common.median_times)",
        "compile_method": "jax.jit(fn).lower(keys).compile(), once",
        "exact": {"mean": mean, "variance": variance},
        "load_average_1min_at_start_and_end": [load_start, os.getloadavg()[0]],
        "wall_time_s": time.perf_counter() - t_start,
        "machine": machine(),
        "versions": {"diffrax": diffrax.__version__, "numpy": np.__version__},
    }
    results = {"time_s": times, "compile_s": compile_s, "moments": checks, "table": table}
    if reference is not None and TARGET[1] in times:
        results["ratio_diffrax_vbt_over_ours_euler_maruyama"] = reference / times[TARGET[1]]
    payload = {"meta": meta, "results": results, "errors": ERRORS}
    out_file.write_text(json.dumps(payload, indent=2, default=float))
    print(f"wrote {out_file.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
