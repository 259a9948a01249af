"""Stiff problems: Robertson's chemical kinetics and the Van der Pol relaxation oscillator.

Robertson (1966): three species with rate constants 0.04, 3e7 and 1e4,

    y1' = -0.04 y1 + 1e4 y2 y3
    y2' =  0.04 y1 - 1e4 y2 y3 - 3e7 y2^2
    y3' =  3e7 y2^2,

integrated to t = 1e5. The intermediate y2 settles within ~1e-4 s and then follows the
slow conversion of y1 into y3 over ten decades of time: the Jacobian's eigenvalues
reach -1e4, so an explicit method is held to steps of ~1e-4 for the whole run. Each
stiff method is checked against the catalogue's reference solution (scipy Radau at
rtol 1e-12, agreeing with the Test Set for IVP Solvers of Mazzia & Magherini).

Van der Pol with mu = 1000 (y1' = y2, y2' = mu ((1 - y1^2) y2 - y1), y0 = (2, 0), t to
2 mu): slow phases on which the problem is stiff, separated by fast jumps on which it
is not. ``method="auto"`` runs ``tsit5`` while non-stiff and switches to ``rodas5``
when it detects stiffness (step size times the Jacobian's spectral radius held at the
explicit method's stability limit), and back: the figure colours each step by method.

Prints, per method: accepted and rejected steps, evaluations of f, the component-wise
error relative to each component's scale, and the run time (after compilation).
Writes ``stiff_robertson.png`` and ``stiff_van_der_pol.png`` into ``--out``. Exits with
an error if a method misses the reference by more than 1e-4 (relative).

Reference: Hairer & Wanner, *Solving ODEs II*, 2nd ed. (1996), sections IV.1 and IV.10.

Run:  python examples/stiff_chemistry.py [--out DIR] [--quick]
"""

from __future__ import annotations

import sys

import jax

jax.config.update("jax_enable_x64", True)

import matplotlib  # noqa: E402
import numpy as np  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from _report import Timer, parse_arguments, save_figure  # noqa: E402  (examples/_report.py)

import problems  # noqa: E402
import solvers  # noqa: E402

RTOL = 1e-6


def scaled_error(y, reference, atol):
    reference = np.asarray(reference)
    return float(np.max(np.abs(np.asarray(y) - reference) / (np.abs(reference) + atol)))


def run(prob, method, atol, **options):
    """Compile, then time one solve; returns (solution, seconds)."""
    solve = jax.jit(
        lambda params: solvers.solve(
            prob.vector_field,
            prob.y0,
            prob.t_span,
            params,
            method=method,
            rtol=RTOL,
            atol=atol,
            max_steps=50_000,
            **options,
        )
    )
    jax.block_until_ready(solve(prob.params).ys)
    with Timer() as timer:
        sol = jax.block_until_ready(solve(prob.params))
    return sol, timer.seconds


def report(label, sol, seconds, error):
    stats = {key: int(value) for key, value in sol.stats.items() if key != "stiffness"}
    print(
        f"  {label:10s} steps {stats['num_accepted']:6d} (+{stats['num_rejected']:4d} rejected)"
        f"  f-evals {stats['num_fevals']:7d}  error {error:8.1e}  {seconds * 1e3:8.2f} ms"
    )


def robertson(out, quick):
    atol = 1e-10
    prob = problems.get("robertson")
    print(f"Robertson to t = {prob.t_span[1]:g}, rtol {RTOL:g}, atol {atol:g}:")
    methods = ["rodas5"] if quick else ["rodas5", "radau5", "kvaerno5", "bdf", "auto"]
    ok = True
    for method in methods:
        sol, seconds = run(prob, method, atol)
        error = scaled_error(sol.ys[-1], prob.reference_solution, atol)
        report(method, sol, seconds, error)
        ok &= int(sol.status) == 0 and error <= 1e-4

    # The figure: every accepted step of rodas5, species on a log time axis.
    sol = prob.solve(method="rodas5", rtol=RTOL, atol=atol, ts="steps", max_steps=2000)
    ts, ys = np.asarray(sol.ts), np.asarray(sol.ys)
    keep = np.isfinite(ts) & (ts > 0)
    figure, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for index, (label, scale) in enumerate([("y1", 1), ("y2 x 1e4", 1e4), ("y3", 1)]):
        axes[0].semilogx(ts[keep], scale * ys[keep, index], ".-", ms=3, label=label)
    axes[0].set_xlabel("t")
    axes[0].set_title("Robertson kinetics (rodas5, every step)")
    axes[0].legend()
    steps = np.diff(ts[np.isfinite(ts)])
    axes[1].loglog(ts[np.isfinite(ts)][1:], steps, ".", ms=3)
    axes[1].set_xlabel("t")
    axes[1].set_ylabel("step size")
    axes[1].set_title(f"{len(steps)} steps from 1e-6 to 1e4 long")
    path = save_figure(figure, out, "stiff_robertson.png")
    print(f"  wrote {path}")
    return ok


def van_der_pol(out, quick):
    atol = 1e-6
    mu = 1000.0
    span = (0.0, 600.0) if quick else (0.0, 2 * mu)
    prob = problems.get("van_der_pol_stiff", mu=mu, t_span=span)
    full = problems.get("van_der_pol_stiff")
    print(f"Van der Pol, mu = {mu:g}, t to {span[1]:g}, rtol {RTOL:g}, atol {atol:g}:")
    ok = True
    results = {}
    if quick:
        reference = np.asarray(
            prob.solve(method="rodas5", rtol=1e-10, atol=1e-10, max_steps=50_000).ys[-1]
        )
    else:
        reference = full.reference_solution
    for method in ["auto"] if quick else ["rodas5", "radau5", "auto"]:
        sol, seconds = run(prob, method, atol)
        results[method] = sol
        error = scaled_error(sol.ys[-1], reference, atol)
        report(method, sol, seconds, error)
        ok &= int(sol.status) == 0 and error <= 1e-4
    auto = results["auto"]
    print(
        f"  auto switched {int(auto.stats['num_switches'])} times; "
        f"{int(auto.stats['num_stiff_steps'])} of {int(auto.stats['num_accepted'])} steps stiff"
    )

    # Every step of auto, coloured by the method that took it: stiff steps are the long
    # ones on the slow branches.
    sol = prob.solve(method="auto", rtol=RTOL, atol=atol, ts="steps", max_steps=5000)
    ts, ys = np.asarray(sol.ts), np.asarray(sol.ys)
    keep = np.isfinite(ts)
    ts, ys = ts[keep], ys[keep]
    steps = np.diff(ts)
    rho = np.array(
        [
            np.max(
                np.abs(
                    np.linalg.eigvals(
                        jax.jacfwd(lambda z: prob.vector_field(0.0, z, prob.params))(y)
                    )
                )
            )
            for y in ys[:-1]
        ]
    )
    stiff = steps * rho > solvers.auto.STABILITY_LIMIT
    figure, axes = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    axes[0].plot(ts, ys[:, 0], "k-", lw=0.8)
    axes[0].scatter(ts[1:][stiff], ys[1:, 0][stiff], s=6, c="tab:red", label="h rho > 3.25")
    axes[0].scatter(ts[1:][~stiff], ys[1:, 0][~stiff], s=6, c="tab:blue", label="h rho <= 3.25")
    axes[0].set_ylabel("y1")
    axes[0].legend(loc="upper right")
    axes[0].set_title(f"Van der Pol, mu = {mu:g}: method='auto'")
    axes[1].semilogy(ts[1:], steps, ".", ms=3)
    axes[1].set_ylabel("step size")
    axes[1].set_xlabel("t")
    path = save_figure(figure, out, "stiff_van_der_pol.png")
    print(f"  wrote {path}")
    return ok


def main(argv=None):
    args, out = parse_arguments(
        __doc__, argv, "shorter Van der Pol run; rodas5 and auto only (a smoke test)"
    )
    ok = robertson(out, args.quick)
    ok &= van_der_pol(out, args.quick)
    if not ok:
        print("FAILED: a method missed the reference by more than 1e-4", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
