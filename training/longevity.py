"""The longevity stage: a discrete-time hazard model of when muscle activity returns.

``fit_longevity`` expands the training ``durations`` rows into person-period rows (one per bin
each row was at risk in) and fits a LightGBM binary model of the return in that bin given no
return before: censored rows count for as long as they were seen, so censoring does not bias
the durations down. ``fit_naive_longevity`` is the biased baseline the design names: a regression
of log(days) on the returned rows only. ``evaluate_longevity`` compares both with the simulator's
oracle on held-out treatments.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import pandas as pd

from data.contract import REGIONS
from features.inputs import LEFT, REGION_CODE, RIGHT, SIDE_CODE
from features.longevity import longevity_matrix
from training import postprocess
from training.dataset import TrainingData
from training.models import LongevityModel
from training.survival import auc, c_index, kaplan_meier, person_period

FloatArray = npt.NDArray[np.float64]
Float32Array = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

VALID_FRACTION: Final = 0.2
"""Share of training patients held out for early stopping."""
MAX_ROUNDS: Final = 2000
EARLY_STOPPING_ROUNDS: Final = 50
CALIBRATION_DAYS: Final = (90, 120, 150)
MIN_GROUP_ROWS: Final = 200
"""Per-region metrics only for regions with at least this many held-out rows."""

HAZARD_PARAMS: Final = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_data_in_leaf": 200,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "max_bin": 255,
    "num_threads": 2,
    "verbose": -1,
}
"""LightGBM parameters of the hazard model."""

NAIVE_PARAMS: Final = {
    "objective": "regression",
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_data_in_leaf": 100,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "num_threads": 2,
    "verbose": -1,
}
"""LightGBM parameters of the naive baseline."""


@dataclass(frozen=True)
class DurationRows:
    """``durations`` rows of some treatments with their longevity inputs.

    Attributes:
        treatment: Row of each duration row's treatment in ``TrainingData.features``.
        region: Region code.
        side: Side code.
        days: Recorded days.
        returned: Whether activity returned at ``days`` (else censored).
        x: Longevity input rows (``features.longevity``).
        patient: patient_id of each row (for grouped splits).
    """

    treatment: IntArray
    region: IntArray
    side: IntArray
    days: FloatArray
    returned: BoolArray
    x: Float32Array
    patient: npt.NDArray[np.object_]

    def subset(self, mask: BoolArray) -> DurationRows:
        """The rows where ``mask`` is True."""
        return DurationRows(
            self.treatment[mask],
            self.region[mask],
            self.side[mask],
            self.days[mask],
            self.returned[mask],
            self.x[mask],
            self.patient[mask],
        )


def _codes(column: pd.Series, codes: Mapping[str, int]) -> IntArray:
    """Contract enum codes of a column of enum names."""
    return np.asarray(column.astype(str).map(codes), dtype=np.int64)


def duration_rows(data: TrainingData, treatments: BoolArray) -> DurationRows:
    """The registry's ``durations`` rows of the treatments where ``treatments`` is True.

    Args:
        data: Training data.
        treatments: Mask over the rows of ``data.features``.

    Returns:
        The rows and their longevity inputs.
    """
    d = data.registry.tables["durations"]
    t = data.rows(d["treatment_id"].to_numpy(dtype=object))
    keep = treatments[t]
    t = t[keep]
    region = _codes(d["region"], REGION_CODE)[keep]
    side = _codes(d["side"], SIDE_CODE)[keep]
    patients = data.registry.treatments["patient_id"].to_numpy(dtype=object)
    return DurationRows(
        treatment=t,
        region=region,
        side=side,
        days=d["days"].to_numpy(dtype=np.float64)[keep],
        returned=d["returned"].to_numpy(dtype=bool)[keep],
        x=longevity_matrix(data.features, t, region, side),
        patient=patients[t],
    )


def _patient_split(patient: npt.NDArray[np.object_], seed: int) -> BoolArray:
    """Mask of rows whose patient falls in a random VALID_FRACTION of the patients."""
    uniq, inverse = np.unique(patient.astype(str), return_inverse=True)
    rng = np.random.default_rng(seed)
    valid_patients = rng.random(len(uniq)) < VALID_FRACTION
    out: BoolArray = valid_patients[inverse]
    return out


def _hazard_set(
    rows: DurationRows, bin_days: float, n_bins: int
) -> tuple[Float32Array, Float32Array, Float32Array | None]:
    """Person-period matrix (``postprocess.expand_bins`` layout), events and weights."""
    pp = person_period(rows.days, rows.returned, bin_days, n_bins)
    x = np.empty((len(pp.row), rows.x.shape[1] + 1), dtype=np.float32)
    x[:, :-1] = rows.x[pp.row]
    x[:, -1] = (pp.bin * bin_days).astype(np.float32)
    return x, pp.event.astype(np.float32), pp.weight.astype(np.float32)


def _boost(
    params: dict[str, Any],
    train: tuple[Float32Array, Float32Array, Float32Array | None],
    valid: tuple[Float32Array, Float32Array, Float32Array | None],
    seed: int,
) -> lgb.Booster:
    """Fit with early stopping on ``valid`` ((x, y, weight) each)."""
    full = {**params, "seed": seed, "deterministic": True, "force_col_wise": True}
    dtrain = lgb.Dataset(train[0], train[1], weight=train[2], free_raw_data=True)
    dvalid = lgb.Dataset(valid[0], valid[1], weight=valid[2], reference=dtrain)
    return lgb.train(
        full,
        dtrain,
        num_boost_round=MAX_ROUNDS,
        valid_sets=[dvalid],
        callbacks=[lgb.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False)],
    )


def fit_longevity(
    data: TrainingData, seed: int = 0, bin_days: float = 30.0, n_bins: int = 12
) -> LongevityModel:
    """Fit the discrete-time hazard model of the return of muscle activity.

    Each training ``durations`` row becomes one row per bin it was at risk in
    (``survival.person_period``: the event in the bin of the return, a censored row's last bin
    weighted by the share of it seen); the booster learns P(return in bin | none before) from the
    longevity inputs plus the bin's start day as the last column, which lets the hazard's shape
    over time differ between rows. Early stopping uses a random fifth of the training patients.

    Args:
        data: Training data; its ``train`` treatments are used.
        seed: Seed of the validation split and of LightGBM's bagging.
        bin_days: Bin width in days.
        n_bins: Number of bins (survival past the last one goes on at its hazard).

    Returns:
        The fitted model.
    """
    rows = duration_rows(data, data.train)
    valid = _patient_split(rows.patient, seed)
    train_set = _hazard_set(rows.subset(~valid), bin_days, n_bins)
    valid_set = _hazard_set(rows.subset(valid), bin_days, n_bins)
    booster = _boost(dict(HAZARD_PARAMS), train_set, valid_set, seed)
    return LongevityModel(booster=booster, bin_days=bin_days, n_bins=n_bins)


@dataclass(frozen=True)
class NaiveLongevityModel:
    """The biased baseline: log(days) regressed on the rows whose activity was seen to return.

    Attributes:
        booster: LightGBM regression of log(days) on the longevity inputs (no bin column).
    """

    booster: lgb.Booster

    def median_days(self, rows: Float32Array) -> FloatArray:
        """Predicted median days per longevity input row (exp of the predicted mean log)."""
        out: FloatArray = np.exp(np.asarray(self.booster.predict(rows), dtype=np.float64))
        return out


def fit_naive_longevity(data: TrainingData, seed: int = 0) -> NaiveLongevityModel:
    """Fit the naive baseline: LightGBM on log(days) of the returned training rows only.

    It ignores censored rows, so long durations (those more often censored) are under-counted
    and its medians run short; it is reported beside the hazard model, never served.

    Args:
        data: Training data; its ``train`` treatments are used.
        seed: Seed of the validation split and of LightGBM's bagging.

    Returns:
        The fitted baseline.
    """
    rows = duration_rows(data, data.train)
    rows = rows.subset(rows.returned)
    valid = _patient_split(rows.patient, seed)
    y = np.log(rows.days).astype(np.float32)
    booster = _boost(
        dict(NAIVE_PARAMS),
        (rows.x[~valid], y[~valid], None),
        (rows.x[valid], y[valid], None),
        seed,
    )
    return NaiveLongevityModel(booster=booster)


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
        late_risk: Predicted late-stage asymmetry risk per held-out (treatment, region) with
            both sides recorded.
        late_observed: Per such pair: 1 if both returned and |T_L - T_R| >= 21 days, 0 if both
            returned closer, NaN if a side was censored.
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
    late_risk: FloatArray
    late_observed: FloatArray


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
    region, side = _codes(o["region"], REGION_CODE), _codes(o["side"], SIDE_CODE)
    key = _key(data.rows(o["treatment_id"].to_numpy(dtype=object)), region, side)
    order = np.argsort(key)
    return key[order], o["median_days"].to_numpy(dtype=np.float64)[order]


def _lookup(keys: IntArray, values: FloatArray, query: IntArray) -> FloatArray:
    at = np.minimum(np.searchsorted(keys, query), max(len(keys) - 1, 0))
    if len(keys) == 0:
        return np.full(len(query), np.nan)
    out: FloatArray = np.where(keys[at] == query, values[at], np.nan)
    return out


def _mae(pred: FloatArray, truth: FloatArray) -> tuple[float, float]:
    ok = np.isfinite(truth)
    if not ok.any():
        return float("nan"), float("nan")
    err = pred[ok] - truth[ok]
    return float(np.abs(err).mean()), float(err.mean())


def _late_pairs(rows: DurationRows) -> tuple[IntArray, IntArray]:
    """Indices (left row, right row) of held-out (treatment, region)s with both sides."""
    pair = rows.treatment * len(REGIONS) + rows.region
    left = np.flatnonzero(rows.side == LEFT)
    right = np.flatnonzero(rows.side == RIGHT)
    order = np.argsort(pair[right])
    sorted_right = pair[right][order]
    at = np.minimum(np.searchsorted(sorted_right, pair[left]), max(len(right) - 1, 0))
    if len(right) == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    match = sorted_right[at] == pair[left]
    return left[match], right[order][at[match]]


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
    - ``longevity_s{90,120,150}_predicted`` / ``_km`` / ``_abs_gap``: mean predicted survival
      against Kaplan-Meier at that day.
    - ``late_asymmetry_*``: for held-out (treatment, region)s with both sides recorded, the mean
      predicted risk of one side returning >= 21 days before the other; where both returned, the
      observed rate, the mean prediction on those pairs and the prediction's AUC.

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

    grid = np.arange(0.0, model.bin_days * model.n_bins + 1.0, 5.0)
    curves = np.stack([postprocess.survival_at(hazards, t, model.bin_days) for t in grid], axis=1)
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
        km = kaplan_meier(t, e, grid)
        mean_curve = curves[mask].mean(axis=0)
        key = suffix.removeprefix("__region_") or "all"
        predicted_survival[key], km_survival[key] = mean_curve, km
        for day in CALIBRATION_DAYS:
            at = int(np.searchsorted(grid, day))
            m[f"longevity_s{day}_predicted{suffix}"] = float(mean_curve[at])
            m[f"longevity_s{day}_km{suffix}"] = float(km[at])
            m[f"longevity_s{day}_abs_gap{suffix}"] = abs(float(mean_curve[at] - km[at]))

    m.update(_median_errors(model, naive, data))
    late_risk, late_observed = _late(model, hazards, rows, m)
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
        late_risk=late_risk,
        late_observed=late_observed,
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
        mae, bias = _mae(pred[mask], truth[mask])
        naive_mae, naive_bias = _mae(naive_pred[mask], truth[mask])
        out[f"longevity_median_days_mae_vs_oracle{suffix}"] = mae
        out[f"longevity_median_days_bias_vs_oracle{suffix}"] = bias
        out[f"longevity_naive_median_days_mae_vs_oracle{suffix}"] = naive_mae
        out[f"longevity_naive_median_days_bias_vs_oracle{suffix}"] = naive_bias
    return out


def _late(
    model: LongevityModel, hazards: FloatArray, rows: DurationRows, m: dict[str, float]
) -> tuple[FloatArray, FloatArray]:
    """Late-stage asymmetry of held-out pairs of sides; adds its metrics to ``m``."""
    left, right = _late_pairs(rows)
    risk = postprocess.late_asymmetry(hazards[left], hazards[right], model.bin_days)
    both = rows.returned[left] & rows.returned[right]
    gap = np.abs(rows.days[left] - rows.days[right]) >= postprocess.LATE_GAP_DAYS
    observed = np.where(both, gap * 1.0, np.nan)
    m["late_asymmetry_pairs"] = float(len(left))
    m["late_asymmetry_predicted_mean"] = float(risk.mean()) if len(left) else float("nan")
    m["late_asymmetry_observed_pairs"] = float(both.sum())
    if both.any():
        m["late_asymmetry_observed_rate"] = float(gap[both].mean())
        m["late_asymmetry_predicted_mean_observed"] = float(risk[both].mean())
        m["late_asymmetry_auc"] = auc(risk[both], gap[both])
    return risk, observed
