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
from .pde import (
    advection_1d,
    allen_cahn,
    burgers_1d,
    fisher_kpp,
    gray_scott_2d,
    heat_1d,
    heat_2d,
    kdv,
    kuramoto_sivashinsky,
    navier_stokes_2d,
    nls,
    wave_1d,
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
    "advection_1d",
    "allen_cahn",
    "brusselator",
    "brusselator_1d",
    "burgers_1d",
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
    "fisher_kpp",
    "fitzhugh_nagumo",
    "fput",
    "fput_mode_energies",
    "geometric_brownian_motion",
    "geometric_brownian_motion_exact",
    "get",
    "gravitational_acceleration",
    "gray_scott_2d",
    "harmonic_oscillator",
    "heat_1d",
    "heat_2d",
    "henon_heiles",
    "hires",
    "kdv",
    "kepler",
    "kepler_invariants",
    "kepler_periapsis_state",
    "kepler_qp",
    "kuramoto_sivashinsky",
    "lorenz63",
    "lotka_volterra",
    "names",
    "navier_stokes_2d",
    "nls",
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
    "wave_1d",
]
