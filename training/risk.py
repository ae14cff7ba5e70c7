"""Binary outcomes at review: one calibrated LightGBM classifier per ``bundle.heads.OUTCOMES``.

The asymmetry risk (visible asymmetry at the two-week review) and the ptosis risks are fitted and
evaluated alike, each on its own ``followups`` column. Fitted on the reviewed treatments of the
training patients. Those patients are split, by
patient, into a fit part and a calibration part: the booster is fitted on the first with early
stopping on the second, and Platt scaling of its logit is fitted on the second, so neither the
number of trees nor the calibration is chosen on rows the trees were grown on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import pandas as pd

from bundle.heads import OUTCOMES, Outcome
from training import metrics
from training.dataset import TrainingData
from training.decision_curve import net_benefit
from training.models import FIT_THREADS, RiskModel
from training.split import hold_back_patients

FloatArray = npt.NDArray[np.float64]
Float32Array = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]

CALIBRATION_SHARE: Final = 0.2
"""Share of training patients held back to choose the number of trees (early stopping)."""
CALIBRATION_FOLDS: Final = 5
"""Patient folds of the out-of-fold predictions that Platt scaling is fitted on."""
REFIT_GROWTH: Final = 1.2
"""Trees of the final fit on all training patients, relative to the early-stopped count."""
MAX_ROUNDS: Final = 3000
EARLY_STOPPING_ROUNDS: Final = 100
TREE_PARAMS: Final[Mapping[str, Any]] = {
    # Held-out AUC on a 20k registry is flat (within 0.003) over 7-31 leaves, lr 0.01-0.05 and
    # feature_fraction 0.5-0.9, and monotone constraints change nothing: the gap to the oracle
    # is information, not tuning (benchmarks/risk_ceiling.py). Small trees calibrate a bit better.
    "num_leaves": 15,
    "min_data_in_leaf": 50,
    "lambda_l2": 5.0,
    "feature_fraction": 0.7,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "num_threads": FIT_THREADS,
    "deterministic": True,
    "force_row_wise": True,
    "verbosity": -1,
}
"""Tree settings shared by the risk and the difference models."""
PARAMS: Final[Mapping[str, Any]] = {**TREE_PARAMS, "objective": "binary", "learning_rate": 0.03}
"""LightGBM parameters; ``seed`` is added per fit."""
THRESHOLDS: Final = (0.1, 0.2, 0.3)
"""Decision thresholds reported as scalar metrics (an injector changes the plan above pt)."""
CURVE_THRESHOLDS: Final = tuple(float(t) for t in np.round(np.arange(0.01, 0.81, 0.01), 2))
"""Thresholds of the decision-curve table."""
SUBGROUPS: Final = ("sex", "ancestry", "product", "clinic_id")
"""``treatments`` columns reported by subgroup (``clinic_id`` is named ``clinic``)."""
MIN_EVENTS: Final = 5
"""Fewest events (and non-events) among the training reviews that a classifier is fitted on."""
BOOTSTRAP: Final = 200
"""Bootstrap resamples of the held-out rows behind each 95% interval (fixed seed)."""


def _reviewed(
    data: TrainingData, outcome: Outcome
) -> tuple[npt.NDArray[np.int64], FloatArray, BoolArray]:
    """Feature rows, outcomes (0/1) and training mask of the treatments with a review."""
    fol = data.registry.followups
    rows = data.rows(fol["treatment_id"].to_numpy())
    y = fol[outcome.target].to_numpy(dtype=np.float64)
    return rows, y, data.train[rows]


def fit_risk(
    data: TrainingData,
    seed: int = 0,
    outcome: Outcome = OUTCOMES[0],
    features: Float32Array | None = None,
) -> RiskModel:
    """Fit the calibrated classifier of one outcome on the training patients' reviewed treatments.

    Args:
        data: Training data; only rows in ``data.train`` with a review are used.
        seed: Seed of the patient split and of LightGBM's bagging.
        outcome: The outcome (default: visible asymmetry).
        features: Another input matrix, rows as ``data.features`` (the plain baseline's);
            default ``data.features``.

    Returns:
        The booster (refitted on every training patient) and its Platt scaling (fitted on
        out-of-fold predictions).

    Raises:
        ValueError: Too few reviewed training treatments, events or non-events to fit.
    """
    rows, y, train = _reviewed(data, outcome)
    rows, y = rows[train], y[train]
    events = int(y.sum())
    if min(events, len(y) - events) < MIN_EVENTS:
        raise ValueError(
            f"{outcome.target}: {events} events among {len(y)} reviewed training treatments; "
            f"fitting its model needs at least {MIN_EVENTS} events and {MIN_EVENTS} without"
        )
    patients = data.registry.treatments["patient_id"].to_numpy(dtype=object)[rows]
    held = hold_back_patients(patients, CALIBRATION_SHARE, seed)
    for part, name in ((~held, "fit"), (held, "early-stopping")):
        if part.sum() < 20:
            raise ValueError(f"{outcome.target}: the {name} part needs >= 20 treatments")
    x = (data.features if features is None else features)[rows]
    params = {**PARAMS, "seed": seed}
    # 1. The number of trees, chosen per run: early stopping on held-back training patients.
    fit_set = lgb.Dataset(x[~held], y[~held], free_raw_data=True)
    probe = lgb.train(
        params,
        fit_set,
        num_boost_round=MAX_ROUNDS,
        valid_sets=[lgb.Dataset(x[held], y[held], reference=fit_set)],
        callbacks=[lgb.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False)],
    )
    rounds = probe.best_iteration
    # 2. Platt scaling on out-of-fold predictions of every training patient (folds by patient):
    # five times the calibration data of one held-back part, which steadies the slope (20k
    # registries, seeds 0-2: held-out calibration slope 1.04/1.14/0.98 -> 1.00/1.03/1.01).
    codes = np.unique(patients, return_inverse=True)[1]
    fold = np.random.default_rng(seed).integers(0, CALIBRATION_FOLDS, codes.max() + 1)[codes]
    oof = np.empty(len(y))
    for k in range(CALIBRATION_FOLDS):
        fold_model = lgb.train(
            params, lgb.Dataset(x[fold != k], y[fold != k]), num_boost_round=rounds
        )
        oof[fold == k] = fold_model.predict(x[fold == k], num_threads=FIT_THREADS)
    slope, intercept = metrics.platt(y, oof)
    # 3. The served model: every training patient, with trees in proportion to the extra data.
    booster = lgb.train(
        params, lgb.Dataset(x, y), num_boost_round=max(1, round(rounds * REFIT_GROWTH))
    )
    return RiskModel(booster=booster, calibration=(slope, intercept))


@dataclass(frozen=True)
class RiskReport:
    """Held-out performance of a binary outcome's model.

    Attributes:
        metrics: Scalar metrics by stable name (see ``evaluate_risk``).
        y: Held-out outcomes.
        p: The model's calibrated probabilities for them.
        p_oracle: The simulator's true probabilities, or None without an oracle.
        treatment_ids: treatment_id of each held-out row.
        decision_curve: One row per threshold of ``CURVE_THRESHOLDS``: columns ``threshold``,
            ``model``, ``treat_all`` (net benefits; treat-none is 0) and, with an oracle,
            ``oracle``.
    """

    metrics: dict[str, float]
    y: BoolArray
    p: FloatArray
    p_oracle: FloatArray | None
    treatment_ids: npt.NDArray[np.object_]
    decision_curve: pd.DataFrame


def _headline(y: FloatArray, p: FloatArray, prefix: str, treat_all: bool) -> dict[str, float]:
    out = metrics.binary_figures(y, p, prefix)
    curve = net_benefit(y, p, THRESHOLDS)
    for t, nb, all_ in zip(THRESHOLDS, curve.model, curve.treat_all, strict=True):
        out[f"{prefix}net_benefit_t{round(t * 100)}"] = float(nb)
        if treat_all:  # the same for every model of the same rows
            out[f"{prefix}net_benefit_treat_all_t{round(t * 100)}"] = float(all_)
    return out


def _intervals(y: FloatArray, p: FloatArray, prefix: str) -> dict[str, float]:
    """95% intervals: AUC, Brier, O/E, calibration intercept by bootstrap; the slope's Wald.

    Rare outcomes (ptosis: about 1% of reviews) rest on a few dozen held-out events: the
    interval, not the point, says how much the figure can be trusted. Observed against expected
    events (the sum of the probabilities) is calibration-in-the-large.
    """
    out = {
        f"{prefix}events_test": float(y.sum()),
        f"{prefix}expected_events_test": float(p.sum()),
    }
    rng = np.random.default_rng(0)
    draws: dict[str, list[float]] = {
        "brier": [],
        "observed_expected": [],
        "auc": [],
        "calibration_intercept": [],
    }
    for _ in range(BOOTSTRAP):
        i = rng.integers(0, len(y), len(y))
        draws["brier"].append(metrics.brier(y[i], p[i]))
        draws["observed_expected"].append(y[i].sum() / p[i].sum())
        if len(np.unique(y[i])) == 2:
            draws["auc"].append(metrics.auc(y[i], p[i]))
            draws["calibration_intercept"].append(metrics.calibration_in_the_large(y[i], p[i]))
    out[f"{prefix}observed_expected"] = out[f"{prefix}events_test"] / max(p.sum(), 1e-12)
    for name, values in draws.items():
        if len(values) >= BOOTSTRAP // 2:  # most resamples had both outcomes
            low, high = np.percentile(values, [2.5, 97.5])
            out[f"{prefix}{name}_ci_low"], out[f"{prefix}{name}_ci_high"] = low, high
    if len(np.unique(y)) == 2:
        low, high = metrics.calibration_slope_interval(y, p)
        out[f"{prefix}calibration_slope_ci_low"], out[f"{prefix}calibration_slope_ci_high"] = (
            low,
            high,
        )
    return out


def _subgroups(
    y: FloatArray, p: FloatArray, treatments: pd.DataFrame, prefix: str
) -> dict[str, float]:
    out: dict[str, float] = {}
    for column in SUBGROUPS:
        name = "clinic" if column == "clinic_id" else column
        groups = treatments[column].astype(object).to_numpy()
        values = {"y": y, "p": p}
        for metric, fn in (("auc", metrics.auc), ("brier", metrics.brier)):
            for label, v in metrics.by_group(values, groups, fn).items():
                out[f"{prefix}{metric}__{name}_{label}"] = v
        for label, n in metrics.by_group(values, groups, lambda y, p: float(len(y))).items():
            out[f"{prefix}n_test__{name}_{label}"] = n
    return out


def evaluate_risk(
    model: RiskModel, data: TrainingData, outcome: Outcome = OUTCOMES[0]
) -> RiskReport:
    """Evaluate an outcome's model on the held-out reviewed treatments, beside the oracle.

    Metric names, with P the outcome's ``metric_prefix`` (``risk`` for visible asymmetry):
    ``P_auc``, ``P_brier``, ``P_log_loss``, ``P_calibration_slope``,
    ``P_calibration_intercept`` (AUC and calibration only when the held-out rows have both
    outcomes), ``P_net_benefit_t{10,20,30}``, ``P_net_benefit_treat_all_t{10,20,30}``,
    ``P_n_test``, ``P_prevalence``, ``P_events_test``, ``P_expected_events_test``,
    ``P_observed_expected`` (calibration-in-the-large: events over the sum of the
    probabilities), ``P_{auc,brier,calibration_slope,calibration_intercept,
    observed_expected}_ci_{low,high}`` (95%: bootstrap, the slope's Wald); per subgroup
    ``P_{auc,brier,n_test}__{sex,ancestry,product,clinic}_<value>`` (groups under
    ``metrics.MIN_GROUP_N`` rows or with one outcome left out); with an oracle the headline ones
    again (but treat-all) as ``oracle_P_*`` and ``P_{auc,brier,log_loss}_ratio_to_oracle``.

    Args:
        model: The fitted model.
        data: Training data; rows in ``data.test`` with a review are evaluated.
        outcome: The outcome (default: visible asymmetry).

    Returns:
        The report.

    Raises:
        ValueError: No held-out reviewed treatments.
    """
    rows, y, _ = _reviewed(data, outcome)
    test = data.test[rows]
    rows, y = rows[test], y[test]
    if len(y) == 0:
        raise ValueError(f"{outcome.target}: no reviewed treatment in the held-out period")
    prefix = f"{outcome.metric_prefix}_"
    p = model.predict(data.features[rows])
    ids = data.treatment_ids[rows]
    out = _headline(y, p, prefix, treat_all=True)
    out[f"{prefix}n_test"] = float(len(y))
    out[f"{prefix}prevalence"] = float(y.mean())
    out |= _intervals(y, p, prefix)
    out |= _subgroups(y, p, data.registry.treatments.iloc[rows], prefix)

    curve = net_benefit(y, p, CURVE_THRESHOLDS)
    table = pd.DataFrame(
        {"threshold": curve.thresholds, "model": curve.model, "treat_all": curve.treat_all}
    )
    p_oracle: FloatArray | None = None
    if data.oracle is not None:
        truth = data.oracle.asymmetry[f"p_{outcome.target}"]
        p_oracle = truth.reindex(ids).to_numpy(dtype=np.float64)
        if np.isnan(p_oracle).any():
            raise ValueError(f"{outcome.target}: the oracle lacks some held-out treatments")
        out.update(_headline(y, p_oracle, f"oracle_{prefix}", treat_all=False))
        for name in ("auc", "brier", "log_loss"):
            if f"{prefix}{name}" in out:
                ratio = out[f"{prefix}{name}"] / out[f"oracle_{prefix}{name}"]
                out[f"{prefix}{name}_ratio_to_oracle"] = ratio
        table["oracle"] = net_benefit(y, p_oracle, CURVE_THRESHOLDS).model
    return RiskReport(
        metrics=out,
        y=y.astype(bool),
        p=p,
        p_oracle=p_oracle,
        treatment_ids=ids,
        decision_curve=table,
    )
