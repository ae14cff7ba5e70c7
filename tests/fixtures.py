"""Real, small LightGBM models on a small simulated registry, wrapped as ``FittedModels``.

The tests' shared models (``tests/conftest.py``) and the prediction benchmark
(``benchmarks/bench_predict.py``) both come from ``fit_small_models``. The hazard model is the
training code's own ``fit_longevity`` with small trees and a fixed number of rounds; the risk and
difference boosters are plain fits of the production objectives (their fitting logic, early
stopping, calibration and conformal widening, has its own tests in tests/training).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import lightgbm as lgb
import numpy as np

from bundle.heads import OUTCOMES
from data.simulate import simulate
from features.spec import FEATURE_INDEX
from training.dataset import TrainingData, load_training_data
from training.longevity import HAZARD_PARAMS, fit_longevity
from training.models import (
    DIFF_TARGETS,
    QUANTILES,
    DifferenceModels,
    FittedModels,
    RiskModel,
)

CALIBRATION: Final = (0.9, -0.1)
"""Platt scaling of the small risk model: not the identity, so the bundle must carry it."""
# Categorical splits take a different path through the ONNX converter: exercise it.
_CATEGORICAL: Final = [FEATURE_INDEX["product"], FEATURE_INDEX["ancestry"]]


def simulated_data(folder: Path, n: int = 2000, seed: int = 5) -> TrainingData:
    """Simulate ``n`` treatments into ``folder`` and load them as training data."""
    simulate(n, folder, seed=seed)
    return load_training_data(folder)


def fit_small_models(
    data: TrainingData, seed: int = 0, trees: int = 30, leaves: int = 7
) -> FittedModels:
    """Small models of the production shapes, fitted on ``data``'s training treatments.

    Args:
        data: Training data.
        seed: Seed of every fit.
        trees: Trees per booster (no early stopping: the size is what tests and benchmarks
            choose).
        leaves: Leaves per tree.

    Returns:
        A risk model per outcome (with ``CALIBRATION``), differences and longevity models.
    """
    params: dict[str, Any] = {
        "verbose": -1,
        "num_leaves": leaves,
        "min_data_in_leaf": 10,
        "num_threads": 1,
        "seed": seed,
    }
    x = data.features
    fol = data.registry.followups
    rows = data.rows(fol["treatment_id"].to_numpy())
    train = data.train[rows]
    risks = {  # one per binary outcome (bundle.heads)
        o.name: RiskModel(
            lgb.train(
                {**params, "objective": "binary"},
                lgb.Dataset(
                    x[rows[train]],
                    fol[o.target].to_numpy().astype(int)[train],
                    categorical_feature=_CATEGORICAL,
                ),
                num_boost_round=trees,
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
                {**params, "objective": "quantile", "alpha": level}, ds, num_boost_round=trees
            )
            for key, level in QUANTILES
        }
    longevity = fit_longevity(
        data, seed=seed, params={**HAZARD_PARAMS, **params, "objective": "binary"}, rounds=trees
    )
    return FittedModels(
        risks=risks,
        differences=DifferenceModels(boosters),
        longevity=longevity,
    )
