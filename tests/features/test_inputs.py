"""``features.inputs``: the column slices the blocks write through and the per-treatment sums."""

import numpy as np
import pytest

from data.contract import REGIONS
from features.inputs import (
    MUSCLE_CODE,
    SIDE_CODE,
    PlanArrays,
    columns,
    group_sum,
    region_u_eq,
    table_sum,
)
from features.spec import FEATURE_NAMES


def test_columns_are_slices_of_evenly_spaced_features() -> None:
    assert columns(["age_years", "sex_male"]) == slice(0, 2, 1)
    thickness = columns(["frontalis_thickness_left_mm", "masseter_thickness_left_mm"])
    assert FEATURE_NAMES[thickness] == ("frontalis_thickness_left_mm", "masseter_thickness_left_mm")
    with pytest.raises(AssertionError):
        columns(["age_years", "sex_male", "dominant_hand"])  # ancestry sits between them
    with pytest.raises(AssertionError):
        columns(["sex_male", "age_years"])  # not in spec order


def test_group_and_table_sums_add_per_treatment_and_count() -> None:
    treatment = np.array([0, 0, 2, 2, 2])
    weights = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    np.testing.assert_array_equal(group_sum(treatment, weights, 4), [3.0, 0.0, 12.0, 0.0])
    np.testing.assert_array_equal(group_sum(treatment, None, 3), [2.0, 0.0, 3.0])
    column = np.array([1, 0, 1, 1, 0])
    np.testing.assert_array_equal(
        table_sum(treatment, column, weights, (3, 2)), [[2.0, 1.0], [0.0, 0.0], [5.0, 7.0]]
    )
    # (points, k) values: each point's k values into its row.
    both = np.column_stack([weights, 10 * weights])
    np.testing.assert_array_equal(
        table_sum(treatment[:, None], np.arange(2), both, (3, 2)),
        [[3.0, 30.0], [0.0, 0.0], [12.0, 120.0]],
    )
    assert table_sum(
        np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), None, (2, 3)
    ).shape == (
        2,
        3,
    )


def test_region_u_eq_sums_each_regions_points() -> None:
    muscles = ["corrugator", "procerus", "masseter", "frontalis"]
    plan = PlanArrays(
        treatment=np.array([0, 0, 0, 1]),
        muscle=np.array([MUSCLE_CODE[m] for m in muscles]),
        side=np.array([SIDE_CODE[s] for s in ("left", "midline", "right", "left")]),
        units=np.ones(4),
        x_mm=np.full(4, np.nan),
        y_mm=np.full(4, np.nan),
    )
    out = region_u_eq(plan, np.array([4.0, 2.0, 30.0, 8.0]), 2)
    assert out.shape == (2, len(REGIONS))
    assert out[0, REGIONS.index("glabella")] == 6.0 and out[0, REGIONS.index("jaw")] == 30.0
    assert out[1, REGIONS.index("forehead")] == 8.0 and out.sum() == 44.0
