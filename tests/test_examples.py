"""Every example script runs (in --quick mode), passes its own checks (exit code 0, no
"FAILED" in what it prints; the inverse problems recover their parameters within 5 %)
and writes non-empty PNG figures.

The scripts run in subprocesses: they enable float64 and pick the matplotlib backend
at import time, which must not leak into the other tests. A group of scripts shares
one subprocess (``_example_driver.py``), so it pays for one Python and JAX start-up;
each script still gets its own output folder, log and exit code, and a failure names
the script. The environment is cleaned of the suite's XLA_FLAGS (8 host devices) so
the scripts run as a user runs them, but for conftest.py's fast-compile flags.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from helpers import subprocess_env

ROOT = Path(__file__).resolve().parent.parent
FITTED = "within 5 % of the truth: yes"

# script -> (figures it writes, lines it must print)
EXAMPLES = {
    "quickstart.py": (["lorenz63.png", "kepler.png", "convergence.png", "pendulum_sweep.png"], []),
    "stiff_via_diffrax.py": (["van_der_pol_stiff.png"], []),
    "stiff_chemistry.py": (["stiff_robertson.png", "stiff_van_der_pol.png"], []),
    "sweep_bifurcation.py": (["bifurcation.png"], []),
    "sweep_basins.py": (["basins.png"], []),
    "sweep_scaling.py": (["scaling.png"], []),
    "fit_lotka_volterra.py": (["fit_lotka_volterra.png"], []),
    "fit_pendulum.py": (["fit_pendulum.png"], []),
    "fit_sir.py": (["fit_sir.png"], []),
    "fit_ude.py": (["fit_ude.png"], []),
    "fit_lorenz_shooting.py": (["fit_lorenz_shooting.png"], []),
    "events_bouncing_ball.py": (["bouncing_ball.png"], []),
    "events_henon_heiles_poincare.py": (["henon_heiles_poincare.png"], []),
    "symplectic_kepler_energy.py": (["symplectic_kepler_energy.png"], []),
    "symplectic_figure_eight.py": (["figure_eight.png"], []),
    "symplectic_fput_recurrence.py": (["fput_recurrence.png"], []),
    "sde_ensemble_fan_chart.py": (["fan_chart.png"], []),
    "sde_double_well_exit.py": (["double_well_exit.png"], []),
    "sde_fit_ou.py": (["fit_ou.png"], []),
    "pde_fit_heat.py": (["pde_fit_heat.png"], [FITTED]),
    "pde_fit_burgers.py": (["pde_fit_burgers.png"], [FITTED]),
    "pde_fit_reaction.py": (["pde_fit_reaction.png"], [FITTED]),
    "pde_kuramoto_sivashinsky.py": (["kuramoto_sivashinsky.png"], []),
    "pde_gray_scott.py": (["gray_scott.png"], []),
    "pde_burgers_kdv.py": (["burgers_kdv.png"], []),
    "pde_navier_stokes.py": (["navier_stokes.png"], []),
}

# Groups of about equal run time (30-40 s of CPU each on a 2-core machine).
GROUPS = {
    "quickstart_stiff": ["quickstart.py", "stiff_chemistry.py", "stiff_via_diffrax.py"],
    "fit": ["fit_ude.py", "fit_lotka_volterra.py", "fit_pendulum.py"],
    "fit_shooting_sir_ou": ["fit_lorenz_shooting.py", "fit_sir.py", "sde_fit_ou.py"],
    # A sweep example sets the number of host devices before JAX starts: it goes
    # first in its group, or after one that asks for as many.
    "sweep_scaling_events": ["sweep_scaling.py", "events_bouncing_ball.py"],
    "sweep_bifurcation_basins": ["sweep_bifurcation.py", "sweep_basins.py"],
    "symplectic_poincare": [
        "symplectic_kepler_energy.py",
        "symplectic_figure_eight.py",
        "symplectic_fput_recurrence.py",
        "events_henon_heiles_poincare.py",
    ],
    "sde": ["sde_ensemble_fan_chart.py", "sde_double_well_exit.py"],
    "pde_fit": ["pde_fit_burgers.py", "pde_fit_heat.py", "pde_fit_reaction.py"],
    "pde": [
        "pde_navier_stokes.py",
        "pde_burgers_kdv.py",
        "pde_gray_scott.py",
        "pde_kuramoto_sivashinsky.py",
    ],
}


def test_every_example_is_in_one_group():
    listed = sorted(path.name for path in (ROOT / "examples").glob("[!_]*.py"))
    grouped = sorted(script for group in GROUPS.values() for script in group)
    assert grouped == sorted(EXAMPLES) == listed


def _problems(script, out):
    """What is wrong with one script's run (empty if nothing)."""
    stem = Path(script).stem
    log = (out / f"{stem}.log").read_text()
    code = (out / f"{stem}.exit").read_text()
    if code != "0":
        return [f"{script} exited with {code}:\n{log}"]
    problems = []
    if not log.strip():
        problems.append(f"{script} printed nothing")
    if "FAILED" in log:
        problems.append(f"{script} reported a failed check:\n{log}")
    figures, lines = EXAMPLES[script]
    problems += [f"{script} did not print {line!r}:\n{log}" for line in lines if line not in log]
    for name in figures:
        figure = out / stem / name
        if not figure.is_file():
            problems.append(f"{script} did not write {name}:\n{log}")
        elif figure.stat().st_size <= 1000:
            problems.append(f"{script}: {name} is (nearly) empty")
        elif figure.read_bytes()[:8] != b"\x89PNG\r\n\x1a\n":
            problems.append(f"{script}: {name} is not a PNG")
    return problems


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_examples_run_and_write_figures(group, tmp_path):
    env = {**subprocess_env(), "MPLBACKEND": "Agg"}
    scripts = [str(ROOT / "examples" / script) for script in GROUPS[group]]
    result = subprocess.run(
        [sys.executable, str(Path(__file__).parent / "_example_driver.py"), str(tmp_path)]
        + scripts,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"the driver failed:\n{result.stdout}\n{result.stderr}"
    problems = [problem for script in GROUPS[group] for problem in _problems(script, tmp_path)]
    assert not problems, "\n\n".join(problems)
