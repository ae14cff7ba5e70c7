"""From raw model outputs to answers: calibration, quantiles, survival, medians, late asymmetry.

numpy only (no LightGBM, no pandas): the same functions serve the LightGBM models in training
and the ONNX models in serving, so both give the same answers from the same raw outputs.

Longevity is a discrete-time hazard model: ``h[k]`` is the probability that activity returns in
bin k (days ``[k w, (k+1) w)``) given it had not before. Inside a bin the hazard is spread evenly
in log-survival (piecewise exponential), and beyond the last bin the last bin's hazard goes on.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
Float32Array = npt.NDArray[np.float32]

_EPS: Final = 1e-12
MAX_DAYS: Final = 3650.0
"""Medians beyond ten years are reported as ten years (no activity return is that late)."""
LATE_GAP_DAYS: Final = 21.0
"""Late-stage asymmetry: one side returning at least this many days before the other."""


def calibrate(raw: FloatArray, slope: float, intercept: float) -> FloatArray:
    """Platt scaling: sigmoid(slope * logit(raw) + intercept)."""
    p = np.clip(raw, _EPS, 1.0 - _EPS)
    z = slope * np.log(p / (1.0 - p)) + intercept
    out: FloatArray = 1.0 / (1.0 + np.exp(-z))
    return out


def quantiles(raw: FloatArray) -> dict[str, FloatArray]:
    """Columns (q10, q50, q90) of ``raw``, sorted per row so the interval never inverts."""
    ordered = np.sort(raw, axis=1)
    return {"q10": ordered[:, 0], "q50": ordered[:, 1], "q90": ordered[:, 2]}


def expand_bins(rows: Float32Array, bin_days: float, n_bins: int) -> Float32Array:
    """Repeat each longevity row once per bin and append the bin's start day as a last column.

    Row ``i * n_bins + k`` is row i in bin k: the layout the hazard model is fitted and queried on.
    """
    r = len(rows)
    start = (np.arange(n_bins, dtype=np.float32) * np.float32(bin_days))[None, :, None]
    out = np.empty((r, n_bins, rows.shape[1] + 1), dtype=np.float32)
    out[:, :, :-1] = rows[:, None, :]
    out[:, :, -1:] = start
    return out.reshape(r * n_bins, rows.shape[1] + 1)


def survival_at(hazards: FloatArray, days: float, bin_days: float) -> FloatArray:
    """P(activity not yet returned at ``days``) per row of (r, n_bins) hazards."""
    h = np.clip(hazards, 0.0, 1.0 - 1e-9)
    log_keep = np.log1p(-h)  # log survival over one whole bin
    k_full = min(int(days // bin_days), h.shape[1])
    log_s = log_keep[:, :k_full].sum(axis=1)
    rest = days - k_full * bin_days  # inside bin k_full, or past the last bin
    last = log_keep[:, min(k_full, h.shape[1] - 1)]
    out: FloatArray = np.exp(log_s + last * rest / bin_days)
    return out


def median_days(hazards: FloatArray, bin_days: float) -> FloatArray:
    """Day at which survival crosses 0.5, per row of (r, n_bins) hazards (at most MAX_DAYS)."""
    h = np.clip(hazards, 0.0, 1.0 - 1e-9)
    log_keep = np.log1p(-h)
    before = np.concatenate([np.zeros((len(h), 1)), np.cumsum(log_keep, axis=1)], axis=1)
    target = np.log(0.5)
    # First bin whose end is at or below the target; past the last bin, its hazard goes on.
    crossed = before[:, 1:] <= target
    k = np.where(crossed.any(axis=1), crossed.argmax(axis=1), h.shape[1] - 1)
    rate = log_keep[np.arange(len(h)), k]  # log survival per bin inside bin k (<= 0)
    into = np.divide(
        target - before[np.arange(len(h)), k], rate, out=np.full(len(h), np.inf), where=rate < 0
    )
    out: FloatArray = np.minimum((k + into) * bin_days, MAX_DAYS)
    return out


def late_asymmetry(
    hazards_left: FloatArray,
    hazards_right: FloatArray,
    bin_days: float,
    gap_days: float = LATE_GAP_DAYS,
    step_days: float = 1.0,
) -> FloatArray:
    """P(one side returns at least ``gap_days`` before the other), per row pair of hazards.

    The sides are taken as independent given the features; computed on a grid of ``step_days``.
    """
    horizon = bin_days * hazards_left.shape[1] + 2 * gap_days
    grid = np.arange(0.0, horizon + step_days, step_days)
    s_left = np.stack([survival_at(hazards_left, t, bin_days) for t in grid], axis=1)
    s_right = np.stack([survival_at(hazards_right, t, bin_days) for t in grid], axis=1)
    shift = round(gap_days / step_days)

    def earlier_by_gap(first: FloatArray, second: FloatArray) -> FloatArray:
        # P(T_first <= t) mass per step, times P(T_second > t + gap).
        pmf = first[:, :-1] - first[:, 1:]
        later = np.concatenate(
            [second[:, shift + 1 :], np.repeat(second[:, -1:], shift, axis=1)], axis=1
        )[:, : pmf.shape[1]]
        out: FloatArray = (pmf * later).sum(axis=1)
        return out

    return earlier_by_gap(s_left, s_right) + earlier_by_gap(s_right, s_left)
