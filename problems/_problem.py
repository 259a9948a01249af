"""The `Problem` record and the registry of problem factories."""

from __future__ import annotations

import dataclasses
import difflib
import functools
import inspect
from collections.abc import Callable
from typing import Any

import jax.numpy as jnp

PyTree = Any

# name -> factory (the validated wrapper); filled by `register` at import time.
_REGISTRY: dict[str, Callable[..., Problem]] = {}


# eq=False: the fields hold arrays, whose `==` is elementwise; identity equality keeps
# the record hashable, so it can be a static argument of `jax.jit`.
@dataclasses.dataclass(frozen=True, eq=False)
class Problem:
    """One initial value problem of the catalogue.

    Attributes:
        name: the registry name, e.g. ``"lorenz63"``.
        vector_field: ``f(t, y, params) -> dy/dt``, a pure ``jax.numpy`` function
            returning the same pytree (shapes and dtypes) as ``y``.
        y0: the initial state at ``t_span[0]``.
        t_span: ``(t0, t1)``, the default integration interval.
        params: a dict of arrays keyed by the physical names of the parameters
            (scalars, except where a docstring says otherwise).
        exact: ``exact(t, params) -> y`` for scalar ``t`` where a closed form exists,
            else ``None``. It is jittable and differentiable; ``jax.vmap`` it over ``t``
            for many times. It belongs to this ``y0`` and ``t_span[0]`` (build a new
            problem with overrides rather than editing ``y0`` by hand).
        stiff: whether explicit methods need tiny steps on it.
        description: one line saying what the problem models.
        reference: a citation for the equations and the default values.
        reference_solution: the state at ``t_span[1]`` from a published or tightly
            converged reference computation (stiff test-set problems), else ``None``.
        jacobian_structure: how a stiff method should solve with the Jacobian of this
            problem (e.g. ``solvers.Banded(lower, upper)``), or ``None`` for dense.
        hamiltonian: ``H(q, p, params) -> scalar`` for Hamiltonian problems with state
            ``(q, p)``, else ``None``.
        diffusion: the diffusion ``g(t, y, params)`` of an SDE problem (then
            ``vector_field`` is its drift), else ``None``.
        noise: ``"diagonal"``, ``"additive"`` or ``"general"`` for SDE problems.
        grid: the spatial grid of a PDE problem, else ``None``.
        linear_operator: the linear part ``L`` of a semilinear PDE ``u' = L u + N(u)``.
    """

    name: str
    vector_field: Callable
    y0: PyTree
    t_span: tuple[float, float]
    params: PyTree
    exact: Callable | None = None
    stiff: bool = False
    description: str = ""
    reference: str = ""
    reference_solution: PyTree | None = None
    jacobian_structure: Any = None
    hamiltonian: Callable | None = None
    diffusion: Callable | None = None
    noise: str | None = None
    grid: Any = None
    linear_operator: Any = None

    def solve(self, **options):
        """Integrate the problem: ``solvers.solve(vector_field, y0, t_span, params, **options)``."""
        import solvers  # lazy: solvers imports nothing from problems

        return solvers.solve(self.vector_field, self.y0, self.t_span, self.params, **options)

    def solve_sde(self, **options):
        """Integrate an SDE problem: ``solvers.solve_sde(vector_field, diffusion, y0,
        t_span, params, noise=noise, **options)`` (``key=`` and ``dt=`` are required)."""
        if self.diffusion is None:
            raise TypeError(f"Problem {self.name!r} is not an SDE (it has no diffusion).")
        import solvers

        options.setdefault("noise", self.noise)
        return solvers.solve_sde(
            self.vector_field, self.diffusion, self.y0, self.t_span, self.params, **options
        )


def as_state(values) -> jnp.ndarray:
    """An initial state as a floating array in JAX's default float dtype."""
    return jnp.asarray(values, dtype=float)


def as_params(**values) -> dict[str, jnp.ndarray]:
    """A parameter dict of floating arrays (default float dtype), keyed by name."""
    return {name: jnp.asarray(value, dtype=float) for name, value in values.items()}


def as_t_span(t_span) -> tuple[float, float]:
    """``(t0, t1)`` as a pair of Python floats."""
    if len(t_span) != 2:
        raise ValueError(f"t_span must be a pair (t0, t1), got {t_span!r}.")
    return (float(t_span[0]), float(t_span[1]))


def register(name: str) -> Callable[[Callable[..., Problem]], Callable[..., Problem]]:
    """Decorator: add a problem factory to the catalogue under ``name``.

    The factory takes keyword-only arguments (its physical parameters, ``y0`` and
    ``t_span``). The returned wrapper rejects unknown keywords with a ``TypeError``
    that lists the valid ones.
    """
    if name != name.lower() or not name.replace("_", "").isalnum():
        raise ValueError(f"Problem names are lowercase with underscores, got {name!r}.")

    def decorator(factory: Callable[..., Problem]) -> Callable[..., Problem]:
        if name in _REGISTRY:
            raise ValueError(f"A problem named {name!r} is already registered.")
        valid = tuple(inspect.signature(factory).parameters)

        @functools.wraps(factory)
        def wrapper(*args, **overrides) -> Problem:
            if args:
                raise TypeError(
                    f"{name}() takes keyword arguments only; valid ones: {', '.join(valid)}."
                )
            unknown = sorted(set(overrides) - set(valid))
            if unknown:
                raise TypeError(
                    f"Unknown override(s) {', '.join(map(repr, unknown))} for problem "
                    f"{name!r}; valid overrides: {', '.join(valid)}."
                )
            return factory(**overrides)

        wrapper.overrides = valid
        _REGISTRY[name] = wrapper
        return wrapper

    return decorator


def get(name: str, **overrides) -> Problem:
    """Build the catalogue problem ``name``, with parameters, ``y0`` or ``t_span`` overridden.

    Args:
        name: a name from `names()`, e.g. ``"lorenz63"``.
        **overrides: any parameter of that problem (by its physical name, e.g.
            ``rho=20.0``), ``y0=`` or ``t_span=``.

    Returns:
        The `Problem`.

    Raises:
        KeyError: ``name`` is not in the catalogue (the message lists the names).
        TypeError: an override is not a parameter of that problem.
    """
    try:
        factory = _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(str(name), _REGISTRY, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise KeyError(
            f"No problem named {name!r}.{hint} Available: {', '.join(names())}."
        ) from None
    return factory(**overrides)


def names() -> list[str]:
    """The names of every problem in the catalogue, sorted."""
    return sorted(_REGISTRY)
