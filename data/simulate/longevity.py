"""Longevity: when muscle activity returns per treated (region, side), and what the registry sees.

The return time of each (region, side) is Weibull with shape ``WEIBULL_SHAPE`` and a median that
scales the region's reference median (DF s11 longevity row) by dose, sex, masseter thickness,
activity, product, antibodies and, in the seed-claims scenario, the seed claims. Return times of
one treatment are correlated through a Gaussian copula (treatment, region and side parts), so the
marginal of each stays exactly Weibull and the oracle median is exact.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import log_ndtr

from data.contract import MUSCLE_REGION, MUSCLES, PRODUCTS, REGIONS
from data.simulate import params as p
from data.simulate.types import LEFT, MIDLINE, RIGHT, BoolArray, FloatArray, IntArray

_MUSCLE_REGION = np.array([REGIONS.index(MUSCLE_REGION[m]) for m in MUSCLES])
_REF_MEDIAN = np.array([p.REF_MEDIAN_DAYS[r] for r in REGIONS])
_REF_DOSE = np.array([p.REF_DOSE_U_EQ[r] for r in REGIONS])
_JAW = REGIONS.index("jaw")
_MOUTH = REGIONS.index("mouth_corners")
_DAXI = PRODUCTS.index("daxibotulinumtoxinA")
_N_SIDES = 3


@dataclass(frozen=True, slots=True)
class DurationFactors:
    """Per-treatment inputs of the median, one entry (or row) per treatment of a batch."""

    male: BoolArray
    sensitivity: FloatArray
    beta: FloatArray
    duration_factor: FloatArray
    masseter_factor: FloatArray
    mouth_corner_shift: FloatArray
    masseter_mm: FloatArray  # (treatment, side)
    nab: BoolArray  # antibodies formed in an earlier session
    nab_factor: FloatArray
    product: IntArray


@dataclass(frozen=True, slots=True)
class Returns:
    """One row per treated (region, side) of a batch, grouped by treatment.

    Attributes:
        treatment: Index of the row's treatment in the batch.
        region: Index into REGIONS.
        side: Index into SIDES.
        median_days: True Weibull median (the oracle).
        days: Realised return time.
    """

    treatment: IntArray
    region: IntArray
    side: IntArray
    median_days: FloatArray
    days: FloatArray


def region_sides(
    treatment: IntArray, muscle: IntArray, side: IntArray, u_eq: FloatArray, n: int
) -> tuple[IntArray, IntArray, IntArray, FloatArray, FloatArray]:
    """The durations rows of a batch's points, with each row's dose and reference dose.

    A row per side present among a region's points; a midline row only when all of the region's
    points are midline, otherwise midline points count half for each side.

    Returns:
        treatment, region, side of each row, its dose and its reference dose (U_eq).
    """
    key = (treatment * len(REGIONS) + _MUSCLE_REGION[muscle]) * _N_SIDES + side
    size = n * len(REGIONS) * _N_SIDES
    shape = (n, len(REGIONS), _N_SIDES)
    count = np.bincount(key, minlength=size).reshape(shape)
    dose = np.bincount(key, weights=u_eq, minlength=size).reshape(shape)
    has = count > 0
    paired = has[:, :, LEFT] | has[:, :, RIGHT]
    rows = has.copy()
    rows[:, :, MIDLINE] &= ~paired
    t, r, s = (a.astype(np.int64) for a in np.nonzero(rows))
    row_dose = np.where(s == MIDLINE, dose[t, r, MIDLINE], dose[t, r, s] + dose[t, r, MIDLINE] / 2)
    ref = np.where(s == MIDLINE, _REF_DOSE[r], _REF_DOSE[r] / 2)
    return t, r, s, row_dose, ref


def draw_returns(
    rng: np.random.Generator,
    treatment: IntArray,
    muscle: IntArray,
    side: IntArray,
    u_eq: FloatArray,
    f: DurationFactors,
) -> Returns:
    """True medians and one realised return time per treated (region, side) of a batch."""
    n = len(f.male)
    t, r, s, dose, ref = region_sides(treatment, muscle, side, u_eq, n)
    ratio = np.minimum(dose * f.sensitivity[t] / ref, p.DOSE_CAP)
    median = _REF_MEDIAN[r] * ratio ** f.beta[t]
    median *= np.where(f.male[t], p.MALE_DURATION, 1.0) * f.duration_factor[t]
    median *= np.where(f.product[t] == _DAXI, p.DAXI_DURATION, 1.0)
    median *= np.where(f.nab[t], f.nab_factor[t], 1.0)
    jaw = r == _JAW
    ref_mm = np.where(f.male, p.MASSETER_THICKNESS["male"][0], p.MASSETER_THICKNESS["female"][0])[t]
    thick = f.masseter_mm[t, np.minimum(s, RIGHT)]
    median *= np.where(
        jaw, (ref_mm / thick) ** p.MASSETER_DURATION_EXPONENT * f.masseter_factor[t], 1.0
    )
    median = np.where(r == _MOUTH, median - f.mouth_corner_shift[t], median)
    median = np.maximum(median, 10.0)  # a floor so that no shift makes a median absurd

    wt, wr, ws = np.sqrt(p.SIDE_CORRELATION)
    z = wt * rng.normal(size=n)[t] + wr * rng.normal(size=(n, len(REGIONS)))[t, r]
    z += ws * rng.normal(size=len(t))
    # Weibull quantile of Phi(z): scale * (-ln(1 - u))^(1/k), with ln(1 - Phi(z)) = ln Phi(-z).
    k = p.WEIBULL_SHAPE
    scale = median / np.log(2.0) ** (1.0 / k)
    days = scale * (-np.asarray(log_ndtr(-z))) ** (1.0 / k)
    return Returns(treatment=t, region=r, side=s, median_days=median, days=days)


def first_return(returns: Returns, n: int) -> FloatArray:
    """Earliest return of each treatment of the batch (every treatment has a row)."""
    starts = np.searchsorted(returns.treatment, np.arange(n))
    return np.asarray(np.minimum.reduceat(returns.days, starts))


def observe(days: FloatArray, censor: FloatArray) -> tuple[FloatArray, BoolArray]:
    """What the registry records: a return reported on the next visit, or the censoring time.

    Args:
        days: True return time per row.
        censor: Last contact per row (next session, loss to follow-up, end of the registry).

    Returns:
        Recorded days (> 0) and whether activity was seen to return.
    """
    returned = days <= censor
    grid = np.ceil(days / p.VISIT_GRID_DAYS) * p.VISIT_GRID_DAYS
    recorded = np.where(returned, np.minimum(grid, censor), censor)
    return np.maximum(recorded, 1.0), returned
