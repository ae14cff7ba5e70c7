"""The service refuses to answer with values JSON cannot carry."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from features.spec import FEATURE_NAMES
from serving.predictor import SURVIVAL_DAYS, Predictions
from serving.service import FEATURE_GROUPS, _answers, _may_warn, _occluded, plan_warnings


def _predictions(risk: float) -> Predictions:
    one = np.array([0.0])
    return Predictions(
        asymmetry_risk=np.array([risk]),
        differences={"brow_height_diff_mm": {"q10": one - 1, "q50": one, "q90": one + 1}},
        treatment=np.array([0]),
        region=np.array([0]),
        side=np.array([0]),
        median_days=np.array([100.0]),
        survival={d: np.array([0.5]) for d in SURVIVAL_DAYS},
        late_asymmetry_risk=np.array([0.0]),
        first_region=np.array([0]),
        first_side=np.array([0]),
    )


def test_finite_answers_pass_and_non_finite_ones_are_refused() -> None:
    x = np.zeros((1, len(FEATURE_NAMES)))
    occluded = np.full(len(FEATURE_GROUPS), 0.2)
    (answer,) = _answers(_predictions(0.3), x, occluded)
    assert answer["asymmetry_risk"] == 0.3
    assert answer["contributions"][0]["delta_risk"] == pytest.approx(0.1)
    with pytest.raises(ValueError, match="non-finite"):
        _answers(_predictions(float("nan")), x, occluded)
    broken = dataclasses.replace(_predictions(0.3), median_days=np.array([np.inf]))
    with pytest.raises(ValueError, match="non-finite"):
        _answers(broken, x, occluded)


def test_rows_are_flagged_exactly_when_they_get_warnings() -> None:
    # _may_warn pre-selects the rows plan_warnings is asked about; it must never miss one.
    rng = np.random.default_rng(3)
    x = rng.uniform(-5.0, 25.0, size=(2000, len(FEATURE_NAMES)))
    x[rng.random(x.shape) < 0.2] = np.nan
    ratio_cols = [i for i, n in enumerate(FEATURE_NAMES) if n.startswith("region_label_ratio_")]
    x[:, ratio_cols] = rng.uniform(0.0, 1.02, size=(len(x), len(ratio_cols)))
    flagged = _may_warn(x)
    assert flagged.tolist() == [bool(plan_warnings(row)) for row in x]
    assert 0 < flagged.sum() < len(x)  # both kinds of row occur


def test_occlusion_row_k_hides_exactly_group_k() -> None:
    x = np.arange(2 * len(FEATURE_NAMES), dtype=np.float32).reshape(2, -1)
    rows = _occluded(x).reshape(2, len(FEATURE_GROUPS), -1)
    for k, names in enumerate(FEATURE_GROUPS.values()):
        hidden = [FEATURE_NAMES.index(n) for n in names]
        for i in range(2):
            assert np.flatnonzero(np.isnan(rows[i, k])).tolist() == sorted(hidden)
            kept = np.setdiff1d(np.arange(len(FEATURE_NAMES)), hidden)
            np.testing.assert_array_equal(rows[i, k, kept], x[i, kept])
