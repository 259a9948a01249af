"""Test configuration: float64 everywhere, rank promotion is an error, strict dtype
promotion (as diffrax runs its suite), 8 host devices, and XLA flags that compile faster.

Compiling dominates the suite's time. Two XLA CPU flags about halve it: the legacy
fusion emitters (``--xla_cpu_use_fusion_emitters=false``) and no expensive LLVM passes.
The programs compute the same arithmetic (round-off apart) and every test checks what it
checks with XLA's defaults; set ``SOLVERS_TEST_XLA_DEFAULTS=1`` to run the suite with
XLA's default compiler settings instead. The flags are probed once in a subprocess (an
XLA that does not know a flag aborts the process that reads it) and handed on to the
pytest-xdist workers and to the example and multi-process subprocesses through
``SOLVERS_TEST_FAST_XLA_FLAGS``.
"""

import os
import subprocess
import sys

FAST_COMPILE_FLAGS = "--xla_cpu_use_fusion_emitters=false --xla_llvm_disable_expensive_passes=true"


def _fast_compile_flags() -> str:
    """The fast-compile flags if this XLA accepts them, else ``""``; decided once per
    run (the xdist workers inherit the answer from the controller's environment)."""
    if os.environ.get("SOLVERS_TEST_XLA_DEFAULTS"):
        return ""
    known = os.environ.get("SOLVERS_TEST_FAST_XLA_FLAGS")
    if known is not None:
        return known
    try:
        probe = subprocess.run(
            [sys.executable, "-c", "import jax; jax.devices()"],
            env={**os.environ, "XLA_FLAGS": FAST_COMPILE_FLAGS},
            capture_output=True,
            timeout=120,
        )
        flags = FAST_COMPILE_FLAGS if probe.returncode == 0 else ""
    except subprocess.TimeoutExpired:
        flags = ""
    os.environ["SOLVERS_TEST_FAST_XLA_FLAGS"] = flags
    return flags


# Several CPU devices for the multi-device tests; must be set before JAX starts.
os.environ.setdefault(
    "XLA_FLAGS", f"--xla_force_host_platform_device_count=8 {_fast_compile_flags()}".strip()
)

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)
jax.config.update("jax_numpy_rank_promotion", "raise")
jax.config.update("jax_numpy_dtype_promotion", "strict")


def pytest_report_header(config):
    return f"XLA_FLAGS: {os.environ.get('XLA_FLAGS', '')}"
