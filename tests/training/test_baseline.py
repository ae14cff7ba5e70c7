"""The plain baseline (``training.baseline``): its raw inputs, its fit and the comparison."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from features.spec import FEATURES, INJECTION_UNITS
from training.baseline import (
    BEAT_AUC_MARGIN,
    PLAIN_COLUMNS,
    PLAIN_NAMES,
    evaluate_plain,
    fit_plain,
    verdict,
)
from training.dataset import TrainingData, load_training_data
from training.risk import evaluate_risk, fit_risk


def test_plain_inputs_are_the_patient_and_the_raw_plan_aggregates() -> None:
    groups = Counter(
        "patient" if f.group == "patient" else f.name.split("_")[0]
        for f in FEATURES
        if f.name in PLAIN_NAMES
    )
    # 28 patient fields; per (muscle, side) of the contract units, points, mean x and y.
    n = len(INJECTION_UNITS)
    assert groups == {"patient": 28, "u": n, "points": n, "mean": 2 * n}
    # No anatomy and no history: nothing spread-weighted, atlas-measured or earlier.
    assert not [
        name
        for name in PLAIN_NAMES
        if name.startswith(("eff_", "expected_", "region_", "previous_", "prior_"))
        or "above" in name
        or "commissure_mm" in name
    ]


@pytest.fixture(scope="module")
def data(small_registry: Path) -> TrainingData:
    return load_training_data(small_registry)


def test_the_baseline_is_fitted_and_compared_on_the_risk_models_rows(data: TrainingData) -> None:
    risk = evaluate_risk(fit_risk(data), data)
    plain = fit_plain(data)
    np.testing.assert_array_equal(plain.x, data.features[:, PLAIN_COLUMNS])
    m = evaluate_plain(plain, data, risk)
    y = risk.y.astype(float)
    q = plain.model.predict(plain.x[data.rows(risk.treatment_ids)])
    assert m["plain_risk_brier"] == pytest.approx(float(np.mean((q - y) ** 2)))
    assert m["risk_auc_minus_plain"] == pytest.approx(
        risk.metrics["risk_auc"] - m["plain_risk_auc"]
    )
    ratio = risk.metrics["risk_brier"] / m["plain_risk_brier"]
    assert m["risk_brier_ratio_to_plain"] == pytest.approx(ratio)
    assert m["plain_risk_auc_ratio_to_oracle"] == pytest.approx(
        m["plain_risk_auc"] / risk.metrics["oracle_risk_auc"]
    )
    for key in ("risk_auc_minus_plain", "risk_brier_ratio_to_plain"):
        assert m[f"{key}_ci_low"] <= m[key] <= m[f"{key}_ci_high"], key
    beats = m["risk_auc_minus_plain"] >= BEAT_AUC_MARGIN and ratio <= 0.99
    assert m["risk_beats_plain"] == float(beats)
    # A real classifier of the same outcome: far better than chance on 3k treatments.
    assert 0.7 < m["plain_risk_auc"] < 1.0


def test_the_verdict_says_plainly_when_the_model_does_not_win() -> None:
    won = {
        "risk_auc_minus_plain": 0.011,
        "risk_brier_ratio_to_plain": 0.969,
        "risk_beats_plain": 1.0,
    }
    lost = {
        "risk_auc_minus_plain": 0.002,
        "risk_brier_ratio_to_plain": 0.983,
        "risk_beats_plain": 0.0,
    }
    assert verdict(won) == (
        "the risk model beats the plain baseline (AUC +0.0110, Brier x0.969 against the plain "
        "baseline)"
    )
    assert verdict(lost).startswith("the risk model does NOT beat the plain baseline (AUC +0.0020")
    assert "beating it takes AUC +0.005 and Brier x0.99" in verdict(lost)
