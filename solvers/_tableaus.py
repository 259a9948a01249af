"""Butcher tableaus, kept as data in one place.

Every explicit Runge-Kutta method in :mod:`solvers` is a :class:`ButcherTableau`:
the classical arrays ``(a, b, c)`` plus the embedded error weights and the
description of the method's dense output. A tableau checks its own consistency on
construction (``sum_j a_ij = c_i``, ``sum b = 1``, ``sum b_error = 0``); the
higher order conditions are checked numerically in ``tests/test_tableaus.py``.

Dense output is written as ``y(t0 + theta h) = y0 + sum_j basis_j(theta) C_j`` where
the coefficients ``C`` are linear in the stages (see :mod:`solvers._interp`).

References:
    Hairer, Norsett & Wanner, *Solving Ordinary Differential Equations I*, 2nd ed.,
    Springer 1993 (classical methods, Dormand-Prince 5(4) and DOP853 8(5,3) with its
    7th-order dense output, section II.10).
    Bogacki & Shampine, "A 3(2) pair of Runge-Kutta formulas", Appl. Math. Lett. 2
    (1989) 321-325.
    Dormand & Prince, "A family of embedded Runge-Kutta formulae", J. Comput. Appl.
    Math. 6 (1980) 19-26; dense output of Shampine, "Some practical Runge-Kutta
    formulas", Math. Comp. 46 (1986) 135-150.
    Tsitouras, "Runge-Kutta pairs of order 5(4) satisfying only the first column
    simplifying assumption", Comput. Math. Appl. 62 (2011) 770-775.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np


def weighted_sum(weights, ks):
    """``sum_i weights[i] * ks[i]`` with compile-time weights, skipping zeros."""
    total = None
    for weight, k in zip(weights, ks):
        if weight != 0.0:
            term = float(weight) * k
            total = term if total is None else total + term
    return jnp.zeros_like(ks[0]) if total is None else total


@dataclasses.dataclass(frozen=True, eq=False)
class ButcherTableau:
    """An explicit Runge-Kutta method as data.

    Attributes:
        name: method name, as accepted by ``solvers.solve(method=...)``.
        a: ``(s, s)`` strictly lower-triangular stage matrix.
        b: ``(s,)`` weights of the propagated solution.
        c: ``(s,)`` nodes.
        order: classical order of the propagated solution.
        b_error: ``(s,)`` weights of the local error estimate ``b - b_hat`` (``None``
            for fixed-step methods).
        error_order: order of the embedded solution ``b_hat``; the controller uses
            the exponent ``1 / (error_order + 1)``.
        b_error2: second error estimator (DOP853 only: the 3rd-order one that enters
            Hairer's combined error norm).
        fsal: the last stage is ``f(t + h, y1)`` ("first same as last"), so it is
            reused as the first stage of the next step.
        dense: ``"hermite"`` (cubic Hermite from both end values and slopes),
            ``"poly"`` (polynomial weights ``dense_weights``) or ``"dop853"``.
        dense_weights: ``(s, d)``: ``y(theta) = y0 + h sum_i k_i sum_j P_ij theta^(j+1)``.
        dense_order: order of the dense output.
        extra_a, extra_c: extra stages evaluated only for dense output (DOP853).
        dense_d: ``(4, s + extra)`` DOP853 dense output matrix.
    """

    name: str
    a: np.ndarray
    b: np.ndarray
    c: np.ndarray
    order: int
    b_error: np.ndarray | None = None
    error_order: int | None = None
    b_error2: np.ndarray | None = None
    fsal: bool = False
    dense: str = "hermite"
    dense_weights: np.ndarray | None = None
    dense_order: int = 3
    extra_a: tuple = ()
    extra_c: tuple = ()
    dense_d: np.ndarray | None = None

    def __post_init__(self):
        s = len(self.b)
        if self.a.shape != (s, s) or self.c.shape != (s,):
            raise ValueError(f"{self.name}: a must be ({s}, {s}) and c ({s},)")
        if np.any(np.triu(self.a) != 0):
            raise ValueError(f"{self.name}: a must be strictly lower triangular")
        tol = 1e-12
        if not np.allclose(self.a.sum(axis=1), self.c, atol=tol, rtol=0):
            raise ValueError(f"{self.name}: row sums of a must equal c")
        if abs(self.b.sum() - 1) > tol:
            raise ValueError(f"{self.name}: sum(b) must be 1")
        for err in (self.b_error, self.b_error2):
            if err is not None and abs(err.sum()) > tol:
                raise ValueError(f"{self.name}: sum(b_error) must be 0")
        if self.fsal and not (self.c[-1] == 1 and np.allclose(self.a[-1], self.b)):
            raise ValueError(f"{self.name}: an FSAL tableau needs a[-1] == b, c[-1] == 1")
        if self.dense == "poly" and self.dense_weights is not None:
            if not np.allclose(self.dense_weights.sum(axis=1), self.b, atol=tol):
                raise ValueError(f"{self.name}: dense output at theta=1 must equal b")

    @property
    def num_stages(self) -> int:
        return len(self.b)

    @property
    def adaptive(self) -> bool:
        return self.b_error is not None


def _lower(rows, s):
    a = np.zeros((s, s))
    for i, row in enumerate(rows, start=1):
        a[i, : len(row)] = row
    return a


def _fixed(name, rows, b, order):
    b = np.asarray(b, dtype=float)
    a = _lower(rows, len(b))
    return ButcherTableau(name=name, a=a, b=b, c=a.sum(axis=1), order=order)


EULER = _fixed("euler", [], [1.0], 1)
MIDPOINT = _fixed("midpoint", [[1 / 2]], [0.0, 1.0], 2)
HEUN = _fixed("heun", [[1.0]], [1 / 2, 1 / 2], 2)
RALSTON = _fixed("ralston", [[2 / 3]], [1 / 4, 3 / 4], 2)
RK4 = _fixed("rk4", [[1 / 2], [0, 1 / 2], [0, 0, 1]], [1 / 6, 1 / 3, 1 / 3, 1 / 6], 4)

# Bogacki-Shampine 3(2), FSAL; dense output: cubic Hermite (order 3).
_b = np.array([2 / 9, 1 / 3, 4 / 9, 0.0])
BOSH3 = ButcherTableau(
    name="bosh3",
    a=_lower([[1 / 2], [0, 3 / 4], [2 / 9, 1 / 3, 4 / 9]], 4),
    b=_b,
    c=np.array([0, 1 / 2, 3 / 4, 1.0]),
    order=3,
    b_error=_b - np.array([7 / 24, 1 / 4, 1 / 3, 1 / 8]),
    error_order=2,
    fsal=True,
    dense="hermite",
    dense_order=3,
)

# Dormand-Prince 5(4), FSAL; Shampine's 4th-order dense output.
_b = np.array([35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0])
_DOPRI5_P = [
    [1.0, -2.8535800653862835, 3.0717434641059005, -1.1270175653862835],
    [0.0, 0.0, 0.0, 0.0],
    [0.0, 4.023133379230305, -6.249321565289, 2.675424484351598],
    [0.0, -3.7324019615885042, 10.068970589843675, -5.685526961588504],
    [0.0, 2.5548038301849423, -6.399112377351017, 3.5219323679207912],
    [0.0, -1.3744241142186024, 3.272657752246729, -1.7672812570757455],
    [0.0, 1.3824689317781436, -3.764937863556287, 2.382468931778144],
]
DOPRI5 = ButcherTableau(
    name="dopri5",
    a=_lower(
        [
            [1 / 5],
            [3 / 40, 9 / 40],
            [44 / 45, -56 / 15, 32 / 9],
            [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729],
            [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
            [35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84],
        ],
        7,
    ),
    b=_b,
    c=np.array([0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1, 1.0]),
    order=5,
    b_error=_b
    - np.array([5179 / 57600, 0, 7571 / 16695, 393 / 640, -92097 / 339200, 187 / 2100, 1 / 40]),
    error_order=4,
    fsal=True,
    dense="poly",
    dense_weights=np.array(_DOPRI5_P),
    dense_order=4,
)

# Tsitouras 5(4), FSAL; the paper's 4th-degree interpolant, given there in factored
# form b_i(theta) = scale * prod(roots) and expanded to monomials here.
_TSIT5_A = [
    [0.161],
    [-0.008480655492356989, 0.335480655492357],
    [2.8971530571054935, -6.359448489975075, 4.3622954328695815],
    [5.325864828439257, -11.748883564062828, 7.4955393428898365, -0.09249506636175525],
    [
        5.86145544294642,
        -12.92096931784711,
        8.159367898576159,
        -0.071584973281401,
        -0.028269050394068383,
    ],
    [
        0.09646076681806523,
        0.01,
        0.4798896504144996,
        1.379008574103742,
        -3.290069515436081,
        2.324710524099774,
    ],
]
_TSIT5_B_HAT = [
    0.09468075576583945,
    0.009183565540343254,
    0.4877705284247616,
    1.234297566930479,
    -2.7077123499835256,
    1.866628418170587,
    1 / 66,
]


def _tsit5_dense_weights():
    def poly(scale, *factors):
        p = np.polynomial.Polynomial([scale])
        for factor in factors:
            p = p * np.polynomial.Polynomial(factor)
        coef = np.zeros(5)
        coef[: len(p.coef)] = p.coef
        return coef[1:]  # no constant term

    theta = [0.0, 1.0]
    return np.array(
        [
            poly(
                -1.0530884977290216,
                theta,
                [-1.3299890189751412, 1],
                [0.7139816917074209, -1.4364028541716351, 1],
            ),
            poly(0.1017, theta, theta, [1.2949852507374631, -2.1966568338249754, 1]),
            poly(
                2.490627285651252793, theta, theta, [1.57803468208092486, -2.38535645472061657, 1]
            ),
            poly(
                -16.54810288924490272,
                theta,
                theta,
                [-1.21712927295533244, 1],
                [-0.61620406037800089, 1],
            ),
            poly(
                47.37952196281928122,
                theta,
                theta,
                [-1.203071208372362603, 1],
                [-0.658047292653547382, 1],
            ),
            poly(-34.87065786149660974, theta, theta, [-1.2, 1], [-2 / 3, 1]),
            poly(2.5, theta, theta, [-1.0, 1], [-0.6, 1]),
        ]
    )


TSIT5 = ButcherTableau(
    name="tsit5",
    a=_lower(_TSIT5_A, 7),
    b=np.append(np.array(_TSIT5_A[5]), 0.0),
    c=np.array([0, 0.161, 0.327, 0.9, 0.9800255409045097, 1, 1.0]),
    order=5,
    b_error=np.append(np.array(_TSIT5_A[5]), 0.0) - np.array(_TSIT5_B_HAT),
    error_order=4,
    fsal=True,
    dense="poly",
    dense_weights=_tsit5_dense_weights(),
    dense_order=4,
)


_DOP853_A = [  # rows 1..15: 12 stages, FSAL stage, 3 dense-output stages
    [0.05260015195876773],
    [0.0197250569845379, 0.0591751709536137],
    [0.02958758547680685, 0.0, 0.08876275643042054],
    [0.2413651341592667, 0.0, -0.8845494793282861, 0.924834003261792],
    [0.037037037037037035, 0.0, 0.0, 0.17082860872947386, 0.12546768756682242],
    [0.037109375, 0.0, 0.0, 0.17025221101954405, 0.06021653898045596, -0.017578125],
    [
        0.03709200011850479,
        0.0,
        0.0,
        0.17038392571223998,
        0.10726203044637328,
        -0.015319437748624402,
        0.008273789163814023,
    ],
    [
        0.6241109587160757,
        0.0,
        0.0,
        -3.3608926294469414,
        -0.868219346841726,
        27.59209969944671,
        20.154067550477894,
        -43.48988418106996,
    ],
    [
        0.47766253643826434,
        0.0,
        0.0,
        -2.4881146199716677,
        -0.590290826836843,
        21.230051448181193,
        15.279233632882423,
        -33.28821096898486,
        -0.020331201708508627,
    ],
    [
        -0.9371424300859873,
        0.0,
        0.0,
        5.186372428844064,
        1.0914373489967295,
        -8.149787010746927,
        -18.52006565999696,
        22.739487099350505,
        2.4936055526796523,
        -3.0467644718982196,
    ],
    [
        2.273310147516538,
        0.0,
        0.0,
        -10.53449546673725,
        -2.0008720582248625,
        -17.9589318631188,
        27.94888452941996,
        -2.8589982771350235,
        -8.87285693353063,
        12.360567175794303,
        0.6433927460157636,
    ],
    [
        0.054293734116568765,
        0.0,
        0.0,
        0.0,
        0.0,
        4.450312892752409,
        1.8915178993145003,
        -5.801203960010585,
        0.3111643669578199,
        -0.1521609496625161,
        0.20136540080403034,
        0.04471061572777259,
    ],
    [
        0.056167502283047954,
        0.0,
        0.0,
        0.0,
        0.0,
        0.0,
        0.25350021021662483,
        -0.2462390374708025,
        -0.12419142326381637,
        0.15329179827876568,
        0.00820105229563469,
        0.007567897660545699,
        -0.008298,
    ],
    [
        0.03183464816350214,
        0.0,
        0.0,
        0.0,
        0.0,
        0.028300909672366776,
        0.053541988307438566,
        -0.05492374857139099,
        0.0,
        0.0,
        -0.00010834732869724932,
        0.0003825710908356584,
        -0.00034046500868740456,
        0.1413124436746325,
    ],
    [
        -0.42889630158379194,
        0.0,
        0.0,
        0.0,
        0.0,
        -4.697621415361164,
        7.683421196062599,
        4.06898981839711,
        0.3567271874552811,
        0.0,
        0.0,
        0.0,
        -0.0013990241651590145,
        2.9475147891527724,
        -9.15095847217987,
    ],
]
_DOP853_C = [
    0.0,
    0.05260015195876773,
    0.0789002279381516,
    0.1183503419072274,
    0.2816496580927726,
    0.3333333333333333,
    0.25,
    0.3076923076923077,
    0.6512820512820513,
    0.6,
    0.8571428571428571,
    1.0,
    1.0,
    0.1,
    0.2,
    0.7777777777777778,
]
_DOP853_B = [
    0.054293734116568765,
    0.0,
    0.0,
    0.0,
    0.0,
    4.450312892752409,
    1.8915178993145003,
    -5.801203960010585,
    0.3111643669578199,
    -0.1521609496625161,
    0.20136540080403034,
    0.04471061572777259,
]
_DOP853_E3 = [
    -0.18980075407240762,
    0.0,
    0.0,
    0.0,
    0.0,
    4.450312892752409,
    1.8915178993145003,
    -5.801203960010585,
    -0.4226823213237919,
    -0.1521609496625161,
    0.20136540080403034,
    0.02265179219836082,
    0.0,
]
_DOP853_E5 = [
    0.01312004499419488,
    0.0,
    0.0,
    0.0,
    0.0,
    -1.2251564463762044,
    -0.4957589496572502,
    1.6643771824549864,
    -0.35032884874997366,
    0.3341791187130175,
    0.08192320648511571,
    -0.022355307863886294,
    0.0,
]
_DOP853_D = [
    [
        -8.428938276109013,
        0.0,
        0.0,
        0.0,
        0.0,
        0.5667149535193777,
        -3.0689499459498917,
        2.38466765651207,
        2.117034582445028,
        -0.871391583777973,
        2.2404374302607883,
        0.6315787787694688,
        -0.08899033645133331,
        18.148505520854727,
        -9.194632392478356,
        -4.436036387594894,
    ],
    [
        10.427508642579134,
        0.0,
        0.0,
        0.0,
        0.0,
        242.28349177525817,
        165.20045171727028,
        -374.5467547226902,
        -22.113666853125306,
        7.733432668472264,
        -30.674084731089398,
        -9.332130526430229,
        15.697238121770845,
        -31.139403219565178,
        -9.35292435884448,
        35.81684148639408,
    ],
    [
        19.985053242002433,
        0.0,
        0.0,
        0.0,
        0.0,
        -387.0373087493518,
        -189.17813819516758,
        527.8081592054236,
        -11.57390253995963,
        6.8812326946963,
        -1.0006050966910838,
        0.7777137798053443,
        -2.778205752353508,
        -60.19669523126412,
        84.32040550667716,
        11.99229113618279,
    ],
    [
        -25.69393346270375,
        0.0,
        0.0,
        0.0,
        0.0,
        -154.18974869023643,
        -231.5293791760455,
        357.6391179106141,
        93.40532418362432,
        -37.45832313645163,
        104.0996495089623,
        29.8402934266605,
        -43.53345659001114,
        96.32455395918828,
        -39.17726167561544,
        -149.72683625798564,
    ],
]


# DOP853 (Hairer, Norsett & Wanner): 12 stages plus the FSAL stage f(t + h, y1),
# error estimators of orders 5 and 3 combined in Hairer's norm, and a 7th-order
# dense output that needs three extra stages.
_DOP853_S = 13
DOPRI8 = ButcherTableau(
    name="dopri8",
    a=_lower(_DOP853_A[: _DOP853_S - 1], _DOP853_S),
    b=np.append(np.array(_DOP853_B), 0.0),
    c=np.array(_DOP853_C[:_DOP853_S]),
    order=8,
    b_error=np.array(_DOP853_E5),
    error_order=7,
    b_error2=np.array(_DOP853_E3),
    fsal=True,
    dense="dop853",
    dense_order=7,
    extra_a=tuple(np.array(row) for row in _DOP853_A[_DOP853_S - 1 :]),
    extra_c=tuple(_DOP853_C[_DOP853_S:]),
    dense_d=np.array(_DOP853_D),
)

TABLEAUS = {t.name: t for t in (EULER, MIDPOINT, HEUN, RALSTON, RK4, BOSH3, DOPRI5, TSIT5, DOPRI8)}
