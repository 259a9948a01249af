"""Shared by the fitting examples: command line, timing, the table of true, initial
and recovered values, and writing the figure."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def parse_arguments(doc, argv, quick_help, seed=False):
    """``--out DIR`` (created; default ``out/``), ``--quick`` and optionally ``--seed``.
    Returns ``(args, out)``."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--out", default="out", help="folder for the figure (default: out/)")
    parser.add_argument("--quick", action="store_true", help=quick_help)
    if seed:
        parser.add_argument("--seed", type=int, default=0, help="seed of the noise (default 0)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    return args, out


class Timer:
    """``with Timer() as timer: ...``; then ``timer.seconds``."""

    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc_info):
        self.seconds = time.perf_counter() - self.start


def print_table(names, true, guess, fitted, tolerance=5.0):
    """Print one row per parameter with its relative error in percent; return whether
    every parameter is within ``tolerance`` percent of the truth."""
    error = 100 * np.abs(np.asarray(fitted) / np.asarray(true) - 1)
    print(f"  {'parameter':>9} {'true':>10} {'initial':>10} {'recovered':>10} {'error %':>8}")
    for row in zip(names, true, guess, fitted, error):
        print(f"  {row[0]:>9} {row[1]:10.4g} {row[2]:10.4g} {row[3]:10.4g} {row[4]:8.2f}")
    within = bool(np.all(error < tolerance))
    print(f"  all parameters within {tolerance:g} % of the truth: {'yes' if within else 'NO'}")
    return within


def save_figure(figure, out, name):
    """Lay out, write ``out/name`` and close ``figure``; returns the path."""
    import matplotlib.pyplot as plt

    figure.tight_layout()
    path = out / name
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
