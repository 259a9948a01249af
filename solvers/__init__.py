"""Differentiable ODE solvers in pure JAX.

Everything public is re-exported here; the modules behind it are private.
"""

from . import pde
from ._control import ConstantSteps, PIDController, PredictiveController
from ._events import Event
from ._linsolve import Banded, Dense, MatrixFree
from ._solution import DenseOutput, EventRecord, Solution, SolveError, status_message
from ._solve import solve
from ._tableaus import ButcherTableau
from .auto import Auto, AutoController
from .bdf import BDF, BDFController
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
    Step,
    Tsit5,
)
from .exponential import ETDRK1, ETDRK2, ETDRK4
from .fit import FitError, FitResult, fit
from .imex import IMEX2, IMEXEuler
from .implicit import ESDIRK, ImplicitEuler, Kvaerno3, Kvaerno5, Radau5, Trapezoid
from .rosenbrock import Rodas5
from .sde import BrownianPath, brownian_path, solve_sde
from .sweep import lockstep_cost, sweep, use_host_devices
from .symplectic import (
    HamiltonianField,
    KahanLi6,
    KahanLi8,
    Leapfrog,
    Ruth4,
    SymplecticSplitting,
    Yoshida4,
    Yoshida6,
    composition,
    hamiltonian,
    triple_jump_weights,
)

__all__ = [
    "Auto",
    "AutoController",
    "ESDIRK",
    "ETDRK1",
    "ETDRK2",
    "ETDRK4",
    "IMEX2",
    "IMEXEuler",
    "ImplicitEuler",
    "Kvaerno3",
    "Kvaerno5",
    "Radau5",
    "Trapezoid",
    "BDF",
    "BDFController",
    "Banded",
    "BrownianPath",
    "Dense",
    "MatrixFree",
    "RK4",
    "Bosh3",
    "ButcherTableau",
    "ConstantSteps",
    "DenseOutput",
    "Dopri5",
    "Dopri8",
    "Euler",
    "Event",
    "EventRecord",
    "ExplicitRK",
    "FitError",
    "FitResult",
    "HamiltonianField",
    "Heun",
    "KahanLi6",
    "KahanLi8",
    "Leapfrog",
    "Midpoint",
    "PIDController",
    "PredictiveController",
    "Ralston",
    "Rodas5",
    "Ruth4",
    "Solution",
    "SolveError",
    "Step",
    "SymplecticSplitting",
    "Tsit5",
    "Yoshida4",
    "Yoshida6",
    "brownian_path",
    "composition",
    "fit",
    "hamiltonian",
    "lockstep_cost",
    "pde",
    "solve",
    "solve_sde",
    "status_message",
    "sweep",
    "triple_jump_weights",
    "use_host_devices",
]
