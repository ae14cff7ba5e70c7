"""The service: contributions summed by group, and no answer with values JSON cannot carry."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from bundle.predictor import SURVIVAL_DAYS, Predictions
from features.spec import FEATURE_NAMES
from serving.service import (
    _GROUP_MATRIX,
    FEATURE_GROUPS,
    _answers,
    _may_warn,
    plan_warnings,
)


def _predictions(risk: float) -> Predictions:
    one = np.array([0.0])
    return Predictions(
        asymmetry_risk=np.array([risk]),
        contributions=np.zeros((1, len(FEATURE_NAMES))),
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
    groups = np.zeros((1, len(FEATURE_GROUPS)))
    groups[0, [0, 2, -1]] = -0.5, 0.1, 0.8
    (answer,) = _answers(_predictions(0.3), x, groups)
    assert answer["asymmetry_risk"] == 0.3
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


def test_group_matrix_sums_exactly_each_groups_features() -> None:
    per_feature = np.random.default_rng(5).normal(size=(3, len(FEATURE_NAMES)))
    by_group = per_feature @ _GROUP_MATRIX
    for k, names in enumerate(FEATURE_GROUPS.values()):
        columns = [FEATURE_NAMES.index(n) for n in names]
        np.testing.assert_allclose(by_group[:, k], per_feature[:, columns].sum(axis=1))
    # Every feature in exactly one group: the groups add up to the whole.
    np.testing.assert_allclose(by_group.sum(axis=1), per_feature.sum(axis=1))
