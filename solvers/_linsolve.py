"""How implicit methods solve their linear systems ``(I - gamma h J) x = b``.

A *Jacobian structure* says what ``J = df/dy`` looks like and so how the Newton
matrix ``W = I - gamma h J`` is formed, factorised and solved:

* :class:`Dense`: ``J`` by ``jax.jacfwd`` (or the user's Jacobian), ``W`` factorised by
  LU (lineax) and the factors reused across steps while Newton converges.
* :class:`Banded`: ``J`` has ``lower`` sub- and ``upper`` super-diagonals. It is found
  with ``lower + upper + 1`` Jacobian-vector products (Curtis, Powell & Reid's column
  grouping) instead of ``n``, and ``W`` is factorised in the band (``O(n b^2)``).
* :class:`MatrixFree`: ``W`` is never formed; Krylov iterations (GMRES or BiCGStab,
  lineax) use Jacobian-vector products, optionally preconditioned.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable


@dataclasses.dataclass(frozen=True)
class Dense:
    """A dense Jacobian: forward-mode ``jax.jacfwd`` and LU factors."""


@dataclasses.dataclass(frozen=True)
class Banded:
    """A banded Jacobian: ``J[i, j] = 0`` unless ``-lower <= j - i <= upper``.

    Args:
        lower: number of sub-diagonals.
        upper: number of super-diagonals.
    """

    lower: int
    upper: int

    def __post_init__(self):
        if not (isinstance(self.lower, int) and isinstance(self.upper, int)):
            raise TypeError("Banded(lower, upper) takes two integers.")
        if self.lower < 0 or self.upper < 0:
            raise ValueError(f"Banded needs lower, upper >= 0, got {self.lower}, {self.upper}.")


@dataclasses.dataclass(frozen=True)
class MatrixFree:
    """Krylov solves with Jacobian-vector products; ``W`` is never formed.

    Args:
        solver: ``"gmres"`` or ``"bicgstab"``.
        rtol: relative tolerance of the Krylov solve.
        atol: absolute tolerance of the Krylov solve.
        max_steps: bound on Krylov iterations per solve.
        restart: GMRES restart length.
        preconditioner: ``None``, or a callable ``(t, y, args, gamma_h) -> P`` returning
            a function ``v -> P v`` that approximates ``W^{-1}``.
    """

    solver: str = "gmres"
    rtol: float = 1e-8
    atol: float = 1e-12
    max_steps: int = 200
    restart: int = 20
    preconditioner: Callable | None = None

    def __post_init__(self):
        if self.solver not in ("gmres", "bicgstab"):
            raise ValueError(f"MatrixFree solver must be 'gmres' or 'bicgstab', got {self.solver!r}.")
