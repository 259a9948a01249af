"""The example scripts run (in --quick mode) and write non-empty figures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = {
    "quickstart.py": ["lorenz63.png", "kepler.png", "convergence.png", "pendulum_sweep.png"],
    "stiff_via_diffrax.py": ["van_der_pol_stiff.png"],
    "sweep_bifurcation.py": ["bifurcation.png"],
    "sweep_basins.py": ["basins.png"],
    "sweep_scaling.py": ["scaling.png"],
    "fit_lotka_volterra.py": ["fit_lotka_volterra.png"],
    "fit_pendulum.py": ["fit_pendulum.png"],
    "fit_sir.py": ["fit_sir.png"],
    "fit_ude.py": ["fit_ude.png"],
    "fit_lorenz_shooting.py": ["fit_lorenz_shooting.png"],
    "events_bouncing_ball.py": ["bouncing_ball.png"],
    "events_henon_heiles_poincare.py": ["henon_heiles_poincare.png"],
    "stiff_chemistry.py": ["stiff_robertson.png", "stiff_van_der_pol.png"],
    "symplectic_kepler_energy.py": ["symplectic_kepler_energy.png"],
    "symplectic_figure_eight.py": ["figure_eight.png"],
    "symplectic_fput_recurrence.py": ["fput_recurrence.png"],
    "sde_ensemble_fan_chart.py": ["fan_chart.png"],
    "sde_double_well_exit.py": ["double_well_exit.png"],
    "sde_fit_ou.py": ["fit_ou.png"],
}


@pytest.mark.parametrize("script", sorted(EXAMPLES))
def test_example_runs_and_writes_figures(script, tmp_path):
    # A subprocess: the examples enable float64 and set the matplotlib backend at import
    # time, which must not leak into the other tests. The environment is cleaned of the
    # test suite's XLA_FLAGS (8 host devices) so the script runs as a user would run it,
    # but for the fast-compile flags of conftest.py.
    env = {key: value for key, value in os.environ.items() if key != "XLA_FLAGS"}
    if os.environ.get("SOLVERS_TEST_FAST_XLA_FLAGS"):
        env["XLA_FLAGS"] = os.environ["SOLVERS_TEST_FAST_XLA_FLAGS"]
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["MPLBACKEND"] = "Agg"
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / script), "--quick", "--out", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"{script} failed:\n{result.stdout}\n{result.stderr}"
    assert result.stdout.strip(), f"{script} printed nothing"
    for name in EXAMPLES[script]:
        figure = tmp_path / name
        assert figure.is_file(), f"{script} did not write {name}:\n{result.stdout}"
        assert figure.stat().st_size > 1000, f"{name} is (nearly) empty"
        assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{name} is not a PNG"
