r"""Partial differential equations by the method of lines, on the grids of ``solvers.pde``.

Each problem's state is the field on its grid in physical space: an array of the grid's
shape, or a tuple of them for systems (``gray_scott_2d``, ``wave_1d``); ``nls`` has a
complex state. ``prob.grid`` is the ``solvers.pde.Grid``. The semilinear problems
$u_t = L u + N(t, u)$ carry their vector field as a ``solvers.pde.semilinear`` field,
so the exponential (``etdrk1/2/4``) and IMEX (``imex_euler``, ``imex2``) methods see
the split, and ``prob.linear_operator`` is its linear part $L$; every other method of
``solvers.solve`` integrates the same field as an ordinary ODE. Periodic problems use
Fourier spectral operators (a ``FourierOperator``, whose eigenvalues the exponential
methods exponentiate); bounded ones (``heat_1d(bc="dirichlet")``, ``allen_cahn``,
``fisher_kpp``) use the finite-difference Laplacian with ghost-cell boundary conditions
(a ``LinearOperator`` with a ``solvers.Banded`` structure, also set as
``jacobian_structure`` for the stiff methods).

``params`` holds the coefficients of the equation by their physical names (and, as for
``kepler``'s ``e``, the constants of a closed-form initial state that ``exact`` reads:
those set ``y0`` when the problem is built and do not enter the vector field). The grid
size ``n`` and the domain are factory arguments, not ``params``: they set the shapes.

The fixed-step exponential and IMEX methods need ``dt=``; each docstring gives a step
that resolves the default problem.

References: L. N. Trefethen, *Spectral Methods in MATLAB*, SIAM (2000); A.-K. Kassam and
L. N. Trefethen, "Fourth-order time-stepping for stiff PDEs", *SIAM J. Sci. Comput.* 26
(2005) 1214-1233; R. J. LeVeque, *Finite Difference Methods for Ordinary and Partial
Differential Equations*, SIAM (2007).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from ._problem import Problem, as_params, as_t_span, register

# ---------------------------------------------------------------------------------------
# Shared pieces


def _toolkit():
    """``solvers.pde``, imported when a problem is built: importing ``problems`` must not
    import ``solvers``."""
    from solvers import pde

    return pde


def _finite_differences():
    """The finite-difference operators and boundary conditions (lazy, as above)."""
    from solvers.pde import boundary, fd

    return fd, boundary


def _points(problem: str, n, minimum: int = 8) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < minimum:
        raise ValueError(
            f"{problem} needs an integer number of grid points n >= {minimum}; got n={n!r}."
        )
    return int(n)


def _concrete(value):
    """``value`` as a Python float, or ``None`` when it is traced (not checkable)."""
    try:
        return float(value)
    except (TypeError, jax.errors.ConcretizationTypeError):
        return None


def _require(problem: str, condition, requirement: str, **values) -> None:
    """``ValueError`` unless ``condition(value)`` for every concrete value given."""
    for name, value in values.items():
        number = _concrete(value)
        if number is not None and not (math.isfinite(number) and condition(number)):
            raise ValueError(f"{problem} needs {name} {requirement}; got {name}={value!r}.")


def _positive(problem: str, **values) -> None:
    _require(problem, lambda x: x > 0, "> 0", **values)


def _choice(problem: str, name: str, value, allowed: tuple) -> None:
    if value not in allowed:
        raise ValueError(
            f"{problem}: {name} must be one of {', '.join(map(repr, allowed))}; got {value!r}."
        )


def _modes(problem: str, modes, amplitudes, limit: int, ndim: int):
    """``(modes, amplitudes)`` as tuples, each mode a positive wavenumber (1-D) or a pair
    of them (2-D), below ``limit`` (resolved on the grid)."""
    modes, amplitudes = tuple(modes), tuple(float(a) for a in amplitudes)
    if not modes or len(modes) != len(amplitudes):
        raise ValueError(
            f"{problem} needs as many amplitudes as modes (at least one); got "
            f"{len(modes)} modes and {len(amplitudes)} amplitudes."
        )
    checked = []
    for mode in modes:
        numbers = (mode,) if ndim == 1 else tuple(mode) if isinstance(mode, (tuple, list)) else ()
        if len(numbers) != ndim or not all(
            isinstance(m, (int, np.integer)) and not isinstance(m, bool) and 1 <= m < limit
            for m in numbers
        ):
            shape = "an integer" if ndim == 1 else "a pair of integers"
            raise ValueError(
                f"{problem}: each mode must be {shape} in [1, {limit}) (resolved on the "
                f"grid); got {mode!r}."
            )
        checked.append(int(numbers[0]) if ndim == 1 else tuple(int(m) for m in numbers))
    return tuple(checked), amplitudes


def _initial_state(problem: str, y0, default):
    """``y0`` given by the user, checked against the default start's structure and
    shapes and cast to its dtype; ``default`` when ``y0`` is ``None``."""
    if y0 is None:
        return default
    if isinstance(default, tuple):
        if not isinstance(y0, (tuple, list)) or len(y0) != len(default):
            raise ValueError(
                f"{problem} needs y0 as a tuple of {len(default)} fields; got {type(y0).__name__}."
            )
        return tuple(_initial_state(problem, a, d) for a, d in zip(y0, default))
    value = jnp.asarray(y0)
    if value.shape != default.shape:
        raise ValueError(
            f"{problem} needs y0 of the grid's shape {default.shape}; got shape {value.shape}."
        )
    return value.astype(default.dtype)


def _no_reaction(t, u, params):
    """``N = 0``: a linear problem written as a semilinear field."""
    return jax.tree.map(jnp.zeros_like, u)


def _first_derivative_wavenumbers(grid, real: bool = True):
    """The wavenumbers of ``d/dx`` per axis, with the Nyquist mode of an even axis set to
    zero (an odd derivative of that mode has no real value; Trefethen 2000, ch. 3)."""
    out = []
    for axis, k in enumerate(grid.wavenumbers(real)):
        nyquist = math.pi * grid.shape[axis] / grid.lengths[axis]
        out.append(np.where(np.isclose(np.abs(k), nyquist, rtol=1e-12, atol=0.0), 0.0, k))
    return tuple(out)


def _imaginary(x):
    """``1j * x`` for a real array, without implicit float-to-complex promotion."""
    x = jnp.asarray(x)
    return jax.lax.complex(jnp.zeros_like(x), x)


def _constant(values, like):
    """A NumPy constant in the dtype of the array it multiplies."""
    return jnp.asarray(values).astype(like.dtype)


def _wrap(xi, length):
    """``xi`` shifted by a multiple of ``length`` into ``[-length/2, length/2)``."""
    return jnp.mod(xi + 0.5 * length, length) - 0.5 * length


def _sech(z):
    """``1/cosh(z)`` without overflow (and with finite derivatives) for large ``|z|``."""
    e = jnp.exp(-jnp.abs(z))
    return 2 * e / (1 + e * e)


# ---------------------------------------------------------------------------------------
# Heat equation


@register("heat_1d")
def heat_1d(
    *,
    D=0.1,
    n=64,
    bc="periodic",
    modes=(1, 3, 5),
    amplitudes=(1.0, 0.5, 0.25),
    y0=None,
    t_span=(0.0, 5.0),
) -> Problem:
    r"""The heat equation in 1-D: each Fourier (or sine) mode decays at its own rate.

    $$u_t = D\,u_{xx}, \qquad u(x, 0) = \sum_j a_j \sin(m_j x), \qquad
      u(x, t) = \sum_j a_j\,e^{-D m_j^2 t}\sin(m_j x).$$

    * ``bc="periodic"`` (default): $x \in [0, 2\pi)$ periodic, the Fourier spectral
      Laplacian (``FourierOperator`` with symbol $-D k^2$). ``exact`` is then exact on
      the grid to rounding (the modes are resolved and the semi-discrete problem decays
      them at exactly $e^{-D m^2 t}$): ``etdrk1`` (exact for a linear problem) matches it
      to about ``1e-15``.
    * ``bc="dirichlet"``: $x \in [0, \pi]$ with $u(0) = u(\pi) = 0$, on the cell centres
      $x_i = (i + 1/2)\pi/n$, the second-order finite-difference Laplacian with Dirichlet
      ghost cells (a ``LinearOperator``, tridiagonal: ``jacobian_structure`` is
      ``solvers.Banded(1, 1)``). ``exact`` is the solution of the continuous problem, so
      the discretisation error is $O(\Delta x^2)$: at $t = 0.5$, ``2.2e-3``, ``6.1e-4``
      and ``1.6e-4`` for $n = 32, 64, 128$ (the Laplacian's truncation error is
      $O(\Delta x)$ in the cell next to each wall, where $u''' \ne 0$, and
      $O(\Delta x^2)$ elsewhere).

    The largest eigenvalue magnitude is $D k_{\max}^2 = D (n/2)^2$ (periodic) or about
    $4.6\,D/\Delta x^2$ (Dirichlet): explicit methods need steps below ``~2.8/that``,
    far below what the accuracy asks for (``stiff=True``).

    Args:
        D: diffusivity $D > 0$. Default 0.1.
        n: grid points. Default 64.
        bc: ``"periodic"`` (spectral, on $[0, 2\pi)$) or ``"dirichlet"`` (finite
            differences, on $[0, \pi]$). Default ``"periodic"``.
        modes: the wavenumbers $m_j$ (positive integers below $n/2$). Default
            ``(1, 3, 5)``.
        amplitudes: the $a_j$. Default ``(1.0, 0.5, 0.25)``.
        y0: the initial field, an array of shape ``(n,)``,
            instead of the default start; ``exact`` is then ``None``. Default ``None``.
        t_span: default ``(0.0, 5.0)``.

    Returns:
        The `Problem` ``"heat_1d"`` (state ``(n,)``, ``stiff=True``, has ``exact``).

    Reference:
        J. Fourier, Théorie analytique de la chaleur (1822); L. N. Trefethen, Spectral
        Methods in MATLAB, SIAM (2000), ch. 3; R. J. LeVeque, Finite Difference Methods
        for ODEs and PDEs, SIAM (2007), ch. 9.
    """
    pde = _toolkit()
    n = _points("heat_1d", n)
    _choice("heat_1d", "bc", bc, ("periodic", "dirichlet"))
    _positive("heat_1d", D=D)
    modes, amplitudes = _modes("heat_1d", modes, amplitudes, (n + 1) // 2, 1)
    t_span = as_t_span(t_span)
    t0 = t_span[0]
    if bc == "periodic":
        grid = pde.Grid(n, (0.0, 2 * math.pi))
        linear = pde.FourierOperator(grid, lambda k, p: -p["D"] * k**2)
        structure = None
    else:
        fd, boundary = _finite_differences()
        grid = pde.Grid(n, (0.0, math.pi), periodic=False)
        wall = boundary.Dirichlet(0.0)
        structure = fd.banded_structure(grid)
        linear = pde.LinearOperator(lambda u, p: p["D"] * fd.laplacian(u, grid, wall), structure)
    x = np.asarray(grid.x)
    shapes = np.stack([np.sin(m * x) for m in modes])
    rates = np.asarray([m**2 for m in modes], dtype=float)

    def exact(t, params):
        decay = jnp.exp(-params["D"] * rates * (t - t0))
        return jnp.tensordot(jnp.asarray(amplitudes) * decay, jnp.asarray(shapes), axes=1)

    params = as_params(D=D)
    field = pde.semilinear(linear, _no_reaction)
    return Problem(
        name="heat_1d",
        vector_field=field,
        y0=_initial_state("heat_1d", y0, exact(t0, params)),
        t_span=t_span,
        params=params,
        exact=exact if y0 is None else None,
        stiff=True,
        description=f"Heat equation u_t = D u_xx in 1-D ({bc}), a few decaying modes.",
        reference="Trefethen, Spectral Methods in MATLAB (2000); LeVeque (2007) ch. 9.",
        jacobian_structure=structure,
        grid=grid,
        linear_operator=field.linear,
    )


@register("heat_2d")
def heat_2d(
    *,
    D=0.1,
    n=32,
    modes=((1, 1), (2, 3), (4, 1)),
    amplitudes=(1.0, 0.5, 0.25),
    y0=None,
    t_span=(0.0, 5.0),
) -> Problem:
    r"""The heat equation on the periodic square $[0, 2\pi)^2$, Fourier spectral.

    $$u_t = D\,(u_{xx} + u_{yy}), \qquad
      u(x, y, t) = \sum_j a_j\,e^{-D (k_j^2 + l_j^2) t}\sin(k_j x)\sin(l_j y).$$

    The linear operator is a ``FourierOperator`` with symbol $-D(k_x^2 + k_y^2)$;
    ``exact`` is exact on the grid to rounding. Stiff for the same reason as `heat_1d`
    (largest eigenvalue magnitude $2 D (n/2)^2$).

    Args:
        D: diffusivity $D > 0$. Default 0.1.
        n: grid points per axis (the state is ``(n, n)``). Default 32.
        modes: the wavenumber pairs $(k_j, l_j)$, positive integers below $n/2$.
            Default ``((1, 1), (2, 3), (4, 1))``.
        amplitudes: the $a_j$. Default ``(1.0, 0.5, 0.25)``.
        y0: the initial field, an array of shape ``(n, n)``,
            instead of the default start; ``exact`` is then ``None``. Default ``None``.
        t_span: default ``(0.0, 5.0)``.

    Returns:
        The `Problem` ``"heat_2d"`` (state ``(n, n)``, ``stiff=True``, has ``exact``).

    Reference:
        L. N. Trefethen, Spectral Methods in MATLAB, SIAM (2000), ch. 3 and 7.
    """
    pde = _toolkit()
    n = _points("heat_2d", n)
    _positive("heat_2d", D=D)
    modes, amplitudes = _modes("heat_2d", modes, amplitudes, (n + 1) // 2, 2)
    t_span = as_t_span(t_span)
    t0 = t_span[0]
    grid = pde.Grid((n, n), ((0.0, 2 * math.pi), (0.0, 2 * math.pi)))
    x, y = (np.asarray(c) for c in grid.x)
    shapes = np.stack([np.sin(k * x) * np.sin(l * y) for k, l in modes])
    rates = np.asarray([k**2 + l**2 for k, l in modes], dtype=float)

    def exact(t, params):
        decay = jnp.exp(-params["D"] * rates * (t - t0))
        return jnp.tensordot(jnp.asarray(amplitudes) * decay, jnp.asarray(shapes), axes=1)

    params = as_params(D=D)
    linear = pde.FourierOperator(grid, lambda k, p: -p["D"] * (k[0] ** 2 + k[1] ** 2))
    field = pde.semilinear(linear, _no_reaction)
    return Problem(
        name="heat_2d",
        vector_field=field,
        y0=_initial_state("heat_2d", y0, exact(t0, params)),
        t_span=t_span,
        params=params,
        exact=exact if y0 is None else None,
        stiff=True,
        description="Heat equation on the periodic square, a few decaying Fourier modes.",
        reference="Trefethen, Spectral Methods in MATLAB (2000), ch. 3 and 7.",
        grid=grid,
        linear_operator=field.linear,
    )


# ---------------------------------------------------------------------------------------
# Advection, Burgers, KdV, Kuramoto-Sivashinsky


@register("advection_1d")
def advection_1d(*, c=1.0, n=32, y0=None, t_span=(0.0, 2 * math.pi)) -> Problem:
    r"""Linear advection on the periodic interval $[0, 2\pi)$: the profile moves at speed $c$.

    $$u_t + c\,u_x = 0, \qquad u(x, 0) = e^{\sin x}, \qquad u(x, t) = e^{\sin(x - c t)}.$$

    The linear operator is a ``FourierOperator`` with symbol $-i c k$ (the Nyquist mode
    dropped, as for every odd derivative); the eigenvalues are imaginary, so the problem
    is not stiff at this size ($|\lambda| \le c\,n/2$). The Fourier coefficients of
    $e^{\sin x}$ fall like $1/(2^k k!)$, so 32 points resolve it to rounding. The mass
    $\int u\,dx$ is conserved. The default span is one period at $c = 1$ (the profile
    returns to its start).

    Args:
        c: the speed $c$ (any sign). Default 1.0.
        n: grid points. Default 32.
        y0: the initial field, an array of shape ``(n,)``,
            instead of the default start; ``exact`` is then ``None``. Default ``None``.
        t_span: default ``(0.0, 2*pi)``.

    Returns:
        The `Problem` ``"advection_1d"`` (state ``(n,)``, has ``exact``).

    Reference:
        L. N. Trefethen, Spectral Methods in MATLAB, SIAM (2000), ch. 3 (program 6).
    """
    pde = _toolkit()
    n = _points("advection_1d", n)
    _require("advection_1d", lambda x: True, "finite", c=c)
    t_span = as_t_span(t_span)
    t0 = t_span[0]
    grid = pde.Grid(n, (0.0, 2 * math.pi))
    x = grid.x
    (dk,) = _first_derivative_wavenumbers(grid)

    def exact(t, params):
        return jnp.exp(jnp.sin(x - params["c"] * (t - t0)))

    params = as_params(c=c)
    linear = pde.FourierOperator(grid, lambda k, p: _imaginary(-p["c"] * dk))
    field = pde.semilinear(linear, _no_reaction)
    return Problem(
        name="advection_1d",
        vector_field=field,
        y0=_initial_state("advection_1d", y0, exact(t0, params)),
        t_span=t_span,
        params=params,
        exact=exact if y0 is None else None,
        stiff=False,
        description="Linear advection u_t + c u_x = 0 of exp(sin x) on a periodic interval.",
        reference="Trefethen, Spectral Methods in MATLAB (2000), ch. 3.",
        grid=grid,
        linear_operator=field.linear,
    )


@register("burgers_1d")
def burgers_1d(*, nu=0.1, a=1.5, b=1.0, wavenumber=1, n=128, y0=None, t_span=(0.0, 5.0)) -> Problem:
    r"""Viscous Burgers' equation on $[0, 2\pi)$ periodic, with Cole-Hopf's exact solution.

    $$u_t + u\,u_x = \nu\,u_{xx}.$$

    The Cole-Hopf transform $u = -2\nu\,\phi_x/\phi$ turns it into the heat equation
    $\phi_t = \nu\phi_{xx}$; with $\phi = a + b\,e^{-\nu m^2 t}\cos(m x)$,
    $a > b > 0$ (so $\phi > 0$),

    $$u(x, t) = \frac{2\nu b m\,e^{-\nu m^2 t}\sin(m x)}{a + b\,e^{-\nu m^2 t}\cos(m x)}.$$

    The ratio of advection to diffusion, $\max|u|/(\nu m) = 2b/\sqrt{a^2 - b^2}$, does
    not depend on $\nu$; $a \to b$ steepens the profile (its Fourier coefficients fall
    like $\rho^k$, $\rho = (a - \sqrt{a^2 - b^2})/b$, 0.38 for the defaults). Split
    $u_t = L u + N(u)$: ``FourierOperator`` with symbol $-\nu k^2$, and
    $N = -(u^2/2)_x$ evaluated spectrally (``spectral_nonlinear``: $-\tfrac{i}{2} k\,
    \widehat{u^2}$) with Orszag's 2/3 dealiasing. On the default grid
    $f(t, u_{\rm exact}) = \partial_t u_{\rm exact}$ holds to ``1e-14``, and ``etdrk4``
    matches ``exact`` at $t = 5$ to ``2e-11`` with ``dt = 0.05`` and ``3e-14`` with
    ``dt = 0.01``. The mean of $u$ is conserved (zero).

    Args:
        nu: viscosity $\nu > 0$. Default 0.1.
        a: the constant in $\phi$, $a > b$. Default 1.5.
        b: the amplitude in $\phi$, $b > 0$. Default 1.0.
        wavenumber: $m$, a positive integer below $n/3$. Default 1.
        n: grid points. Default 128.
        y0: the initial field, an array of shape ``(n,)``,
            instead of the default start; ``exact`` is then ``None``. Default ``None``.
        t_span: default ``(0.0, 5.0)``.

    Returns:
        The `Problem` ``"burgers_1d"`` (state ``(n,)``, ``stiff=True``, has ``exact``;
        ``params`` = ``nu``, ``a``, ``b``: ``a`` and ``b`` set the initial state and
        ``exact`` only).

    Reference:
        E. Hopf, Comm. Pure Appl. Math. 3 (1950) 201-230; J. D. Cole, Quart. Appl. Math.
        9 (1951) 225-236; S. A. Orszag, J. Atmos. Sci. 28 (1971) 1074 (the 2/3 rule).
    """
    pde = _toolkit()
    n = _points("burgers_1d", n)
    _positive("burgers_1d", nu=nu, b=b)
    if _concrete(a) is not None and _concrete(b) is not None and not _concrete(a) > _concrete(b):
        raise ValueError(f"burgers_1d needs a > b > 0 (phi > 0); got a={a!r}, b={b!r}.")
    if isinstance(wavenumber, bool) or not isinstance(wavenumber, (int, np.integer)):
        raise ValueError(f"burgers_1d needs an integer wavenumber; got {wavenumber!r}.")
    if not 1 <= wavenumber < n / 3:
        raise ValueError(
            f"burgers_1d needs 1 <= wavenumber < n/3 (resolved after dealiasing); got "
            f"wavenumber={wavenumber} with n={n}."
        )
    m = int(wavenumber)
    t_span = as_t_span(t_span)
    t0 = t_span[0]
    grid = pde.Grid(n, (0.0, 2 * math.pi))
    x = grid.x
    (dk,) = _first_derivative_wavenumbers(grid)
    advection = np.where(pde.spectral.dealias_mask(grid), -0.5j * dk, 0.0)

    def exact(t, params):
        decay = params["b"] * jnp.exp(-params["nu"] * m**2 * (t - t0))
        numerator = 2 * params["nu"] * m * decay * jnp.sin(m * x)
        return numerator / (params["a"] + decay * jnp.cos(m * x))

    def nonlinear_hat(t, u_hat, params):
        u = pde.spectral.ifft(u_hat, grid)
        return _constant(advection, u_hat) * pde.spectral.fft(u * u, grid)

    params = as_params(nu=nu, a=a, b=b)
    linear = pde.FourierOperator(grid, lambda k, p: -p["nu"] * k**2)
    field = pde.semilinear(linear, spectral_nonlinear=nonlinear_hat)
    return Problem(
        name="burgers_1d",
        vector_field=field,
        y0=_initial_state("burgers_1d", y0, exact(t0, params)),
        t_span=t_span,
        params=params,
        exact=exact if y0 is None else None,
        stiff=True,
        description="Viscous Burgers equation, periodic, Cole-Hopf exact solution.",
        reference="E. Hopf (1950); J. D. Cole (1951); Orszag (1971) for the 2/3 rule.",
        grid=grid,
        linear_operator=field.linear,
    )


@register("kdv")
def kdv(*, c=1.0, x0=-10.0, n=192, length=60.0, y0=None, t_span=(0.0, 20.0)) -> Problem:
    r"""The Korteweg-de Vries equation with one soliton, on a wide periodic interval.

    $$u_t + 6\,u\,u_x + u_{xxx} = 0, \qquad
      u(x, t) = \frac c2\,\mathrm{sech}^2\Big(\frac{\sqrt c}{2}(x - c t - x_0)\Big).$$

    On $[-\ell/2, \ell/2)$ periodic, ``exact`` is the soliton of the infinite line with
    its centre wrapped into the interval: exact up to the periodic tails, whose size is
    about $2c\,e^{-\sqrt c\,\ell/2}$ (``2e-13`` for the defaults). Split:
    ``FourierOperator`` with symbol $i k^3$ (for $-u_{xxx}$; dispersive, imaginary
    eigenvalues up to $(\pi n/\ell)^3 \approx 1000$: ``stiff=True``) and
    $N = -3\,(u^2)_x$ spectrally (no dealiasing: the soliton's spectrum,
    $\propto k/\sinh(\pi k/\sqrt c)$, is near rounding at the grid's highest
    wavenumbers). On the default grid $f(t, u_{\rm exact}) = \partial_t u_{\rm exact}$
    holds to ``3e-11``. The mass $\int u\,dx = 2\sqrt c$ is conserved to rounding by
    the discretisation (the zero modes of $L$ and $N$ vanish), and so, up to the time
    error, are the momentum $\int u^2$ and the energy. ``etdrk4`` matches ``exact`` at
    $t = 20$ to ``3e-7``, ``1.4e-8`` and ``8e-10`` with ``dt = 0.02``, ``0.01`` and
    ``0.005`` (fourth order).

    Args:
        c: the soliton's speed, $c > 0$ (amplitude $c/2$, width $\sim 2/\sqrt c$).
            Default 1.0.
        x0: the soliton's centre at ``t_span[0]``. Default -10.0.
        n: grid points. Default 192.
        length: the period $\ell$; the domain is $[-\ell/2, \ell/2)$. Default 60.0.
        y0: the initial field, an array of shape ``(n,)``,
            instead of the default start; ``exact`` is then ``None``. Default ``None``.
        t_span: default ``(0.0, 20.0)`` (the soliton moves from -10 to 10).

    Returns:
        The `Problem` ``"kdv"`` (state ``(n,)``, ``stiff=True``, has ``exact``;
        ``params`` = ``c``, ``x0``, which set the initial state and ``exact`` only: the
        equation has no coefficients).

    Reference:
        D. J. Korteweg and G. de Vries, Phil. Mag. 39 (1895) 422-443; N. J. Zabusky and
        M. D. Kruskal, Phys. Rev. Lett. 15 (1965) 240-243; Trefethen, Spectral Methods in
        MATLAB (2000), program 27.
    """
    pde = _toolkit()
    n = _points("kdv", n)
    _positive("kdv", c=c, length=length)
    length = float(length)
    t_span = as_t_span(t_span)
    t0 = t_span[0]
    grid = pde.Grid(n, (-length / 2, length / 2))
    x = grid.x
    (dk,) = _first_derivative_wavenumbers(grid)
    dispersion = 1j * dk**3
    advection = -3j * dk

    def exact(t, params):
        speed = params["c"]
        xi = _wrap(x - speed * (t - t0) - params["x0"], length)
        return 0.5 * speed * _sech(0.5 * jnp.sqrt(speed) * xi) ** 2

    def nonlinear_hat(t, u_hat, params):
        u = pde.spectral.ifft(u_hat, grid)
        return _constant(advection, u_hat) * pde.spectral.fft(u * u, grid)

    params = as_params(c=c, x0=x0)
    linear = pde.FourierOperator(grid, lambda k, p: dispersion)
    field = pde.semilinear(linear, spectral_nonlinear=nonlinear_hat)
    return Problem(
        name="kdv",
        vector_field=field,
        y0=_initial_state("kdv", y0, exact(t0, params)),
        t_span=t_span,
        params=params,
        exact=exact if y0 is None else None,
        stiff=True,
        description="Korteweg-de Vries one-soliton solution on a wide periodic interval.",
        reference="Korteweg-de Vries (1895); Zabusky-Kruskal (1965); Trefethen (2000) p27.",
        grid=grid,
        linear_operator=field.linear,
    )


@register("kuramoto_sivashinsky")
def kuramoto_sivashinsky(
    *, nu=1.0, n=128, length=32 * math.pi, y0=None, t_span=(0.0, 150.0)
) -> Problem:
    r"""The Kuramoto-Sivashinsky equation, Kassam & Trefethen's chaotic test case.

    $$u_t = -u\,u_x - u_{xx} - \nu\,u_{xxxx}, \qquad x \in [0, 32\pi) \text{ periodic},
      \qquad u(x, 0) = \cos(x/16)\,\big(1 + \sin(x/16)\big),$$

    with $N = 128$ points and $t \in [0, 150]$, as in Kassam & Trefethen (2005), whose
    ETDRK4 run uses ``dt = 1/4`` (recommended here too: ``prob.solve(method="etdrk4",
    dt=0.25)``). Split: ``FourierOperator`` with symbol $k^2 - \nu k^4$ (unstable for
    $0 < k < 1/\sqrt\nu$, strongly damped above: ``stiff=True``) and $N = -(u^2/2)_x$
    spectrally, without dealiasing, as in their code. The solution is chaotic after
    $t \approx 40$ and bounded ($\max|u| \approx 3.3$ over the default run); there is no
    closed form (``exact`` is ``None``).

    $\nu = 1$ is the standard equation; the coefficient is a parameter so that the
    problem can be varied smoothly (and differentiated): rescaling $x$ by $\sqrt\nu$
    shows that $\nu$ acts like a domain of length $\ell/\sqrt\nu$ (the bifurcation
    parameter of KS).

    Args:
        nu: coefficient $\nu > 0$ of $u_{xxxx}$. Default 1.0.
        n: grid points. Default 128.
        length: the period $\ell$. Default $32\pi$.
        y0: the initial field, an array of shape ``(n,)``. Default ``None``: Kassam
            & Trefethen's $\cos(x/16)(1 + \sin(x/16))$ (scaled with ``length``).
        t_span: default ``(0.0, 150.0)``.

    Returns:
        The `Problem` ``"kuramoto_sivashinsky"`` (state ``(n,)``, ``stiff=True``).

    Reference:
        A.-K. Kassam and L. N. Trefethen, "Fourth-order time-stepping for stiff PDEs",
        SIAM J. Sci. Comput. 26 (2005) 1214-1233, section 6 (program kursiv.m);
        Y. Kuramoto, Prog. Theor. Phys. 55 (1976) 356; G. I. Sivashinsky, Acta Astronaut.
        4 (1977) 1177.
    """
    pde = _toolkit()
    n = _points("kuramoto_sivashinsky", n)
    _positive("kuramoto_sivashinsky", nu=nu, length=length)
    length = float(length)
    grid = pde.Grid(n, (0.0, length))
    x = grid.x
    (dk,) = _first_derivative_wavenumbers(grid)
    advection = -0.5j * dk
    scale = length / (2 * math.pi)  # 16 for Kassam & Trefethen's 32 pi

    def nonlinear_hat(t, u_hat, params):
        u = pde.spectral.ifft(u_hat, grid)
        return _constant(advection, u_hat) * pde.spectral.fft(u * u, grid)

    linear = pde.FourierOperator(grid, lambda k, p: k**2 - p["nu"] * k**4)
    field = pde.semilinear(linear, spectral_nonlinear=nonlinear_hat)
    return Problem(
        name="kuramoto_sivashinsky",
        vector_field=field,
        y0=_initial_state(
            "kuramoto_sivashinsky", y0, jnp.cos(x / scale) * (1 + jnp.sin(x / scale))
        ),
        t_span=as_t_span(t_span),
        params=as_params(nu=nu),
        stiff=True,
        description="Kuramoto-Sivashinsky on [0, 32 pi), Kassam-Trefethen's set-up (dt = 1/4).",
        reference="Kassam & Trefethen, SIAM J. Sci. Comput. 26 (2005) 1214, section 6.",
        grid=grid,
        linear_operator=field.linear,
    )


# ---------------------------------------------------------------------------------------
# Reaction-diffusion: Allen-Cahn, Fisher-KPP, Gray-Scott


@register("allen_cahn")
def allen_cahn(
    *, eps=0.01, u_left=-1.0, u_right=1.0, n=128, y0=None, t_span=(0.0, 70.0)
) -> Problem:
    r"""The Allen-Cahn equation on $[-1, 1]$, Kassam & Trefethen's metastable example.

    $$u_t = \varepsilon\,u_{xx} + u - u^3, \qquad u(-1) = -1,\quad u(1) = 1, \qquad
      u(x, 0) = 0.53\,x + 0.47\sin(-1.5\pi x),$$

    with $\varepsilon = 0.01$ and $t \in [0, 70]$. The solution settles quickly into
    three interfaces (layers of width $\sim\sqrt{2\varepsilon}$ between $u = \pm 1$,
    near $x = -0.41$, $0$ and $0.40$ at $t = 25$): a metastable state. The outer two
    drift slowly inwards, faster as they approach, and meet the middle one at
    $t \approx 37.5$: the hump and the dip between them vanish within about one time
    unit and a single interface at $x = 0$ remains (here $t \approx 37.5$ for every
    $n$ from 64 to 512 and ``dt`` from 0.01 to 0.05; Kassam & Trefethen's Chebyshev
    figure shows the same sequence). No closed form (``exact`` is ``None``).

    Kassam & Trefethen use a Chebyshev collocation; here the grid has $n$ cell centres
    and the second-order finite-difference Laplacian with Dirichlet ghost cells. The
    linear part $\varepsilon\,\partial_{xx}$ with homogeneous conditions is a
    ``LinearOperator`` (tridiagonal: ``jacobian_structure`` is ``solvers.Banded(1, 1)``,
    for the IMEX methods and the stiff methods' linear solves); the boundary values
    enter the nonlinear part as the constant $\varepsilon\,\Delta_h[0; u_\pm]$ (the
    Laplacian of zero with the boundary data), so that the field is the full
    finite-difference Allen-Cahn operator. Largest eigenvalue magnitude about
    $4.6\,\varepsilon/\Delta x^2 \approx 190$ (``stiff=True``). ``imex2`` with
    ``dt = 0.05`` or a stiff method (``solvers.Radau5(linear_solver=prob.
    jacobian_structure)``) integrate it.

    Args:
        eps: the diffusion coefficient $\varepsilon > 0$. Default 0.01.
        u_left: the Dirichlet value at $x = -1$. Default -1.0.
        u_right: the Dirichlet value at $x = 1$. Default 1.0.
        n: grid points (cell centres). Default 128.
        y0: the initial field, an array of shape ``(n,)``. Default ``None``: Kassam
            & Trefethen's $0.53x + 0.47\sin(-1.5\pi x)$.
        t_span: default ``(0.0, 70.0)``.

    Returns:
        The `Problem` ``"allen_cahn"`` (state ``(n,)``, ``stiff=True``,
        ``jacobian_structure=solvers.Banded(1, 1)``).

    Reference:
        S. M. Allen and J. W. Cahn, Acta Metall. 27 (1979) 1085-1095; Kassam & Trefethen,
        SIAM J. Sci. Comput. 26 (2005) 1214-1233, section 7 (program allencahn.m).
    """
    pde = _toolkit()
    fd, boundary = _finite_differences()
    n = _points("allen_cahn", n)
    _positive("allen_cahn", eps=eps)
    grid = pde.Grid(n, (-1.0, 1.0), periodic=False)
    x = grid.x
    homogeneous = boundary.Dirichlet(0.0)
    structure = fd.banded_structure(grid)

    def reaction(t, u, params):
        walls = (boundary.Dirichlet(params["u_left"]), boundary.Dirichlet(params["u_right"]))
        lift = fd.laplacian(jnp.zeros_like(u), grid, walls)
        return u - u**3 + params["eps"] * lift

    linear = pde.LinearOperator(
        lambda u, p: p["eps"] * fd.laplacian(u, grid, homogeneous), structure
    )
    field = pde.semilinear(linear, reaction)
    return Problem(
        name="allen_cahn",
        vector_field=field,
        y0=_initial_state("allen_cahn", y0, 0.53 * x + 0.47 * jnp.sin(-1.5 * math.pi * x)),
        t_span=as_t_span(t_span),
        params=as_params(eps=eps, u_left=u_left, u_right=u_right),
        stiff=True,
        description="Allen-Cahn u_t = eps u_xx + u - u^3 on [-1, 1], metastable interfaces.",
        reference="Allen-Cahn (1979); Kassam & Trefethen (2005), section 7.",
        jacobian_structure=structure,
        grid=grid,
        linear_operator=field.linear,
    )


@register("fisher_kpp")
def fisher_kpp(
    *,
    D=1.0,
    r=1.0,
    n=400,
    length=100.0,
    x0=None,
    initial="step",
    y0=None,
    t_span=None,
) -> Problem:
    r"""The Fisher-KPP equation: a front invading an unstable state, zero flux at both ends.

    $$u_t = D\,u_{xx} + r\,u(1 - u), \qquad x \in [0, \ell], \qquad u_x(0) = u_x(\ell) = 0.$$

    * ``initial="step"`` (default): $u(x, 0) = \tfrac12\big(1 - \tanh(2(x - x_0))\big)$,
      a steep front at $x_0$ (it decays faster than $e^{-\sqrt{r/D}\,x}$). Such fronts
      approach the minimal speed $c^* = 2\sqrt{D r}$ from below, slowly: the position of
      the level $u = 1/2$ is $c^* t - \tfrac32\sqrt{D/r}\,\ln t + O(1)$ (Bramson's
      logarithmic delay), so the mean speed over $[10, 30]$ is about 4 % below $c^*$
      (measured: 1.914 for $D = r = 1$; the log-corrected $c^* - \tfrac32\ln 3/20 =
      1.918$). No closed form (``exact`` is ``None``).
    * ``initial="ablowitz_zeppetella"``: the travelling wave of Ablowitz & Zeppetella,
      $u = \big(1 + e^{\kappa(x - x_0 - c t)}\big)^{-2}$, $\kappa = \sqrt{r/(6D)}$,
      $c = \tfrac{5}{\sqrt6}\sqrt{D r}$, a closed form (``exact``) faster than $c^*$.
      It holds on the whole line; the zero-flux walls perturb it by about
      $e^{-\kappa \cdot \mathrm{distance}}$ behind the front (and
      $e^{-2\kappa \cdot \mathrm{distance}}$ ahead), so keep it far from both ends
      (below $10^{-6}$ with the defaults: $x_0 = 40$, ``t_span=(0, 20)``). The
      finite-difference solution converges to it at second order (``imex2``,
      ``dt = 0.01``: max error ``1.4e-2``, ``3.5e-3``, ``8e-4`` for $n = 200, 400,
      800$).

    Finite differences on $n$ cell centres: the linear part $D\,\partial_{xx}$ with
    zero-flux (``Neumann(0)``) ghost cells is a ``LinearOperator`` (tridiagonal:
    ``jacobian_structure`` is ``solvers.Banded(1, 1)``); $N = r u(1 - u)$. ``imex2``
    with ``dt = 0.05`` integrates it. Largest eigenvalue magnitude about
    $4 D/\Delta x^2 = 64$ for the defaults (``stiff=True``).

    Args:
        D: diffusivity $D > 0$. Default 1.0.
        r: growth rate $r > 0$. Default 1.0.
        n: grid points (cell centres). Default 400 ($\Delta x = 0.25$).
        length: the interval $[0, \ell]$. Default 100.0.
        x0: the initial front position, in $[0, \ell]$. Default 10.0 (step) or 40.0
            (Ablowitz-Zeppetella).
        initial: ``"step"`` or ``"ablowitz_zeppetella"``. Default ``"step"``.
        y0: the initial field, an array of shape ``(n,)``, instead of ``initial``'s;
            ``exact`` is then ``None``. Default ``None``.
        t_span: default ``(0.0, 30.0)`` (step: the front reaches $x \approx 63$) or
            ``(0.0, 20.0)`` (Ablowitz-Zeppetella: from 40 to 81).

    Returns:
        The `Problem` ``"fisher_kpp"`` (state ``(n,)``, ``stiff=True``,
        ``jacobian_structure=solvers.Banded(1, 1)``; ``exact`` for the
        Ablowitz-Zeppetella start only).

    Reference:
        R. A. Fisher, Ann. Eugenics 7 (1937) 355-369; A. Kolmogorov, I. Petrovsky and
        N. Piskunov, Bull. Moscow Univ. Math. Mech. 1 (1937) 1-26; M. Bramson, Mem. Amer.
        Math. Soc. 44 (1983) no. 285; M. J. Ablowitz and A. Zeppetella, Bull. Math. Biol.
        41 (1979) 835-840; W. van Saarloos, Phys. Rep. 386 (2003) 29-222.
    """
    pde = _toolkit()
    fd, boundary = _finite_differences()
    n = _points("fisher_kpp", n)
    _positive("fisher_kpp", D=D, r=r, length=length)
    _choice("fisher_kpp", "initial", initial, ("step", "ablowitz_zeppetella"))
    step = initial == "step"
    x0 = (10.0 if step else 40.0) if x0 is None else x0
    _require("fisher_kpp", lambda v: 0 <= v <= float(length), f"in [0, {length}]", x0=x0)
    length = float(length)
    t_span = as_t_span(((0.0, 30.0) if step else (0.0, 20.0)) if t_span is None else t_span)
    t0 = t_span[0]
    grid = pde.Grid(n, (0.0, length), periodic=False)
    x = grid.x
    wall = boundary.Neumann(0.0)
    structure = fd.banded_structure(grid)
    linear = pde.LinearOperator(lambda u, p: p["D"] * fd.laplacian(u, grid, wall), structure)

    def reaction(t, u, params):
        return params["r"] * u * (1 - u)

    params = as_params(D=D, r=r)
    field = pde.semilinear(linear, reaction)
    if step:
        exact = None
        start = 0.5 * (1 - jnp.tanh(2.0 * (x - float(x0))))
    else:

        def exact(t, params):
            kappa = jnp.sqrt(params["r"] / (6 * params["D"]))
            speed = 5 / math.sqrt(6) * jnp.sqrt(params["D"] * params["r"])
            return (1 + jnp.exp(kappa * (x - x0 - speed * (t - t0)))) ** -2

        start = exact(t0, params)
    return Problem(
        name="fisher_kpp",
        vector_field=field,
        y0=_initial_state("fisher_kpp", y0, start),
        t_span=t_span,
        params=params,
        exact=exact if y0 is None else None,
        stiff=True,
        description="Fisher-KPP front u_t = D u_xx + r u (1 - u), zero flux at both ends.",
        reference="Fisher (1937); KPP (1937); Bramson (1983); Ablowitz-Zeppetella (1979).",
        jacobian_structure=structure,
        grid=grid,
        linear_operator=field.linear,
    )


@register("gray_scott_2d")
def gray_scott_2d(
    *,
    Du=2.0e-5,
    Dv=1.0e-5,
    F=0.0367,
    k=0.0649,
    n=64,
    length=1.0,
    seed=0,
    y0=None,
    t_span=(0.0, 10000.0),
) -> Problem:
    r"""The Gray-Scott reaction-diffusion system on a periodic square: self-replicating spots.

    $$u_t = D_u\nabla^2 u - u v^2 + F(1 - u), \qquad
      v_t = D_v\nabla^2 v + u v^2 - (F + k)\,v,$$

    with Pearson's diffusivities $D_u = 2\cdot10^{-5}$, $D_v = 10^{-5}$ and his
    initial condition: $(u, v) = (1, 0)$ except a central square, $20/256$ of the side,
    set to $(1/2, 1/4)$, everything perturbed by $\pm1\%$ multiplicative noise
    (``numpy.random.default_rng(seed)``) to break the symmetry. $(F, k) = (0.0367,
    0.0649)$ lies in the region of self-replicating spots ("mitosis", Pearson's
    type $\lambda$): the square becomes one spot, which divides, and its offspring
    divide until they fill the box. Pearson's box is $2.5 \times 2.5$ on $256^2$
    points; the default here is a $1 \times 1$ box on $64^2$ points (Fourier spectral,
    so a coarser grid resolves the spots: $128^2$ gives the same spot counts). Counting
    the regions with $v > 0.2$: one spot until $t \approx 2000$, 4 at $t = 4000$, 8 at
    6000, about 30 at 10000. State: the tuple ``(u, v)``, each ``(n, n)``. The linear
    part is a ``FourierOperator`` with one symbol per field, $(-D_u|k|^2, -D_v|k|^2)$;
    $N$ the reaction terms. At these sizes the diffusion is not stiff
    ($D_u |k|_{\max}^2 \approx 1.6$): ``etdrk4`` or ``imex2`` with ``dt = 1`` or 2, and
    the explicit methods, all work. No closed form.

    Args:
        Du: diffusivity of $u$. Default 2e-5.
        Dv: diffusivity of $v$. Default 1e-5.
        F: feed rate. Default 0.0367.
        k: removal rate of $v$. Default 0.0649.
        n: grid points per axis. Default 64.
        length: the side of the periodic square. Default 1.0.
        seed: seed of the initial noise. Default 0.
        y0: the initial fields ``(u, v)``, each of shape ``(n, n)``. Default ``None``:
            Pearson's perturbed square.
        t_span: default ``(0.0, 10000.0)``.

    Returns:
        The `Problem` ``"gray_scott_2d"`` (state ``(u, v)``, each ``(n, n)``).

    Reference:
        J. E. Pearson, "Complex patterns in a simple system", Science 261 (1993) 189-192;
        P. Gray and S. K. Scott, Chem. Eng. Sci. 39 (1984) 1087-1097.
    """
    pde = _toolkit()
    n = _points("gray_scott_2d", n)
    _positive("gray_scott_2d", Du=Du, Dv=Dv, length=length)
    _require("gray_scott_2d", lambda v: v >= 0, ">= 0", F=F, k=k)
    length = float(length)
    grid = pde.Grid((n, n), ((0.0, length), (0.0, length)))
    x, y = (np.asarray(c) for c in grid.x)
    half = 0.5 * length * 20 / 256
    centre = 0.5 * length
    square = (np.abs(x - centre) <= half) & (np.abs(y - centre) <= half)
    rng = np.random.default_rng(seed)
    u0 = np.where(square, 0.5, 1.0) * (1 + 0.01 * rng.uniform(-1, 1, (n, n)))
    v0 = np.where(square, 0.25, 0.0) * (1 + 0.01 * rng.uniform(-1, 1, (n, n)))

    def reaction(t, state, params):
        u, v = state
        uvv = u * v * v
        return (-uvv + params["F"] * (1 - u), uvv - (params["F"] + params["k"]) * v)

    def symbol(wavenumbers, params):
        k2 = wavenumbers[0] ** 2 + wavenumbers[1] ** 2
        return (-params["Du"] * k2, -params["Dv"] * k2)

    linear = pde.FourierOperator(grid, symbol)
    field = pde.semilinear(linear, reaction)
    return Problem(
        name="gray_scott_2d",
        vector_field=field,
        y0=_initial_state(
            "gray_scott_2d", y0, (jnp.asarray(u0, dtype=float), jnp.asarray(v0, dtype=float))
        ),
        t_span=as_t_span(t_span),
        params=as_params(Du=Du, Dv=Dv, F=F, k=k),
        stiff=False,
        description="Gray-Scott reaction-diffusion, periodic square, self-replicating spots.",
        reference="J. E. Pearson, Science 261 (1993) 189; Gray-Scott (1984).",
        grid=grid,
        linear_operator=field.linear,
    )


# ---------------------------------------------------------------------------------------
# Wave equation and nonlinear Schrödinger


@register("wave_1d")
def wave_1d(*, c=1.0, n=64, y0=None, t_span=(0.0, 2 * math.pi)) -> Problem:
    r"""The wave equation on $[0, 2\pi)$ periodic, as the first-order system $(u, v = u_t)$.

    $$u_t = v, \qquad v_t = c^2 u_{xx}, \qquad u(x, 0) = g(x) = e^{-5(1 + \cos x)},
      \quad v(x, 0) = 0,$$

    a bump at $x = \pi$ that splits into two halves moving at $\pm c$ (d'Alembert):

    $$u = \tfrac12\big(g(x - ct) + g(x + ct)\big), \qquad
      v = \tfrac c2\big(g'(x + ct) - g'(x - ct)\big).$$

    $g$ is periodic, so this is exact on the torus (64 points resolve it to rounding).
    The state is the tuple ``(u, v)`` with $u_{xx}$ spectral. $L$ couples $u$ and $v$,
    so it is not diagonal per field: the vector field is a ``solvers.pde.semilinear``
    field whose linear part is a ``LinearOperator`` with a dense structure (IMEX
    methods solve with the $2n \times 2n$ matrix; the exponential methods do not
    apply), and $N = 0$. Every explicit method works (imaginary eigenvalues up to
    $c\,n/2$; not stiff).

    The state is also a canonical pair $(q, p) = (u, v)$ with the separable Hamiltonian
    ``prob.hamiltonian``, $H(q, p) = \sum_j \tfrac12 p_j^2 - \tfrac{c^2}{2} \sum_j q_j
    (\partial_{xx} q)_j$ (the spectral $\partial_{xx}$ is symmetric), whose Hamilton
    equations are the system above; $H\,\Delta x = \int \tfrac12 u_t^2 + \tfrac{c^2}{2}
    u_x^2\,dx$ is the wave energy. The symplectic methods (``method="leapfrog"``,
    ``"yoshida4"``) apply and keep the energy error bounded.

    Args:
        c: the wave speed $c$. Default 1.0.
        n: grid points. Default 64.
        y0: the initial state ``(u, v)``, each of shape ``(n,)``,
            instead of the default start; ``exact`` is then ``None``. Default ``None``.
        t_span: default ``(0.0, 2*pi)`` (at $c = 1$ the halves meet again at the start).

    Returns:
        The `Problem` ``"wave_1d"`` (state ``(u, v)``, each ``(n,)``, has ``exact``
        and ``hamiltonian``).

    Reference:
        J. le Rond d'Alembert, Hist. Acad. Roy. Sci. Berlin 3 (1747) 214-219;
        Trefethen, Spectral Methods in MATLAB (2000), program 19;
        Hairer, Lubich & Wanner, Geometric Numerical Integration (2006), section I.5.
    """
    pde = _toolkit()
    from solvers import Dense

    n = _points("wave_1d", n)
    _require("wave_1d", lambda v: True, "finite", c=c)
    t_span = as_t_span(t_span)
    t0 = t_span[0]
    grid = pde.Grid(n, (0.0, 2 * math.pi))
    x = grid.x

    def bump(z):
        return jnp.exp(-5 * (1 + jnp.cos(z)))

    def exact(t, params):
        shift = params["c"] * (t - t0)
        right, left = x - shift, x + shift
        u = 0.5 * (bump(right) + bump(left))
        # g'(z) = 5 sin(z) g(z)
        v = 0.5 * params["c"] * (5 * jnp.sin(left) * bump(left) - 5 * jnp.sin(right) * bump(right))
        return (u, v)

    def apply(state, params):
        u, v = state
        return (v, params["c"] ** 2 * pde.spectral.laplacian(u, grid))

    def hamiltonian(q, p, params):
        potential = -0.5 * params["c"] ** 2 * jnp.sum(q * pde.spectral.laplacian(q, grid))
        return 0.5 * jnp.sum(p * p) + potential

    params = as_params(c=c)
    field = pde.semilinear(pde.LinearOperator(apply, Dense()), _no_reaction)
    return Problem(
        name="wave_1d",
        vector_field=field,
        y0=_initial_state("wave_1d", y0, exact(t0, params)),
        t_span=t_span,
        params=params,
        exact=exact if y0 is None else None,
        stiff=False,
        description="Wave equation as (u, u_t) on a periodic interval, d'Alembert's solution.",
        reference="d'Alembert (1747); Trefethen, Spectral Methods in MATLAB (2000), p19.",
        hamiltonian=hamiltonian,
        grid=grid,
        linear_operator=field.linear,
    )


@register("nls")
def nls(
    *, a=1.0, v=0.5, x0=-5.0, n=384, length=20 * math.pi, y0=None, t_span=(0.0, 10.0)
) -> Problem:
    r"""The focusing cubic nonlinear Schrödinger equation with a moving bright soliton.

    $$i\psi_t + \tfrac12\psi_{xx} + |\psi|^2\psi = 0, \qquad
      \psi = a\,\mathrm{sech}\big(a(x - v t - x_0)\big)\,
      e^{\,i\,(v x + (a^2 - v^2)\,t/2)}.$$

    Complex state ``(n,)`` on $[-\ell/2, \ell/2)$ periodic. ``exact`` wraps the
    envelope's centre into the interval (and keeps the carrier phase continuous with
    it); it is exact up to the tails, about $2a\,e^{-a\ell/2}$ (``5e-14`` for the
    defaults). Split: ``FourierOperator`` with symbol $-i k^2/2$ (imaginary eigenvalues
    up to $(\pi n/\ell)^2/2 \approx 184$: ``stiff=True``) and $N = i|\psi|^2\psi$ in
    physical space. On the default grid $f(t, \psi_{\rm exact}) = \partial_t
    \psi_{\rm exact}$ holds to ``3e-12``. The mass $\int|\psi|^2 = 2a$, the momentum
    and the energy are conserved by the equation (the mass to the time error by
    ``etdrk4``: ``4e-11`` at $t = 10$ with ``dt = 0.01``). ``etdrk4`` matches ``exact``
    at $t = 10$ to ``5e-8``, ``3e-9`` and ``2e-10`` with ``dt = 0.02``, ``0.01`` and
    ``0.005``.

    Args:
        a: the amplitude (and inverse width) $a > 0$. Default 1.0.
        v: the velocity $v$. Default 0.5.
        x0: the initial centre. Default -5.0.
        n: grid points. Default 384.
        length: the period $\ell$. Default $20\pi$.
        y0: the initial field, a complex array of shape ``(n,)``,
            instead of the default start; ``exact`` is then ``None``. Default ``None``.
        t_span: default ``(0.0, 10.0)``.

    Returns:
        The `Problem` ``"nls"`` (complex state ``(n,)``, ``stiff=True``, has ``exact``;
        ``params`` = ``a``, ``v``, ``x0``, which set the initial state and ``exact``
        only).

    Reference:
        V. E. Zakharov and A. B. Shabat, Sov. Phys. JETP 34 (1972) 62-69; T. R. Taha and
        M. J. Ablowitz, J. Comput. Phys. 55 (1984) 203-230.
    """
    pde = _toolkit()
    n = _points("nls", n)
    _positive("nls", a=a, length=length)
    _require("nls", lambda value: True, "finite", v=v, x0=x0)
    length = float(length)
    t_span = as_t_span(t_span)
    t0 = t_span[0]
    grid = pde.Grid(n, (-length / 2, length / 2))
    x = grid.x

    def exact(t, params):
        amplitude, speed = params["a"], params["v"]
        elapsed = t - t0
        xi = _wrap(x - speed * elapsed - params["x0"], length)
        # The carrier phase v x, continued with the envelope when it wraps around.
        phase = speed * (xi + speed * elapsed + params["x0"])
        phase = phase + 0.5 * (amplitude**2 - speed**2) * elapsed
        envelope = amplitude * _sech(amplitude * xi)
        return jax.lax.complex(envelope * jnp.cos(phase), envelope * jnp.sin(phase))

    def nonlinear(t, psi, params):
        return 1j * psi * psi * jnp.conj(psi)

    params = as_params(a=a, v=v, x0=x0)
    linear = pde.FourierOperator(grid, lambda k, p: _imaginary(-0.5 * k**2))
    field = pde.semilinear(linear, nonlinear)
    return Problem(
        name="nls",
        vector_field=field,
        y0=_initial_state("nls", y0, exact(t0, params)),
        t_span=t_span,
        params=params,
        exact=exact if y0 is None else None,
        stiff=True,
        description="Focusing cubic NLS, one moving bright soliton, periodic (complex state).",
        reference="Zakharov-Shabat (1972); Taha-Ablowitz, J. Comput. Phys. 55 (1984) 203.",
        grid=grid,
        linear_operator=field.linear,
    )


# ---------------------------------------------------------------------------------------
# Navier-Stokes in 2-D


@register("navier_stokes_2d")
def navier_stokes_2d(
    *,
    nu=None,
    drag=None,
    amplitude=1.0,
    forcing=None,
    forcing_wavenumber=4,
    wavenumber=1,
    n=None,
    seed=0,
    y0=None,
    t_span=None,
) -> Problem:
    r"""Incompressible 2-D Navier-Stokes in vorticity form on the periodic square $[0, 2\pi)^2$.

    $$\omega_t + \mathbf u\cdot\nabla\omega = \nu\nabla^2\omega - \alpha\,\omega + f,
      \qquad \nabla^2\psi = -\omega, \qquad \mathbf u = (\psi_y, -\psi_x).$$

    Pseudo-spectral: $\hat\psi = \hat\omega/|k|^2$ (zero mean), the velocity and
    $\nabla\cdot(\mathbf u\,\omega) = \mathbf u\cdot\nabla\omega$ (incompressible) are
    formed by FFT, the products in physical space, and the result is truncated by
    Orszag's 2/3 rule (``spectral_nonlinear``). The linear part is a
    ``FourierOperator`` with symbol $-\nu|k|^2 - \alpha$. The mean vorticity is zero
    and stays zero (to rounding). With $\nu = \alpha = 0$ and no forcing the truncated
    system conserves the energy $\tfrac12\int|\mathbf u|^2$ and the enstrophy
    $\tfrac12\int\omega^2$ exactly (Galerkin truncation).

    * ``forcing=None`` (default): the Taylor-Green vortex
      $\omega = 2m\cos(m x)\cos(m y)\,e^{-(2\nu m^2 + \alpha) t}$, an exact solution
      (its nonlinear term vanishes identically: $\omega \propto \psi$). Defaults
      $\nu = 0.05$, $\alpha = 0$, $n = 32$, ``t_span=(0, 10)``.
    * ``forcing="kolmogorov"``: Kolmogorov flow, $f = -A\,n_f\cos(n_f y)$ (the curl of
      the body force $A\sin(n_f y)\,\hat x$), with linear drag $\alpha$, from a random
      perturbation (``numpy.random.default_rng(seed)``: random phases on the modes
      $1 \le |k| \le 4$, rms vorticity 1). Defaults $\nu = 1/40$, $\alpha = 0.1$,
      $A = 1$, $n_f = 4$, $n = 64$, ``t_span=(0, 100)``: the laminar flow
      $\omega = -A n_f\cos(n_f y)/(\nu n_f^2 + \alpha)$ is unstable and the flow becomes
      turbulent. No closed form (``exact`` is ``None``).

    ``etdrk4`` with ``dt = 0.05`` (Taylor-Green) or ``dt = 0.02`` (Kolmogorov) integrates
    it; the explicit methods work too (the viscous eigenvalues stay moderate on these
    grids: ``stiff=False``).

    Args:
        nu: viscosity $\nu > 0$. Default 0.05 (Taylor-Green) or 1/40 (Kolmogorov).
        drag: linear drag $\alpha \ge 0$. Default 0 (Taylor-Green) or 0.1 (Kolmogorov).
        amplitude: forcing amplitude $A$ (Kolmogorov only). Default 1.0.
        forcing: ``None`` (Taylor-Green) or ``"kolmogorov"``. Default ``None``.
        forcing_wavenumber: $n_f$ (Kolmogorov only), an integer in $[1, n/3)$. Default 4.
        wavenumber: the Taylor-Green wavenumber $m$ (Taylor-Green only), an integer in
            $[1, n/3)$. Default 1.
        n: grid points per axis. Default 32 (Taylor-Green) or 64 (Kolmogorov).
        seed: seed of the random initial vorticity (Kolmogorov only). Default 0.
        y0: the initial vorticity, an array of shape ``(n, n)`` (zero mean),
            instead of the default start; ``exact`` is then ``None``. Default ``None``.
        t_span: default ``(0.0, 10.0)`` (Taylor-Green) or ``(0.0, 100.0)``
            (Kolmogorov).

    Returns:
        The `Problem` ``"navier_stokes_2d"`` (state: the vorticity ``(n, n)``; ``exact``
        for Taylor-Green; ``params`` = ``nu``, ``drag`` and, with forcing,
        ``amplitude``).

    Reference:
        G. I. Taylor and A. E. Green, Proc. R. Soc. Lond. A 158 (1937) 499-521;
        D. Chandler and R. R. Kerswell, J. Fluid Mech. 722 (2013) 554-595 (Kolmogorov
        flow); C. Canuto, M. Y. Hussaini, A. Quarteroni and T. A. Zang, Spectral Methods:
        Evolution to Complex Geometries and Applications to Fluid Dynamics, Springer
        (2007), section 3.3; S. A. Orszag, J. Atmos. Sci. 28 (1971) 1074.
    """
    pde = _toolkit()
    _choice("navier_stokes_2d", "forcing", forcing, (None, "kolmogorov"))
    forced = forcing == "kolmogorov"
    n = _points("navier_stokes_2d", (64 if forced else 32) if n is None else n)
    nu = (1 / 40 if forced else 0.05) if nu is None else nu
    drag = (0.1 if forced else 0.0) if drag is None else drag
    t_span = as_t_span(((0.0, 100.0) if forced else (0.0, 10.0)) if t_span is None else t_span)
    _positive("navier_stokes_2d", nu=nu)
    _require("navier_stokes_2d", lambda value: value >= 0, ">= 0", drag=drag)
    checked = (
        (("forcing_wavenumber", forcing_wavenumber),) if forced else (("wavenumber", wavenumber),)
    )
    for name, value in checked:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"navier_stokes_2d needs an integer {name}; got {value!r}.")
        if not 1 <= value < n / 3:
            raise ValueError(
                f"navier_stokes_2d needs 1 <= {name} < n/3 (resolved after dealiasing); "
                f"got {name}={value} with n={n}."
            )
    t0 = t_span[0]
    grid = pde.Grid((n, n), ((0.0, 2 * math.pi), (0.0, 2 * math.pi)))
    x, y = grid.x
    kx, ky = grid.wavenumbers()
    k2 = kx**2 + ky**2
    inverse_k2 = np.where(k2 == 0, 0.0, 1 / np.where(k2 == 0, 1.0, k2))
    dkx, dky = _first_derivative_wavenumbers(grid)
    keep = pde.spectral.dealias_mask(grid)
    # u_hat = i ky psi_hat, v_hat = -i kx psi_hat, and the divergence i kx (.) + i ky (.),
    # truncated by the 2/3 rule.
    to_u = 1j * dky * inverse_k2
    to_v = -1j * dkx * inverse_k2
    div_x = np.where(keep, -1j * dkx, 0.0)
    div_y = np.where(keep, -1j * dky, 0.0)
    if forced:
        forcing_shape = -forcing_wavenumber * np.cos(forcing_wavenumber * np.asarray(y))

    def nonlinear_hat(t, w_hat, params):
        u = pde.spectral.ifft(_constant(to_u, w_hat) * w_hat, grid)
        v = pde.spectral.ifft(_constant(to_v, w_hat) * w_hat, grid)
        w = pde.spectral.ifft(w_hat, grid)
        out = _constant(div_x, w_hat) * pde.spectral.fft(u * w, grid)
        out = out + _constant(div_y, w_hat) * pde.spectral.fft(v * w, grid)
        if forced:
            out = out + pde.spectral.fft(params["amplitude"] * forcing_shape, grid)
        return out

    linear = pde.FourierOperator(grid, lambda k, p: -p["nu"] * (k[0] ** 2 + k[1] ** 2) - p["drag"])
    field = pde.semilinear(linear, spectral_nonlinear=nonlinear_hat)
    if forced:
        params = as_params(nu=nu, drag=drag, amplitude=amplitude)
        exact = None
        rng = np.random.default_rng(seed)
        band = (k2 >= 1) & (k2 <= 16)
        phases = np.exp(2j * np.pi * rng.uniform(size=k2.shape))
        w_hat = np.where(band, phases / np.sqrt(np.maximum(k2, 1.0)), 0.0)
        w0 = np.fft.irfft2(w_hat, s=(n, n))
        start = jnp.asarray(w0 / np.sqrt(np.mean(w0**2)), dtype=float)
        description = "2-D Navier-Stokes (vorticity), Kolmogorov forcing with drag, turbulent."
    else:
        params = as_params(nu=nu, drag=drag)
        m = int(wavenumber)
        shape = 2 * m * jnp.cos(m * x) * jnp.cos(m * y)

        def exact(t, params):
            return shape * jnp.exp(-(2 * params["nu"] * m**2 + params["drag"]) * (t - t0))

        start = exact(t0, params)
        description = "2-D Navier-Stokes (vorticity), decaying Taylor-Green vortex."
    return Problem(
        name="navier_stokes_2d",
        vector_field=field,
        y0=_initial_state("navier_stokes_2d", y0, start),
        t_span=t_span,
        params=params,
        exact=exact if y0 is None else None,
        stiff=False,
        description=description,
        reference="Taylor-Green (1937); Chandler-Kerswell, JFM 722 (2013); Orszag (1971).",
        grid=grid,
        linear_operator=field.linear,
    )
