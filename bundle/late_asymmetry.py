"""Late-stage asymmetry: the two sides of a region jointly, from their survival curves.

The two sides of a region treated in one session share the patient, the session, the product,
the dilution and the injector, so their return times are far from independent. Each side keeps
the distribution the hazard model gives it (``bundle.postprocess.SurvivalCurves``), and the two
are joined by a Frank copula (Nelsen, An Introduction to Copulas, 2nd ed. 2006, section 4.2,
family 4.2.5): with U = F_L(T_L) and V = F_R(T_R),

    C(u, v) = -1/theta log(1 + (exp(-theta u) - 1)(exp(-theta v) - 1) / (exp(-theta) - 1)),

one theta per region, fitted on training pairs with censoring (``training.late_asymmetry``). A
copula leaves each side's curve, median and calibration as they are; only the dependence is
added. Frank rather than Gaussian: symmetric like it, and in closed form, so the likelihood of a
censored pair is exact and this path needs numpy only (no normal quantile function).

P(one side returns at least g days before the other) is an average over the left side's u:
given U = u the left side returns at t = S_L^-1(1 - u), and
P(T_R >= t + g | u) = 1 - C(F_R(t + g) | u), P(T_R <= t - g | u) = C(F_R(t - g) | u), with
Frank's conditional distribution C(v | u) = P(V <= v | U = u) (``conditional``). The average is
a Gauss-Legendre quadrature over u (``NODES`` nodes): t(u) has a kink at every bin edge of the
curve, and 32 nodes are within 0.003 of the converged value for curves of 30-day bins at any
theta up to ``MAX_THETA`` (``tests/bundle/test_late_asymmetry.py``).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from bundle.postprocess import SurvivalCurves
from data.contract import REGIONS, SIDES
from features.inputs import LEFT, RIGHT

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

LATE_GAP_DAYS: Final = 21.0
"""Late-stage asymmetry by default: one side returning at least three weeks before the other."""
MIN_THETA: Final = 1e-3
"""Frank's theta is kept at or above this (theta -> 0 is independence, 0/0 in its formulas)."""
MAX_THETA: Final = 80.0
"""... and at or below this (Kendall's tau 0.95: as close as two sides of a face come)."""
NODES: Final = 32
_X, _W = np.polynomial.legendre.leggauss(NODES)
_U = ((_X + 1.0) / 2.0)[:, None]  # (nodes, 1) values of U: one column per pair
_W = _W / 2.0  # weights on (0, 1)
QUADRATURE_LEVELS: Final = np.log1p(-_U)
"""(nodes, 1) log-survival levels at which the quadrature needs the first side's return day."""
_AFTER_BEFORE = np.array([1.0, -1.0])[:, None, None]  # (2, 1, 1): t + g and t - g at once
_PAIR_CHUNK: Final = 8192
"""Pairs per block: a block holds (nodes, bins, pairs) booleans, a few MB."""


def conditional(v: FloatArray, u: FloatArray, theta: FloatArray) -> FloatArray:
    """Frank's C_2|1(v | u) = P(V <= v | U = u); broadcasts.

    Args:
        v: Values of V in [0, 1].
        u: Values of U in [0, 1].
        theta: Frank's parameter (> 0: positive dependence).

    Returns:
        The conditional probability.
    """
    # Nelsen's form multiplied through by exp(theta u): both terms of the denominator are <= 0,
    # so nothing cancels, whatever theta (the textbook form is 0/0 near u = v = 1).
    b = np.expm1(-theta * v)
    out: FloatArray = b / (b + np.exp(theta * (u - v)) * np.expm1(-theta * (1.0 - v)))
    return out


def late_asymmetry(
    curves: SurvivalCurves,
    left: IntArray,
    right: IntArray,
    theta: FloatArray,
    gap_days: FloatArray,
    returns: FloatArray | None = None,
) -> FloatArray:
    """P(one side returns at least ``gap_days`` before the other), per pair of rows of ``curves``.

    Args:
        curves: Survival curves of the rows.
        left: (p,) row of the first side of each pair.
        right: (p,) row of the other side.
        theta: (p,) Frank's parameter of each pair, in [``MIN_THETA``, ``MAX_THETA``] (the
            manifest's, checked when a bundle is loaded).
        gap_days: (p,) the gap of each pair, finite and >= 0 (checked where a client gives it).
        returns: (nodes, r) the return day of every row of ``curves`` at each of
            ``QUADRATURE_LEVELS`` (``curves.days_to``), where the caller has them already (the
            predictor finds them with the medians in one call); None: found here.

    Returns:
        (p,) probability per pair.
    """
    out = np.empty(len(left))
    for start in range(0, len(left), _PAIR_CHUNK):
        block = slice(start, start + _PAIR_CHUNK)
        first = left[block]
        t = curves.days_to(QUADRATURE_LEVELS, first) if returns is None else returns[:, first]
        out[block] = _late(curves, t, right[block], theta[block], gap_days[block])
    return out


def _late(
    curves: SurvivalCurves, t: FloatArray, right: IntArray, theta: FloatArray, gap: FloatArray
) -> FloatArray:
    """The risk of p pairs from the first side's return day ``t`` (nodes, p) at each node."""
    # F_R g days after and g days before the left side's return, in one call (a day <= 0 is
    # F = 0, so the "before" term is 0).
    days = t + _AFTER_BEFORE * gap
    f = -np.expm1(curves.log_survival(days.reshape(2 * NODES, len(right)), right))
    after, before = conditional(f.reshape(2, NODES, len(right)), _U, theta)
    out: FloatArray = _W @ (1.0 - after + before)
    return out


def late_asymmetry_by_region(
    curves: SurvivalCurves,
    treatment: IntArray,
    region: IntArray,
    side: IntArray,
    theta: FloatArray,
    gap_days: FloatArray,
    returns: FloatArray | None = None,
) -> tuple[FloatArray, FloatArray]:
    """Late-stage asymmetry of each region treated on both sides, and of each treatment.

    Args:
        curves: The survival curves of the r rows.
        treatment: (r,) treatment of each row, in [0, n).
        region: (r,) region code of each row.
        side: (r,) side code of each row.
        theta: Per region code, the Frank theta of its two sides (``bundle.late_asymmetry``).
        gap_days: (n,) the gap of each treatment.
        returns: The rows' return days at ``QUADRATURE_LEVELS``, if known (``late_asymmetry``).

    Returns:
        (r,) the risk of each row's region (the same on both sides; NaN where the region is not
        treated on both sides), and (n,) per treatment 1 - prod(1 - p) over its regions (0
        without one): regions are taken as independent, their sides not.
    """
    n = len(gap_days)
    # Row of each (treatment, region) on each side, -1 if none; a region treated on both sides
    # is a pair.
    # (A table by side, then (treatment, region): each side's rows are contiguous.)
    row = np.full((len(SIDES), n * len(REGIONS)), -1, dtype=np.int64)
    row[side, treatment * len(REGIONS) + region] = np.arange(len(side))
    pairs = np.flatnonzero(np.minimum(row[LEFT], row[RIGHT]) >= 0)
    left, right = row[LEFT, pairs], row[RIGHT, pairs]
    of = pairs // len(REGIONS)
    p = late_asymmetry(curves, left, right, theta[pairs % len(REGIONS)], gap_days[of], returns)
    by_row = np.full(len(side), np.nan)
    by_row[left], by_row[right] = p, p
    # log(1 - p), with a certain asymmetry (p = 1) kept finite: 1 - 1e-12.
    log_none = np.log1p(-np.minimum(p, 1.0 - 1e-12))
    by_treatment: FloatArray = -np.expm1(np.bincount(of, weights=log_none, minlength=n))
    return by_row, by_treatment
