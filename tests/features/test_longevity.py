"""Longevity inputs: which (region, side)s are treated, and the columns picked for each."""

from collections.abc import Mapping

import numpy as np
import pandas as pd
import pytest

from data.contract import REGIONS, SIDES
from features.build import build_features
from features.inputs import MUSCLE_CODE, SIDE_CODE, PlanArrays
from features.longevity import (
    LONGEVITY_FEATURES,
    LONGEVITY_INDEX,
    LONGEVITY_NAMES,
    longevity_matrix,
    treated_region_sides,
)
from features.longevity import (
    treated_region_sides as trs,
)
from features.request import request_inputs
from features.spec import FEATURE_INDEX
from features.tables import registry_inputs

R, S = REGIONS.index, SIDES.index


def _plan(points: list[tuple[int, str, str]]) -> PlanArrays:
    n = len(points)
    return PlanArrays(
        treatment=np.array([p[0] for p in points], dtype=np.int64),
        muscle=np.array([MUSCLE_CODE[p[1]] for p in points], dtype=np.int64),
        side=np.array([SIDE_CODE[p[2]] for p in points], dtype=np.int64),
        units=np.full(n, 4.0),
        x_mm=np.full(n, np.nan),
        y_mm=np.full(n, np.nan),
    )


def _rows(plan: PlanArrays) -> set[tuple[int, str, str]]:
    t, r, s = trs(plan)
    return {(int(a), REGIONS[b], SIDES[c]) for a, b, c in zip(t, r, s, strict=True)}


def test_treated_region_sides_hand_plans() -> None:
    plan = _plan(
        [
            (0, "procerus", "midline"),  # glabella: midline only
            (1, "corrugator", "left"),
            (1, "corrugator", "right"),
            (1, "procerus", "midline"),  # counts for both sides: no midline row
            (1, "frontalis", "left"),  # forehead: left only
            (2, "mentalis", "midline"),
            (2, "mentalis", "midline"),
            (3, "mentalis", "right"),
            (3, "mentalis", "midline"),
        ]
    )
    assert _rows(plan) == {
        (0, "glabella", "midline"),
        (1, "glabella", "left"),
        (1, "glabella", "right"),
        (1, "forehead", "left"),
        (2, "chin", "midline"),
        (3, "chin", "right"),
    }
    t, r, s = treated_region_sides(plan)
    assert np.all(np.diff(t * 100 + r * 3 + s) > 0)  # sorted, unique


def test_treated_region_sides_match_the_simulated_durations(
    tables: Mapping[str, pd.DataFrame],
) -> None:
    # The registry's durations rows (a subset of sessions record them) are always treated sides.
    inp = registry_inputs(tables)
    t, r, s = treated_region_sides(inp.plan)
    ids = tables["treatments"]["treatment_id"].to_numpy()
    treated = {(ids[a], REGIONS[b], SIDES[c]) for a, b, c in zip(t, r, s, strict=True)}
    d = tables["durations"]
    recorded = set(
        zip(d["treatment_id"], d["region"].astype(str), d["side"].astype(str), strict=True)
    )
    assert recorded <= treated
    with_rows = set(d["treatment_id"])
    assert recorded == {x for x in treated if x[0] in with_rows}


def _point(muscle: str, side: str, units: float) -> dict:
    return {"muscle": muscle, "side": side, "units": units, "x_mm": None, "y_mm": None}


REQUEST = {
    "patient": {
        "age_years": 52,
        "sex": "male",
        "dominant_hand": "right",
        "exercise_sessions_per_week": 5.0,
        "frontalis_thickness_left_mm": 2.5,
        "frontalis_thickness_right_mm": 3.0,
        "masseter_thickness_left_mm": 11.0,
        "masseter_thickness_right_mm": 12.5,
    },
    "plan": {
        "product": "onabotulinumtoxinA",
        "dilution_ml_per_100u": 2.5,
        "injections": [
            _point("corrugator", "left", 10),
            _point("corrugator", "right", 6),
            _point("procerus", "midline", 4),
            _point("frontalis", "left", 3),
            _point("frontalis", "right", 5),
            _point("mentalis", "midline", 4),
            _point("masseter", "right", 25),
        ],
    },
    "history": [
        {
            "days_before": 150,
            "plan": {
                "product": "onabotulinumtoxinA",
                "dilution_ml_per_100u": 2.5,
                "injections": [_point("corrugator", "left", 8), _point("corrugator", "right", 8)],
            },
            "durations": [
                {"region": "glabella", "side": "left", "days": 100.0, "returned": True},
                {"region": "glabella", "side": "right", "days": 120.0, "returned": True},
            ],
        }
    ],
}


@pytest.fixture(scope="module")
def request_rows() -> tuple[np.ndarray, dict[tuple[str, str], dict[str, float]]]:
    x = build_features(request_inputs(REQUEST)).astype(np.float32)  # type: ignore[arg-type]
    wanted = [
        ("glabella", "left"),
        ("glabella", "right"),
        ("forehead", "left"),
        ("chin", "midline"),
        ("jaw", "right"),
    ]
    m = longevity_matrix(
        x,
        np.zeros(len(wanted), dtype=np.int64),
        np.array([R(r) for r, _ in wanted]),
        np.array([S(s) for _, s in wanted]),
    )
    rows = {w: dict(zip(LONGEVITY_NAMES, m[i].tolist(), strict=True)) for i, w in enumerate(wanted)}
    return x[0], rows


def test_longevity_matrix_doses_of_a_hand_made_request(request_rows) -> None:  # type: ignore[no-untyped-def]
    x, rows = request_rows
    gl, gr = rows["glabella", "left"], rows["glabella", "right"]
    assert (gl["region"], gl["side"], gr["side"]) == (R("glabella"), 0, 1)
    # Half of the midline procerus dose counts for each side.
    assert gl["dose_u_eq"] == pytest.approx(10 + 2)
    assert gl["other_dose_u_eq"] == pytest.approx(6 + 2)
    assert gr["dose_u_eq"] == pytest.approx(6 + 2)
    assert gl["dose_label_ratio"] == pytest.approx(12 / (40 / 2), rel=1e-6)
    assert gl["dose_lr_ratio"] == pytest.approx((12 - 8) / 20, rel=1e-6)
    assert gl["region_u_eq"] == pytest.approx(20)
    eff = x[FEATURE_INDEX["eff_corrugator_left"]] + 0.5 * x[FEATURE_INDEX["eff_procerus_midline"]]
    assert gl["eff_u_eq"] == pytest.approx(float(eff), rel=1e-6)
    assert gl["other_eff_u_eq"] == pytest.approx(
        float(
            x[FEATURE_INDEX["eff_corrugator_right"]]
            + 0.5 * x[FEATURE_INDEX["eff_procerus_midline"]]
        ),
        rel=1e-6,
    )
    # A midline-only region: all its dose, no other side.
    chin = rows["chin", "midline"]
    assert chin["dose_u_eq"] == pytest.approx(4)
    assert np.isnan(chin["other_dose_u_eq"]) and chin["dose_lr_ratio"] == 0.0
    assert chin["dose_label_ratio"] == pytest.approx(4 / 8)


def test_longevity_matrix_thickness_side_and_history(request_rows) -> None:  # type: ignore[no-untyped-def]
    _, rows = request_rows
    fl, jr, gl, gr = (
        rows["forehead", "left"],
        rows["jaw", "right"],
        rows["glabella", "left"],
        rows["glabella", "right"],
    )
    assert (fl["thickness_mm"], fl["other_thickness_mm"]) == pytest.approx((2.5, 3.0))
    assert (jr["thickness_mm"], jr["other_thickness_mm"]) == pytest.approx((12.5, 11.0))
    assert np.isnan(gl["thickness_mm"])
    assert jr["side_is_dominant"] == 1.0 and fl["side_is_dominant"] == 0.0
    assert rows["chin", "midline"]["side_is_dominant"] == 0.0
    # Previous glabella: left 100 days, right 120, both returned, 16 U_eq.
    assert gl["previous_days"] == gr["previous_days"] == 100.0
    assert gl["previous_lr_days_diff"] == -20.0
    assert (gl["previous_side_days"], gr["previous_side_days"]) == (100.0, 120.0)
    assert gl["previous_returned"] == 1.0
    assert gl["previous_u_eq"] == pytest.approx(16.0)
    assert gl["dose_vs_previous"] == pytest.approx(20 / 16)
    assert np.isnan(fl["previous_days"])
    for name, value in (("age_years", 52), ("sex_male", 1), ("days_since_previous", 150)):
        assert gl[name] == value
    assert gl["prior_treatments"] == 1.0


def test_one_row_alone_equals_its_row_in_a_batch(tables: Mapping[str, pd.DataFrame]) -> None:
    x = build_features(registry_inputs(tables)).astype(np.float32)
    t, r, s = treated_region_sides(registry_inputs(tables).plan)
    batch = longevity_matrix(x, t, r, s)
    assert batch.shape == (len(t), len(LONGEVITY_FEATURES)) and batch.dtype == np.float32
    for i in range(0, len(t), max(1, len(t) // 40)):
        one = longevity_matrix(
            x[t[i] : t[i] + 1], np.zeros(1, dtype=np.int64), r[i : i + 1], s[i : i + 1]
        )
        np.testing.assert_array_equal(one[0], batch[i])


def test_the_feature_list_is_compact_and_unique() -> None:
    assert len(set(LONGEVITY_NAMES)) == len(LONGEVITY_NAMES)
    assert 30 <= len(LONGEVITY_NAMES) <= 50
    assert LONGEVITY_INDEX["region"] == 0 and LONGEVITY_INDEX["side"] == 1


def test_no_rows_and_codes_out_of_range() -> None:
    x = np.zeros((2, len(FEATURE_INDEX)), dtype=np.float32)
    none = np.zeros(0, dtype=np.int64)
    assert longevity_matrix(x, none, none, none).shape == (0, len(LONGEVITY_NAMES))
    one = np.zeros(1, dtype=np.int64)
    with pytest.raises(IndexError):
        longevity_matrix(x, one, one, one + len(SIDES))
    with pytest.raises(IndexError):
        longevity_matrix(x, one, one + len(REGIONS), one)
