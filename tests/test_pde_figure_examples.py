"""The PDE figure examples run (in --quick mode), pass their own checks and write
non-empty PNG figures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = {
    "pde_kuramoto_sivashinsky.py": ["kuramoto_sivashinsky.png"],
    "pde_gray_scott.py": ["gray_scott.png"],
    "pde_burgers_kdv.py": ["burgers_kdv.png"],
    "pde_navier_stokes.py": ["navier_stokes.png"],
}


@pytest.mark.parametrize("script", sorted(EXAMPLES))
def test_pde_example_runs_and_writes_figures(script, tmp_path):
    # A subprocess: the examples enable float64 and set the matplotlib backend at import
    # time, which must not leak into the other tests. The environment is cleaned of the
    # test suite's XLA_FLAGS (8 host devices) so the script runs as a user would run it.
    # Each script exits non-zero when one of its printed checks fails.
    env = {key: value for key, value in os.environ.items() if key != "XLA_FLAGS"}
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
    assert "FAILED" not in result.stdout, f"{script} reported a failed check:\n{result.stdout}"
    for name in EXAMPLES[script]:
        figure = tmp_path / name
        assert figure.is_file(), f"{script} did not write {name}:\n{result.stdout}"
        assert figure.stat().st_size > 1000, f"{name} is (nearly) empty"
        assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{name} is not a PNG"
