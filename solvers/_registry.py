"""Method names (case-insensitive, as ``solve(method="...")`` takes them) and where
each family's factory lives. Modules are imported on first use, so a family costs
nothing until it is asked for."""

from __future__ import annotations

import importlib

# name -> (module inside `solvers`, factory name)
METHODS = {
    "euler": ("explicit", "Euler"),
    "midpoint": ("explicit", "Midpoint"),
    "heun": ("explicit", "Heun"),
    "ralston": ("explicit", "Ralston"),
    "rk4": ("explicit", "RK4"),
    "bosh3": ("explicit", "Bosh3"),
    "dopri5": ("explicit", "Dopri5"),
    "tsit5": ("explicit", "Tsit5"),
    "dopri8": ("explicit", "Dopri8"),
    "implicit_euler": ("implicit", "ImplicitEuler"),
    "trapezoid": ("implicit", "Trapezoid"),
    "kvaerno3": ("implicit", "Kvaerno3"),
    "kvaerno5": ("implicit", "Kvaerno5"),
    "radau5": ("implicit", "Radau5"),
    "rodas5": ("rosenbrock", "Rodas5"),
    "bdf": ("bdf", "BDF"),
    "auto": ("auto", "Auto"),
    "leapfrog": ("symplectic", "Leapfrog"),
    "yoshida4": ("symplectic", "Yoshida4"),
    "ruth4": ("symplectic", "Ruth4"),
    "etdrk1": ("exponential", "ETDRK1"),
    "etdrk2": ("exponential", "ETDRK2"),
    "etdrk4": ("exponential", "ETDRK4"),
    "imex_euler": ("imex", "IMEXEuler"),
    "imex2": ("imex", "IMEX2"),
}


def available() -> list[str]:
    """The names whose family is installed (importable)."""
    names = []
    for name, (module, factory) in METHODS.items():
        try:
            getattr(importlib.import_module(f"solvers.{module}"), factory)
        except (ImportError, AttributeError):
            continue
        names.append(name)
    return names


def build(name: str):
    """A fresh method object for ``name`` (lower-case); ``KeyError`` if unknown or not
    built yet."""
    module, factory = METHODS[name]
    try:
        return getattr(importlib.import_module(f"solvers.{module}"), factory)()
    except (ImportError, AttributeError):
        raise KeyError(name) from None
