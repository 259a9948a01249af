"""PDE benchmark: `solvers.pde` + ETDRK4 next to exponax 0.2 and py-pde.

Everything runs in one process on the CPU, side by side, on the same grids, initial
conditions, step sizes and numbers of steps:

* **Kuramoto-Sivashinsky 1-D** (conservative form, exponax's
  ``KuramotoSivashinskyConservative``): u_t = -u_xx - u_xxxx - (u^2/2)_x on
  [0, 32 pi) (exponax's ``domain_extent`` is the length L), N = 256, dt = 0.25;
* **Burgers 1-D** (exponax's ``Burgers``, non-conservative): u_t = nu u_xx - u u_x on
  [0, 1), nu = 0.01, N = 256, dt = 1/512;
* **Navier-Stokes 2-D** in vorticity form (exponax's ``NavierStokesVorticity``):
  w_t = nu Lap w - (u . grad) w, u = (psi_y, -psi_x), Lap psi = w, on [0, 1)^2,
  nu = 1e-3, N = 128^2, dt = 1/64.

Our side builds ``solvers.pde.semilinear(FourierOperator(grid, symbol),
spectral_nonlinear=...)`` with exponax's own dealiasing (its 2/3 mask keeps the
integer wavenumbers |m| <= 2/3 (N/2) - 1 on every axis, applied before the inverse and
after the forward transform of the nonlinear term) and solves it with
``solvers.solve(..., method="etdrk4", dt=dt)``; exponax runs its steppers with
``order=4`` (ETDRK4; its default is 2). Both sides agree to rounding after a few steps
(checked at start-up, float64). Measured, in float32 and float64 (exponax's steppers
are built with x64 off for float32, as exponax itself would run):

(a) one long trajectory, final state only: time per step (best of N, compile excluded);
    also a hand-written ``lax.scan`` ETDRK4 loop on the same field and coefficients
    (the cost of the method alone), a one-step call (the fixed cost of a call: ours
    forms the ETDRK coefficients inside every solve, exponax when the stepper is built),
    the coefficients alone, and a dt that is not a power of two (float32);
(b) batched rollouts, ``jax.jit(jax.vmap(...))`` over B initial conditions: saving every
    step (exponax ``rollout(stepper, n, include_init=True)``; ours ``ts=`` every step
    and ``ts="steps"``) and final state only (exponax ``repeat``); time per rollout;
(c) compile time (``jax.jit(fn).lower(x).compile()``, once, tracing included);
(d) accuracy: relative L2 error at fixed times against a fine reference (ours, ETDRK4,
    dt/16, float64), mean over the first few initial conditions of the batch.

Then a loop-overhead breakdown (KS, one trajectory and a vmap over B members):
hand-written loops that add, one at a time, the work our driver loop does per step,
with the instruction and FFT counts of each compiled loop body. Last, **py-pde** on Fisher-KPP 2-D (u_t = Lap u + u (1 - u),
[0, 64)^2 periodic, 128^2, t in [0, 10], float64): wall time and error against a
spectral reference of our fixed-step methods and py-pde's Euler, Runge-Kutta and
Crank-Nicolson steppers (its finite differences on the same grid).

Ratios are exponax time / our time (py-pde time / our time): > 1 means we are faster.
Times are given as wall (process CPU): the machine is shared, and the CPU time does not
count the time spent waiting for a core.

Usage (from the repository root):

    python benchmarks/bench_pde.py           # full run (about 20 minutes on 2 cores)
    python benchmarks/bench_pde.py --quick   # smoke test: KS float32 only (about 1 minute)
    python benchmarks/bench_pde.py --only ns pypde   # some sections (ks burgers ns
                                                     # breakdown pypde)

Writes benchmarks/results/pde.json (pde_quick.json with --quick). See
benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
import traceback
import warnings
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

import exponax as ex  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from _common import fmt, machine, markdown_table, start_run, turn_clocks  # noqa: E402
from jax import lax  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
import solvers  # noqa: E402
from solvers.exponential import phi_coefficients  # noqa: E402

ERRORS = {}
ETDRK4_KINDS = ("E", "E2", "Q", "f1", "f2", "f3")


def record_failure(what):
    ERRORS[what] = traceback.format_exc()
    print(f"!! '{what}' failed:\n{ERRORS[what]}", file=sys.stderr)


def git_commit():
    """The repository's HEAD (the library version measured), or None."""
    try:
        return subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return None


def log(t_start, message):
    print(f"[{time.perf_counter() - t_start:7.1f} s] {message}", flush=True)


def complex_of(dtype):
    return jnp.complex64 if dtype == jnp.float32 else jnp.complex128


# ------------------------------------------------------------------ the three problems


def exponax_mask(n, ndim, fraction=2 / 3):
    """exponax 0.2's dealiasing mask on the rfftn layout: keep |m| <= fraction (n//2) - 1
    on every axis (m the integer wavenumber)."""
    axes = [np.abs(np.fft.fftfreq(n, 1 / n))] * (ndim - 1) + [np.abs(np.fft.rfftfreq(n, 1 / n))]
    keep = np.ones([a.size for a in axes], bool)
    for grid_axis in np.meshgrid(*axes, indexing="ij"):
        keep &= grid_axis <= fraction * (n // 2) - 1
    return keep


def random_fourier(seed, batch, shape, max_mode, amplitude):
    """``batch`` real fields on ``shape`` (periodic) made of the integer wavenumbers
    0 < |m|_inf <= max_mode with normal coefficients, zero mean, max |u| = amplitude.
    Member ``i`` depends on ``(seed, i)`` only, not on ``batch``."""
    ms = [np.fft.fftfreq(n, 1 / n) for n in shape[:-1]]
    ms.append(np.fft.rfftfreq(shape[-1], 1 / shape[-1]))
    grids = np.meshgrid(*ms, indexing="ij")
    band = np.ones(grids[0].shape, bool)
    for g in grids:
        band &= np.abs(g) <= max_mode
    band &= sum(np.abs(g) for g in grids) > 0
    fields = []
    for member in range(batch):
        rng = np.random.default_rng([seed, member])
        coefficients = rng.standard_normal(band.shape) + 1j * rng.standard_normal(band.shape)
        field = np.fft.irfftn(coefficients * band, s=shape, axes=tuple(range(len(shape))))
        fields.append(amplitude * field / np.max(np.abs(field)))
    return np.stack(fields)


def rfft_wavenumbers(n, length):
    """Angular wavenumbers of ``rfft`` on a periodic interval of ``length``."""
    return 2 * np.pi * np.fft.rfftfreq(n, length / n)


class Problem:
    """One semilinear PDE on both sides: its grid, step, our field, exponax's stepper."""

    def __init__(self, name, **cfg):
        self.name = name
        self.__dict__.update(cfg)
        self.shape = (self.n,) * self.ndim
        self.grid = solvers.pde.Grid(self.shape, ((0.0, self.length),) * self.ndim)
        self.mask = exponax_mask(self.n, self.ndim)

    def ours(self, dtype):
        """Our semilinear field with constants of ``dtype`` (no silent promotion)."""
        return solvers.pde.semilinear(
            solvers.pde.FourierOperator(self.grid, self.symbol),
            spectral_nonlinear=self.nonlinear(dtype),
        )

    def exponax(self, dtype, dt=None):
        dt = self.dt if dt is None else dt
        # exponax builds its operators in JAX's default precision: float32 with x64 off.
        with jax.enable_x64(dtype == jnp.float64):
            return self.stepper(dt)

    def initial(self, batch, dtype, seed=0):
        fields = random_fourier(seed, batch, self.shape, self.ic_modes, self.ic_amplitude)
        return jnp.asarray(fields, dtype)


def ks_problem():
    n, length = 256, 32 * np.pi

    def nonlinear(dtype):
        k = rfft_wavenumbers(n, length)
        mask = jnp.asarray(exponax_mask(n, 1), dtype)
        half_ik = jnp.asarray(0.5j * k * exponax_mask(n, 1), complex_of(dtype))

        def n_hat(t, u_hat, p):
            u = jnp.fft.irfft(u_hat * mask, n=n)
            return -(half_ik * jnp.fft.rfft(u * u))

        return n_hat

    return Problem(
        "kuramoto_sivashinsky",
        ndim=1,
        n=n,
        length=length,
        dt=0.25,
        non_dyadic_dt=0.2,
        symbol=lambda k, p: k**2 - k**4,
        nonlinear=nonlinear,
        stepper=lambda dt: ex.stepper.KuramotoSivashinskyConservative(1, length, n, dt, order=4),
        ic_modes=8,
        ic_amplitude=1.0,
        accuracy_steps=(120, 600),
    )


def burgers_problem():
    n, length, nu = 256, 1.0, 0.01

    def nonlinear(dtype):
        k = rfft_wavenumbers(n, length)
        mask = jnp.asarray(exponax_mask(n, 1), dtype)
        ik = jnp.asarray(1j * k, complex_of(dtype))

        def n_hat(t, u_hat, p):
            u_hat = u_hat * mask
            u = jnp.fft.irfft(u_hat, n=n)
            u_x = jnp.fft.irfft(ik * u_hat, n=n)
            return -(mask * jnp.fft.rfft(u * u_x))

        return n_hat

    return Problem(
        "burgers_1d",
        ndim=1,
        n=n,
        length=length,
        dt=1 / 512,
        non_dyadic_dt=0.002,
        symbol=lambda k, p: -nu * k**2,
        nonlinear=nonlinear,
        stepper=lambda dt: ex.stepper.Burgers(1, length, n, dt, diffusivity=nu, order=4),
        ic_modes=4,
        ic_amplitude=1.0,
        accuracy_steps=(600,),
    )


def navier_stokes_problem():
    n, length, nu = 128, 1.0, 1e-3

    def nonlinear(dtype):
        kx = 2 * np.pi * np.fft.fftfreq(n, length / n)[:, None]
        ky = 2 * np.pi * np.fft.rfftfreq(n, length / n)[None, :]
        k2 = kx**2 + ky**2
        inverse_laplacian = np.where(k2 == 0, 1.0, -1.0 / np.where(k2 == 0, 1.0, k2))
        ones = np.ones_like(k2)
        cdtype = complex_of(dtype)
        mask = jnp.asarray(exponax_mask(n, 2), dtype)
        ikx = jnp.asarray(1j * kx * ones, cdtype)
        iky = jnp.asarray(1j * ky * ones, cdtype)
        psi_of = jnp.asarray(inverse_laplacian, dtype)

        def n_hat(t, w_hat, p):
            w_hat = w_hat * mask
            psi = psi_of * w_hat
            u = jnp.fft.irfft2(iky * psi, s=(n, n))
            v = jnp.fft.irfft2(-(ikx * psi), s=(n, n))
            w_x = jnp.fft.irfft2(ikx * w_hat, s=(n, n))
            w_y = jnp.fft.irfft2(iky * w_hat, s=(n, n))
            return -(mask * jnp.fft.rfft2(u * w_x + v * w_y))

        return n_hat

    return Problem(
        "navier_stokes_2d",
        ndim=2,
        n=n,
        length=length,
        dt=1 / 64,
        non_dyadic_dt=0.015,
        symbol=lambda k, p: -nu * (k[0] ** 2 + k[1] ** 2),
        nonlinear=nonlinear,
        stepper=lambda dt: ex.stepper.NavierStokesVorticity(
            2, length, n, dt, diffusivity=nu, order=4
        ),
        ic_modes=4,
        ic_amplitude=5.0,
        accuracy_steps=None,  # the rollout's last step
    )


# ------------------------------------------------------------------ the functions timed


def our_solve(field, dt, steps, **kwargs):
    return lambda u: solvers.solve(
        field, u, (0.0, steps * dt), None, method="etdrk4", dt=dt, **kwargs
    )


def hand_etdrk4(field, dt, steps, like):
    """Cox-Matthews ETDRK4 written out in a ``lax.scan`` over spectral states, with our
    coefficients: the method's own cost, without a driver loop."""
    lam = field.linear.eigenvalues(None, like)
    c = phi_coefficients(lam, dt, ETDRK4_KINDS)
    n_hat = field.spectral_nonlinear

    def step(v, _):
        nv = n_hat(0.0, v, None)
        a = c["E2"] * v + c["Q"] * nv
        na = n_hat(0.0, a, None)
        b = c["E2"] * v + c["Q"] * na
        nb = n_hat(0.0, b, None)
        cc = c["E2"] * a + c["Q"] * (2 * nb - nv)
        nc = n_hat(0.0, cc, None)
        v1 = c["E"] * v + c["f1"] * nv + 2 * c["f2"] * (na + nb) + c["f3"] * nc
        return v1, None

    def run(u):
        v, _ = lax.scan(step, field.linear.transform(u), None, length=steps)
        return field.linear.inverse(v, u)

    return run


def compile_timed(fn, *args):
    start = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    return compiled, time.perf_counter() - start


def hlo_loop_stats(compiled):
    """FFTs in the whole program and, for the while body with the most instructions,
    its instruction and FFT counts (per step of a loop)."""
    text = compiled.as_text()
    computations, current = {}, None
    for line in text.split("\n"):
        if line and not line.startswith(" ") and line.rstrip().endswith("{"):
            current = line.split(" ")[1] if line.startswith("ENTRY") else line.split(" ")[0]
            computations[current] = []
        elif current is not None and line.startswith("  "):
            computations[current].append(line)
    bodies = set(re.findall(r"body=(%[\w.\-]+)", text))
    best = max((computations.get(b, []) for b in bodies), key=len, default=[])  # the main loop
    return {
        "fft_ops_total": len(re.findall(r" fft\(", text)),
        "loop_body_instructions": len(best),
        "loop_body_ffts": sum(" fft(" in line for line in best),
        "hlo_lines": text.count("\n"),
    }


def timed_rounds(calls, repeats, warmup=True):
    """Wall and process-CPU times of each zero-argument call, the calls taking turns
    (``_common.turn_clocks``). Returns ``{key: {"best_s", "median_s", "cpu_best_s"}}``.
    The CPU time (all threads of this process) does not count the time spent waiting
    for a core, so it is the more stable number on a loaded machine."""
    wall, cpu = turn_clocks(calls, repeats, warmup, (time.perf_counter, time.process_time))
    return {
        k: {"best_s": min(wall[k]), "median_s": sorted(wall[k])[len(wall[k]) // 2],
            "cpu_best_s": min(cpu[k])}
        for k in calls
    }  # fmt: skip


def relative_l2(a, b, axes):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.linalg.norm(a - b, axis=axes) / np.linalg.norm(b, axis=axes)


# ------------------------------------------------------------------ (a)-(d) per problem


def check_agreement(problem):
    """Ours and exponax after 4 steps from the same state, float64: the same equation."""
    u0 = problem.initial(1, jnp.float64)[0]
    ours = our_solve(problem.ours(jnp.float64), problem.dt, 4)(u0).ys[-1]
    theirs = ex.repeat(problem.exponax(jnp.float64), 4)(u0[None])[0]
    return float(relative_l2(ours, theirs, None))


def bench_problem(problem, dtype, cfg, t_start, results):
    label = f"{problem.name} {jnp.dtype(dtype).name}"
    field, stepper = problem.ours(dtype), problem.exponax(dtype)
    dt = problem.dt
    out = {"single": {}, "batch": {}, "compile_s": {}, "hlo": {}, "accuracy": {}}
    results[label] = out
    # exponax forms its ETDRK coefficients when the stepper is built (eagerly, outside
    # jit); ours forms them inside every solve.
    builds = []
    for _ in range(3):
        start = time.perf_counter()
        jax.block_until_ready(jax.tree.leaves(problem.exponax(dtype)))
        builds.append(time.perf_counter() - start)
    out["exponax_stepper_construction_s"] = min(builds)

    # (a) one long trajectory; and the cost of a one-step call (fixed cost per call)
    steps = cfg["single_steps"]
    u0 = problem.initial(1, dtype)[0]
    end_time = jnp.asarray(steps * dt)

    def ours_final(dt_):
        # t1 is an argument: one executable serves the long run and the one-step call.
        return lambda u, t1: solvers.solve(field, u, (0.0, t1), None, method="etdrk4", dt=dt_).ys[
            -1
        ]

    def exponax_final(stepper_, steps_):
        return lambda u: ex.repeat(stepper_, steps_)(u[None])[0]

    # name -> (function, arguments, steps, executable shared with)
    singles = {
        "ours etdrk4": (ours_final(dt), (u0, end_time), steps, None),
        "exponax ETDRK4": (exponax_final(stepper, steps), (u0,), steps, None),
        "hand-written lax.scan ETDRK4": (hand_etdrk4(field, dt, steps, u0), (u0,), steps, None),
    }
    if cfg["one_step"]:
        singles["ours etdrk4, 1 step (per-call cost)"] = (
            None, (u0, jnp.asarray(dt)), 1, "ours etdrk4",
        )  # fmt: skip
        singles["exponax ETDRK4, 1 step (per-call cost)"] = (
            exponax_final(stepper, 1), (u0,), 1, None,
        )  # fmt: skip
    if cfg["one_step"]:
        lam = field.linear.eigenvalues(None, u0)
        singles["phi-coefficient setup alone (ours, once per call)"] = (
            lambda lam: jnp.stack(list(phi_coefficients(lam, dt, ETDRK4_KINDS).values())),
            (lam,), 1, None,
        )  # fmt: skip
    if cfg["non_dyadic"] and dtype == jnp.float32:
        dt2, steps2 = problem.non_dyadic_dt, cfg["non_dyadic_steps"]
        singles[f"ours etdrk4, dt={dt2:g}"] = (
            ours_final(dt2), (u0, jnp.asarray(steps2 * dt2)), steps2, None,
        )  # fmt: skip
        singles[f"exponax ETDRK4, dt={dt2:g}"] = (
            exponax_final(problem.exponax(dtype, dt2), steps2), (u0,), steps2, None,
        )  # fmt: skip
    compiled = {}
    for name, (fn, fn_args, count, shared) in singles.items():
        try:
            if shared is not None:
                compiled[name] = compiled[shared]
            else:
                log(t_start, f"{label}: compile single '{name}'")
                compiled[name], out["compile_s"][f"single: {name}"] = compile_timed(fn, *fn_args)
                out["hlo"][f"single: {name}"] = hlo_loop_stats(compiled[name])
            final = compiled[name](*fn_args)
            out["single"][name] = {"finite": bool(jnp.all(jnp.isfinite(final))), "steps": count}
        except Exception:
            record_failure(f"{label} single {name}")
    try:
        stats = jax.jit(
            lambda u: solvers.solve(field, u, (0.0, steps * dt), None, method="etdrk4", dt=dt).stats
        )(u0)
        out["single_ours_stats"] = {
            k: int(np.asarray(v)) for k, v in stats.items() if k != "stiffness"
        }
    except Exception:
        record_failure(f"{label} single ours stats")
    log(t_start, f"{label}: timing single trajectories, {cfg['repeats']} rounds")
    calls = {k: (lambda c=c, a=singles[k][1]: c(*a)) for k, c in compiled.items()}
    times = timed_rounds(calls, cfg["repeats"], warmup=False)
    for name, t in times.items():
        count = singles[name][2]
        out["single"][name].update(
            **t,
            us_per_step=1e6 * t["best_s"] / count,
            cpu_us_per_step=1e6 * t["cpu_best_s"] / count,
        )

    # (b) batched rollouts and (d) accuracy
    n_roll = cfg["rollout_steps"]
    save_ts = jnp.linspace(0.0, n_roll * dt, n_roll + 1)
    for batch in cfg["batches"]:
        u_batch = problem.initial(batch, dtype)
        columns = {
            "save every step: exponax rollout(include_init=True)": (
                jax.vmap(ex.rollout(stepper, n_roll, include_init=True)),
                u_batch[:, None],
            ),
            "save every step: ours ts=every step": (
                jax.vmap(lambda u: our_solve(field, dt, n_roll, ts=save_ts)(u).ys),
                u_batch,
            ),
            'save every step: ours ts="steps"': (
                jax.vmap(
                    lambda u: our_solve(field, dt, n_roll, ts="steps", max_steps=n_roll)(u).ys
                ),
                u_batch,
            ),
            "final state: exponax repeat": (jax.vmap(ex.repeat(stepper, n_roll)), u_batch[:, None]),
            "final state: ours ts=None": (
                jax.vmap(lambda u: our_solve(field, dt, n_roll)(u).ys[-1]),
                u_batch,
            ),
        }
        compiled, outputs, block = {}, {}, {}
        for name, (fn, arg) in columns.items():
            log(t_start, f"{label}: compile B={batch} '{name}'")
            try:
                compiled[name], out["compile_s"][f"B={batch}: {name}"] = compile_timed(fn, arg)
                result = compiled[name](arg)  # also the warm-up
                if batch == cfg["batches"][0] and name.startswith("save"):
                    outputs[name] = np.asarray(result[: cfg["accuracy_members"]])
                block[name] = {"finite": bool(jnp.all(jnp.isfinite(result)))}
                del result
            except Exception:
                record_failure(f"{label} B={batch} {name}")
        repeats = cfg["repeats_big"] if batch >= 1000 else cfg["repeats_batch"]
        log(t_start, f"{label}: timing B={batch}, {repeats} rounds")
        times = timed_rounds(
            {k: (lambda c=c, a=columns[k][1]: c(a)) for k, c in compiled.items()},
            repeats,
            warmup=False,
        )
        for name, t in times.items():
            block[name].update(
                **t, ms_per_rollout=1e3 * t["best_s"] / batch,
                cpu_ms_per_rollout=1e3 * t["cpu_best_s"] / batch,
                us_per_member_step=1e6 * t["best_s"] / (batch * n_roll),
            )  # fmt: skip
        out["batch"][f"B={batch}"] = block
        if outputs:
            out["accuracy"] = accuracy(problem, dtype, cfg, outputs, n_roll, t_start)
        del compiled, outputs
    return out


def accuracy(problem, dtype, cfg, outputs, n_roll, t_start):
    """Relative L2 error at the accuracy steps against ours, ETDRK4, dt/16, float64."""
    members = cfg["accuracy_members"]
    steps_at = [s for s in (problem.accuracy_steps or (n_roll,)) if s <= n_roll]
    field = problem.ours(jnp.float64)
    fine = problem.dt / 16
    u_acc = problem.initial(members, jnp.float64)
    key = ("reference", problem.name, n_roll, members)
    if key not in REFERENCES:
        log(t_start, f"{problem.name}: reference (ETDRK4, dt/16, float64) at steps {steps_at}")
        ref_fn = jax.jit(
            jax.vmap(
                lambda u, t1: solvers.solve(field, u, (0.0, t1), None, method="etdrk4", dt=fine).ys[
                    -1
                ],
                in_axes=(0, None),
            )
        )
        REFERENCES[key] = {s: np.asarray(ref_fn(u_acc, s * problem.dt)) for s in steps_at}
    refs = REFERENCES[key]
    axes = tuple(range(1, problem.ndim + 1))
    result = {}
    for name, ys in outputs.items():
        rows = {}
        for s in steps_at:
            snapshot = ys[:, s, 0] if "exponax" in name else ys[:, s]
            errors = relative_l2(snapshot, refs[s], axes)
            rows[f"t={s * problem.dt:g} (step {s})"] = {
                "mean": float(np.mean(errors)),
                "max": float(np.max(errors)),
            }
        result[name] = rows
    return result


REFERENCES = {}


# ------------------------------------------------------------------ loop-overhead breakdown


def overhead_breakdown(problem, dtype, steps, repeats, t_start, batch=None):
    """Hand-written loops on KS that add, one at a time, the per-step work of our driver
    loop, next to ours and exponax: where the time per step goes. With ``batch``, every
    column is ``vmap``-ped over that many initial conditions (final state only)."""
    field = problem.ours(dtype)
    dt = problem.dt
    u0 = problem.initial(1, dtype)[0]
    lam = field.linear.eigenvalues(None, u0)
    coeffs = phi_coefficients(lam, dt, ETDRK4_KINDS)
    n_hat = field.spectral_nonlinear
    to_hat, from_hat = field.linear.transform, lambda v: field.linear.inverse(v, u0)

    def advance(c, v, nv):
        a = c["E2"] * v + c["Q"] * nv
        na = n_hat(0.0, a, None)
        b = c["E2"] * v + c["Q"] * na
        nb = n_hat(0.0, b, None)
        cc = c["E2"] * a + c["Q"] * (2 * nb - nv)
        nc = n_hat(0.0, cc, None)
        v1 = c["E"] * v + c["f1"] * nv + 2 * c["f2"] * (na + nb) + c["f3"] * nc
        return v1, n_hat(0.0, v1, None)  # first-same-as-last, as ours

    h_nominal = jnp.asarray(dt, u0.real.dtype)

    def variant(level):
        def body(carry):
            i, t, y, h_cached, c, v, nv = carry
            if level >= 3:
                # as ours: h = next grid point - t; coefficients recomputed unless
                # h == h_cached; the kept coefficients selected with jnp.where
                h = (i + 1).astype(t.dtype) * h_nominal - t
                c_use = lax.cond(
                    h == h_cached, lambda: c, lambda: phi_coefficients(lam, h, ETDRK4_KINDS)
                )
            else:
                h, c_use = h_cached, c
            v1, nv1 = advance(c_use, v, nv)
            y1 = from_hat(v1) if level >= 2 else y
            c_new = c
            if level >= 3:
                keep = h == h_cached
                if level >= 4:
                    # ours selects with flags that depend on the member's own state
                    # (accepted = finite); under vmap the coefficients become per member
                    keep = keep & jnp.all(jnp.isfinite(y1))
                c_new = jax.tree.map(lambda a, b: jnp.where(keep, a, b), c, c_use)
            return (i + 1, t + h, y1, h_cached, c_new, v1, nv1)

        def run(u):
            v = to_hat(u)
            carry = (
                jnp.zeros((), jnp.int32), jnp.zeros((), u0.real.dtype), u, h_nominal,
                coeffs, v, n_hat(0.0, v, None),
            )  # fmt: skip
            if level == 0:
                carry = lax.scan(lambda c, _: (body(c), None), carry, None, length=steps)[0]
            else:
                carry = lax.while_loop(lambda c: c[0] < steps, body, carry)
            # From level 2 on the physical state is the result, as in ours (so that XLA
            # cannot drop the per-step inverse transform).
            return carry[2] if level >= 2 else from_hat(carry[5])

        return run

    names = {
        "1 lax.scan, spectral state": variant(0),
        "2 lax.while_loop, spectral state": variant(1),
        "3 + physical state each step (1 inverse FFT)": variant(2),
        "4 + per-step coefficient check (cond h == h_cached, where)": variant(3),
        "5 + coefficient select flag per member (h == h_cached & finite)": variant(4),
        "ours solvers.solve etdrk4": lambda u: our_solve(field, dt, steps)(u).ys[-1],
        "exponax ETDRK4 (repeat)": lambda u: ex.repeat(problem.exponax(dtype), steps)(u[None])[0],
    }
    x = u0 if batch is None else problem.initial(batch, dtype)
    if batch is not None:
        names = {k: jax.vmap(fn) for k, fn in names.items()}
    compiled, result = {}, {}
    for name, fn in names.items():
        log(t_start, f"overhead breakdown {jnp.dtype(dtype).name}, B={batch}: compile '{name}'")
        try:
            compiled[name], compile_s = compile_timed(fn, x)
            result[name] = {"compile_s": compile_s, **hlo_loop_stats(compiled[name])}
        except Exception:
            record_failure(f"overhead {name}")
    times = timed_rounds({k: (lambda c=c: c(x)) for k, c in compiled.items()}, repeats)
    member_steps = steps * (batch or 1)
    for name, t in times.items():
        result[name].update(
            us_per_step=1e6 * t["best_s"] / member_steps,
            median_us_per_step=1e6 * t["median_s"] / member_steps,
            cpu_us_per_step=1e6 * t["cpu_best_s"] / member_steps,
        )
    return result


def per_call_breakdown(problem, dtype, repeats, t_start):
    """The fixed cost of one call: one-step solves with methods with and without
    phi-functions, and the ETDRK coefficients alone at 16 and 32 contour points."""
    field = problem.ours(dtype)
    u0 = problem.initial(1, dtype)[0]
    lam = field.linear.eigenvalues(None, u0)
    dt = problem.dt
    columns = {}
    for method in ("etdrk4", "etdrk1", "imex2", "rk4"):
        columns[f"ours {method}, 1 step"] = (
            lambda u, m=method: solvers.solve(field, u, (0.0, dt), None, method=m, dt=dt).ys[-1],
            u0,
        )
    for kinds in (("E", "phi1"), ETDRK4_KINDS):
        for points in (16, 32):
            columns[f"phi_coefficients {'+'.join(kinds)}, {points} contour points"] = (
                lambda lam_, k=kinds, m=points: jnp.stack(
                    list(phi_coefficients(lam_, dt, k, m).values())
                ),
                lam,
            )
    stepper = problem.exponax(dtype)
    columns["exponax ETDRK4, 1 step"] = (lambda u: ex.repeat(stepper, 1)(u[None])[0], u0)
    compiled, result = {}, {}
    for name, (fn, arg) in columns.items():
        log(t_start, f"per-call breakdown {problem.name}: compile '{name}'")
        try:
            compiled[name], compile_s = compile_timed(fn, arg)
            result[name] = {"compile_s": compile_s}
        except Exception:
            record_failure(f"per-call {problem.name} {name}")
    calls = {k: (lambda c=c, a=columns[k][1]: c(a)) for k, c in compiled.items()}
    for name, t in timed_rounds(calls, repeats).items():
        result[name].update(t)
    return result


# ------------------------------------------------------------------ py-pde: Fisher-KPP 2-D

FK = {"n": 128, "length": 64.0, "diffusivity": 1.0, "rate": 1.0, "t1": 10.0}


def fisher_initial(x, y):
    def bump(x0, y0, width, height):
        return height * np.exp(-((x - x0) ** 2 + (y - y0) ** 2) / width)

    return bump(20, 24, 8, 1.0) + bump(44, 40, 12, 0.8) + bump(30, 50, 6, 0.5)


def bench_pypde(cfg, t_start):
    import pde  # py-pde

    warnings.simplefilter("ignore")  # its ExplicitSolver deprecation notes etc.
    n, length, D, r, t1 = FK["n"], FK["length"], FK["diffusivity"], FK["rate"], FK["t1"]
    out = {"problem": FK, "columns": {}}

    grid = solvers.pde.Grid((n, n), ((0.0, length), (0.0, length)))
    field = solvers.pde.semilinear(
        solvers.pde.FourierOperator(grid, lambda k, p: -D * (k[0] ** 2 + k[1] ** 2)),
        lambda t, u, p: r * u * (1 - u),
    )
    gx, gy = grid.x
    u0 = jnp.asarray(fisher_initial(np.asarray(gx), np.asarray(gy)))

    log(t_start, "py-pde: spectral reference (ours ETDRK4, dt = 1/64)")
    reference = np.asarray(
        solvers.solve(field, u0, (0.0, t1), None, method="etdrk4", dt=1 / 64).ys[-1]
    )
    if cfg["spatial_check"]:
        fine_grid = solvers.pde.Grid((2 * n, 2 * n), ((0.0, length), (0.0, length)))
        fine_field = solvers.pde.semilinear(
            solvers.pde.FourierOperator(fine_grid, lambda k, p: -D * (k[0] ** 2 + k[1] ** 2)),
            lambda t, u, p: r * u * (1 - u),
        )
        fx, fy = fine_grid.x
        fine = solvers.solve(
            fine_field, jnp.asarray(fisher_initial(np.asarray(fx), np.asarray(fy))),
            (0.0, t1), None, method="etdrk4", dt=1 / 64,
        ).ys[-1]  # fmt: skip
        out["reference_spatial_check"] = float(relative_l2(reference, fine[::2, ::2], None))

    ours_columns = {
        "ours etdrk4 dt=0.5": ("etdrk4", 0.5),
        "ours etdrk4 dt=0.25": ("etdrk4", 0.25),
        "ours etdrk4 dt=0.1": ("etdrk4", 0.1),
        "ours imex2 dt=0.125": ("imex2", 0.125),
    }
    compiled = {}
    for name, (method, dt) in ours_columns.items():
        log(t_start, f"py-pde section: compile '{name}'")
        try:
            fn = lambda u, m=method, h=dt: solvers.solve(  # noqa: E731
                field, u, (0.0, t1), None, method=m, dt=h
            ).ys[-1]
            compiled[name], compile_s = compile_timed(fn, u0)
            error = float(relative_l2(compiled[name](u0), reference, None))
            out["columns"][name] = {"compile_s": compile_s, "steps": round(t1 / dt), "error": error}
        except Exception:
            record_failure(f"py-pde section {name}")

    pgrid = pde.CartesianGrid([[0, length], [0, length]], [n, n], periodic=True)
    px, py = np.meshgrid(*pgrid.axes_coords, indexing="ij")
    state = pde.ScalarField(pgrid, fisher_initial(px, py))
    equation = pde.PDE({"u": f"{D} * laplace(u) + {r} * u * (1 - u)"})
    pypde_columns = {
        "py-pde Euler dt=0.05": (pde.EulerSolver, 0.05),
        "py-pde RungeKutta dt=0.05": (pde.RungeKuttaSolver, 0.05),
        "py-pde CrankNicolson dt=0.05": (pde.CrankNicolsonSolver, 0.05),
    }
    own_reference = None
    if cfg["pypde_own_reference"]:
        log(t_start, "py-pde: its own semi-discrete reference (ScipySolver, rtol 1e-10)")
        own = pde.ScipySolver(equation, rtol=1e-10, atol=1e-12)
        own_reference = pde.Controller(own, t_range=t1, tracker=None).run(state.copy()).data
        out["pypde_semidiscrete_vs_spectral"] = float(relative_l2(own_reference, reference, None))
    steppers = {}
    for name, (solver_class, dt) in pypde_columns.items():
        log(t_start, f"py-pde: compile (numba) '{name}'")
        try:
            start = time.perf_counter()
            stepper = solver_class(equation).make_stepper(state, dt)
            trial = state.copy()
            stepper(trial, 0.0, t1)
            column = {
                "compile_and_first_run_s": time.perf_counter() - start,
                "steps": round(t1 / dt),
                "error": float(relative_l2(trial.data, reference, None)),
            }
            if own_reference is not None:
                column["time_error_vs_own_reference"] = float(
                    relative_l2(trial.data, own_reference, None)
                )
            out["columns"][name] = column
            steppers[name] = stepper
        except Exception:
            record_failure(f"py-pde {name}")

    log(t_start, f"py-pde section: timing, {cfg['repeats']} rounds")
    calls = {k: (lambda c=c: c(u0)) for k, c in compiled.items()}
    for name, stepper in steppers.items():
        copies = [state.copy() for _ in range(cfg["repeats"] + 1)]
        calls[name] = lambda s=stepper, cs=copies: s(cs.pop(), 0.0, t1)
    for name, t in timed_rounds(calls, cfg["repeats"], warmup=False).items():
        out["columns"][name].update(t)
    return out


# ------------------------------------------------------------------ tables


def pair(wall, cpu, spec):
    """``"wall (cpu)"``, e.g. ``"73.0 (61.2)"``."""
    return f"{fmt(wall, spec)} ({fmt(cpu, spec)})"


def ratio_of(theirs, ours):
    return theirs / ours if (theirs and ours) else None


def tables(results, breakdown, per_call, pypde):
    lines = []
    for label, res in results.items():
        single = res["single"]
        rows = []
        for name, row in single.items():
            us, cpu = row.get("us_per_step"), row.get("cpu_us_per_step")
            wall_ratio = cpu_ratio = None
            if name.startswith("ours"):
                other = single.get("exponax ETDRK4" + name[len("ours etdrk4") :], {})
                wall_ratio = ratio_of(other.get("us_per_step"), us)
                cpu_ratio = ratio_of(other.get("cpu_us_per_step"), cpu)
            rows.append([
                name, str(row.get("steps", "-")), pair(us, cpu, "{:.1f}"),
                pair(wall_ratio, cpu_ratio, "{:.2f}"),
                fmt(res["compile_s"].get(f"single: {name}"), "{:.2f}"),
            ])  # fmt: skip
        lines.append(f"\n### {label}: one trajectory, final state\n")
        lines.append(markdown_table(
            ["column", "steps", "us/step, wall (cpu)", "exponax/ours, wall (cpu)", "compile [s]"],
            rows,
        ))  # fmt: skip
        build = res.get("exponax_stepper_construction_s")
        lines.append(
            f"\n(exponax builds a stepper, with its ETDRK coefficients, eagerly in "
            f"{fmt(None if build is None else 1e3 * build, '{:.1f}')} ms, outside jit.)"
        )
        for batch, block in res["batch"].items():
            rows = []
            for name, row in block.items():
                ms, cpu = row.get("ms_per_rollout"), row.get("cpu_ms_per_rollout")
                kind = name.split(":")[0]
                other = next(
                    (r for n, r in block.items() if n.startswith(kind) and "exponax" in n), {}
                )
                ours = "ours" in name
                rows.append([
                    name, pair(ms, cpu, "{:.3f}"),
                    pair(ratio_of(other.get("ms_per_rollout"), ms) if ours else None,
                         ratio_of(other.get("cpu_ms_per_rollout"), cpu) if ours else None,
                         "{:.2f}"),
                    fmt(res["compile_s"].get(f"{batch}: {name}"), "{:.2f}"),
                ])  # fmt: skip
            lines.append(f"\n{label}, {batch}, time per rollout (best):\n")
            lines.append(markdown_table(
                ["column", "ms/rollout, wall (cpu)", "exponax/ours, wall (cpu)", "compile [s]"],
                rows,
            ))  # fmt: skip
        if res["accuracy"]:
            rows = []
            for name, by_time in res["accuracy"].items():
                for when, err in by_time.items():
                    rows.append([name, when, fmt(err["mean"], "{:.2e}"), fmt(err["max"], "{:.2e}")])
            lines.append(f"\n{label}: relative L2 error vs ETDRK4 dt/16 float64:\n")
            lines.append(markdown_table(["column", "time", "mean", "max"], rows))
    for label, res in breakdown.items():
        rows = [
            [name, pair(r.get("us_per_step"), r.get("cpu_us_per_step"), "{:.1f}"),
             str(r["loop_body_instructions"]), str(r["loop_body_ffts"]),
             fmt(r["compile_s"], "{:.2f}")]
            for name, r in res.items()
        ]  # fmt: skip
        lines.append(f"\n### Loop-overhead breakdown, {label}\n")
        lines.append(markdown_table(
            ["loop", "us/step, wall (cpu)", "loop-body instructions", "FFTs in body",
             "compile [s]"], rows,
        ))  # fmt: skip
    for label, res in per_call.items():
        rows = [
            [name, pair(1e6 * r["best_s"], 1e6 * r["cpu_best_s"], "{:.1f}"),
             fmt(r["compile_s"], "{:.2f}")]
            for name, r in res.items() if "best_s" in r
        ]  # fmt: skip
        lines.append(f"\n### Fixed cost of a call, {label}\n")
        lines.append(markdown_table(["call", "us, wall (cpu)", "compile [s]"], rows))
    if pypde:
        ours_ref = pypde["columns"].get("ours etdrk4 dt=0.25", {})
        rows = []
        for name, row in pypde["columns"].items():
            t, cpu = row.get("best_s"), row.get("cpu_best_s")
            theirs = name.startswith("py-pde")
            compile_s = row.get("compile_s", row.get("compile_and_first_run_s"))
            rows.append([
                name, str(row["steps"]),
                pair(None if t is None else 1e3 * t, None if cpu is None else 1e3 * cpu, "{:.1f}"),
                pair(ratio_of(t, ours_ref.get("best_s")) if theirs else None,
                     ratio_of(cpu, ours_ref.get("cpu_best_s")) if theirs else None, "{:.2f}"),
                fmt(row["error"], "{:.2e}"),
                fmt(row.get("time_error_vs_own_reference"), "{:.2e}"), fmt(compile_s, "{:.1f}"),
            ])  # fmt: skip
        lines.append("\n### Fisher-KPP 2-D, 128^2, t in [0, 10], float64: ours vs py-pde\n")
        lines.append(markdown_table(
            ["column", "steps", "time [ms], wall (cpu)", "py-pde / ours etdrk4 dt=0.25",
             "rel. L2 error", "py-pde time error only", "compile (+1st run) [s]"], rows,
        ))  # fmt: skip
    return "\n".join(lines)


# ------------------------------------------------------------------ main


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick", action="store_true",
        help="Kuramoto-Sivashinsky in float32 only, smaller runs (about 1 min); with --only, "
        "the other sections at smaller sizes",
    )  # fmt: skip
    parser.add_argument(
        "--only", nargs="*", default=None,
        help="sections to run: ks burgers ns breakdown pypde (default: all; --quick: ks)",
    )  # fmt: skip
    args = parser.parse_args()
    quick = args.quick
    default = ["ks"] if quick else ["ks", "burgers", "ns", "breakdown", "pypde"]
    sections = set(args.only or default)
    t_start = time.perf_counter()
    commit = git_commit()  # the library measured (imported above)
    load_start = start_run()

    one_d = {
        "single_steps": 2_000 if quick else 10_000,
        "rollout_steps": 600,
        "repeats": 3 if quick else 7,
        "repeats_batch": 2 if quick else 3,
        "repeats_big": 2,
        "accuracy_members": 4,
        "non_dyadic": True,
        "non_dyadic_steps": 200 if quick else 500,
        "one_step": not quick,
    }
    plan = {
        "ks": (ks_problem, {**one_d, "batches": [100] if quick else [100, 1000]},
               (jnp.float32,) if quick else (jnp.float32, jnp.float64)),
        "burgers": (burgers_problem, {**one_d, "batches": [100]},
                    (jnp.float32,) if quick else (jnp.float32, jnp.float64)),
        "ns": (navier_stokes_problem, {
            **one_d, "single_steps": 10 if quick else 200, "rollout_steps": 5 if quick else 25,
            "batches": [4] if quick else [100], "accuracy_members": 2, "repeats": 2 if quick else 5,
            "repeats_batch": 2, "non_dyadic_steps": 3 if quick else 20,
        }, (jnp.float32,) if quick else (jnp.float32, jnp.float64)),
    }  # fmt: skip

    results, agreement, breakdown, per_call, pypde = {}, {}, {}, {}, None
    for key, (make, cfg, dtypes) in plan.items():
        if key not in sections:
            continue
        problem = make()
        try:
            agreement[problem.name] = check_agreement(problem)
            log(t_start, f"{problem.name}: ours vs exponax after 4 steps, float64: "
                f"{agreement[problem.name]:.2e} (relative L2)")  # fmt: skip
        except Exception:
            record_failure(f"{problem.name} agreement")
        for dtype in dtypes:
            try:
                bench_problem(problem, dtype, cfg, t_start, results)
            except Exception:
                record_failure(f"{problem.name} {jnp.dtype(dtype).name}")
    if "breakdown" in sections:
        steps = 2_000 if quick else 10_000
        runs = [(jnp.float32, steps, None), (jnp.float64, steps, None)]
        runs.append((jnp.float64, 600, 100 if quick else 1000))
        for dtype, count, batch in runs:
            label = f"kuramoto_sivashinsky {jnp.dtype(dtype).name}, {count} steps"
            if batch:
                label += f", vmap over B={batch}, us per member-step"
            try:
                repeats = 3 if batch else (5 if quick else 9)
                breakdown[label] = overhead_breakdown(
                    ks_problem(), dtype, count, repeats, t_start, batch
                )
            except Exception:
                record_failure(f"breakdown {label}")
        for make in (ks_problem, navier_stokes_problem):
            problem = make()
            try:
                per_call[f"{problem.name} float64"] = per_call_breakdown(
                    problem, jnp.float64, 3 if quick else 7, t_start
                )
            except Exception:
                record_failure(f"per-call {problem.name}")
    if "pypde" in sections:
        pypde_cfg = {"repeats": 2 if quick else 5, "spatial_check": not quick,
                     "pypde_own_reference": not quick}  # fmt: skip
        try:
            pypde = bench_pypde(pypde_cfg, t_start)
        except Exception:
            record_failure("py-pde")

    table = tables(results, breakdown, per_call, pypde)
    print(table)
    print(f"\ntotal wall time {time.perf_counter() - t_start:.1f} s")
    if ERRORS:
        print("\nERRORS (tracebacks above / in the JSON):", list(ERRORS))

    import pde as pypde_module

    out_dir = REPO_ROOT / "benchmarks" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    out_file = out_dir / ("pde_quick.json" if quick else "pde.json")
    meta = {
        "problems": {
            "kuramoto_sivashinsky": "u_t = -u_xx - u_xxxx - (u^2/2)_x, [0, 32 pi), N=256, dt=0.25;"
            " exponax KuramotoSivashinskyConservative(1, 32 pi, 256, 0.25, order=4)",
            "burgers_1d": "u_t = 0.01 u_xx - u u_x, [0, 1), N=256, dt=1/512; "
            "exponax Burgers(1, 1.0, 256, 1/512, diffusivity=0.01, order=4)",
            "navier_stokes_2d": "w_t = 1e-3 Lap w - (u.grad) w, [0,1)^2, N=128^2, dt=1/64; "
            "exponax NavierStokesVorticity(2, 1.0, 128, 1/64, diffusivity=1e-3, order=4)",
        },
        "dealiasing": "exponax's mask on both sides: |m| <= 2/3 (N//2) - 1 per axis, "
        "before the inverse and after the forward FFT of the nonlinear term",
        "initial_conditions": "random truncated Fourier series (numpy seed 0), zero mean, "
        "normalised max |u|; the same arrays on both sides",
        "agreement_after_4_steps_float64": agreement,
        "plan": {
            k: {kk: (vv if not callable(vv) else None) for kk, vv in v[1].items()}
            for k, v in plan.items()
            if k in sections
        },  # fmt: skip
        "timing": "best (min) wall and process-CPU time of the rounds, the columns taking "
        "turns (rotating order, as _common.turn_times); median wall time also stored; compile "
        "excluded (timed once: jit(fn).lower(x).compile(), tracing included)",
        "load_average_1min_at_start_and_end": [load_start, os.getloadavg()[0]],
        "wall_time_s": time.perf_counter() - t_start,
        "machine": machine(),
        "git_commit_at_start": commit,
        "versions": {
            "exponax": ex.__version__,
            "py-pde": pypde_module.__version__,
            "numpy": np.__version__,
        },  # fmt: skip
    }
    payload = {
        "meta": meta,
        "results": results,
        "overhead_breakdown": breakdown,
        "per_call_breakdown": per_call,
        "pypde_fisher_kpp_2d": pypde,
        "table": table,
        "errors": ERRORS,
    }
    out_file.write_text(json.dumps(payload, indent=2, default=float))
    print(f"wrote {out_file.relative_to(REPO_ROOT)}")


if __name__ == "__main__":
    main()
