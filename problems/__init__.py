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
from .sde import (
    double_well_kramers_rate,
    double_well_langevin,
    double_well_mean_exit_time,
    geometric_brownian_motion,
    geometric_brownian_motion_exact,
    ornstein_uhlenbeck,
    ornstein_uhlenbeck_moments,
    stochastic_lotka_volterra,
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
    "double_well_kramers_rate",
    "double_well_langevin",
    "double_well_mean_exit_time",
    "duffing",
    "e5",
    "exponential_decay",
    "figure_eight",
    "fitzhugh_nagumo",
    "fput",
    "fput_mode_energies",
    "geometric_brownian_motion",
    "geometric_brownian_motion_exact",
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
    "ornstein_uhlenbeck",
    "ornstein_uhlenbeck_moments",
    "outer_solar_system",
    "pendulum",
    "pleiades",
    "pollution",
    "register",
    "robertson",
    "rossler",
    "sir",
    "solve_kepler_equation",
    "stochastic_lotka_volterra",
    "van_der_pol",
    "van_der_pol_stiff",
]
