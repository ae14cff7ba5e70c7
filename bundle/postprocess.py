"""From raw model outputs to answers: calibration, quantiles, survival curves and medians.

numpy and ``scipy.special.expit`` only (no LightGBM, no pandas): the same functions serve the
LightGBM models in training and the ONNX models in serving, so both give the same answers from
the same raw outputs.

Longevity is a discrete-time hazard model: ``h[k]`` is the probability that activity returns in
bin k (days ``[k w, (k+1) w)``) given it had not before, with proportional odds:
logit h[k] = alpha[k] + f(x), a baseline per bin (per region and bin) plus one booster margin
per row (``hazards_from_margin``). Inside a bin the hazard is spread evenly
in log-survival (piecewise exponential), and beyond the last bin the last bin's hazard goes on.

``SurvivalCurves`` computes the log-survival of a set of hazards once for all its summaries
(median, survival at given days, the day a survival level is reached, which the two sides'
joint model in ``bundle.late_asymmetry`` reads); ``median_days`` and ``survival_at`` are the
same summaries on curves made for the one call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt
from scipy.special import expit

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_EPS: Final = 1e-12
MAX_DAYS: Final = 3650.0
"""Medians beyond ten years are reported as ten years (no activity return is that late)."""


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
    out: FloatArray = expit(slope * margin + intercept)
    return out


def quantiles(columns: npt.ArrayLike, keys: Sequence[str]) -> dict[str, FloatArray]:
    """Quantiles by key from one (n,) column per key, sorted per row.

    Quantile regressors are fitted one by one and may cross; sorted, an interval never inverts.

    Args:
        columns: (k, n) a row per key; or (m, k, n), m sets of them (e.g. one per target),
            each sorted on its own.
        keys: The k keys.

    Returns:
        Per key, its (n,) (or (m, n)) quantiles.
    """
    ordered = np.sort(np.asarray(columns, dtype=np.float64), axis=-2)
    return dict(zip(keys, ordered.swapaxes(0, -2), strict=True))


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
    out: FloatArray = expit(alpha + np.asarray(margin, dtype=np.float64)[:, None])
    return out


LOG_HALF: Final = float(np.log(0.5))
"""The log-survival level of the median."""


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

    def log_survival(self, days: npt.ArrayLike, rows: IntArray | slice) -> FloatArray:
        """Log P(activity not yet returned) at ``days`` of ``rows``.

        Args:
            days: Days, broadcasting against the rows: (m, 1) days for every row, or (m, p)
                days for p rows; <= 0 is the start (log 1 = 0).
            rows: The rows (p of them), or a slice of them.

        Returns:
            (m, p) log survival.
        """
        at = np.maximum(days, 0.0, dtype=np.float64) / self.bin_days  # in bins
        # Its bin (truncation is the floor here, and cheaper); days past the last bin are in it
        # (inf too).
        k = np.minimum(at, self.n_bins - 1).astype(np.int64)
        start, rate = self._at_bins(k, rows)
        # Past the last bin its hazard goes on: an infinite day is never reached by a row with
        # some hazard left (-inf) and always by one with none (0, not 0 * inf = NaN).
        into = np.where(rate < 0.0, at - k, 0.0)
        out: FloatArray = start + rate * into
        return out

    def days_to(self, log_level: npt.ArrayLike, rows: IntArray | slice) -> FloatArray:
        """The day at which the survival of ``rows`` falls to ``exp(log_level)``.

        Args:
            log_level: (m, p) levels (<= 0) for the p rows, or (m, 1) for every row.
            rows: The rows (p of them), or a slice of them.

        Returns:
            (m, p) days: the first day the survival is at or below the level; infinite where a
            row never falls that far (no hazard left).
        """
        level = np.asarray(log_level, dtype=np.float64)
        # The first bin whose end is at or below the level: the number of bin ends above it
        # (the curves fall); if none, the last bin, whose hazard goes on past the horizon.
        # Bin ends first: numpy sums booleans along the first axis several times faster.
        above = self.log_start[1:-1, None, rows] > level
        k = np.add.reduce(above, axis=0, dtype=np.intp)
        start, rate = self._at_bins(k, rows)
        # A bin without hazard: there from its start if the level is already reached (survival
        # 1 from day 0), never otherwise.
        into = np.where(start <= level, 0.0, np.inf)
        np.divide(level - start, rate, out=into, where=rate < 0)
        out: FloatArray = (k + into) * self.bin_days
        return out

    def _at_bins(self, k: IntArray, rows: IntArray | slice) -> tuple[FloatArray, FloatArray]:
        """Log survival at the start of bin ``k`` of ``rows`` and over the whole bin: (m, p)."""
        columns = np.arange(self.log_keep.shape[1])[rows] if isinstance(rows, slice) else rows
        return self.log_start[k, columns], self.log_keep[k, columns]

    def survival_at(self, days: Sequence[float]) -> FloatArray:
        """P(activity not yet returned) at each of ``days``: (len(days), r), one row a day."""
        at = np.asarray(days, dtype=np.float64)[:, None]
        out: FloatArray = np.exp(self.log_survival(at, slice(None)))
        return out

    def median_days(self) -> FloatArray:
        """Day at which survival crosses 0.5, per row (at most ``MAX_DAYS``)."""
        out: FloatArray = np.minimum(self.days_to([[LOG_HALF]], slice(None))[0], MAX_DAYS)
        return out


def survival_at(hazards: FloatArray, days: float, bin_days: float) -> FloatArray:
    """P(activity not yet returned at ``days``) per row of (r, n_bins) hazards."""
    out: FloatArray = SurvivalCurves(hazards, bin_days).survival_at((days,))[0]
    return out


def median_days(hazards: FloatArray, bin_days: float) -> FloatArray:
    """Day at which survival crosses 0.5, per row of (r, n_bins) hazards (at most MAX_DAYS)."""
    return SurvivalCurves(hazards, bin_days).median_days()
