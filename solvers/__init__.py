"""Differentiable ODE solvers in pure JAX.

The public interface is specified in SPEC.md; everything here is a re-export.
"""

from ._solve import Solution, SolveError, solve, status_message
from ._tableaus import ButcherTableau
from .explicit import (
    RK4,
    Bosh3,
    Dopri5,
    Dopri8,
    Euler,
    ExplicitRK,
    Heun,
    Midpoint,
    Ralston,
    Tsit5,
)
from .fit import FitError, FitResult, fit
from .sweep import lockstep_cost, sweep, use_host_devices

__all__ = [
    "RK4",
    "Bosh3",
    "ButcherTableau",
    "Dopri5",
    "Dopri8",
    "Euler",
    "FitError",
    "FitResult",
    "ExplicitRK",
    "Heun",
    "Midpoint",
    "Ralston",
    "Solution",
    "SolveError",
    "Tsit5",
    "fit",
    "lockstep_cost",
    "solve",
    "status_message",
    "sweep",
    "use_host_devices",
]
