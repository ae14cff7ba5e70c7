"""Real, tiny LightGBM models on a small simulated registry, wrapped as ``FittedModels``.

Fitted here rather than with the project's fitters so the export and serving tests depend only
on ``training.models`` (the shapes every fitter returns).
"""

from __future__ import annotations

from pathlib import Path

import lightgbm as lgb
import numpy as np

from bundle.heads import OUTCOMES
from data.contract import REGIONS
from data.simulate import simulate
from features.longevity import LONGEVITY_INDEX, longevity_matrix
from features.spec import FEATURE_INDEX
from training.dataset import TrainingData, load_training_data
from training.models import (
    DIFF_TARGETS,
    QUANTILES,
    DifferenceModels,
    FittedModels,
    LongevityModel,
    RiskModel,
)

BIN_DAYS = 30.0
N_BINS = 12
CALIBRATION = (0.9, -0.1)
_PARAMS = {"verbose": -1, "num_leaves": 7, "min_data_in_leaf": 10, "num_threads": 1}
# Categorical splits take a different path through the ONNX converter: exercise it.
_CATEGORICAL = [FEATURE_INDEX["product"], FEATURE_INDEX["ancestry"]]


def simulated_data(folder: Path, n: int = 2000, seed: int = 5) -> TrainingData:
    simulate(n, folder, seed=seed)
    return load_training_data(folder)


def longevity_rows(data: TrainingData, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Longevity rows and (days, returned) of the durations of the treatments in ``mask``."""
    dur = data.registry.durations
    dur = dur[dur["treatment_id"].isin(set(data.treatment_ids[mask]))]
    rows = longevity_matrix(
        data.features,
        data.rows(dur["treatment_id"].to_numpy()),
        dur["region"].cat.codes.to_numpy().astype(np.int64),
        dur["side"].cat.codes.to_numpy().astype(np.int64),
    )
    return rows, np.column_stack([dur["days"].to_numpy(), dur["returned"].to_numpy()])


def _hazard_model(data: TrainingData) -> LongevityModel:
    """Proportional-odds hazard: a per-region baseline (the life table, crudely) plus a booster
    fitted on the person-period rows with it as init score."""
    rows, outcome = longevity_rows(data, data.train)
    bin_of = np.minimum(outcome[:, 0] // BIN_DAYS, N_BINS - 1).astype(int)
    k = np.arange(N_BINS)[None, :]
    at_risk = k <= bin_of[:, None]
    event = (k == bin_of[:, None]) & (outcome[:, 1:2] > 0)
    region = np.broadcast_to(rows[:, LONGEVITY_INDEX["region"]].astype(int)[:, None], at_risk.shape)
    bins = np.broadcast_to(k, at_risk.shape)
    # Event share per (region, bin) with one pseudo-event in ten pseudo-rows: no 0 or 1 cells.
    shape = (len(REGIONS), N_BINS)
    events = np.zeros(shape)
    exposure = np.zeros(shape)
    np.add.at(events, (region[at_risk], bins[at_risk]), event[at_risk])
    np.add.at(exposure, (region[at_risk], bins[at_risk]), 1.0)
    share = (events + 1.0) / (exposure + 10.0)
    baseline = np.log(share / (1.0 - share))
    x = np.broadcast_to(rows[:, None, :], (*at_risk.shape, rows.shape[1]))[at_risk]
    booster = lgb.train(
        {**_PARAMS, "objective": "binary"},
        lgb.Dataset(
            x, event[at_risk].astype(int), init_score=baseline[region[at_risk], bins[at_risk]]
        ),
        num_boost_round=30,
    )
    return LongevityModel(booster, baseline, BIN_DAYS)


def fit_tiny(data: TrainingData) -> FittedModels:
    x = data.features
    fol = data.registry.followups
    rows = data.rows(fol["treatment_id"].to_numpy())
    train = data.train[rows]
    risks = {
        o.name: RiskModel(
            lgb.train(
                {**_PARAMS, "objective": "binary"},
                lgb.Dataset(
                    x[rows[train]],
                    fol[o.target].to_numpy().astype(int)[train],
                    categorical_feature=_CATEGORICAL,
                ),
                num_boost_round=40,
            ),
            CALIBRATION,
        )
        for o in OUTCOMES
    }
    boosters: dict[str, dict[str, lgb.Booster]] = {}
    for target in DIFF_TARGETS:
        y = fol[target].to_numpy(dtype=float, na_value=np.nan)
        ok = train & np.isfinite(y)
        ds = lgb.Dataset(x[rows[ok]], y[ok], free_raw_data=False)
        boosters[target] = {
            key: lgb.train(
                {**_PARAMS, "objective": "quantile", "alpha": level}, ds, num_boost_round=25
            )
            for key, level in QUANTILES
        }
    return FittedModels(
        risks=risks,
        differences=DifferenceModels(boosters),
        longevity=_hazard_model(data),
    )
