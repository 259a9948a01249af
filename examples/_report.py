"""Shared by the fitting examples: the table of true, initial and recovered values."""

from __future__ import annotations

import numpy as np


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
