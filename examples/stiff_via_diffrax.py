"""A stiff problem: Van der Pol with a large mu, solved through the diffrax route.

    x'' - mu (1 - x^2) x' + x = 0,    as    x' = v,  v' = mu (1 - x^2) v - x

(the catalogue's ``problems.get("van_der_pol", mu=...)``, stiff for ``mu >= 100``).

For large ``mu`` the solution alternates slow drifts with fast jumps, and an explicit
method's step size is limited by stability, not accuracy: ``tsit5`` needs a huge number
of tiny steps. ``solvers.solve(method=diffrax.Kvaerno5())`` routes the same call to
``diffrax.diffeqsolve`` with an implicit ESDIRK method. The script then shows what an
explicit method does here: with a small ``max_steps`` and ``throw=False`` it returns
status 1 and a message that says what to do; with ``throw=True`` the same message is
raised.

Run:  python examples/stiff_via_diffrax.py [--out DIR] [--quick]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import diffrax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import problems  # noqa: E402
import solvers  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out", help="folder for the figure (default: out/)")
    parser.add_argument("--quick", action="store_true", help="smaller problem, a few seconds")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    mu = 100.0 if args.quick else 1000.0
    t1 = 3.0 * mu  # about 1.9 relaxation periods ((3 - 2 ln 2) mu each)
    prob = problems.get("van_der_pol", mu=mu, t_span=(0.0, t1))
    van_der_pol, y0, params = prob.vector_field, prob.y0, prob.params
    ts = jnp.linspace(0.0, t1, 400)
    print(
        f"Van der Pol, mu = {mu:g}, t in [0, {t1:g}], y0 = {y0.tolist()} "
        f"(catalogue: stiff={prob.stiff})"
    )

    # jax.jit around solve: one compiled program (calling solve eagerly also works,
    # but dispatches the set-up op by op and is slower to the first result).
    start = time.perf_counter()
    stiff = jax.jit(
        lambda y0, params: solvers.solve(
            van_der_pol,
            y0,
            (0.0, t1),
            params,
            method=diffrax.Kvaerno5(),
            ts=ts,
            rtol=1e-6,
            atol=1e-9,
        )
    )(y0, params)
    jax.block_until_ready(stiff.ys)
    elapsed = time.perf_counter() - start
    print(
        f"  diffrax.Kvaerno5 via solvers.solve: status {int(stiff.status)} "
        f"({stiff.message}), {int(stiff.stats['num_accepted'])} accepted + "
        f"{int(stiff.stats['num_rejected'])} rejected steps, {elapsed:.2f} s "
        f"(compile included), x(t1) = {float(stiff.ys[-1, 0]):.6f}"
    )

    max_steps = 500 if args.quick else 2000
    start = time.perf_counter()
    explicit = jax.jit(
        lambda y0, params: solvers.solve(
            van_der_pol,
            y0,
            (0.0, t1),
            params,
            method="tsit5",
            ts=ts,
            max_steps=max_steps,
            throw=False,
        )
    )(y0, params)
    jax.block_until_ready(explicit.ys)
    elapsed = time.perf_counter() - start
    reached = int(jnp.sum(jnp.isfinite(explicit.ys[:, 0])))
    print(
        f"  tsit5, max_steps={max_steps}, throw=False: status {int(explicit.status)}, "
        f"{int(explicit.stats['num_steps'])} steps in {elapsed:.2f} s, reached "
        f"{reached} of {ts.shape[0]} save points (the rest are NaN), the last at "
        f"t = {float(ts[reached - 1]):.4g} of {t1:g}"
    )
    print(f"  message: {explicit.message}")

    # Called eagerly the error is an equinox.EquinoxRuntimeError; under a plain
    # jax.jit it surfaces as a jax.errors.JaxRuntimeError carrying the same message.
    try:
        solvers.solve(van_der_pol, y0, (0.0, t1), params, method="tsit5", max_steps=max_steps)
    except Exception as error:
        lines = [line for line in str(error).splitlines() if "solvers.solve failed" in line]
        print(f"  with throw=True it raises {type(error).__name__}:")
        print(f"    {lines[0].strip() if lines else str(error).splitlines()[0]}")

    figure, axes = plt.subplots(figsize=(8, 4))
    axes.plot(ts, stiff.ys[:, 0], label="diffrax.Kvaerno5 (implicit) via solvers.solve")
    axes.plot(
        ts, explicit.ys[:, 0], "o-", ms=4, label=f"tsit5: status 1 after max_steps={max_steps}"
    )
    axes.set_xlabel("t")
    axes.set_ylabel("x")
    axes.set_title(f"Van der Pol, mu = {mu:g}")
    axes.legend(loc="upper right")
    figure.tight_layout()
    path = out / "van_der_pol_stiff.png"
    figure.savefig(path, dpi=120)
    plt.close(figure)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
