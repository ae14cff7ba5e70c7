"""Survival building blocks of the longevity model: person-period rows and censoring-aware metrics.

``person_period`` turns right-censored durations into the rows a discrete-time hazard model is
fitted on; ``newton_refit`` refits its baseline given the booster's margins (from
``hazard_newton_terms``, which add over parts of the rows); ``c_index`` and ``kaplan_meier``
(lifelines') judge its predictions against censored data.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from lifelines import KaplanMeierFitter
from lifelines.exceptions import StatisticalWarning
from lifelines.utils import concordance_index

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class PersonPeriod:
    """One row per (duration row, bin it was at risk in).

    Attributes:
        row: Index of the duration row.
        bin: Bin index k (days ``[k w, (k + 1) w)``).
        event: 1 if activity returned in this bin, else 0.
        weight: Share of the bin the row was at risk in: 1, or (days - k w) / w in the bin where
            it was censored.
    """

    row: IntArray
    bin: IntArray
    event: FloatArray
    weight: FloatArray


def person_period(
    days: FloatArray, returned: BoolArray, bin_days: float, n_bins: int
) -> PersonPeriod:
    """Expand right-censored durations into discrete-time hazard rows.

    A row returned at ``days`` is at risk in every bin up to the one holding ``days`` and has its
    event there. A row censored inside a bin is at risk there for the part of the bin it was seen,
    so it counts with weight (days - start) / bin_days and no event: the actuarial (life-table)
    correction, which with a weighted binary fit estimates the hazard d / (n - censored exposure
    missed) instead of under-counting exposure (dropping the bin) or over-counting it (weight 1).
    Rows still at risk after the last bin are censored at its end; the model extrapolates its
    hazard past it.

    Args:
        days: Recorded days (> 0) per duration row.
        returned: True where activity returned at ``days``, False where censored.
        bin_days: Bin width in days.
        n_bins: Number of bins.

    Returns:
        The person-period rows, ordered by duration row then bin.
    """
    days = np.asarray(days, dtype=np.float64)
    returned = np.asarray(returned, dtype=bool)
    horizon = bin_days * n_bins
    beyond = days >= horizon
    last = np.where(beyond, n_bins - 1, np.floor(days / bin_days)).astype(np.int64)
    event_here = returned & ~beyond
    # Weight of the last bin: 1 with an event or past the horizon, else the share seen.
    last_weight = np.where(event_here | beyond, 1.0, days / bin_days - last)
    count = last + 1
    row = np.repeat(np.arange(len(days), dtype=np.int64), count)
    starts = np.cumsum(count) - count
    k = np.arange(len(row), dtype=np.int64) - np.repeat(starts, count)
    is_last = k == last[row]
    weight = np.where(is_last, last_weight[row], 1.0)
    event = (is_last & event_here[row]) * 1.0
    keep = weight > 0  # censored exactly at a bin start: not at risk in that bin at all
    return PersonPeriod(row=row[keep], bin=k[keep], event=event[keep], weight=weight[keep])


def hazard_newton_terms(
    alpha: FloatArray,
    margin: FloatArray,
    region: IntArray,
    bin: IntArray,
    weight: npt.NDArray[np.floating],
    event: npt.NDArray[np.floating],
) -> tuple[FloatArray, FloatArray]:
    """Gradient and curvature of person-period rows' log-likelihood per baseline cell.

    The hazard of a row is sigmoid(alpha[cell] + margin), its cell being its (region, bin), or
    its bin when ``alpha`` has one row. Sums over rows: rows held in parts give the terms of
    them all by adding each part's.

    Args:
        alpha: (g, n_bins) baseline log-odds.
        margin: Booster raw margin of each row.
        region: Region code of each row.
        bin: Bin of each row.
        weight: Exposure of each row in its bin.
        event: 1 where activity returned in the row's bin.

    Returns:
        (g * n_bins,) gradient and curvature per cell, without any ridge.
    """
    g, n_bins = alpha.shape
    cell = (region if g > 1 else np.zeros_like(region)) * n_bins + bin
    w = np.asarray(weight, dtype=np.float64)
    p = np.exp(-np.logaddexp(0.0, -(alpha.ravel()[cell] + margin)))
    y = np.asarray(event, dtype=np.float64)
    grad = np.bincount(cell, weights=w * (y - p), minlength=g * n_bins).astype(np.float64)
    hess = np.bincount(cell, weights=w * p * (1.0 - p), minlength=g * n_bins).astype(np.float64)
    return grad, hess


def newton_refit(
    start: FloatArray,
    terms: Callable[[FloatArray], tuple[FloatArray, FloatArray]],
    ridge: float,
    iterations: int,
) -> FloatArray:
    """Newton steps on each baseline cell from ``start``, with a ridge towards it.

    Args:
        start: (g, n_bins) baseline to start from and shrink towards.
        terms: ``hazard_newton_terms`` of every row at a baseline.
        ridge: Curvature added towards ``start`` in each cell.
        iterations: Newton steps.

    Returns:
        The refitted (g, n_bins) baseline.
    """
    first = start.ravel()
    alpha = first.copy()
    for _ in range(iterations):
        grad, hess = terms(alpha.reshape(start.shape))
        alpha = alpha + (grad - ridge * (alpha - first)) / (hess + ridge)
    out: FloatArray = alpha.reshape(start.shape)
    return out


def c_index(time: FloatArray, event: BoolArray, score: FloatArray) -> float:
    """Harrell's concordance of a predicted duration with censored observed durations.

    ``lifelines.utils.concordance_index``. A pair is comparable when the shorter observed time
    is a return (event) and the other row was seen longer: T_i < T_j with event i, or
    T_i == T_j with event i and j censored (j was still without return at T_i). It is
    concordant when the row that returned earlier has the smaller score; tied scores count one
    half. Tied event times are not comparable.

    Args:
        time: Observed days.
        event: True where activity returned at ``time``.
        score: Predicted duration (larger: later return), e.g. a median.

    Returns:
        The C-index in [0, 1], NaN if no pair is comparable.
    """
    try:
        return float(concordance_index(time, score, event))
    except ZeroDivisionError:  # lifelines' answer to "no admissible pairs"
        return float("nan")


def kaplan_meier(
    time: FloatArray, event: BoolArray, grid: FloatArray, weights: FloatArray | None = None
) -> FloatArray:
    """Kaplan-Meier survival S(t) = P(T > t) evaluated at each day of ``grid`` (lifelines).

    Args:
        time: Observed days.
        event: True where activity returned at ``time``.
        grid: Days to evaluate at.
        weights: Weight of each row (1 each without).

    Returns:
        S at each grid day (a step function, right-continuous); NaN for an empty sample.
    """
    if len(time) == 0:
        return np.full(len(grid), np.nan)
    with warnings.catch_warnings():
        # Fractional weights make lifelines warn about its variance estimates; only the curve
        # itself is used here.
        warnings.simplefilter("ignore", StatisticalWarning)
        fitted = KaplanMeierFitter().fit(
            np.asarray(time, np.float64), np.asarray(event, bool), weights=weights
        )
    out: FloatArray = fitted.survival_function_at_times(np.asarray(grid, np.float64)).to_numpy()
    return out
