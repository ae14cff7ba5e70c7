"""Real, tiny LightGBM models on a small simulated registry, wrapped as ``FittedModels``.

Fitted here rather than with the project's fitters so the export and serving tests depend only
on ``training.models`` (the shapes every fitter returns).
"""

from __future__ import annotations

from pathlib import Path

import lightgbm as lgb
import numpy as np

from data.simulate import simulate
from features.longevity import longevity_matrix
from features.spec import FEATURE_INDEX
from training import postprocess
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


def _hazard_booster(data: TrainingData) -> lgb.Booster:
    rows, outcome = longevity_rows(data, data.train)
    expanded = postprocess.expand_bins(rows, BIN_DAYS, N_BINS).reshape(len(rows), N_BINS, -1)
    bin_of = np.minimum(outcome[:, 0] // BIN_DAYS, N_BINS - 1).astype(int)
    k = np.arange(N_BINS)[None, :]
    at_risk = k <= bin_of[:, None]
    event = (k == bin_of[:, None]) & (outcome[:, 1:2] > 0)
    return lgb.train(
        {**_PARAMS, "objective": "binary"},
        lgb.Dataset(expanded[at_risk], event[at_risk].astype(int)),
        num_boost_round=30,
    )


def fit_tiny(data: TrainingData) -> FittedModels:
    x = data.features
    fol = data.registry.followups
    rows = data.rows(fol["treatment_id"].to_numpy())
    train = data.train[rows]
    risk = lgb.train(
        {**_PARAMS, "objective": "binary"},
        lgb.Dataset(
            x[rows[train]],
            fol["visible_asymmetry"].to_numpy().astype(int)[train],
            categorical_feature=_CATEGORICAL,
        ),
        num_boost_round=40,
    )
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
        risk=RiskModel(risk, CALIBRATION),
        differences=DifferenceModels(boosters),
        longevity=LongevityModel(_hazard_booster(data), BIN_DAYS, N_BINS),
    )
