"""A catalogue of physics problems for `solvers`.

```python
prob = problems.get("lorenz63", rho=20.0)    # or problems.lorenz63(rho=20.0)
problems.names()                             # every name in the catalogue
sol = prob.solve(method="tsit5")             # solvers.solve(prob.vector_field, prob.y0, ...)
```

Each problem is a `Problem` record built by a factory function registered under its
name; the factory's keyword arguments (the physical parameters, ``y0`` and ``t_span``)
are the overrides `get` accepts.
"""

from ._problem import Problem, get, names, register
from .biology import brusselator, fitzhugh_nagumo, lotka_volterra, sir, van_der_pol
from .chaos import duffing, lorenz63, rossler
from .hamiltonian import gravitational_acceleration, pleiades
from .mechanics import (
    damped_driven_oscillator,
    double_pendulum,
    exponential_decay,
    harmonic_oscillator,
    kepler,
    kepler_periapsis_state,
    pendulum,
    solve_kepler_equation,
)

__all__ = [
    "Problem",
    "brusselator",
    "damped_driven_oscillator",
    "double_pendulum",
    "duffing",
    "exponential_decay",
    "fitzhugh_nagumo",
    "get",
    "gravitational_acceleration",
    "harmonic_oscillator",
    "kepler",
    "kepler_periapsis_state",
    "lorenz63",
    "lotka_volterra",
    "names",
    "pendulum",
    "pleiades",
    "register",
    "rossler",
    "sir",
    "solve_kepler_equation",
    "van_der_pol",
]
