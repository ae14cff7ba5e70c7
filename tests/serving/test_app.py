"""The prediction API on a real uvicorn server (loopback, free port) with a tiny trained bundle."""

from __future__ import annotations

import copy
import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from fastapi import APIRouter

from bundle.predictor import SURVIVAL_DAYS, Predictor
from data.contract import REGIONS, SIDES
from features.request import TreatmentRequest, request_inputs
from features.tables import registry_requests
from serving.app import create_app
from serving.contributions import FEATURE_GROUPS, group_contributions
from serving.deps import Caller, Holder, Options
from serving.keys import create_key
from serving.predict import predict_registry
from serving.routes.direct import DirectRoute
from serving.schemas import PredictRequest
from serving.settings import serving_settings
from tests.serving.live import live_server
from training.dataset import TrainingData

N_CHECKED = 40


@pytest.fixture(scope="module")
def requests(data: TrainingData) -> dict[str, TreatmentRequest]:
    return registry_requests(data.registry.tables)


@pytest.fixture(scope="module")
def sample(requests: dict[str, TreatmentRequest]) -> list[tuple[str, TreatmentRequest]]:
    """Treatments with and without history, with and without midline points."""
    items = list(requests.items())
    with_history = [i for i in items if i[1].get("history")][: N_CHECKED // 2]
    first = [i for i in items if not i[1].get("history")][: N_CHECKED // 2]
    return with_history + first


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    path = tmp_path_factory.mktemp("keys") / "keys.jsonl"
    return path, create_key(path, "north"), create_key(path, "ops", admin=True)


@pytest.fixture(scope="module")
def log_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("log") / "predictions.db"


@pytest.fixture(scope="module")
def base_url(bundle: Path, keys: tuple[Path, str, str], log_db: Path) -> Iterator[str]:
    settings = serving_settings(
        model=str(bundle), keys_file=keys[0], log_url=f"sqlite:///{log_db}", intra_op_threads=1
    )
    with live_server(create_app(settings)) as url:
        yield url


@pytest.fixture(scope="module")
def client(base_url: str, keys: tuple[Path, str, str]) -> Iterator[httpx.Client]:
    # One keep-alive connection for the whole module, as a clinic's client would hold.
    with httpx.Client(base_url=base_url, headers={"X-API-Key": keys[1]}, timeout=30) as c:
        yield c


@pytest.fixture(scope="module")
def predictor(bundle: Path) -> Predictor:
    return Predictor.load(bundle, intra_op_threads=1)


def _assert_answer_equals(body: dict[str, Any], p: Any, i: int = 0) -> None:
    """One response equals row i of ``Predictions`` to 1e-5."""
    assert body["asymmetry_risk"] == pytest.approx(float(p.asymmetry_risk[i]), abs=1e-5)
    for target, q in p.differences.items():
        got = body["differences"][target]
        for key, name in (("q50", "expected"), ("q10", "low_10"), ("q90", "high_90")):
            assert got[name] == pytest.approx(float(q[key][i]), abs=1e-5)
    rows = np.flatnonzero(p.treatment == i)
    assert [(r["region"], r["side"]) for r in body["longevity"]] == [
        (REGIONS[p.region[j]], SIDES[p.side[j]]) for j in rows
    ]
    for r, j in zip(body["longevity"], rows, strict=True):
        assert r["median_days"] == pytest.approx(float(p.median_days[j]), abs=1e-5)
        for d in SURVIVAL_DAYS:
            assert r[f"p_not_returned_{d}"] == pytest.approx(float(p.survival[d][j]), abs=1e-5)
    late = body["late_asymmetry"]
    assert late["risk"] == pytest.approx(float(p.late_asymmetry_risk[i]), abs=1e-5)
    assert late["gap_days"] == float(p.late_gap_days[i])
    # Each region treated on both sides once, with its pair's risk.
    paired = [j for j in rows if p.side[j] == 0 and not np.isnan(p.region_late_asymmetry_risk[j])]
    assert [r["region"] for r in late["regions"]] == [REGIONS[p.region[j]] for j in paired]
    for r, j in zip(late["regions"], paired, strict=True):
        assert r["risk"] == pytest.approx(float(p.region_late_asymmetry_risk[j]), abs=1e-5)
    fr = p.first_region[i]
    assert late["first_region"] == (REGIONS[fr] if fr >= 0 else None)


def _approx(value: Any) -> Any:
    """``value`` with every float wrapped in pytest.approx (1e-9), for comparing answers."""
    if isinstance(value, dict):
        return {k: _approx(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_approx(v) for v in value]
    if isinstance(value, float):
        return pytest.approx(value, rel=1e-9, abs=1e-9)
    return value


# --- Answers ------------------------------------------------------------------------------------


def test_predict_equals_predictor(
    client: httpx.Client,
    predictor: Predictor,
    sample: list[tuple[str, TreatmentRequest]],
) -> None:
    for _, request in sample:
        r = client.post("/v1/predict", json=request)
        assert r.status_code == 200, r.text
        body = r.json()
        expected = predictor.predict_treatments(request_inputs(request))
        _assert_answer_equals(body, expected)
        assert body["model"] == {"name": "asym-test", "version": "1", "run_id": "run-1"}
        assert body["risk_band"] in ("low", "moderate", "high")
        assert len(body["request_id"]) == 32
        # The listed groups: the five largest |sums| of their features' contributions.
        by_group = dict(
            zip(
                FEATURE_GROUPS,
                group_contributions(expected.contributions["asymmetry_risk"])[0],
                strict=True,
            )
        )
        largest = sorted(by_group, key=lambda g: -abs(by_group[g]))[:5]
        assert [c["group"] for c in body["contributions"]] == largest
        for c in body["contributions"]:
            assert c["log_odds"] == pytest.approx(by_group[c["group"]], abs=1e-12)


def test_the_late_asymmetry_gap_is_a_request_option(
    client: httpx.Client, predictor: Predictor, sample: list[tuple[str, TreatmentRequest]]
) -> None:
    _, request = next((t, r) for t, r in sample if len(r["plan"]["injections"]) > 4)
    body = client.post("/v1/predict", json={**request, "late_gap_days": 35}).json()
    expected = predictor.predict_treatments(request_inputs(request), late_gap_days=35.0)
    _assert_answer_equals(body, expected)
    default = client.post("/v1/predict", json=request).json()["late_asymmetry"]
    assert default["gap_days"] == 21.0 and body["late_asymmetry"]["gap_days"] == 35.0
    assert body["late_asymmetry"]["risk"] <= default["risk"]
    for gap in (-1, 181, "21"):
        r = client.post("/v1/predict", json={**request, "late_gap_days": gap})
        assert r.status_code == 422
        assert r.json()["detail"][0]["field"] == "late_gap_days"


def test_predict_equals_batch_scoring(
    client: httpx.Client,
    data: TrainingData,
    bundle: Path,
    sample: list[tuple[str, TreatmentRequest]],
    tmp_path: Path,
) -> None:
    """The server gives `asym predict`'s answers (its risk.parquet) for the same treatments."""
    registry = tmp_path / "registry"
    registry.mkdir()
    for name, table in data.registry.tables.items():
        table.to_parquet(registry / f"{name}.parquet")
    predict_registry(bundle, registry, tmp_path / "out", intra_op_threads=1)
    risk = pd.read_parquet(tmp_path / "out" / "risk.parquet").set_index("treatment_id")
    for tid, request in sample[:10]:
        body = client.post("/v1/predict", json=request).json()
        row = risk.loc[tid]
        assert body["asymmetry_risk"] == pytest.approx(row["asymmetry_risk"], abs=1e-5)
        assert body["late_asymmetry"]["risk"] == pytest.approx(row["late_asymmetry_risk"], abs=1e-5)
        q = body["differences"]["brow_height_diff_mm"]
        assert q["expected"] == pytest.approx(row["brow_height_diff_mm_q50"], abs=1e-5)


def test_batch_equals_singles(
    client: httpx.Client, sample: list[tuple[str, TreatmentRequest]]
) -> None:
    requests = [r for _, r in sample]
    r = client.post("/v1/predict/batch", json={"requests": requests})
    assert r.status_code == 200, r.text
    batch = r.json()
    assert batch["model"] == {"name": "asym-test", "version": "1", "run_id": "run-1"}
    assert len(batch["predictions"]) == len(requests)
    for i, (one, request) in enumerate(zip(batch["predictions"], requests, strict=True)):
        single = client.post("/v1/predict", json=request).json()
        assert one["request_id"] == f"{batch['request_id']}.{i}"
        one.pop("request_id"), single.pop("request_id")
        # ONNX Runtime may vectorise a batch differently: equal up to float rounding.
        assert one == _approx(single)


def test_warnings_come_from_the_plan(client: httpx.Client) -> None:
    request = {
        "patient": {"age_years": 45, "sex": "female"},
        "plan": {
            "product": "onabotulinumtoxinA",
            "dilution_ml_per_100u": 2.5,
            "injections": [
                # 30 U of frontalis (label top 20), one point 5 mm above the brow line (y 20).
                {"muscle": "frontalis", "side": "left", "units": 15, "x_mm": 25, "y_mm": 25},
                {"muscle": "frontalis", "side": "right", "units": 15},
                # Corrugator 3 mm above the orbital rim (y 13).
                {"muscle": "corrugator", "side": "left", "units": 5, "x_mm": 17, "y_mm": 16},
            ],
        },
    }
    body = client.post("/v1/predict", json=request).json()
    codes = {w["code"]: w["message"] for w in body["warnings"]}
    assert set(codes) == {"dose_above_label_range", "frontalis_point_low", "corrugator_point_low"}
    assert "forehead" in codes["dose_above_label_range"]
    assert "left" in codes["frontalis_point_low"]


# --- Validation ---------------------------------------------------------------------------------

_VALID: dict[str, Any] = {
    "patient": {"age_years": 40, "sex": "female", "brow_height_diff_mm": 1.0},
    "plan": {
        "product": "onabotulinumtoxinA",
        "dilution_ml_per_100u": 2.5,
        "injections": [
            {"muscle": "procerus", "side": "midline", "units": 4},
            {"muscle": "frontalis", "side": "left", "units": 2, "x_mm": 20, "y_mm": 45},
        ],
    },
    "history": [
        {
            "days_before": 120,
            "plan": {
                "product": "abobotulinumtoxinA",
                "dilution_ml_per_100u": 2.5,
                "injections": [{"muscle": "mentalis", "side": "midline", "units": 10}],
            },
            "review": {
                "review_day": 14,
                "visible_asymmetry": False,
                "eyelid_ptosis": False,
                "brow_ptosis": False,
            },
            "durations": [{"region": "chin", "side": "midline", "days": 90, "returned": True}],
        }
    ],
}


def _with(path: str, value: Any) -> dict[str, Any]:
    """A copy of the valid request with ``path`` (dots; ints index lists) set, or removed."""
    body = copy.deepcopy(_VALID)
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    node: Any = body
    for p in parents:
        node = node[p]
    if value is _REMOVE:
        del node[last]
    else:
        node[last] = value
    return body


_REMOVE = object()


@pytest.mark.parametrize(
    ("path", "value", "field", "allowed"),
    [
        ("patient.age_years", 17, "patient.age_years", ">= 18 and <= 100"),
        ("patient.age_years", 40.5, "patient.age_years", "an integer"),
        ("patient.sex", "f", "patient.sex", "one of female, male"),
        ("patient.sex", _REMOVE, "patient.sex", "one of female, male"),
        ("patient.ancestry", "martian", "patient.ancestry", "one of east_asian"),
        ("patient.brow_height_diff_mm", 15.5, "patient.brow_height_diff_mm", "<= 15"),
        ("patient.masseter_thickness_left_mm", 2.0, "patient.masseter_thickness_left_mm", ">= 3"),
        ("patient.age", 40, "patient.age", None),  # unknown field: a typo is not ignored
        ("plan.product", "botox", "plan.product", "one of onabotulinumtoxinA"),
        ("plan.dilution_ml_per_100u", 0.1, "plan.dilution_ml_per_100u", ">= 0.5 and <= 10"),
        ("plan.injections", [], "plan.injections", None),
        ("plan.injections.0.units", 0, "plan.injections[0].units", "> 0 and <= 100"),
        ("plan.injections.0.units", 101, "plan.injections[0].units", "<= 100"),
        ("plan.injections.0.muscle", "biceps", "plan.injections[0].muscle", "one of frontalis"),
        ("plan.injections.1.side", "midline", "plan.injections[1].side", "left, right, midline"),
        ("plan.injections.1.depth", "deep", "plan.injections[1].depth", "one of intradermal"),
        ("plan.injections.1.y_mm", 200, "plan.injections[1].y_mm", ">= -160 and <= 100"),
        ("history.0.days_before", 0, "history[0].days_before", None),
        ("history.0.review.review_day", 3, "history[0].review.review_day", ">= 7 and <= 42"),
        ("history.0.review.visible_asymmetry", _REMOVE, "history[0].review.visible_asymmetry",
         "true or false"),
        ("history.0.durations.0.side", "left", None, None),  # valid: chin may be sided
        ("history.0.durations.0.region", "forehead", "history[0].durations[0].side", None),
        ("history.0.durations.0.days", 0, "history[0].durations[0].days", "> 0"),
    ],
)  # fmt: skip
def test_validation_names_the_field(
    client: httpx.Client, path: str, value: Any, field: str | None, allowed: str | None
) -> None:
    r = client.post("/v1/predict", json=_with(path, value))
    if field is None:
        assert r.status_code == 200, r.text
        return
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert field in [d["field"] for d in detail], detail
    hit = next(d for d in detail if d["field"] == field)
    if allowed is not None:
        assert allowed in (hit["allowed"] or ""), hit
    if "midline" in str(value) or path.endswith("region"):
        assert "midline is allowed only" in hit["msg"]


def test_duplicate_durations_refused(client: httpx.Client) -> None:
    body = copy.deepcopy(_VALID)
    body["history"][0]["durations"] *= 2
    r = client.post("/v1/predict", json=body)
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == "history[0].durations"


def test_malformed_json_is_a_client_error(client: httpx.Client) -> None:
    for content in (b'{"patient": ', b"\xff\xfe", b"[1, 2", b"NaN"):
        r = client.post(
            "/v1/predict", content=content, headers={"Content-Type": "application/json"}
        )
        assert r.status_code in (400, 422), (content, r.status_code, r.text)


def test_nan_is_refused(client: httpx.Client) -> None:
    text = json.dumps(_VALID).replace('"brow_height_diff_mm": 1.0', '"brow_height_diff_mm": NaN')
    r = client.post("/v1/predict", content=text, headers={"Content-Type": "application/json"})
    assert r.status_code == 422
    assert r.json()["detail"][0]["field"] == "patient.brow_height_diff_mm"


def test_body_over_limit_is_413(client: httpx.Client) -> None:
    big = json.dumps({**_VALID, "padding": "x" * 1_100_000}).encode()
    r = client.post("/v1/predict", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: the server counts streamed bytes
        for _ in range(20):
            yield b" " * 100_000

    r = client.post("/v1/predict", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    assert client.post("/v1/predict", json=_VALID).status_code == 200  # connection still good


def test_batch_size_limits(client: httpx.Client) -> None:
    assert client.post("/v1/predict/batch", json={"requests": []}).status_code == 422
    r = client.post("/v1/predict/batch", json={"requests": [_VALID] * 1001})
    assert r.status_code == 422
    assert "1000" in r.json()["detail"][0]["msg"]


# --- Auth, health, metrics, model ---------------------------------------------------------------


@pytest.mark.parametrize("key", [None, "", "not-a-key"])
def test_predict_needs_a_known_key(base_url: str, key: str | None) -> None:
    headers = {} if key is None else {"X-API-Key": key}
    r = httpx.post(f"{base_url}/v1/predict", json=_VALID, headers=headers)
    assert r.status_code == 401
    assert "X-API-Key" in r.json()["detail"]


@pytest.mark.parametrize("path", ["/v1/predict", "/v1/predict/batch"])
def test_a_caller_without_a_key_learns_nothing_of_the_schema(base_url: str, path: str) -> None:
    # Authentication comes before validation: an invalid body without a key is a 401, not a 422.
    r = httpx.post(f"{base_url}{path}", json={"patient": {"colour": "red"}})
    assert r.status_code == 401
    assert "X-API-Key" in r.json()["detail"]


def test_health_and_readiness_need_no_key(base_url: str) -> None:
    assert httpx.get(f"{base_url}/healthz").json() == {"status": "ok", "model": None}
    ready = httpx.get(f"{base_url}/readyz")
    assert ready.status_code == 200
    assert ready.json()["model"] == {"name": "asym-test", "version": "1", "run_id": "run-1"}


def test_model_manifest(client: httpx.Client, bundle: Path) -> None:
    r = client.get("/v1/model")
    assert r.status_code == 200
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert r.json()["model_name"] == manifest["model_name"]
    assert r.json()["feature_names"] == manifest["feature_names"]


def _metric(text: str, metric: str, **labels: str) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith(metric) and not line.startswith("#"):
            head, value = line.rsplit(" ", 1)
            got = head[len(metric) :].strip("{}")
            if ",".join(sorted(got.split(","))) == want:
                return float(value)
    return 0.0


def test_metrics_count_requests(client: httpx.Client) -> None:
    before = client.get("/metrics").text
    for _ in range(3):
        client.post("/v1/predict", json=_VALID)
    client.post("/v1/predict", json={"bad": 1})
    after = client.get("/metrics").text
    labels = {"route": "/v1/predict", "method": "POST"}
    ok, bad = {**labels, "status": "200"}, {**labels, "status": "422"}
    assert (
        _metric(after, "asym_http_requests_total", **ok)
        - _metric(before, "asym_http_requests_total", **ok)
        == 3
    )
    assert (
        _metric(after, "asym_http_requests_total", **bad)
        - _metric(before, "asym_http_requests_total", **bad)
        == 1
    )
    assert _metric(after, "asym_model_info", name="asym-test", version="1") == 1
    assert "asym_http_request_duration_seconds_bucket" in after
    assert "asym_prediction_log_failures_total" in after


def test_predictions_are_logged_without_inputs(client: httpx.Client, log_db: Path) -> None:
    answer = client.post("/v1/predict", json=_VALID).json()
    rid = answer.pop("request_id")
    deadline = time.monotonic() + 10
    rows: list[Any] = []
    while not rows and time.monotonic() < deadline:
        time.sleep(0.1)
        with sqlite3.connect(log_db) as db:
            rows = db.execute(
                "select clinic, model_version, input_sha256, outputs from predictions "
                "where request_id = ?",
                (rid,),
            ).fetchall()
    assert rows, "the prediction was not logged"
    clinic, version, sha, outputs = rows[0]
    assert (clinic, version, len(sha)) == ("north", "1", 64)
    # The outputs logged are the answer sent, less which model and request (columns of their own).
    assert answer.pop("model") == {"name": "asym-test", "version": "1", "run_id": "run-1"}
    assert json.loads(outputs) == answer
    assert "age_years" not in outputs  # outputs only, never the patient's data


# --- Reload -------------------------------------------------------------------------------------


def test_reload_needs_an_admin_key(client: httpx.Client) -> None:
    assert client.post("/v1/admin/reload", json={}).status_code == 403


def test_reload(base_url: str, keys: tuple[Path, str, str], bundle: Path) -> None:
    with httpx.Client(base_url=base_url, headers={"X-API-Key": keys[2]}, timeout=60) as admin:
        r = admin.post("/v1/admin/reload", json={"model": str(bundle)})
        assert r.status_code == 200, r.text
        assert r.json()["model"] == {"name": "asym-test", "version": "1", "run_id": "run-1"}
        r = admin.post("/v1/admin/reload", json={"model": str(bundle / "missing")})
        assert r.status_code == 409
        assert "missing" in r.json()["detail"]
        assert admin.get("/readyz").status_code == 200
        assert admin.post("/v1/predict", json=_VALID).status_code == 200


def test_contributions_can_be_left_out(client: httpx.Client) -> None:
    full = client.post("/v1/predict", json=_VALID).json()
    bare = client.post("/v1/predict", params={"contributions": "false"}, json=_VALID).json()
    assert bare["contributions"] == [] and full["contributions"]
    assert bare["asymmetry_risk"] == pytest.approx(full["asymmetry_risk"], abs=1e-9)
    r = client.post("/v1/predict", params={"contributons": "false"}, json=_VALID)
    assert r.status_code == 422  # a misspelt option is refused, not ignored
    # The batch too: each answer as with them, less the list.
    batch = client.post(
        "/v1/predict/batch", params={"contributions": "false"}, json={"requests": [_VALID] * 2}
    ).json()
    assert [a["contributions"] for a in batch["predictions"]] == [[], []]
    full.pop("request_id"), full.pop("contributions")
    for answer in batch["predictions"]:
        answer.pop("request_id"), answer.pop("contributions")
        assert answer == full


# --- The predict routes' handler ----------------------------------------------------------------


async def _with_holder(body: PredictRequest, call: Caller, options: Options, holder: Holder) -> Any:
    return None


async def _without_options(body: PredictRequest, call: Caller) -> Any:
    return None


async def _call_as_holder(body: PredictRequest, call: Holder, options: Options) -> Any:
    return None


async def _served(body: PredictRequest, call: Caller, options: Options) -> Any:
    return None


@pytest.mark.parametrize("endpoint", [_with_holder, _without_options, _call_as_holder])
def test_direct_route_refuses_an_endpoint_it_cannot_serve(endpoint: Any) -> None:
    # When the route is made (at start-up), not with a 500 on its first request.
    router = APIRouter(route_class=DirectRoute)
    with pytest.raises(TypeError, match=f"DirectRoute serves only .*{endpoint.__name__}"):
        router.post("/v1/other")(endpoint)
    assert router.routes == []
    router.post("/v1/other")(_served)
    assert [r.path for r in router.routes] == ["/v1/other"]
