"""The touch-up schedule: its days against the model's curves, the staggering rule, the next
session's dose changes, and ``POST /v1/schedule`` on a real server."""

from __future__ import annotations

import copy
import itertools
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from bundle.predictor import Predictor
from data.atlas import LABEL_RANGE_U_EQ, UNIT_FACTOR
from data.contract import MUSCLE_REGION, REGIONS
from features.request import TreatmentRequest, request_inputs, requests_inputs
from features.tables import registry_requests
from serving.app import create_app
from serving.schedule import SIDES_APART_DAYS, STAGGER_DAYS, schedule, schedule_rows
from serving.schedule_schemas import SCHEDULE_REQUEST, ScheduleResponse
from serving.settings import serving_settings
from tests.serving.live import live_server
from training.dataset import TrainingData

DAY = date(2026, 12, 6)


def _plan(crows_left: float, crows_right: float) -> TreatmentRequest:
    """Forehead, glabella and crow's feet; the crow's feet sides dosed as given (labelled U)."""
    points: list[dict[str, Any]] = [
        {"muscle": "procerus", "side": "midline", "units": 4.0},
        {"muscle": "corrugator", "side": "left", "units": 4.0, "x_mm": 15.0, "y_mm": 24.0},
        {"muscle": "corrugator", "side": "right", "units": 4.0, "x_mm": -15.0, "y_mm": 24.0},
        {"muscle": "frontalis", "side": "left", "units": 2.0, "x_mm": 20.0, "y_mm": 48.0},
        {"muscle": "frontalis", "side": "right", "units": 2.0, "x_mm": -20.0, "y_mm": 48.0},
        {"muscle": "orbicularis_oculi", "side": "left", "units": crows_left},
        {"muscle": "orbicularis_oculi", "side": "right", "units": crows_right},
    ]
    raw = {
        "patient": {"age_years": 45, "sex": "female"},
        "plan": {
            "product": "onabotulinumtoxinA",
            "dilution_ml_per_100u": 2.5,
            "injections": points,
        },
    }
    validated: TreatmentRequest = SCHEDULE_REQUEST.validate_python(raw)
    return validated


@pytest.fixture(scope="module")
def predictor(bundle: Path) -> Predictor:
    return Predictor.load(bundle, intra_op_threads=1)


def test_days_are_the_models_curves(predictor: Predictor) -> None:
    request = _plan(6.0, 6.0)
    got = schedule(predictor, request, DAY)
    ScheduleResponse.model_validate(
        {**got, "model": {"name": "m", "version": "1"}, "request_id": "r"}
    )
    p = predictor.predict_treatments(request_inputs(request))
    days = p.curves.days_to(np.log([[0.9], [0.5], [0.1]]), slice(None))
    assert got["treatment_date"] == "2026-12-06" and got["review_date"] == "2026-12-20"
    assert {r["region"] for r in got["regions"]} == {REGIONS[c] for c in p.region}
    touch_ups = [r["touch_up_day"] for r in got["regions"]]
    assert touch_ups == sorted(touch_ups)  # earliest first
    for region in got["regions"]:
        rows = np.flatnonzero(p.region == REGIONS.index(region["region"]))
        for side, row in zip(region["sides"], rows, strict=True):
            for key, k in (("day_10", 0), ("day_50", 1), ("day_90", 2)):
                assert side[key] == pytest.approx(days[k, row], abs=0.05)  # a tenth of a day
            assert side["date_50"] == (DAY + timedelta(days=round(side["day_50"]))).isoformat()
        first = rows[np.argmin(p.median_days[rows])]
        assert region["touch_up_day"] == pytest.approx(p.median_days[first], abs=0.05)
        assert region["review_day"] == pytest.approx(days[0, first], abs=0.05)
        late = p.region_late_asymmetry_risk[first]
        if np.isnan(late):
            assert region["late_asymmetry_risk"] is None
        else:
            assert region["late_asymmetry_risk"] == pytest.approx(late)


def test_sessions_stagger_regions_that_drift_apart(predictor: Predictor) -> None:
    got = schedule(predictor, _plan(8.0, 2.0), DAY)
    days = {r["region"]: r["touch_up_day"] for r in got["regions"]}
    sessions = got["sessions"]
    assert [x for s in sessions for x in s["regions"]] == [r["region"] for r in got["regions"]]
    for s in sessions:
        # Every region of a session within STAGGER_DAYS of its first; the next session later.
        assert all(0 <= days[r] - s["day"] <= STAGGER_DAYS for r in s["regions"])
        assert s["day"] == days[s["regions"][0]]
    for a, b in itertools.pairwise(sessions):
        assert b["day"] - a["day"] > STAGGER_DAYS
    assert got["staggered"] == (len(sessions) > 1)


def test_the_next_session_brings_uneven_sides_together(predictor: Predictor) -> None:
    # Crow's feet 9 U on the left, 3 U on the right: the right side wears off first.
    request = _plan(9.0, 3.0)
    nxt = schedule(predictor, request, DAY)["next_session"]
    crows = next(r for r in nxt["regions"] if r["region"] == "crows_feet")
    assert crows["apart_before"] > SIDES_APART_DAYS
    assert nxt["status"] in ("adjusted", "improved")
    assert crows["apart_after"] < crows["apart_before"] - 3.0
    changes = {(c["side"], c["factor"]) for c in nxt["dose_changes"]}
    assert ("right", max(f for s, f in changes if s == "right")) in changes
    assert all(f > 1.0 for s, f in changes if s == "right")  # more where it wears off first
    assert all(f < 1.0 for s, f in changes if s == "left")
    # The same points in the same order, units changed only on the crow's feet, within label.
    before, after = request["plan"]["injections"], nxt["plan"]["injections"]
    assert [(p["muscle"], p["side"]) for p in before] == [(p["muscle"], p["side"]) for p in after]
    for p, q in zip(before, after, strict=True):
        if MUSCLE_REGION[p["muscle"]] != "crows_feet":
            assert p == q
    u_eq = sum(q["units"] for q in after if MUSCLE_REGION[q["muscle"]] == "crows_feet")
    assert u_eq * UNIT_FACTOR["onabotulinumtoxinA"] <= LABEL_RANGE_U_EQ["crows_feet"][1]


def test_a_batchs_schedule_is_each_treatments(predictor: Predictor, data: TrainingData) -> None:
    requests = list(registry_requests(data.registry.tables).values())[:40]
    p = predictor.predict_treatments(requests_inputs(requests))
    rows = schedule_rows(p)
    for i, request in enumerate(requests[:10]):
        one = schedule(predictor, request, DAY)
        mine = np.flatnonzero((p.treatment == i) & rows.first)
        sessions = {REGIONS[p.region[j]]: int(rows.session[j]) for j in mine}
        for k, s in enumerate(one["sessions"], start=1):
            assert all(sessions[r] == k for r in s["regions"])
        days = {REGIONS[p.region[j]]: float(rows.touch_up_day[j]) for j in mine}
        for region in one["regions"]:
            assert region["touch_up_day"] == pytest.approx(days[region["region"]], abs=0.05)


def test_even_sides_need_no_change(predictor: Predictor) -> None:
    nxt = schedule(predictor, _plan(6.0, 6.0), DAY)["next_session"]
    assert nxt["status"] == "within" and nxt["dose_changes"] == []
    assert all(r["apart_before"] <= SIDES_APART_DAYS for r in nxt["regions"])


# --- POST /v1/schedule --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    log = tmp_path_factory.mktemp("log") / "log.db"
    settings = serving_settings(model=str(bundle), no_auth=True, log_url=f"sqlite:///{log}")
    with live_server(create_app(settings)) as url:
        yield url, log


def test_the_endpoint_answers_the_schedule_and_logs_it(
    server: tuple[str, Path], predictor: Predictor
) -> None:
    url, log = server
    request = _plan(9.0, 3.0)
    body = {k: v for k, v in copy.deepcopy(request).items() if k != "treatment_date"}
    r = httpx.post(f"{url}/v1/schedule", json={**body, "treatment_date": "2026-12-06"})
    assert r.status_code == 200, r.text
    answer = r.json()
    ScheduleResponse.model_validate(answer)
    want = schedule(predictor, request, DAY)
    assert answer["regions"] == want["regions"]
    assert answer["next_session"]["dose_changes"] == want["next_session"]["dose_changes"]
    assert answer["model"] == {"name": "asym-test", "version": "1", "run_id": "run-1"}
    # Without a date: today (UTC).
    today = httpx.post(f"{url}/v1/schedule", json=body).json()
    assert today["treatment_date"] == datetime.now(UTC).date().isoformat()
    # A longer late-stage gap: the regions' risks no higher.
    longer = httpx.post(f"{url}/v1/schedule", json={**body, "late_gap_days": 42}).json()
    assert longer["late_gap_days"] == 42.0
    for a, b in zip(answer["regions"], longer["regions"], strict=True):
        if a["late_asymmetry_risk"] is not None:
            assert b["late_asymmetry_risk"] <= a["late_asymmetry_risk"] + 1e-12
    for _ in range(50):  # the log's writer lingers a little before it writes
        with sqlite3.connect(log) as db:
            ids = [row[0] for row in db.execute("SELECT request_id FROM predictions")]
        if answer["request_id"] in ids:
            break
        time.sleep(0.1)
    assert answer["request_id"] in ids


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"treatment_date": "2026-02-30"}, "treatment_date"),
        ({"treatment_date": "6.12.2026"}, "treatment_date"),
        ({"late_gap_days": -3}, "late_gap_days"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(
    server: tuple[str, Path], change: dict[str, Any], field: str
) -> None:
    body = {k: v for k, v in _plan(6.0, 6.0).items() if k != "treatment_date"}
    r = httpx.post(f"{server[0]}/v1/schedule", json={**body, **change})
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == field
