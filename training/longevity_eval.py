"""Held-out evaluation of the longevity models: the report and the oracle lookups.

``evaluate_longevity`` judges the hazard model (``training.longevity``), its naive baseline and,
on a simulated registry, the oracle's true medians against the held-out treatments' censored
``durations`` rows: C-index, median-days error, survival calibration against Kaplan-Meier, and
the late-stage asymmetry of pairs of sides (``training.late_asymmetry``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
from sklearn.metrics import mean_absolute_error

from bundle import postprocess
from data.contract import REGIONS
from features.inputs import REGION_CODE, SIDE_CODE
from features.longevity import longevity_matrix
from training.dataset import TrainingData
from training.duration_rows import duration_rows, enum_codes
from training.late_asymmetry import LateAsymmetryReport, evaluate_late_asymmetry
from training.longevity import NaiveLongevityModel
from training.models import LongevityModel
from training.survival import c_index, kaplan_meier
from training.visit_lattice import spread_returns

FloatArray = npt.NDArray[np.float64]
Float32Array = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

CALIBRATION_DAYS: Final = (90, 120, 150)
"""Days at which mean predicted survival is compared with Kaplan-Meier."""
MIN_GROUP_ROWS: Final = 200
"""Per-region metrics only for regions with at least this many held-out rows."""
CURVE_STEP_DAYS: Final = 5.0
"""Days between the points of the survival curves compared (predicted and Kaplan-Meier)."""
TOUCH_UP_WITHIN_DAYS: Final = 10.0
"""A region's touch-up day is counted right when within this many days of the oracle's."""


@dataclass(frozen=True)
class LongevityReport:
    """Held-out quality of the longevity model, its naive baseline and the oracle.

    Attributes:
        metrics: Named figures (stable names, see ``evaluate_longevity``).
        curve_days: Days at which the survival curves are given.
        predicted_survival: Mean predicted S(t) on ``curve_days`` of the held-out durations rows,
            under "all" and per region with enough rows.
        km_survival: Kaplan-Meier S(t) of the same rows, same keys.
        region: Region code of each held-out durations row.
        side: Side code of each row.
        days: Observed days of each row.
        returned: Whether each row's activity was seen to return.
        predicted_median: Model median days per row.
        naive_median: Baseline median days per row.
        oracle_median: The simulator's true median per row (NaN without an oracle).
        late: Late-stage asymmetry of the held-out pairs of sides.
    """

    metrics: dict[str, float]
    curve_days: FloatArray
    predicted_survival: dict[str, FloatArray]
    km_survival: dict[str, FloatArray]
    region: IntArray
    side: IntArray
    days: FloatArray
    returned: BoolArray
    predicted_median: FloatArray
    naive_median: FloatArray
    oracle_median: FloatArray
    late: LateAsymmetryReport


_KEY_SIDES: Final = 3


def _key(treatment: IntArray, region: IntArray, side: IntArray) -> IntArray:
    out: IntArray = (treatment * len(REGIONS) + region) * _KEY_SIDES + side
    return out


def _oracle_medians(data: TrainingData) -> tuple[IntArray, FloatArray]:
    """Keys (treatment row, region, side) and true medians of the oracle, sorted by key."""
    if data.oracle is None:
        return np.empty(0, dtype=np.int64), np.empty(0)
    o = data.oracle.longevity
    known = o["treatment_id"].isin(data.row_of.keys()).to_numpy()
    o = o[known]
    region, side = enum_codes(o["region"], REGION_CODE), enum_codes(o["side"], SIDE_CODE)
    key = _key(data.rows(o["treatment_id"].to_numpy(dtype=object)), region, side)
    order = np.argsort(key)
    return key[order], o["median_days"].to_numpy(dtype=np.float64)[order]


def _lookup(keys: IntArray, values: FloatArray, query: IntArray) -> FloatArray:
    at = np.minimum(np.searchsorted(keys, query), max(len(keys) - 1, 0))
    if len(keys) == 0:
        return np.full(len(query), np.nan)
    out: FloatArray = np.where(keys[at] == query, values[at], np.nan)
    return out


def _mae_and_bias(pred: FloatArray, truth: FloatArray) -> tuple[float, float]:
    """Mean absolute and mean signed error of ``pred`` where ``truth`` is known (NaN: none)."""
    ok = np.isfinite(truth)
    if not ok.any():
        return float("nan"), float("nan")
    return float(mean_absolute_error(truth[ok], pred[ok])), float(np.mean(pred[ok] - truth[ok]))


def _predict_all(
    model: LongevityModel, naive: NaiveLongevityModel, x: Float32Array
) -> tuple[FloatArray, FloatArray, FloatArray]:
    hazards = model.hazards(x)
    return hazards, postprocess.median_days(hazards, model.bin_days), naive.median_days(x)


def evaluate_longevity(
    model: LongevityModel, naive: NaiveLongevityModel, data: TrainingData
) -> LongevityReport:
    """Judge the longevity model, the naive baseline and the oracle on held-out treatments.

    Metrics (``__region_<name>`` suffixes: the same on one region's rows, regions with at least
    ``MIN_GROUP_ROWS`` held-out rows):

    - ``longevity_c_index``, ``longevity_naive_c_index``, ``oracle_longevity_c_index``: Harrell's
      C of the predicted (or true) median against the observed, censored days of the held-out
      ``durations`` rows; ``longevity_c_index_ratio_to_oracle`` and the naive one.
    - ``longevity_median_days_mae_vs_oracle`` / ``_bias_vs_oracle`` (and ``longevity_naive_...``):
      predicted minus true median over every treated (region, side) of the held-out treatments.
    - ``schedule_touch_up_within_10_days_share`` and ``schedule_touch_up_mae_vs_oracle_days``:
      per held-out treated region, its first side's predicted median (the schedule's touch-up
      day, ``serving.schedule``) against the oracle's first side's median.
    - ``longevity_s{90,120,150}_predicted`` / ``_km`` / ``_abs_gap``: mean predicted survival
      against Kaplan-Meier at that day; returns recorded on the training registry's visit
      lattice count in Kaplan-Meier as the model was fitted on them, spread over the interval
      since the visit before (the C-index ranks the recorded days, which a shift leaves alone).
    - ``late_asymmetry_*``: held-out (treatment, region)s with both sides recorded, the risk of
      one side returning >= 21 days before the other against what was seen and the oracle
      (``training.late_asymmetry.evaluate_late_asymmetry``).

    Args:
        model: The hazard model.
        naive: The naive baseline.
        data: Training data; its ``test`` treatments are used.

    Returns:
        The report.
    """
    rows = duration_rows(data, data.test)
    hazards, pred, naive_pred = _predict_all(model, naive, rows.x)
    keys, truth = _oracle_medians(data)
    oracle = _lookup(keys, truth, _key(rows.treatment, rows.region, rows.side))
    m: dict[str, float] = {
        "longevity_rows_test": float(len(rows.days)),
        "longevity_censored_share_test": float(1.0 - rows.returned.mean()),
    }

    grid = np.arange(0.0, model.bin_days * model.n_bins + 1.0, CURVE_STEP_DAYS)
    curves = postprocess.SurvivalCurves(hazards, model.bin_days).survival_at(grid.tolist()).T
    # Kaplan-Meier of the held-out returns as the model takes them: a return recorded on the
    # visit lattice spread over its interval (cut at the grid's days), so that the curves,
    # which are of the return itself, are not compared with a registry's late record of it.
    spread = spread_returns(rows.days, rows.returned, model.visit_lattice, CURVE_STEP_DAYS)
    predicted_survival: dict[str, FloatArray] = {}
    km_survival: dict[str, FloatArray] = {}
    groups: list[tuple[str, BoolArray]] = [("", np.ones(len(rows.days), dtype=bool))]
    for code, name in enumerate(REGIONS):
        mask = rows.region == code
        if mask.sum() >= MIN_GROUP_ROWS:
            groups.append((f"__region_{name}", mask))
    for suffix, mask in groups:
        t, e = rows.days[mask], rows.returned[mask]
        m[f"longevity_c_index{suffix}"] = c_index(t, e, pred[mask])
        m[f"longevity_naive_c_index{suffix}"] = c_index(t, e, naive_pred[mask])
        if np.isfinite(oracle[mask]).all():
            m[f"oracle_longevity_c_index{suffix}"] = c_index(t, e, oracle[mask])
            m[f"longevity_c_index_ratio_to_oracle{suffix}"] = (
                m[f"longevity_c_index{suffix}"] / m[f"oracle_longevity_c_index{suffix}"]
            )
            m[f"longevity_naive_c_index_ratio_to_oracle{suffix}"] = (
                m[f"longevity_naive_c_index{suffix}"] / m[f"oracle_longevity_c_index{suffix}"]
            )
        piece = mask[spread.row]
        km = kaplan_meier(
            spread.days[piece], rows.returned[spread.row][piece], grid, spread.weight[piece]
        )
        mean_curve = curves[mask].mean(axis=0)
        key = suffix.removeprefix("__region_") or "all"
        predicted_survival[key], km_survival[key] = mean_curve, km
        for day in CALIBRATION_DAYS:
            at = int(np.searchsorted(grid, day))
            m[f"longevity_s{day}_predicted{suffix}"] = float(mean_curve[at])
            m[f"longevity_s{day}_km{suffix}"] = float(km[at])
            m[f"longevity_s{day}_abs_gap{suffix}"] = abs(float(mean_curve[at] - km[at]))

    m.update(_median_errors(model, naive, data))
    late = evaluate_late_asymmetry(
        postprocess.SurvivalCurves(hazards, model.bin_days), model.side_dependence, rows, data
    )
    m.update(late.metrics)
    return LongevityReport(
        metrics=m,
        curve_days=grid,
        predicted_survival=predicted_survival,
        km_survival=km_survival,
        region=rows.region,
        side=rows.side,
        days=rows.days,
        returned=rows.returned,
        predicted_median=pred,
        naive_median=naive_pred,
        oracle_median=oracle,
        late=late,
    )


def _median_errors(
    model: LongevityModel, naive: NaiveLongevityModel, data: TrainingData
) -> dict[str, float]:
    """Median-days error against the oracle on every treated (region, side) held out."""
    keys, truth = _oracle_medians(data)
    if len(keys) == 0:
        return {}
    pair = keys // _KEY_SIDES
    treatment, region, side = pair // len(REGIONS), pair % len(REGIONS), keys % _KEY_SIDES
    held = data.test[treatment]
    treatment, region, side, truth = treatment[held], region[held], side[held], truth[held]
    x = longevity_matrix(data.features, treatment, region, side)
    pred = postprocess.median_days(model.hazards(x), model.bin_days)
    naive_pred = naive.median_days(x)
    out: dict[str, float] = {}
    groups: list[tuple[str, BoolArray]] = [("", np.ones(len(truth), dtype=bool))]
    for code, name in enumerate(REGIONS):
        mask = region == code
        if mask.sum() >= MIN_GROUP_ROWS:
            groups.append((f"__region_{name}", mask))
    for suffix, mask in groups:
        mae, bias = _mae_and_bias(pred[mask], truth[mask])
        naive_mae, naive_bias = _mae_and_bias(naive_pred[mask], truth[mask])
        out[f"longevity_median_days_mae_vs_oracle{suffix}"] = mae
        out[f"longevity_median_days_bias_vs_oracle{suffix}"] = bias
        out[f"longevity_naive_median_days_mae_vs_oracle{suffix}"] = naive_mae
        out[f"longevity_naive_median_days_bias_vs_oracle{suffix}"] = naive_bias
    # The schedule's touch-up day of a region is its first side's median: predicted against the
    # oracle's, per held-out treated region (pair is (treatment, region), keys sorted by it).
    starts = np.flatnonzero(np.r_[True, pair[held][1:] != pair[held][:-1]])
    first_pred = np.minimum.reduceat(pred, starts)
    first_true = np.minimum.reduceat(truth, starts)
    within = np.abs(first_pred - first_true) <= TOUCH_UP_WITHIN_DAYS
    out["schedule_touch_up_within_10_days_share"] = float(within.mean())
    out["schedule_touch_up_mae_vs_oracle_days"] = float(np.mean(np.abs(first_pred - first_true)))
    return out
