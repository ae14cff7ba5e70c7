"""The post-treatment difference models on a small simulated registry (conftest: 3,000
treatments, seed 5): about 400 measured held-out reviews per difference."""

from pathlib import Path

import numpy as np
import pytest

from training.dataset import TrainingData, load_training_data
from training.differences import evaluate_differences, fit_differences
from training.models import DIFF_TARGETS, DifferenceModels


@pytest.fixture(scope="module")
def data(small_registry: Path) -> TrainingData:
    return load_training_data(small_registry)


@pytest.fixture(scope="module")
def model(data: TrainingData) -> DifferenceModels:
    return fit_differences(data, seed=0)


def test_intervals_cover_about_80_percent_and_medians_beat_a_constant(
    model: DifferenceModels, data: TrainingData
) -> None:
    m = evaluate_differences(model, data)
    fol = data.registry.followups
    for target in DIFF_TARGETS:
        assert m[f"diff_{target}_n_test"] > 300
        # Coverage on ~400 rows has a binomial standard error of 0.02, and the conformal margin
        # is estimated on ~350 held-back training rows (another ~0.02): 0.12 is about four of
        # their combined error. On 20k treatments coverage is 0.78-0.83.
        assert m[f"diff_{target}_coverage_10_90"] == pytest.approx(0.8, abs=0.12)
        # The median tracks the true expected difference better than the noisy measurement.
        assert m[f"diff_{target}_mae_vs_oracle"] < m[f"diff_{target}_mae"]
        # ... and beats the training median predicted for everyone.
        train_y = fol.loc[data.train[data.rows(fol["treatment_id"].to_numpy())], target]
        test_rows = data.test[data.rows(fol["treatment_id"].to_numpy())] & fol[target].notna()
        test_y = fol.loc[test_rows, target].to_numpy()
        constant = float(np.mean(np.abs(test_y - train_y.median())))
        assert m[f"diff_{target}_mae"] < 0.9 * constant


def test_quantiles_are_ordered_and_distinct(model: DifferenceModels, data: TrainingData) -> None:
    out = model.predict(data.features[data.test])
    for target in DIFF_TARGETS:
        q = out[target]
        assert (q["q10"] <= q["q50"]).all() and (q["q50"] <= q["q90"]).all()
        # The boosters themselves rarely cross; the sort in postprocess is a guard only.
        raw_lo = model.boosters[target]["q10"].predict(data.features[data.test])
        raw_hi = model.boosters[target]["q90"].predict(data.features[data.test])
        assert np.mean(raw_lo < raw_hi) > 0.98
        assert np.median(q["q90"] - q["q10"]) > 0.5  # mm: noise alone is ~0.7 mm sd
