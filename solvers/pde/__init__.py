"""PDEs by the method of lines: grids, boundary conditions, finite-difference and
spectral operators, and semilinear vector fields ``u' = L u + N(t, u)``.

A PDE becomes an ODE over the grid, ``f(t, u, params)``, that every method of
``solvers.solve`` integrates; the exponential (``etdrk4``) and IMEX methods also use
the split into a linear and a nonlinear part (:func:`semilinear`).
"""

from . import spectral
from .boundary import Dirichlet, Neumann, Periodic, Robin, faces, pad
from .fd import banded_structure, divergence, gradient, laplacian, upwind
from .grid import Grid
from .operators import FourierOperator, LinearOperator, SemilinearField, semilinear

__all__ = [
    "Dirichlet",
    "FourierOperator",
    "Neumann",
    "Periodic",
    "Robin",
    "banded_structure",
    "divergence",
    "faces",
    "gradient",
    "laplacian",
    "pad",
    "upwind",
    "Grid",
    "LinearOperator",
    "SemilinearField",
    "semilinear",
    "spectral",
]
