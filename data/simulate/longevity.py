"""Longevity: when muscle activity returns per treated (region, side), and what the registry sees.

The return time of each (region, side) is Weibull with shape ``WEIBULL_SHAPE`` and a median that
scales the region's reference median (DF s11 longevity row) by dose, sex, masseter thickness,
activity, product, antibodies and, in the seed-claims scenario, the seed claims. Return times of
one treatment are correlated through a Gaussian copula (a part shared by the treatment, one by
the region, one of the side: ``REGION_TO_REGION_CORRELATION``, ``SIDE_TO_SIDE_CORRELATION``), so
the marginal of each stays exactly Weibull and the oracle median is exact; the oracle's
late-stage asymmetry (``late_asymmetry_truth``) is the same copula's, integrated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import log_ndtr, ndtr, ndtri, ndtri_exp

from data.contract import PRODUCTS, REGIONS
from data.simulate import params as p
from data.simulate.types import (
    LEFT,
    MIDLINE,
    REGION_OF_MUSCLE,
    RIGHT,
    BoolArray,
    FloatArray,
    IntArray,
)

_REF_MEDIAN = np.array([p.REF_MEDIAN_DAYS[r] for r in REGIONS])
_REF_DOSE = np.array([p.REF_DOSE_U_EQ[r] for r in REGIONS])
_JAW = REGIONS.index("jaw")
_MOUTH = REGIONS.index("mouth_corners")
_DAXI = PRODUCTS.index("daxibotulinumtoxinA")
_N_SIDES = 3
_COPULA_SHARES = (
    p.REGION_TO_REGION_CORRELATION,
    p.SIDE_TO_SIDE_CORRELATION - p.REGION_TO_REGION_CORRELATION,
    1.0 - p.SIDE_TO_SIDE_CORRELATION,
)
"""Variance shares of a return time's normal score: treatment, region, side."""
_HERMITE_NODES = 48
_MIDPOINT_NODES = 512
_PAIR_CHUNK = 2048


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
    key = (treatment * len(REGIONS) + REGION_OF_MUSCLE[muscle]) * _N_SIDES + side
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

    wt, wr, ws = np.sqrt(_COPULA_SHARES)
    z = wt * rng.normal(size=n)[t] + wr * rng.normal(size=(n, len(REGIONS)))[t, r]
    z += ws * rng.normal(size=len(t))
    # Weibull quantile of Phi(z): scale * (-ln(1 - u))^(1/k), with ln(1 - Phi(z)) = ln Phi(-z).
    k = p.WEIBULL_SHAPE
    scale = median / np.log(2.0) ** (1.0 / k)
    days = scale * (-np.asarray(log_ndtr(-z))) ** (1.0 / k)
    return Returns(treatment=t, region=r, side=s, median_days=median, days=days)


def late_asymmetry_truth(
    returns: Returns, gap_days: float = p.LATE_GAP_DAYS
) -> tuple[FloatArray, FloatArray]:
    """True P(one side returns at least ``gap_days`` before the other), per row's region.

    Before the treatment, the two sides' return times are Weibull with their medians and a
    Gaussian copula of correlation ``SIDE_TO_SIDE_CORRELATION`` (the treatment's and the
    region's parts of their normal scores are shared). With Z_L the left side's score,
    Z_R | Z_L = z is N(rho z, 1 - rho^2), so P(T_R >= t + g | z) and P(T_R <= t - g | z) are
    normal tails at the right side's score of t + g and t - g, averaged over Z_L.

    Two events: on the true return times (Gauss-Hermite quadrature, 48 nodes: within 1e-5 of 4
    million draws), and as the registry records them, each side's return on the weekly visit
    after it (``VISIT_GRID_DAYS``, days from the treatment): the recorded gap is a multiple of a
    week, so the thresholds become the visit days around t (a step function of z: the midpoint
    rule on 512 equal-probability nodes, within 5e-4 of 4 million draws). The recording adds
    much: two sides with equal medians at correlation 0.9 are 21+ days apart in 22% of true
    pairs and of 31% of recorded ones (gaps of 14-20 days round up to three weeks).

    Args:
        returns: The rows of a batch (sorted by treatment, region, side, as ``draw_returns``
            makes them).
        gap_days: The gap.

    Returns:
        Per row, the probability of its region on the true times and as recorded; NaN where the
        region has not both a left and a right row.
    """
    same = (returns.treatment[1:] == returns.treatment[:-1]) & (
        returns.region[1:] == returns.region[:-1]
    )
    left = np.flatnonzero(same & (returns.side[:-1] == LEFT) & (returns.side[1:] == RIGHT))
    right = left + 1
    k = p.WEIBULL_SHAPE
    scale = returns.median_days / np.log(2.0) ** (1.0 / k)
    rho = p.SIDE_TO_SIDE_CORRELATION
    sigma = np.sqrt(1.0 - rho * rho)
    week = p.VISIT_GRID_DAYS

    def late(z: FloatArray, pairs: slice, recorded: bool) -> FloatArray:
        """(pairs, nodes) P(late | the left side's score z at each node)."""
        t = scale[left[pairs], None] * (-log_ndtr(-z)) ** (1.0 / k)  # the left side's return
        s = scale[right[pairs], None]

        def score(days: FloatArray) -> FloatArray:  # Phi^-1 of the right side's survival
            out: FloatArray = ndtri_exp(-((np.maximum(days, 0.0) / s) ** k))
            return out

        # The right side later: it returns after t + g (true), or is recorded on a visit at
        # least g after the left's, i.e. returns after that visit's week began (recorded).
        visit = np.ceil(t / week) * week
        after, before = (
            (visit + gap_days - week, visit - gap_days)
            if recorded
            else (t + gap_days, t - gap_days)
        )
        out: FloatArray = ndtr((rho * z + score(after)) / sigma)
        out += ndtr((-score(before) - rho * z) / sigma)
        return out

    hermite, weights = np.polynomial.hermite_e.hermegauss(_HERMITE_NODES)
    weights = weights / weights.sum()
    midpoints = ndtri((np.arange(_MIDPOINT_NODES) + 0.5) / _MIDPOINT_NODES)
    true, recorded = np.full(len(scale), np.nan), np.full(len(scale), np.nan)
    for start in range(0, len(left), _PAIR_CHUNK):  # bounded memory: pairs x 512 nodes
        pairs = slice(start, start + _PAIR_CHUNK)
        at = np.concatenate([left[pairs], right[pairs]])
        true[at] = np.tile(late(hermite, pairs, False) @ weights, 2)
        recorded[at] = np.tile(late(midpoints, pairs, True).mean(axis=1), 2)
    return true, recorded


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
