"""The longevity stage: a discrete-time hazard model of when muscle activity returns.

``fit_longevity`` expands the training ``durations`` rows into person-period rows (one per bin
each row was at risk in) and fits a proportional-odds model of the return in that bin given no
return before: a life-table baseline per bin plus a LightGBM margin of the row's inputs.
Censored rows count for as long as they were seen, so censoring does not bias the durations
down. ``fit_naive_longevity`` is the biased baseline the design names: a regression
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

from bundle import postprocess
from data.contract import REGIONS
from features.inputs import LEFT, REGION_CODE, RIGHT, SIDE_CODE
from features.longevity import longevity_matrix
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
BASELINE_BY_REGION: Final = True
"""Baseline log-odds per region and bin (the hazard's shape over time differs by region)."""
BASELINE_PRIOR_EXPOSURE: Final = 50.0
"""Pseudo-rows at the pooled hazard added to each region-bin of the baseline's life table."""
BACKFIT_ROUNDS: Final = 2
"""Fits of the booster, each on the baseline refitted after the one before (two: the second
brings the median error back to the first fit's while keeping the refit's calibration)."""
BASELINE_RIDGE: Final = 5.0
"""Ridge of the baseline's refit towards the life table, in rows at hazard 1/2."""
_MIN_HAZARD: Final = 1e-6

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


@dataclass(frozen=True)
class _HazardSet:
    """Person-period rows of some durations rows (``survival.person_period``).

    Attributes:
        x: Longevity input row of each person-period row (no bin column).
        event: 1 if activity returned in the row's bin.
        weight: Share of the bin the row was at risk (1 but for a censored row's last bin).
        bin: Bin of each row.
        region: Region code of each row.
    """

    x: Float32Array
    event: Float32Array
    weight: Float32Array
    bin: IntArray
    region: IntArray

    def init_score(self, baseline: FloatArray) -> FloatArray:
        """The baseline log-odds of each row's (region,) bin: the booster's offset."""
        group = self.region if len(baseline) > 1 else np.zeros_like(self.region)
        out: FloatArray = baseline[group, self.bin]
        return out


def _hazard_set(rows: DurationRows, bin_days: float, n_bins: int) -> _HazardSet:
    """Person-period rows of ``rows``, one per bin each was at risk in."""
    pp = person_period(rows.days, rows.returned, bin_days, n_bins)
    return _HazardSet(
        x=rows.x[pp.row],
        event=pp.event.astype(np.float32),
        weight=pp.weight.astype(np.float32),
        bin=pp.bin,
        region=rows.region[pp.row],
    )


def _logit(p: FloatArray) -> FloatArray:
    q = np.clip(p, _MIN_HAZARD, 1.0 - _MIN_HAZARD)
    out: FloatArray = np.log(q / (1.0 - q))
    return out


def life_table_baseline(
    event: npt.NDArray[np.floating],
    weight: npt.NDArray[np.floating],
    bin: IntArray,
    region: IntArray,
    n_bins: int,
    by_region: bool,
) -> FloatArray:
    """Baseline log-odds per bin from the life table of person-period rows.

    The hazard of bin k is the weighted event share in it (events over exposure, censored rows
    counting for the share of the bin they were seen: the actuarial estimate), its logit the
    baseline. By region, each region's share is shrunk towards the pooled one by
    ``BASELINE_PRIOR_EXPOSURE`` pseudo-rows, so a region-bin with few rows at risk (or none)
    falls back on the pooled hazard instead of 0 or 1.

    Args:
        event: 1 where activity returned in the row's bin.
        weight: Exposure of each row in its bin.
        bin: Bin of each row.
        region: Region code of each row.
        n_bins: Number of bins.
        by_region: A row per region (``len(REGIONS)`` rows) rather than one pooled row.

    Returns:
        (1, n_bins) or (len(REGIONS), n_bins) baseline log-odds.
    """
    e = np.asarray(event, dtype=np.float64) * weight
    w = np.asarray(weight, dtype=np.float64)
    exposure = np.bincount(bin, weights=w, minlength=n_bins)
    events = np.bincount(bin, weights=e, minlength=n_bins)
    pooled = np.divide(events, exposure, out=np.full(n_bins, 0.5), where=exposure > 0)
    if not by_region:
        return _logit(pooled)[None, :]
    cell = region * n_bins + bin
    size = len(REGIONS) * n_bins
    exposure_rk = np.bincount(cell, weights=w, minlength=size).reshape(len(REGIONS), n_bins)
    events_rk = np.bincount(cell, weights=e, minlength=size).reshape(len(REGIONS), n_bins)
    prior = BASELINE_PRIOR_EXPOSURE
    return _logit((events_rk + prior * pooled) / (exposure_rk + prior))


def refit_baseline(
    baseline: FloatArray, margin: FloatArray, rows: _HazardSet, iterations: int = 20
) -> FloatArray:
    """The baseline's maximum-likelihood values given the booster's margins.

    The booster is fitted with the life-table baseline as a fixed offset; the covariates' shift
    then changes the mean hazard of each bin (a logit is not linear in the shift), which left
    alone mis-calibrates the survival curve by a few points. Newton steps on each baseline cell
    (per bin, or region and bin) with the margins fixed make the weighted mean predicted hazard
    of each cell's rows equal its weighted event share. A small ridge towards the life-table
    value (``BASELINE_RIDGE`` rows' worth of curvature) keeps cells with few rows in place.

    Args:
        baseline: (g, n_bins) life-table baseline (``life_table_baseline``).
        margin: Booster raw margin of each person-period row of ``rows``.
        rows: The person-period rows the booster was fitted on.
        iterations: Newton steps.

    Returns:
        The refitted (g, n_bins) baseline.
    """
    g, n_bins = baseline.shape
    group = rows.region if g > 1 else np.zeros_like(rows.region)
    cell = group * n_bins + rows.bin
    w = rows.weight.astype(np.float64)
    y = rows.event.astype(np.float64)
    start = baseline.ravel()
    alpha = start.copy()
    for _ in range(iterations):
        p = np.exp(-np.logaddexp(0.0, -(alpha[cell] + margin)))
        ridge = BASELINE_RIDGE * 0.25  # curvature of that many rows at hazard 1/2
        grad = np.bincount(cell, weights=w * (y - p), minlength=g * n_bins) - ridge * (
            alpha - start
        )
        hess = np.bincount(cell, weights=w * p * (1.0 - p), minlength=g * n_bins) + ridge
        alpha = alpha + grad / hess
    out: FloatArray = alpha.reshape(g, n_bins)
    return out


def _boost(
    params: dict[str, Any],
    train: tuple[Float32Array, Float32Array, Float32Array | None, FloatArray | None],
    valid: tuple[Float32Array, Float32Array, Float32Array | None, FloatArray | None],
    seed: int,
) -> lgb.Booster:
    """Fit with early stopping on ``valid`` ((x, y, weight, init score) each)."""
    full = {**params, "seed": seed, "deterministic": True, "force_col_wise": True}
    dtrain = lgb.Dataset(
        train[0], train[1], weight=train[2], init_score=train[3], free_raw_data=True
    )
    dvalid = lgb.Dataset(valid[0], valid[1], weight=valid[2], init_score=valid[3], reference=dtrain)
    return lgb.train(
        full,
        dtrain,
        num_boost_round=MAX_ROUNDS,
        valid_sets=[dvalid],
        callbacks=[lgb.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False)],
    )


def fit_longevity(
    data: TrainingData,
    seed: int = 0,
    bin_days: float = 30.0,
    n_bins: int = 12,
    by_region: bool = BASELINE_BY_REGION,
) -> LongevityModel:
    """Fit the discrete-time, proportional-odds hazard model of the return of muscle activity.

    Each training ``durations`` row becomes one row per bin it was at risk in
    (``survival.person_period``: the event in the bin of the return, a censored row's last bin
    weighted by the share of it seen). The model is logit h_k(x) = alpha_k + f(x): the baseline
    alpha (per bin, or per region and bin) is the logit of the life table's hazard of the
    fitting rows (``life_table_baseline``), and the booster f, on the longevity inputs without
    any bin column, is fitted on the person-period rows with alpha of each row's bin as init
    score; alpha is then refitted given f (``refit_baseline``, which restores the calibration of
    the survival curve), and f fitted again on the new alpha, which it then refits
    (``BACKFIT_ROUNDS`` in all). So the covariates shift the hazard's log-odds by the same amount
    in every bin, and f is evaluated once per row rather than once per bin. Early stopping uses a
    random fifth of the training patients.

    Args:
        data: Training data; its ``train`` treatments are used.
        seed: Seed of the validation split and of LightGBM's bagging.
        bin_days: Bin width in days.
        n_bins: Number of bins (survival past the last one goes on at its hazard).
        by_region: One baseline per region (else one pooled baseline).

    Returns:
        The fitted model.
    """
    rows = duration_rows(data, data.train)
    valid = _patient_split(rows.patient, seed)
    fit_set = _hazard_set(rows.subset(~valid), bin_days, n_bins)
    valid_set = _hazard_set(rows.subset(valid), bin_days, n_bins)
    baseline = life_table_baseline(
        fit_set.event, fit_set.weight, fit_set.bin, fit_set.region, n_bins, by_region
    )

    def arrays(
        s: _HazardSet, alpha: FloatArray
    ) -> tuple[Float32Array, Float32Array, Float32Array | None, FloatArray | None]:
        return s.x, s.event, s.weight, s.init_score(alpha)

    booster: lgb.Booster | None = None
    for _ in range(BACKFIT_ROUNDS):
        booster = _boost(
            dict(HAZARD_PARAMS), arrays(fit_set, baseline), arrays(valid_set, baseline), seed
        )
        margin = np.asarray(booster.predict(fit_set.x, raw_score=True), dtype=np.float64)
        baseline = refit_baseline(baseline, margin, fit_set)
    assert booster is not None  # BACKFIT_ROUNDS >= 1
    return LongevityModel(booster=booster, baseline=baseline, bin_days=bin_days)


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
        (rows.x[~valid], y[~valid], None, None),
        (rows.x[valid], y[valid], None, None),
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
    curves = postprocess.SurvivalCurves(hazards, model.bin_days).survival_at(grid.tolist()).T
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
