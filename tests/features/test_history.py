"""History features use only what was known before the treatment date."""

import numpy as np
import pandas as pd

from features.build import build_features
from features.request import TreatmentRequest, request_inputs
from features.spec import FEATURE_INDEX, FEATURE_NAMES
from features.tables import registry_inputs


def _shuffle_the_future(tables, cutoff: pd.Timestamp, seed: int) -> dict[str, pd.DataFrame]:
    """Scramble everything that happened after ``cutoff``: later treatments, their plans,
    reviews and durations, and the reviews and returns of earlier treatments that fell later."""
    rng = np.random.default_rng(seed)
    t = tables["treatments"].copy()
    date = t.set_index("treatment_id")["treatment_date"]
    future = set(t.loc[t["treatment_date"] > cutoff, "treatment_id"])

    inj = tables["injections"].copy()
    later = inj["treatment_id"].isin(future)
    inj.loc[later, "units"] = rng.permutation(inj.loc[later, "units"].to_numpy())
    inj.loc[later, "y_mm"] = inj.loc[later, "y_mm"] + rng.normal(0, 10, later.sum())

    fol = tables["followups"].copy()
    seen_at = fol["treatment_id"].map(date) + pd.to_timedelta(fol["review_day"], unit="D")
    later = seen_at > cutoff
    for c in ("visible_asymmetry", "eyelid_ptosis", "brow_ptosis"):
        fol.loc[later, c] = ~fol.loc[later, c]
    fol.loc[later, "brow_height_diff_mm"] = rng.normal(0, 3, later.sum()).round(1)

    dur = tables["durations"].copy()
    start = dur["treatment_id"].map(date)
    elapsed = (cutoff - start).dt.days
    # A return or last visit after the cutoff is the future: move it to any later day.
    later = start + pd.to_timedelta(dur["days"], unit="D") > cutoff
    dur.loc[later, "days"] = elapsed[later].clip(lower=0) + rng.uniform(1, 200, later.sum())
    dur.loc[later, "returned"] = rng.random(later.sum()) < 0.5

    later_t = t["treatment_id"].isin(future)
    t.loc[later_t, "age_years"] = rng.integers(18, 100, later_t.sum())
    return {"treatments": t, "injections": inj, "followups": fol, "durations": dur}


def test_shuffling_the_future_changes_no_past_row(tables) -> None:
    t = tables["treatments"]
    cutoff = t["treatment_date"].quantile(0.6).normalize()
    before = build_features(registry_inputs(tables))
    after = build_features(registry_inputs(_shuffle_the_future(tables, cutoff, seed=1)))
    past = (t["treatment_date"] <= cutoff).to_numpy()
    np.testing.assert_array_equal(after[past], before[past])
    # The scrambling did reach the later rows, so the test could have failed.
    assert not np.array_equal(after[~past], before[~past], equal_nan=True)
    assert (before[past][:, FEATURE_INDEX["prior_treatments"]] > 0).sum() > 50


def _request(history: list) -> TreatmentRequest:
    return {
        "patient": {"age_years": 50, "sex": "female"},
        "plan": {
            "product": "onabotulinumtoxinA",
            "dilution_ml_per_100u": 2.5,
            "injections": [{"muscle": "frontalis", "side": "left", "units": 4.0}],
        },
        "history": history,
    }


def _previous(days_before: int, days: float, returned: bool, review_day: int = 14) -> dict:
    return {
        "days_before": days_before,
        "plan": {
            "product": "abobotulinumtoxinA",
            "dilution_ml_per_100u": 2.5,
            "injections": [
                {"muscle": "frontalis", "side": "left", "units": 20.0},
                {"muscle": "frontalis", "side": "right", "units": 25.0},
            ],
        },
        "review": {
            "review_day": review_day,
            "visible_asymmetry": True,
            "eyelid_ptosis": False,
            "brow_ptosis": False,
            "brow_height_diff_mm": 2.5,
        },
        "durations": [
            {"region": "forehead", "side": "left", "days": days, "returned": returned},
            {"region": "forehead", "side": "right", "days": 150.0, "returned": False},
        ],
    }


def _row(history: list) -> dict[str, float]:
    return dict(
        zip(FEATURE_NAMES, build_features(request_inputs(_request(history)))[0], strict=True)
    )


def test_a_return_after_today_is_not_yet_a_return() -> None:
    # Previous session 120 days ago; the left forehead came back at day 100 (known), the right
    # side was last seen at day 150 without return (after today: known only up to day 120).
    row = _row([_previous(120, 100.0, True)])
    assert row["prior_treatments"] == 1
    assert row["days_since_previous"] == 120
    assert row["previous_forehead_days"] == 100
    assert row["previous_forehead_returned"] == 1
    assert row["previous_forehead_lr_days_diff"] == 100 - 120
    # 45 Dysport units at 2.5:1 are 18 U_eq.
    assert row["previous_forehead_u_eq"] == 18.0
    # Same session, but today is day 90: the return at day 100 has not happened yet.
    row = _row([_previous(90, 100.0, True)])
    assert row["previous_forehead_days"] == 90
    assert row["previous_forehead_returned"] == 0
    assert row["previous_forehead_lr_days_diff"] == 0


def test_a_review_after_today_is_unknown() -> None:
    assert _row([_previous(120, 100.0, True, review_day=14)])["previous_visible_asymmetry"] == 1
    row = _row([_previous(10, 100.0, True, review_day=14)])
    assert row["previous_review_known"] == 0
    assert np.isnan(row["previous_visible_asymmetry"])
    assert np.isnan(row["previous_brow_height_diff_mm"])


def test_the_latest_earlier_treatment_is_the_previous_one() -> None:
    row = _row([_previous(400, 100.0, True), _previous(120, 80.0, True)])
    assert row["prior_treatments"] == 2
    assert row["days_since_previous"] == 120
    assert row["previous_forehead_days"] == 80


def test_no_history_is_nan_not_zero() -> None:
    row = _row([])
    assert row["prior_treatments"] == 0
    for name in ("days_since_previous", "previous_forehead_days", "previous_forehead_u_eq"):
        assert np.isnan(row[name]), name
