"""From raw model outputs to answers: calibration, quantiles, survival, medians, late asymmetry.

numpy only (no LightGBM, no pandas): the same functions serve the LightGBM models in training
and the ONNX models in serving, so both give the same answers from the same raw outputs.

Longevity is a discrete-time hazard model: ``h[k]`` is the probability that activity returns in
bin k (days ``[k w, (k+1) w)``) given it had not before, with proportional odds:
logit h[k] = alpha[k] + f(x), a baseline per bin (per region and bin) plus one booster margin
per row (``hazards_from_margin``). Inside a bin the hazard is spread evenly
in log-survival (piecewise exponential), and beyond the last bin the last bin's hazard goes on.

``SurvivalCurves`` computes the log-survival of a set of hazards once for all its summaries
(median, survival at given days, late asymmetry of row pairs), as serving does per request;
``median_days``, ``survival_at`` and ``late_asymmetry`` are the same summaries on curves made for
the one call.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_EPS: Final = 1e-12
MAX_DAYS: Final = 3650.0
"""Medians beyond ten years are reported as ten years (no activity return is that late)."""
LATE_GAP_DAYS: Final = 21.0
"""Late-stage asymmetry: one side returning at least this many days before the other."""
LATE_STEP_DAYS: Final = 3.0
"""Integration step of ``late_asymmetry``: on Weibull-shaped hazards a 3-day step is within 0.001
of a 1-day step at a fifteenth of the cost (2.4 s -> 0.16 s for 100k treatments)."""


def calibrate(raw: FloatArray, slope: float, intercept: float) -> FloatArray:
    """Platt scaling: sigmoid(slope * logit(raw) + intercept)."""
    p = np.clip(raw, _EPS, 1.0 - _EPS)
    z = slope * np.log(p / (1.0 - p)) + intercept
    out: FloatArray = 1.0 / (1.0 + np.exp(-z))
    return out


def quantiles(raw: FloatArray) -> dict[str, FloatArray]:
    """Last-axis entries (q10, q50, q90) of ``raw``, sorted so the interval never inverts.

    ``raw`` is (n, 3) for one target, or (n, targets, 3) for several at once (one sort).
    """
    ordered = np.sort(raw, axis=-1)
    return {"q10": ordered[..., 0], "q50": ordered[..., 1], "q90": ordered[..., 2]}


def hazards_from_margin(
    margin: FloatArray, baseline: FloatArray, region: npt.NDArray[np.integer]
) -> FloatArray:
    """(r, n_bins) hazards of the proportional-odds model: sigmoid(baseline[region, k] + margin).

    Args:
        margin: (r,) raw margin f(x) of the hazard booster per longevity row (its log-odds
            shift, the same in every bin).
        baseline: (g, n_bins) log-odds baseline per bin; one row (g = 1) serves every region,
            else row ``region`` (contract ``REGIONS`` order) serves that region's rows.
        region: (r,) region code of each row (unused when g = 1).

    Returns:
        The hazard of each row in each bin.
    """
    table = np.asarray(baseline, dtype=np.float64)
    if table.ndim != 2:
        raise ValueError(f"baseline has shape {table.shape}, expected (groups, n_bins)")
    m = np.asarray(margin, dtype=np.float64)
    alpha = table[:1] if len(table) == 1 else table.take(region, axis=0)
    z = alpha + m[:, None]
    out: FloatArray = np.exp(-np.logaddexp(0.0, -z))  # sigmoid, without overflow
    return out


_LOG_HALF: Final = float(np.log(0.5))
_TINY: Final = float(np.nextafter(0.0, 1.0))
_FEW_PAIRS: Final = 64
"""Up to this many pairs, ``late_asymmetry`` evaluates the left rows twice to save calls."""
_PAIR_CHUNK: Final = 4096
"""Pairs per step of ``late_asymmetry``: its (days, 2 pairs) blocks of ~130 days stay small."""


class SurvivalCurves:
    """Log-survival of (r, n_bins) hazards, computed once and shared by every summary of them.

    One request asks for the median, three survival days and the late asymmetry of the same few
    rows; at that size numpy's per-call cost dominates, so the clip, log1p and cumsum are done
    once here and each summary is a handful of gathers on them. Every summary equals the
    function of the same name on the hazards (``median_days``, ``survival_at``,
    ``late_asymmetry``), which are these methods on curves made for the call.

    Args:
        hazards: (r, n_bins) hazard of each row in each bin.
        bin_days: Width of a bin in days.

    Attributes:
        bin_days: Width of a bin in days.
    """

    __slots__ = ("_n", "_table", "bin_days")

    def __init__(self, hazards: FloatArray, bin_days: float) -> None:
        """Compute the curves of ``hazards``."""
        # np.clip(hazards, 0, 1 - 1e-9), with less overhead (the same but for the sign of 0).
        h = np.minimum(np.maximum(hazards, 0.0, dtype=np.float64), 1.0 - 1e-9)
        n = h.shape[1]
        # One table, [log_start | log_keep], so that one gather serves both.
        table = np.zeros((len(h), 2 * n + 1))
        log_keep = np.log1p(np.negative(h, out=h), out=table[:, n + 1 :])
        np.add.accumulate(log_keep, axis=1, out=table[:, 1 : n + 1])  # np.cumsum, less overhead
        self._n = n
        self._table = table
        self.bin_days = float(bin_days)

    @property
    def log_keep(self) -> FloatArray:
        """(r, n_bins) log survival over each whole bin (<= 0): log(1 - h), h clipped below 1."""
        out: FloatArray = self._table[:, self._n + 1 :]
        return out

    @property
    def log_start(self) -> FloatArray:
        """(r, n_bins + 1) log survival at the start of each bin, then at the end of the last."""
        out: FloatArray = self._table[:, : self._n + 1]
        return out

    def survival_at(self, days: Sequence[float]) -> FloatArray:
        """P(activity not yet returned) at each of ``days``: (len(days), r), one row a day."""
        cols = _columns(tuple(days), self._n, self.bin_days)
        both = self._table.take(cols.index, axis=1)  # (r, 2 d): log_start, then log_keep
        d = len(cols.rest)
        log_s = both[:, :d] + both[:, d:] * cols.rest / self.bin_days
        out: FloatArray = np.exp(log_s.T).copy()  # each day's row contiguous
        return out

    def median_days(self) -> FloatArray:
        """Day at which survival crosses 0.5, per row (at most ``MAX_DAYS``)."""
        n, width = self._n, 2 * self._n + 1
        # First bin whose end is at or below the target; past the last bin, its hazard goes on:
        # marking the last bin crossed makes argmax answer it when no bin is.
        crossed = self._table[:, 1 : n + 1] <= _LOG_HALF
        crossed[:, n - 1] = True
        k = crossed.argmax(axis=1)
        at = np.arange(0, len(k) * width, width) + k  # (row, k) in the flat table
        rate = self._table.take(at + (n + 1))  # log survival per bin inside bin k (<= 0)
        into = np.empty(len(k))
        into.fill(np.inf)
        np.divide(_LOG_HALF - self._table.take(at), rate, out=into, where=rate < 0)
        out: FloatArray = np.minimum((k + into) * self.bin_days, MAX_DAYS)
        return out

    def late_asymmetry(
        self,
        left: IntArray,
        right: IntArray,
        gap_days: float = LATE_GAP_DAYS,
        step_days: float = LATE_STEP_DAYS,
    ) -> FloatArray:
        """P(one side returns at least ``gap_days`` before the other) for row pairs of the curves.

        The method and its accuracy are those of the function ``late_asymmetry``.

        Args:
            left: (p,) row of the first side of each pair.
            right: (p,) row of the other side.
            gap_days: The gap.
            step_days: Integration step.

        Returns:
            (p,) probability per pair.
        """
        if len(left) <= _PAIR_CHUNK:
            return self._late_asymmetry(left, right, gap_days, step_days)
        out = np.empty(len(left))
        for i in range(0, len(left), _PAIR_CHUNK):  # bounded memory: (days, 2 chunk) blocks
            chunk = slice(i, i + _PAIR_CHUNK)
            out[chunk] = self._late_asymmetry(left[chunk], right[chunk], gap_days, step_days)
        return out

    def _late_asymmetry(
        self, left: IntArray, right: IntArray, gap_days: float, step_days: float
    ) -> FloatArray:
        p = len(left)
        plan = _late_plan(self._n, self.bin_days, gap_days, step_days)
        # One (days, rows) block. Days first: each numpy loop runs over many rows, and the sums
        # over days go day by day (as they always have). Rows left, right, and for a few pairs
        # left again: columns p:3p are then the other side of columns 0:2p, with no reordering
        # (cheaper in calls; for many pairs, evaluating a third more rows costs more).
        few = p <= _FEW_PAIRS
        rows = np.concatenate((left, right, left) if few else (left, right))
        at = self._table.take(rows, axis=0).T.take(plan.index, axis=0)
        d = len(plan.rest)
        log_s = at[:d] + at[d : 2 * d] * plan.rest / self.bin_days
        s = np.exp(log_s[plan.now, : 2 * p])
        pmf = s[:-1] - s[1:]  # mass of the return in each step
        later = log_s[plan.later, p:] if few else log_s[plan.later]
        mid = np.exp(0.5 * (later[:-1] + later[1:]))  # survival gap_days later
        # Each side's return times the other side's survival, pair by pair.
        if few:
            both = pmf * mid
        else:
            both = np.empty_like(pmf)
            np.multiply(pmf[:, :p], mid[:, p:], out=both[:, :p])
            np.multiply(pmf[:, p:], mid[:, :p], out=both[:, p:])
        inside = both.sum(axis=0)
        # Past the last bin both hazards are constant: their rates, -log survival per day.
        log_day = at[-1, : 2 * p] / self.bin_days
        rate = -log_day
        after = np.exp(log_day * gap_days)  # P(a side lasts gap_days more)
        rate_l, rate_r = rate[:p], rate[p:]
        total = rate_l + rate_r
        split = rate_l * after[p:] + rate_r * after[:p]
        end = log_s[plan.now.stop - 1]  # log survival at the end of the grid
        both_alive = np.exp(end[:p] + end[p : 2 * p])
        # Both rates 0 (so the split too): 0, as 0 / the smallest positive double.
        tail = both_alive * (split / np.maximum(total, _TINY))
        out: FloatArray = inside[:p] + inside[p:] + tail
        return out


@dataclass(frozen=True)
class _Columns:
    """Where each of some days falls in the bins (read-only arrays, cached per set of days).

    Attributes:
        index: (2 d,) columns of ``SurvivalCurves``' table: log_start at the start of each day's
            bin (whole bins before it, at most n_bins), then log_keep of that bin (or of the last
            bin past the end).
        rest: (d,) days into that bin (or past the end of the last one).
    """

    index: IntArray
    rest: FloatArray


def _columns_of(days: FloatArray, n_bins: int, bin_days: float) -> _Columns:
    k_full = np.minimum(days // bin_days, n_bins).astype(np.int64)
    rest = days - k_full * bin_days
    last = np.minimum(k_full, n_bins - 1)
    out = _Columns(np.concatenate([k_full, n_bins + 1 + last]), rest)
    out.index.flags.writeable = False  # shared by every call through the caches
    out.rest.flags.writeable = False
    return out


@functools.lru_cache(maxsize=64)
def _columns(days: tuple[float, ...], n_bins: int, bin_days: float) -> _Columns:
    # Keyed by the days as given: 90 and 90.0 hash alike and give the same columns.
    return _columns_of(np.array(days, dtype=np.float64), n_bins, bin_days)


@dataclass(frozen=True)
class _LatePlan:
    """The day grid of ``late_asymmetry``: one evaluation serves both ends of the gap.

    Attributes:
        index: ``_Columns.index`` of the days evaluated, then the last bin's log_keep.
        rest: ``_Columns.rest`` of the days evaluated, (d, 1) to broadcast over rows.
        now: Their slice at the grid days.
        later: Their slice at the grid days + the gap.
    """

    index: IntArray
    rest: FloatArray
    now: slice
    later: slice


@functools.lru_cache(maxsize=64)
def _late_plan(n_bins: int, bin_days: float, gap_days: float, step_days: float) -> _LatePlan:
    """Days at which ``late_asymmetry`` needs log-survival, cached per grid (it never changes)."""
    horizon = bin_days * n_bins
    steps = int(np.ceil(horizon / step_days))
    grid = np.arange(steps + 1, dtype=np.float64) * step_days
    later = grid + gap_days
    shift = round(gap_days / step_days)
    extended = np.arange(steps + 1 + shift, dtype=np.float64) * step_days
    now = slice(0, steps + 1)
    if shift >= 0 and np.array_equal(extended[shift:], later):
        # The gap is a whole number of steps (21 = 7 x 3): the later days are the grid itself,
        # extended and shifted, so one evaluation of steps + 1 + shift days serves both.
        days, later_cols = extended, slice(shift, shift + steps + 1)
    else:
        days, later_cols = np.concatenate([grid, later]), slice(steps + 1, 2 * steps + 2)
    cols = _columns_of(days, n_bins, bin_days)
    # Last, the last bin's log_keep: the rate of both sides past the end.
    index = np.append(cols.index, 2 * n_bins)
    index.flags.writeable = False
    return _LatePlan(index, cols.rest[:, None], now, later_cols)


def survival_at(hazards: FloatArray, days: float, bin_days: float) -> FloatArray:
    """P(activity not yet returned at ``days``) per row of (r, n_bins) hazards.

    For several days or summaries of the same hazards, ``SurvivalCurves`` computes the curves
    once.
    """
    out: FloatArray = SurvivalCurves(hazards, bin_days).survival_at((days,))[0]
    return out


def median_days(hazards: FloatArray, bin_days: float) -> FloatArray:
    """Day at which survival crosses 0.5, per row of (r, n_bins) hazards (at most MAX_DAYS)."""
    return SurvivalCurves(hazards, bin_days).median_days()


def late_asymmetry(
    hazards_left: FloatArray,
    hazards_right: FloatArray,
    bin_days: float,
    gap_days: float = LATE_GAP_DAYS,
    step_days: float = LATE_STEP_DAYS,
) -> FloatArray:
    """P(one side returns at least ``gap_days`` before the other), per row pair of hazards.

    The sides are taken as independent given the features; the hazards are (r, n_bins) each.

    Up to the end of the last bin the probability is summed on a grid of ``step_days``: the mass
    of the first side's return in each step times the other side's survival ``gap_days`` later,
    at the step's (log-)midpoint, which is exact to second order in the step for piecewise
    exponential survival. Past the last bin both hazards are constant, so the rest is in closed
    form: with rates a, b, P(both alive) * (a e^(-b g) + b e^(-a g)) / (a + b).
    ``SurvivalCurves.late_asymmetry`` does the same on curves already computed.
    """
    p = len(hazards_left)
    curves = SurvivalCurves(np.concatenate([hazards_left, hazards_right]), bin_days)
    pairs = np.arange(p)
    return curves.late_asymmetry(pairs, pairs + p, gap_days, step_days)
