"""The service: answers in the declared response shape, warnings, contribution groups."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import orjson
import pytest

from bundle.postprocess import SurvivalCurves
from bundle.predictor import SURVIVAL_DAYS, Predictions, Predictor
from data.atlas import SAFE_FRONTALIS_ABOVE_BROW_MM
from features.spec import FEATURE_INDEX, FEATURE_NAMES
from features.tables import registry_requests
from serving.contributions import FEATURE_GROUPS, group_contributions
from serving.log import PredictionLog
from serving.schemas import BatchResponse, PredictResponse
from serving.service import PredictionService, _answers, plan_warnings
from training.dataset import TrainingData


def _predictions(risk: float) -> Predictions:
    one = np.array([0.0])
    return Predictions(
        risks={"asymmetry_risk": np.array([risk])},
        contributions={"asymmetry_risk": np.zeros((1, len(FEATURE_NAMES)))},
        differences={"brow_height_diff_mm": {"q10": one - 1, "q50": one, "q90": one + 1}},
        treatment=np.array([0]),
        region=np.array([0]),
        side=np.array([0]),
        median_days=np.array([100.0]),
        survival={d: np.array([0.5]) for d in SURVIVAL_DAYS},
        late_asymmetry_risk=np.array([0.0]),
        region_late_asymmetry_risk=np.array([np.nan]),
        late_gap_days=np.array([21.0]),
        first_region=np.array([0]),
        first_side=np.array([0]),
        curves=SurvivalCurves(np.full((1, 12), 0.2), 30.0),
    )


def test_answers_have_the_declared_response_shape(
    bundle: Path, data: TrainingData, tmp_path: Path
) -> None:
    requests = list(registry_requests(data.registry.tables).values())[:60]
    log = PredictionLog(f"sqlite:///{tmp_path / 'log.db'}")
    try:
        service = PredictionService(lambda: Predictor.load(bundle), log)
        answered = service.predict(requests, clinic="c", request_id="r", batch=True)
    finally:
        log.close()
    assert answered.model == {"name": "asym-test", "version": "1", "run_id": "run-1"}
    assert [a["request_id"] for a in answered.answers] == [f"r.{i}" for i in range(60)]
    for answer in answered.answers:
        # What the route dumps is exactly a valid PredictResponse, field for field.
        parsed = PredictResponse.model_validate_json(orjson.dumps(answer))
        assert parsed.model_dump(mode="json") == answer
    batch = {"predictions": answered.answers, "model": answered.model, "request_id": "r"}
    assert BatchResponse.model_validate_json(orjson.dumps(batch)).request_id == "r"


def test_non_finite_answers_are_refused() -> None:
    x = np.zeros((1, len(FEATURE_NAMES)))
    groups = np.zeros((1, len(FEATURE_GROUPS)))
    groups[0, [0, 2, -1]] = -0.5, 0.1, 0.8
    (answer,) = _answers(_predictions(0.3), x, groups)
    assert (answer["asymmetry_risk"], answer["risk_band"]) == (0.3, "moderate")
    # Largest |log_odds| first, then ties (zeros) in group order.
    names = list(FEATURE_GROUPS)
    assert [(c["group"], c["log_odds"]) for c in answer["contributions"]] == [
        (names[-1], 0.8),
        (names[0], -0.5),
        (names[2], 0.1),
        (names[1], 0.0),
        (names[3], 0.0),
    ]
    with pytest.raises(ValueError, match="non-finite"):
        _answers(_predictions(float("nan")), x, groups)
    broken = dataclasses.replace(_predictions(0.3), median_days=np.array([np.inf]))
    with pytest.raises(ValueError, match="non-finite"):
        _answers(broken, x, groups)
    with pytest.raises(ValueError, match="non-finite"):
        _answers(_predictions(0.3), x, np.where(groups > 0, np.nan, groups))


def test_plan_warnings_name_the_dose_and_the_point() -> None:
    x = np.full((3, len(FEATURE_NAMES)), np.nan)  # NaN: no such point, nothing to warn about
    ratio = [i for n, i in FEATURE_INDEX.items() if n.startswith("region_label_ratio_")]
    x[:, ratio] = 0.5
    x[1, FEATURE_INDEX["region_label_ratio_forehead"]] = 1.2
    x[1, FEATURE_INDEX["region_u_eq_forehead"]] = 24.0
    x[2, FEATURE_INDEX["frontalis_low_point_above_brow_mm_right"]] = 9.0
    x[2, FEATURE_INDEX["frontalis_low_point_above_brow_mm_left"]] = SAFE_FRONTALIS_ABOVE_BROW_MM
    none, dose, point = plan_warnings(x)
    assert none == []
    assert dose == [
        {
            "code": "dose_above_label_range",
            "message": "forehead dose 24.0 U_eq is above its usual range 10-20 U_eq",
            "region": "forehead",
            "side": None,
            "muscle": None,
        }
    ]
    assert [w["code"] for w in point] == ["frontalis_point_low"]  # right only: left is at limit
    assert (point[0]["region"], point[0]["side"], point[0]["muscle"]) == (
        "forehead",
        "right",
        "frontalis",
    )
    assert "right, is 9.0 mm above the brow line" in point[0]["message"]


def test_group_contributions_sum_exactly_each_groups_features() -> None:
    per_feature = np.random.default_rng(5).normal(size=(3, len(FEATURE_NAMES)))
    by_group = group_contributions(per_feature)
    for k, names in enumerate(FEATURE_GROUPS.values()):
        columns = [FEATURE_NAMES.index(n) for n in names]
        np.testing.assert_allclose(by_group[:, k], per_feature[:, columns].sum(axis=1))
    # Every feature in exactly one group: the groups add up to the whole.
    np.testing.assert_allclose(by_group.sum(axis=1), per_feature.sum(axis=1))
