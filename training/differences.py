"""Post-treatment differences: quantile regressors of the three left-minus-right differences.

LightGBM boosters of the difference measured at review, at the 10%, 50% and 90% quantiles. Each
(target, quantile) booster is fitted on the training patients' reviews where that difference was
measured, with early stopping on held-back training patients (the same patient
split as the risk model's). Quantile boosters fit their training rows too closely, so their
10-90% interval covers less than 80% of new rows (about 75% here); the interval is therefore
conformalised on the held-back patients (CQR, ``training.conformal``): q10 and q90 move apart, or
together, by the conformity-score quantile that gives 80% coverage there. The shift is written
into the leaves of each booster's first tree, so the booster alone (and its ONNX conversion)
gives the calibrated interval and ``DifferenceModels`` needs no extra field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import lightgbm as lgb
import numpy as np
import numpy.typing as npt

from training import metrics
from training.conformal import conformal_margin
from training.dataset import TrainingData
from training.models import DIFF_TARGETS, FIT_THREADS, QUANTILES, DifferenceModels
from training.risk import CALIBRATION_SHARE, TREE_PARAMS
from training.split import hold_back_patients

FloatArray = npt.NDArray[np.float64]

MAX_ROUNDS: Final = 1000
EARLY_STOPPING_ROUNDS: Final = 30
PARAMS: Final[Mapping[str, Any]] = {
    **TREE_PARAMS,
    "objective": "quantile",
    # Nine boosters: lr 0.1 stops after ~90 rounds instead of ~190 at 0.05, at +0.005 mm MAE.
    "learning_rate": 0.1,
    # A quarter of the default histogram bins: half the fit time, the same MAE.
    "max_bin": 63,
}
"""LightGBM parameters; ``alpha``, ``metric`` and ``seed`` are added per fit."""
INTERVAL_COVERAGE: Final = 0.8
"""Coverage the q10-q90 interval is conformalised to."""


def _measured(data: TrainingData, target: str) -> tuple[npt.NDArray[np.int64], FloatArray]:
    """Feature rows and values of the reviews where ``target`` was measured."""
    fol = data.registry.followups
    keep = fol[target].notna().to_numpy()
    rows = data.rows(fol["treatment_id"].to_numpy()[keep])
    return rows, fol[target].to_numpy(dtype=np.float64)[keep]


def quantile_params(alpha: float, seed: int) -> dict[str, Any]:
    """LightGBM parameters of one quantile fit (here, and on Dask: ``training.dask_fit``)."""
    return {**PARAMS, "alpha": alpha, "metric": "quantile", "seed": seed}


def _fit_one(fit_set: lgb.Dataset, stop_set: lgb.Dataset, alpha: float, seed: int) -> lgb.Booster:
    booster = lgb.train(
        quantile_params(alpha, seed),
        fit_set,
        num_boost_round=MAX_ROUNDS,
        valid_sets=[stop_set],
        callbacks=[lgb.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False)],
    )
    return lgb.Booster(model_str=booster.model_to_string(num_iteration=booster.best_iteration))


def _shift(booster: lgb.Booster, by: float) -> None:
    """Add ``by`` to every prediction of ``booster`` (its first tree's leaves), in place."""
    first = booster.dump_model(num_iteration=1)["tree_info"][0]
    for leaf in range(int(first["num_leaves"])):
        booster.set_leaf_output(0, leaf, booster.get_leaf_output(0, leaf) + by)


def fit_differences(data: TrainingData, seed: int = 0) -> DifferenceModels:
    """Fit the 10/50/90% quantile regressors of each post-treatment difference.

    Args:
        data: Training data; rows in ``data.train`` whose review measured the difference.
        seed: Seed of the patient split and of LightGBM's bagging.

    Returns:
        ``boosters[target][q]`` for every target of ``DIFF_TARGETS`` and q in q10/q50/q90.

    Raises:
        ValueError: Too few measured training reviews of a difference to fit.
    """
    patient_of = data.registry.treatments["patient_id"].to_numpy(dtype=object)
    boosters: dict[str, dict[str, lgb.Booster]] = {}
    for target in DIFF_TARGETS:
        rows, y = _measured(data, target)
        train = data.train[rows]
        rows, y = rows[train], y[train]
        held = hold_back_patients(patient_of[rows], CALIBRATION_SHARE, seed)
        if min(held.sum(), (~held).sum()) < 20:
            raise ValueError(f"differences: too few measured training reviews of {target}")
        x = data.features[rows]
        # Binned once per target and shared by its three quantile fits.
        fit_set = lgb.Dataset(x[~held], y[~held], free_raw_data=False)
        stop_set = lgb.Dataset(x[held], y[held], reference=fit_set, free_raw_data=False)
        fitted = {q: _fit_one(fit_set, stop_set, alpha, seed) for q, alpha in QUANTILES}
        lo, hi = (
            np.asarray(fitted[q].predict(x[held], num_threads=FIT_THREADS), np.float64)
            for q in ("q10", "q90")
        )
        margin = conformal_margin(y[held], lo, hi, INTERVAL_COVERAGE)
        _shift(fitted["q10"], -margin)
        _shift(fitted["q90"], margin)
        boosters[target] = fitted
    return DifferenceModels(boosters=boosters)


def evaluate_differences(model: DifferenceModels, data: TrainingData) -> dict[str, float]:
    """Evaluate the difference models on the held-out reviews, beside the oracle if present.

    Metric names, per target of ``DIFF_TARGETS``: ``diff_<target>_mae`` (median against the
    measured difference), ``diff_<target>_coverage_10_90`` (share of measured differences
    inside the 10-90% interval; 0.8 is ideal), ``diff_<target>_n_test``; with an oracle also
    ``diff_<target>_mae_vs_oracle`` (median against the true expected difference),
    ``oracle_diff_<target>_mae`` (the true expected difference against the measured one) and
    ``diff_<target>_mae_ratio_to_oracle``.

    Args:
        model: The fitted difference models.
        data: Training data; rows in ``data.test`` whose review measured the difference.

    Returns:
        The metrics by name.
    """
    out: dict[str, float] = {}
    for target in DIFF_TARGETS:
        rows, y = _measured(data, target)
        test = data.test[rows]
        rows, y = rows[test], y[test]
        out[f"diff_{target}_n_test"] = float(len(y))
        if len(y) == 0:
            continue
        q = model.predict(data.features[rows])[target]
        out[f"diff_{target}_mae"] = metrics.mae(y, q["q50"])
        out[f"diff_{target}_coverage_10_90"] = metrics.interval_coverage(y, q["q10"], q["q90"])
        if data.oracle is not None:
            ids = data.treatment_ids[rows]
            truth = data.oracle.asymmetry[f"expected_{target}"].reindex(ids).to_numpy(np.float64)
            if np.isnan(truth).any():
                raise ValueError("differences: the oracle lacks some held-out treatments")
            out[f"diff_{target}_mae_vs_oracle"] = metrics.mae(truth, q["q50"])
            out[f"oracle_diff_{target}_mae"] = metrics.mae(y, truth)
            out[f"diff_{target}_mae_ratio_to_oracle"] = (
                out[f"diff_{target}_mae"] / out[f"oracle_diff_{target}_mae"]
            )
    return out
