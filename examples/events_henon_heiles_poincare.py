"""Events: Poincaré sections of the Hénon-Heiles system at three energies.

Hénon and Heiles modelled the motion of a star in an axisymmetric galaxy by a
particle in the plane with the Hamiltonian

    H = (px^2 + py^2) / 2 + (x^2 + y^2) / 2 + x^2 y - y^3 / 3,

    x' = px,  y' = py,  px' = -x - 2 x y,  py' = -y - x^2 + y^2.

H is conserved, so an orbit lives on a 3-dimensional energy surface, and its crossings
of the plane x = 0 in one direction (px > 0) form the Poincaré section: points in the
(y, py) plane, px being fixed by the energy. A regular (quasi-periodic) orbit lies on
an invariant torus and its section points fill a closed curve; a chaotic orbit
scatters its points over an area. At E = 1/12 nearly every orbit is regular; at
E = 1/8 islands of regular curves are surrounded by a chaotic sea; at E = 1/6 (the
energy of the saddles of the potential, the escape energy) the chaotic sea covers
most of the allowed region, bounded by the curve py^2/2 + y^2/2 - y^3/3 = E.

Each section is a non-terminal event on ``x`` with ``direction=+1`` (x increasing,
i.e. px > 0) that records up to ``max_events`` crossings and their states; one
compiled ``jit(vmap(solve))`` integrates every orbit at every energy at once.
Energy conservation at the recorded crossing states checks both the integration and
the event location (done on the method's interpolant).

Source: M. Hénon and C. Heiles, "The applicability of the third integral of motion:
some numerical experiments", Astron. J. 69 (1964) 73-79 (Fig. 2-4, sections at
E = 1/12, 1/8, 1/6).

Prints the number of section points and the energy drift per energy and writes
``henon_heiles_poincare.png`` into ``--out`` (default ``out/``). Exits with an error
if the energy drift of the section points exceeds 1e-6. ``--quick`` runs fewer,
shorter orbits.

Run:  python examples/events_henon_heiles_poincare.py [--out DIR] [--quick]
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

import solvers  # noqa: E402

ENERGIES = (1 / 12, 1 / 8, 1 / 6)
ENERGY_LABELS = ("1/12", "1/8", "1/6")
RTOL, ATOL = 1e-10, 1e-12
MAX_EVENTS = 600
DRIFT_TOLERANCE = 1e-6


def vector_field(t, state, params):
    x, y, px, py = state
    return jnp.stack([px, py, -x - 2 * x * y, -y - x**2 + y**2])


def hamiltonian(state):
    x, y, px, py = (state[..., i] for i in range(4))
    return (px**2 + py**2) / 2 + (x**2 + y**2) / 2 + x**2 * y - y**3 / 3


SECTION = solvers.Event(
    lambda t, state, params: state[0], direction=+1, terminal=False, max_events=MAX_EVENTS
)


def section_extent(energy):
    """The ends ``y_- < 0 < y_+`` of the allowed segment ``y^2/2 - y^3/3 <= E`` of the
    line ``py = 0`` on the section (the roots of ``y^3/3 - y^2/2 + E``)."""
    roots = np.roots([1 / 3, -1 / 2, 0.0, energy])
    roots = np.sort(roots[np.abs(roots.imag) < 1e-6].real)
    return roots[0], roots[1]


def initial_conditions(energy, count):
    """``count`` starting points on the section x = 0: about two thirds on the line
    py = 0 across the allowed segment in y, the rest on the line y = 0 across py;
    px > 0 from the energy."""
    on_y = count - count // 3
    low, high = section_extent(energy)
    y = np.concatenate(
        [
            np.linspace(0.9 * low, 0.9 * high, on_y),
            np.zeros(count - on_y),
        ]
    )
    across = count - on_y
    py = np.concatenate(
        [
            np.zeros(on_y),
            0.85 * np.sqrt(2 * energy) * ((np.arange(across) + 0.5) / across * 2 - 1),
        ]
    )
    px = np.sqrt(2 * (energy - py**2 / 2 - y**2 / 2 + y**3 / 3))
    return np.stack([np.zeros(count), y, px, py], axis=1)


def main(argv=None):
    args, out = parse_arguments(__doc__, argv, "5 orbits per energy over t in [0, 600]")
    orbits = 5 if args.quick else 14
    t1 = 600.0 if args.quick else 3000.0
    y0 = np.concatenate([initial_conditions(energy, orbits) for energy in ENERGIES])
    energy_of_orbit = np.repeat(ENERGIES, orbits)

    # One compiled program for all orbits of all energies.
    run = jax.jit(
        jax.vmap(
            lambda y0: solvers.solve(
                vector_field,
                y0,
                (0.0, t1),
                None,
                event=SECTION,
                rtol=RTOL,
                atol=ATOL,
                max_steps=200_000,
            )
        )
    )
    with Timer() as total:
        with Timer() as timer:
            sol = jax.block_until_ready(run(jnp.asarray(y0)))
        record = sol.events[0]
        counts = np.asarray(record.count)
        states = np.asarray(record.ys)  # (orbits, MAX_EVENTS, 4), NaN where unused
        print(
            f"Hénon-Heiles, {orbits} orbits at each of E = {', '.join(ENERGY_LABELS)} over "
            f"t in [0, {t1:g}], tsit5 at rtol {RTOL:g}, atol {ATOL:g}; Poincaré section "
            f"x = 0, px > 0 (event direction +1, max_events {MAX_EVENTS}).\n"
            f"One jit(vmap(solve)) of {len(y0)} orbits: {timer.seconds:.2f} s with "
            f"compilation, {int(np.max(np.asarray(sol.stats['num_accepted'])))} steps in "
            "the longest orbit."
        )
        if int(np.max(np.asarray(sol.status))) != 0:
            raise SystemExit(f"a solve failed: status {np.asarray(sol.status)}")
        if counts.max() > MAX_EVENTS:
            print(f"  note: up to {counts.max()} crossings, only {MAX_EVENTS} recorded")

        print(
            f"  {'E':>5} {'section points':>15} {'per orbit':>12} "
            f"{'max |H/E - 1|':>14} {'max |x|':>9}"
        )
        worst = 0.0
        for energy, label in zip(ENERGIES, ENERGY_LABELS):
            mine = energy_of_orbit == energy
            points = states[mine].reshape(-1, 4)
            points = points[np.isfinite(points[:, 0])]
            drift = float(np.max(np.abs(hamiltonian(points) / energy - 1)))
            worst = max(worst, drift)
            print(
                f"  {label:>5} {len(points):>15d} {counts[mine].min():>5d} .. "
                f"{counts[mine].max():<4d} {drift:>14.2e} {np.max(np.abs(points[:, 0])):>9.1e}"
            )
        ok = worst < DRIFT_TOLERANCE
        print(
            f"  maximum relative energy drift at the section points {worst:.2e} "
            f"(< {DRIFT_TOLERANCE:g}: {'yes' if ok else 'NO'})"
        )
        figure(out, states, energy_of_orbit)
    print(f"done in {total.seconds:.1f} s; figure in {out}/")
    if not ok:
        raise SystemExit(f"energy drift {worst:.2e} exceeds {DRIFT_TOLERANCE:g}")


def figure(out, states, energy_of_orbit):
    fig, panels = plt.subplots(1, 3, figsize=(15, 5.2))
    colors = plt.get_cmap("tab20")
    for axes, energy, label in zip(panels, ENERGIES, ENERGY_LABELS):
        # The boundary of the allowed region: py^2/2 + y^2/2 - y^3/3 = E (px = 0).
        low, high = section_extent(energy)
        y = np.linspace(low, high, 400)
        py = np.sqrt(np.maximum(2 * (energy - y**2 / 2 + y**3 / 3), 0))
        axes.plot(np.concatenate([y, y[::-1]]), np.concatenate([py, -py[::-1]]), "k-", lw=0.8)
        for index, orbit in enumerate(states[energy_of_orbit == energy]):
            axes.plot(orbit[:, 1], orbit[:, 3], ".", ms=1.5, color=colors(index % 20))
        axes.set(xlabel="y", ylabel="$p_y$", title=f"E = {label}", aspect="equal")
    fig.suptitle("Hénon-Heiles: Poincaré sections x = 0, $p_x$ > 0")
    path = save_figure(fig, out, "henon_heiles_poincare.png")
    print(f"  wrote {path}")


if __name__ == "__main__":
    main()
