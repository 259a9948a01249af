"""PDEs: 2-D incompressible Navier-Stokes in vorticity form, pseudo-spectral, with ETDRK4.

    omega_t + u . grad(omega) = nu lap(omega) - alpha omega + f,
    lap(psi) = -omega,   u = (psi_y, -psi_x),

on the periodic square [0, 2 pi)^2 (catalogue problem ``navier_stokes_2d``: the
velocity and the product u omega are formed by FFT, the nonlinear term is truncated by
Orszag's 2/3 rule, and the linear part -nu |k|^2 - alpha is diagonal in Fourier space,
so ``etdrk4`` integrates it exactly).

1. Taylor-Green vortex (the default problem, nu = 0.05, no drag, no forcing, here on
   the Kolmogorov flow's 64^2 grid):
   omega = 2 cos x cos y e^(-2 nu t) is an exact solution, because omega is a multiple
   of psi and the advection u . grad(omega) vanishes. The pseudo-spectral nonlinear
   term must vanish to rounding, and the decay is then the linear part's, which ETDRK4
   gives exactly: the error against ``prob.exact`` up to t = 10 is at rounding level.
   It runs through the Kolmogorov flow's field with A = 0 (the same equations), so
   that both flows share one compilation (y0, params and t1 are arguments of a jitted
   solve).
2. Kolmogorov flow (``forcing="kolmogorov"``: body force A sin(4y) in x, nu = 1/40,
   linear drag alpha = 0.1, 64^2, from a random start): the laminar flow
   omega_L = -4 A cos(4y)/(16 nu + alpha) (energy 1) is unstable, and the flow stays
   chaotic, with E ~ 0.3 and irregular bursts: the vorticity at the final time (drawn
   on a finer grid by Fourier interpolation) and E(t), Z(t) are the figure. With
   etdrk4 at dt = 1/64 (both flows) the energy E = <|u|^2>/2 (<.> the mean over the
   square) obeys its budget

       dE/dt = P - 2 nu Z - 2 alpha E,   P = A <sin(4y) u_x>,   Z = <omega^2>/2,

   exactly for the 2/3-truncated equations (the truncated advection conserves
   energy); the check integrates the right side over the saved times (Simpson's rule,
   saves every 0.05) and compares it with the change of E.

Everything is float64.

References: G. I. Taylor and A. E. Green, Proc. R. Soc. Lond. A 158 (1937) 499-521;
S. A. Orszag, J. Atmos. Sci. 28 (1971) 1074 (the 2/3 rule); D. Chandler and
R. R. Kerswell, "Invariant recurrent solutions embedded in a turbulent two-dimensional
Kolmogorov flow", J. Fluid Mech. 722 (2013) 554-595; G. Boffetta and R. E. Ecke,
"Two-dimensional turbulence", Annu. Rev. Fluid Mech. 44 (2012) 427-451 (the energy
budget); S. M. Cox and P. C. Matthews, J. Comput. Phys. 176 (2002) 430-455 (ETDRK4).

Writes ``navier_stokes.png`` into ``--out`` (default ``out/``); ``--quick`` runs the
Kolmogorov flow to t = 40 instead of 100. Exits with an error if the Taylor-Green error
exceeds 1e-10, if the energy budget misses by more than 1e-4 (relative to the energy
injected), or if the flow stays near the laminar one.

Run:  python examples/pde_navier_stokes.py [--out DIR] [--quick]
"""

from __future__ import annotations

import jax

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import matplotlib  # noqa: E402
import numpy as np  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from _report import Timer, parse_arguments, save_figure  # noqa: E402  (examples/_report.py)
from scipy.integrate import simpson  # noqa: E402

import problems  # noqa: E402
import solvers  # noqa: E402

DT = 1 / 64
SAVE_EVERY = 0.05


def budget(omega, y, nu, drag, amplitude, forcing_wavenumber):
    """Energy E, enstrophy Z and forcing power P per saved field (means over the square)."""
    n = omega.shape[-1]
    k = np.fft.fftfreq(n, 1 / n)
    kx, ky = np.meshgrid(k, k, indexing="ij")
    k2 = kx**2 + ky**2
    psi_hat = np.fft.fft2(omega) / np.where(k2 == 0, 1.0, k2)
    u = np.real(np.fft.ifft2(1j * ky * psi_hat))
    v = np.real(np.fft.ifft2(-1j * kx * psi_hat))
    energy = 0.5 * np.mean(u**2 + v**2, axis=(-2, -1))
    enstrophy = 0.5 * np.mean(omega**2, axis=(-2, -1))
    power = amplitude * np.mean(np.sin(forcing_wavenumber * y) * u, axis=(-2, -1))
    return energy, enstrophy, power


def upsample(field, size):
    """A band-limited periodic field on a finer grid, by zero-padding its Fourier
    coefficients (exact for the 2/3-truncated vorticity): for the picture only."""
    n = field.shape[0]
    padded = np.zeros((size, size), complex)
    start = (size - n) // 2
    padded[start : start + n, start : start + n] = np.fft.fftshift(np.fft.fft2(field))
    return np.real(np.fft.ifft2(np.fft.ifftshift(padded))) * (size / n) ** 2


def main(argv=None):
    args, out = parse_arguments(__doc__, argv, "the Kolmogorov flow to t = 40")
    failures = []

    def check(name, value, bound, above=False):
        ok = value > bound if above else value < bound
        if not ok:
            failures.append(f"{name}: {value:.3g}")
        return "ok" if ok else "FAILED"

    t_final = 40.0 if args.quick else 100.0
    frames = int(round(t_final / SAVE_EVERY)) + 1
    flow = problems.get("navier_stokes_2d", forcing="kolmogorov", t_span=(0.0, t_final))
    n = flow.grid.shape[0]
    green = problems.get("navier_stokes_2d", n=n)

    # One compilation for both flows: the Taylor-Green run uses the forced field with
    # A = 0 (the catalogue's unforced field without the forcing term), and the initial
    # state, the parameters and the final time are arguments.
    @jax.jit
    def run(y0, params, t1):
        ts = jnp.linspace(0.0, t1, frames)
        solution = solvers.solve(
            flow.vector_field,
            y0,
            (0.0, t1),
            params,
            method="etdrk4",
            dt=DT,
            ts=ts,
            max_steps=int(t_final / DT) + 1,
        )
        return solution.ys, solution.stats["num_steps"]

    with Timer() as total:
        unforced = {**green.params, "amplitude": jnp.zeros(())}
        with Timer() as timer:
            omega, _ = run(green.y0, unforced, green.t_span[1])
        ts = np.linspace(*green.t_span, frames)[:: (frames - 1) // 40]
        omega = np.asarray(omega)[:: (frames - 1) // 40]
        exact = np.stack([np.asarray(green.exact(t, green.params)) for t in ts])
        error = np.abs(omega - exact).max(axis=(1, 2))
        nu = float(green.params["nu"])
        print(
            f"1. Taylor-Green vortex, nu = {nu}, {n}^2, etdrk4, dt = 1/{1 / DT:.0f}, "
            f"t to {ts[-1]:g} ({timer.seconds:.2f} s with compilation): max |omega| decays "
            f"{np.abs(omega[0]).max():.3f} -> {np.abs(omega[-1]).max():.6f} "
            f"(exact {np.abs(exact[-1]).max():.6f}); max error against prob.exact "
            f"{error.max():.1e} [{check('Taylor-Green', error.max(), 1e-10)}]"
        )

        kf_ts = np.linspace(0.0, t_final, frames)
        with Timer() as timer:
            vorticity, steps = run(flow.y0, flow.params, t_final)
            vorticity = np.asarray(vorticity)
        p = {name: float(value) for name, value in flow.params.items()}
        y = np.asarray(flow.grid.x[1])
        energy, enstrophy, power = budget(vorticity, y, p["nu"], p["drag"], p["amplitude"], 4)
        print(
            f"2. Kolmogorov flow, A = {p['amplitude']:g}, n_f = 4, nu = {p['nu']:g}, "
            f"drag = {p['drag']:g}, {n}^2, etdrk4, dt = 1/{1 / DT:.0f}, t to {t_final:g} "
            f"({int(steps):,} steps, {timer.seconds:.2f} s; compiled in 1.)"
        )
        right = power - 2 * p["nu"] * enstrophy - 2 * p["drag"] * energy
        change = energy[-1] - energy[0]
        integral = simpson(right, x=kf_ts)
        injected = simpson(np.abs(power), x=kf_ts)
        miss = abs(change - integral) / injected
        print(
            f"   energy budget: E({t_final:g}) - E(0) = {change:.6f}, integral of "
            f"P - 2 nu Z - 2 alpha E = {integral:.6f}; difference {miss:.1e} of the energy "
            f"injected ({injected:.3f}) [{check('energy budget', miss, 1e-4)}]"
        )
        laminar = -4 * p["amplitude"] * np.cos(4 * y) / (16 * p["nu"] + p["drag"])
        distance = np.sqrt(np.mean((vorticity[-1] - laminar) ** 2) / np.mean(laminar**2))
        half = kf_ts >= t_final / 2
        print(
            f"   at t = {t_final:g}: rms distance from the laminar flow {distance:.2f} of its "
            f"rms [{check('departure from laminar', distance, 0.3, above=True)}]; over the "
            f"second half E = {energy[half].mean():.3f} +- {energy[half].std():.3f}, "
            f"max |omega| = {np.abs(vorticity[-1]).max():.2f} (laminar "
            f"{np.abs(laminar).max():.2f})"
        )
        figure(out, ts, omega, exact, nu, flow, vorticity[-1], kf_ts, energy, enstrophy, p)
    print(f"done in {total.seconds:.1f} s; figure in {out}/")
    if failures:
        raise SystemExit("check failed: " + "; ".join(failures))


def figure(out, ts, omega, exact, nu, flow, last, kf_ts, energy, enstrophy, p):
    fig = plt.figure(figsize=(13, 5.6))
    grid = fig.add_gridspec(2, 2, width_ratios=(1.25, 1))
    field = fig.add_subplot(grid[:, 0])
    limit = np.abs(last).max()
    image = field.imshow(
        upsample(last, 256).T,
        origin="lower",
        extent=(0, 2 * np.pi, 0, 2 * np.pi),
        cmap="RdBu_r",
        vmin=-limit,
        vmax=limit,
    )
    fig.colorbar(image, ax=field, label="vorticity")
    field.set(
        xlabel="x",
        ylabel="y",
        title=f"Kolmogorov flow at t = {kf_ts[-1]:g} (force sin 4y in x, nu = {p['nu']:g}, "
        f"drag {p['drag']:g})",
    )
    series = fig.add_subplot(grid[0, 1])
    series.plot(kf_ts, energy, label="energy E")
    series.plot(kf_ts, enstrophy / 10, label="enstrophy Z / 10")
    series.set(xlabel="t", title="Kolmogorov flow: energy and enstrophy (laminar: E = 1)")
    series.legend(fontsize=8)
    decay = fig.add_subplot(grid[1, 1])
    decay.semilogy(ts, np.abs(omega).max(axis=(1, 2)), "o", ms=4, mfc="none",
                   label="computed max |omega|")  # fmt: skip
    decay.semilogy(ts, np.abs(exact).max(axis=(1, 2)), "k-", lw=1, label="exact 2 e^(-2 nu t)")
    decay.set(xlabel="t", title=f"Taylor-Green vortex, nu = {nu:g}")
    decay.legend(fontsize=8)
    path = save_figure(fig, out, "navier_stokes.png")
    print(f"   wrote {path}")


if __name__ == "__main__":
    main()
