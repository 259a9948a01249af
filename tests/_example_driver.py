"""Run example scripts one after the other in this process, as ``python SCRIPT --quick
--out OUT/STEM`` would (``examples/`` first on ``sys.path``, ``__name__ ==
"__main__"``), so that a group of examples pays for one Python and JAX start-up.

Usage: ``python _example_driver.py OUT SCRIPT...``. For each script it writes
``OUT/STEM.log`` (what the script printed, and the traceback if it raised) and
``OUT/STEM.exit`` (its exit code: 0, the code of a ``SystemExit``, or 1 for an
exception). Every example enables float64 at import, so running them in one process
changes no setting a later one relies on.
"""

from __future__ import annotations

import contextlib
import runpy
import sys
import traceback
from pathlib import Path


def run(script: Path, out: Path) -> int:
    argv, path = sys.argv, list(sys.path)
    sys.argv = [str(script), "--quick", "--out", str(out / script.stem)]
    sys.path.insert(0, str(script.parent))
    code = 0
    try:
        runpy.run_path(str(script), run_name="__main__")
    except SystemExit as stop:
        if isinstance(stop.code, int):
            code = stop.code
        elif stop.code is not None:
            print(stop.code, file=sys.stderr)
            code = 1
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        sys.argv, sys.path[:] = argv, path
    return code


def main() -> None:
    out = Path(sys.argv[1])
    import matplotlib.pyplot as plt

    for name in sys.argv[2:]:
        script = Path(name)
        with open(out / f"{script.stem}.log", "w") as log:
            with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                code = run(script, out)
        plt.close("all")
        (out / f"{script.stem}.exit").write_text(str(code))


if __name__ == "__main__":
    main()
