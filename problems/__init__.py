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
from .hamiltonian import (
    FIGURE_EIGHT_PERIOD,
    OUTER_SOLAR_SYSTEM_BODIES,
    charged_particle,
    charged_particle_lab_frame,
    figure_eight,
    fput,
    fput_mode_energies,
    gravitational_acceleration,
    henon_heiles,
    kepler_invariants,
    kepler_qp,
    outer_solar_system,
    pleiades,
)
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
from .stiff import brusselator_1d, e5, hires, orego, pollution, robertson, van_der_pol_stiff

__all__ = [
    "FIGURE_EIGHT_PERIOD",
    "OUTER_SOLAR_SYSTEM_BODIES",
    "Problem",
    "brusselator",
    "brusselator_1d",
    "charged_particle",
    "charged_particle_lab_frame",
    "damped_driven_oscillator",
    "double_pendulum",
    "duffing",
    "e5",
    "exponential_decay",
    "figure_eight",
    "fitzhugh_nagumo",
    "fput",
    "fput_mode_energies",
    "get",
    "gravitational_acceleration",
    "harmonic_oscillator",
    "henon_heiles",
    "hires",
    "kepler",
    "kepler_invariants",
    "kepler_periapsis_state",
    "kepler_qp",
    "lorenz63",
    "lotka_volterra",
    "names",
    "orego",
    "outer_solar_system",
    "pendulum",
    "pleiades",
    "pollution",
    "register",
    "robertson",
    "rossler",
    "sir",
    "solve_kepler_equation",
    "van_der_pol",
    "van_der_pol_stiff",
]
