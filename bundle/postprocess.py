"""From raw model outputs to answers: calibration, quantiles, survival, medians, late asymmetry.

numpy only (no LightGBM, no pandas): the same functions serve the LightGBM models in training
and the ONNX models in serving, so both give the same answers from the same raw outputs.

Longevity is a discrete-time hazard model: ``h[k]`` is the probability that activity returns in
bin k (days ``[k w, (k+1) w)``) given it had not before, with proportional odds:
logit h[k] = alpha[k] + f(x), a baseline per bin (per region and bin) plus one booster margin
per row (``hazards_from_margin``). Inside a bin the hazard is spread evenly
in log-survival (piecewise exponential), and beyond the last bin the last bin's hazard goes on.

``SurvivalCurves`` computes the log-survival of a set of hazards once for all its summaries
(median, survival at given days, late asymmetry of row pairs); ``median_days``, ``survival_at``
and ``late_asymmetry`` are the same summaries on curves made for the one call.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
_Placed = tuple[IntArray, FloatArray]
"""Days placed in their bins: each day's bin k and (day - k w) / w, (d, 1) (``_place``)."""

_EPS: Final = 1e-12
MAX_DAYS: Final = 3650.0
"""Medians beyond ten years are reported as ten years (no activity return is that late)."""
LATE_GAP_DAYS: Final = 21.0
"""Late-stage asymmetry: one side returning at least this many days before the other."""


def calibrate(raw: FloatArray, slope: float, intercept: float) -> FloatArray:
    """Platt scaling: sigmoid(slope * logit(raw) + intercept)."""
    p = np.clip(raw, _EPS, 1.0 - _EPS)
    return calibrate_margin(np.log(p / (1.0 - p)), slope, intercept)


def calibrate_margin(
    margin: FloatArray, slope: float | FloatArray, intercept: float | FloatArray
) -> FloatArray:
    """Platt scaling of a raw margin (log-odds before calibration): sigmoid(slope * m + b).

    ``slope`` and ``intercept`` broadcast against ``margin``: (heads, 1) of them calibrate the
    rows of (heads, n) margins at once.
    """
    out: FloatArray = 1.0 / (1.0 + np.exp(-(slope * margin + intercept)))
    return out


def quantiles(columns: Sequence[npt.ArrayLike], keys: Sequence[str]) -> dict[str, FloatArray]:
    """Quantiles by key from one (n,) column per key, sorted per row.

    Quantile regressors are fitted one by one and may cross; sorted, an interval never inverts.
    """
    ordered = np.sort(np.array(columns, dtype=np.float64), axis=0)
    return dict(zip(keys, ordered, strict=True))


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
    alpha = table[:1] if len(table) == 1 else table[np.asarray(region)]
    z = alpha + np.asarray(margin, dtype=np.float64)[:, None]
    # sigmoid(z) = exp(-log(1 + exp(-z))): no overflow for any z.
    out: FloatArray = np.exp(-np.logaddexp(0.0, -z))
    return out


_LOG_HALF: Final = float(np.log(0.5))
_PAIR_CHUNK: Final = 32768
"""Pairs per block of ``late_asymmetry``: bounded memory for a registry's hundred thousand."""


class SurvivalCurves:
    """Log-survival of (r, n_bins) hazards, computed once and shared by every summary of them.

    The curves are kept bin by bin (a row per bin, a column per row of hazards): a batch's
    hundreds of thousands of rows then make the cumulative sum and every gather a few long
    contiguous loops rather than as many short ones as there are rows (3x faster at 400k rows).

    Args:
        hazards: (r, n_bins) hazard of each row in each bin.
        bin_days: Width of a bin in days.

    Attributes:
        log_keep: (n_bins, r) log survival over each whole bin (<= 0): log(1 - h), h clipped
            to [0, 1 - 1e-9].
        log_start: (n_bins + 1, r) log survival at the start of each bin, then at the end of the
            last.
        bin_days: Width of a bin in days.
    """

    def __init__(self, hazards: FloatArray, bin_days: float) -> None:
        """Compute the curves of ``hazards``."""
        h = np.asarray(hazards, dtype=np.float64).T
        self.log_keep: FloatArray = np.log1p(-np.minimum(np.maximum(h, 0.0), 1.0 - 1e-9))
        self.log_start: FloatArray = np.zeros((len(h) + 1, h.shape[1]))
        np.add.accumulate(self.log_keep, axis=0, out=self.log_start[1:])
        self.bin_days = float(bin_days)

    @property
    def n_bins(self) -> int:
        """Number of hazard bins."""
        return int(self.log_keep.shape[0])

    def _log_survival(
        self, rows: IntArray | slice, place: _Placed
    ) -> tuple[FloatArray, FloatArray]:
        """(days, rows) log survival at days placed by ``_place``, and the bins' log_keep."""
        k, into = place
        rate = self.log_keep[:, rows][k]
        return self.log_start[:, rows][k] + rate * into, rate

    def survival_at(self, days: Sequence[float]) -> FloatArray:
        """P(activity not yet returned) at each of ``days``: (len(days), r), one row a day."""
        at = np.asarray(days, dtype=np.float64)
        log_s, _ = self._log_survival(slice(None), _place(at, at, self.bin_days, self.n_bins))
        out: FloatArray = np.exp(log_s)
        return out

    def median_days(self) -> FloatArray:
        """Day at which survival crosses 0.5, per row (at most ``MAX_DAYS``)."""
        n, r = self.log_keep.shape
        # The first bin whose end is at or below one half; if none, the last bin, whose hazard
        # goes on past the horizon.
        crossed = self.log_start[1:] <= _LOG_HALF
        crossed[n - 1] = True
        k = crossed.argmax(axis=0)
        rows = np.arange(r)
        rate = self.log_keep[k, rows]
        into = np.full(r, np.inf)  # a bin with no hazard never gets there
        np.divide(_LOG_HALF - self.log_start[k, rows], rate, out=into, where=rate < 0)
        out: FloatArray = np.minimum((k + into) * self.bin_days, MAX_DAYS)
        return out

    def late_asymmetry(
        self, left: IntArray, right: IntArray, gap_days: float = LATE_GAP_DAYS
    ) -> FloatArray:
        """P(one side returns at least ``gap_days`` before the other) for row pairs of the curves.

        The method and its accuracy are those of the function ``late_asymmetry``.

        Args:
            left: (p,) row of the first side of each pair.
            right: (p,) row of the other side.
            gap_days: The gap (>= 0).

        Returns:
            (p,) probability per pair.

        Raises:
            ValueError: If ``gap_days`` is negative or not finite.
        """
        now, later = _segments(self.n_bins, self.bin_days, gap_days)
        left, right = np.asarray(left), np.asarray(right)
        out = np.empty(len(left))
        for i in range(0, len(left), _PAIR_CHUNK):
            chunk = slice(i, i + _PAIR_CHUNK)
            a, b = left[chunk], right[chunk]
            # Either side may be the first: both orders at once, then summed.
            first = self._first_then(np.concatenate((a, b)), np.concatenate((b, a)), now, later)
            out[chunk] = first[: len(a)] + first[len(a) :]
        return out

    def _first_then(
        self,
        first: IntArray,
        other: IntArray,
        now: _Placed,
        later: _Placed,
    ) -> FloatArray:
        """P(``first`` returns at some t and ``other`` is still out at t + gap), per pair.

        On each segment both hazards are constant (rates a and b per day), so P(first out at t,
        other out at t + gap) decays as e^-(a + b) t there and a / (a + b) of its drop is the
        first side's return; the last segment, past every bin edge, is unbounded.
        """
        log_first, rate_first = self._log_survival(first, now)
        log_other, rate_other = self._log_survival(other, later)
        # P(both out) at each piece's start, then 0 at the end of the last (unbounded) piece.
        alive = np.zeros((len(log_first) + 1, len(first)))
        np.exp(log_first + log_other, out=alive[:-1])
        drop = alive[:-1] - alive[1:]
        both = rate_first + rate_other
        share = np.divide(rate_first, both, out=np.zeros_like(both), where=both < 0)
        out: FloatArray = (share * drop).sum(axis=0)
        return out


def _place(days: FloatArray, within: FloatArray, bin_days: float, n_bins: int) -> _Placed:
    """Per day, its bin and how far into it, in bin widths: ``(k, (day - k w) / w)``, (d, 1).

    The bin is the one holding ``within`` (the day itself, or the middle of a piece whose start
    may round to just below a bin edge); past the last bin its hazard goes on.
    """
    k = np.minimum(within // bin_days, n_bins - 1).astype(np.int64)
    return k, ((days - k * bin_days) / bin_days)[:, None]


@functools.cache  # a handful of constants per model, asked for by every request
def _segments(n_bins: int, bin_days: float, gap_days: float) -> tuple[_Placed, _Placed]:
    """The pieces of t on which the hazards at t and t + gap are constant, placed in their bins.

    Cut at every bin edge of t and of t + gap up to the end of the last bin; the last piece,
    from there on, is unbounded (its "middle" lies past the last bin). A piece's bin is the one
    of its middle, not its start: an edge minus the gap may round to just below another edge, and
    a piece that rounding leaves (~1e-13 days) weighs that little, whichever bin it is given.

    Returns:
        ``_place`` of the pieces' starts for the first side (now, at t) and for the other side
        (later, at t + gap).
    """
    if not (np.isfinite(gap_days) and gap_days >= 0):
        raise ValueError(f"gap_days is {gap_days}, expected finite and >= 0")
    horizon = n_bins * bin_days
    edges = np.arange(n_bins + 1, dtype=np.float64) * bin_days
    shifted = edges - gap_days
    starts = np.unique(np.concatenate([edges, shifted[(shifted > 0.0) & (shifted < horizon)]]))
    middles = np.append(0.5 * (starts[:-1] + starts[1:]), horizon + bin_days)
    now = _place(starts, middles, bin_days, n_bins)
    later = _place(starts + gap_days, middles + gap_days, bin_days, n_bins)
    return now, later


def survival_at(hazards: FloatArray, days: float, bin_days: float) -> FloatArray:
    """P(activity not yet returned at ``days``) per row of (r, n_bins) hazards."""
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
) -> FloatArray:
    """P(one side returns at least ``gap_days`` before the other), per row pair of hazards.

    The sides are taken as independent given the features; the hazards are (r, n_bins) each.
    P(T_L + g <= T_R) is the integral of f_L(t) S_R(t + g) over t, and the same the other way.
    Cut at every bin edge of t and of t + g, both hazards are constant on each piece, rates a
    and b (per day) say, so P(both alive) decays as e^-(a + b) t there and the piece gives
    a / (a + b) of its drop: the first side's share of "one of them returns" in it. The piece
    past the last bin, where both hazards stay the last bin's, is unbounded and gives
    a / (a + b) P(both alive at its start). The answer is exact for piecewise exponential
    survival, up to floating point (about 1e-15).

    Args:
        hazards_left: (p, n_bins) hazards of the first side of each pair.
        hazards_right: (p, n_bins) hazards of the other side.
        bin_days: Width of a bin in days.
        gap_days: The gap (>= 0).

    Returns:
        (p,) probability per pair.

    Raises:
        ValueError: If ``gap_days`` is negative or not finite.
    """
    p = len(hazards_left)
    curves = SurvivalCurves(np.concatenate([hazards_left, hazards_right]), bin_days)
    pairs = np.arange(p)
    return curves.late_asymmetry(pairs, pairs + p, gap_days)
