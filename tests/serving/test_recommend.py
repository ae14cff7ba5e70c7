"""``POST /v1/recommend`` on a real server, and ``asym recommend`` on the same treatments."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from data.contract import TABLES
from data.registry import read_registry
from features.request import TreatmentRequest
from features.tables import registry_requests
from serving.app import create_app
from serving.recommend_cli import recommend_cmd
from serving.recommend_schemas import RecommendResponse
from serving.schemas import PredictResponse
from serving.settings import serving_settings
from tests.serving.live import live_server
from training.dataset import TrainingData

N_TREATMENTS = 150


@pytest.fixture(scope="module")
def export(data: TrainingData, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small export: the last treatments of the registry and their patients' earlier ones."""
    tables = data.registry.tables
    t = tables["treatments"]
    patients = t["patient_id"].isin(t["patient_id"].iloc[-N_TREATMENTS:])
    ids = set(t.loc[patients, "treatment_id"])
    out = tmp_path_factory.mktemp("export")
    for name, frame in tables.items():
        frame[frame["treatment_id"].isin(ids)].to_parquet(out / f"{name}.parquet", index=False)
    return out


@pytest.fixture(scope="module")
def requests(export: Path) -> dict[str, TreatmentRequest]:
    return registry_requests(read_registry(export).tables)


@pytest.fixture(scope="module")
def batch(bundle: Path, export: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``asym recommend`` on the small export."""
    out = tmp_path_factory.mktemp("recommended")
    app = typer.Typer()
    app.command("recommend")(recommend_cmd)
    app.command("noop")(lambda: None)  # two commands: typer keeps "recommend" a subcommand
    args = ["recommend", "--model", str(bundle), "--registry", str(export), "--out", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "improved" in result.output
    return out


@pytest.fixture(scope="module")
def log_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("log") / "predictions.db"


@pytest.fixture(scope="module")
def client(bundle: Path, log_db: Path) -> Iterator[httpx.Client]:
    settings = serving_settings(
        model=str(bundle), no_auth=True, log_url=f"sqlite:///{log_db}", intra_op_threads=1
    )
    with live_server(create_app(settings)) as url, httpx.Client(base_url=url, timeout=60) as c:
        yield c


@pytest.fixture(scope="module")
def summary(batch: Path) -> pd.DataFrame:
    return pd.read_parquet(batch / "recommendations.parquet")


def _leaves(value: Any, path: str = "") -> dict[str, Any]:
    """Every leaf of a JSON answer by its path."""
    if isinstance(value, dict):
        return {
            k: v for key, item in value.items() for k, v in _leaves(item, f"{path}.{key}").items()
        }
    if isinstance(value, list):
        return {
            k: v for n, item in enumerate(value) for k, v in _leaves(item, f"{path}[{n}]").items()
        }
    return {path: value}


def _improved(summary: pd.DataFrame) -> str:
    return str(summary.loc[summary["status"] == "improved", "treatment_id"].iloc[0])


def test_the_answer_has_the_declared_shape_and_says_what_it_is(
    client: httpx.Client, requests: dict[str, TreatmentRequest], summary: pd.DataFrame
) -> None:
    request = requests[_improved(summary)]
    r = client.post("/v1/recommend", json=request)
    assert r.status_code == 200, r.text
    body = r.json()
    # What the route dumps is exactly a valid RecommendResponse, field for field.
    assert RecommendResponse.model_validate_json(r.content).model_dump(mode="json") == body
    assert body["status"] == "improved"
    assert "a prediction learned from registry data, not a causal guarantee" in (
        body["notice"].lower()
    )
    assert body["model"] == {"name": "asym-test", "version": "1", "run_id": "run-1"}
    # before and after are the /v1/predict answers of the two plans.
    suggested = {**request, "plan": body["suggested_plan"]}
    for plan_request, answer in ((request, body["before"]), (suggested, body["after"])):
        predicted = client.post("/v1/predict", json=plan_request).json()
        PredictResponse.model_validate(answer)
        del predicted["request_id"], answer["request_id"]
        # The same models on the same rows, scored in a batch of two: equal to float32 sums.
        got, expected = _leaves(answer), _leaves(predicted)
        assert got.keys() == expected.keys()
        for key, value in expected.items():
            assert got[key] == (
                pytest.approx(value, abs=1e-6) if isinstance(value, float) else value
            )
    assert body["after"]["asymmetry_risk"] <= body["before"]["asymmetry_risk"] - 0.04
    # The suggested plan: the same points in the same order, the changes listed.
    original = request["plan"]["injections"]
    shown = body["suggested_plan"]["injections"]
    assert [(p["muscle"], p["side"]) for p in shown] == [(p["muscle"], p["side"]) for p in original]
    changed = [i for i, (a, b) in enumerate(zip(original, shown, strict=True)) if a != b]
    assert [c["index"] for c in body["changes"]] == changed
    assert body["checks"]["passed"] and body["search"]["candidates"] > 1
    assert body["constraints"] == {
        "max_dose_change": 0.25,
        "max_move_mm": 5.0,
        "keep": [],
        "max_changed_points": None,
    }


def test_constraints_are_applied(
    client: httpx.Client, requests: dict[str, TreatmentRequest], summary: pd.DataFrame
) -> None:
    request = requests[_improved(summary)]
    n = len(request["plan"]["injections"])
    keep = list(range(0, n, 2))
    body = client.post(
        "/v1/recommend",
        json={**request, "constraints": {"keep": keep, "max_changed_points": 1, "max_move_mm": 0}},
    ).json()
    assert body["constraints"]["keep"] == keep
    assert len(body["changes"]) <= 1
    assert all(c["index"] not in keep and c["moved_mm"] == 0 for c in body["changes"])


@pytest.mark.parametrize(
    ("constraints", "field", "kind"),
    [
        ({"max_dose_change": 0.9}, "constraints.max_dose_change", "less_than_equal"),
        ({"max_dose_change": "0.1"}, "constraints.max_dose_change", "float_type"),
        ({"max_move_mm": -1}, "constraints.max_move_mm", "greater_than_equal"),
        ({"max_move_mm": 11}, "constraints.max_move_mm", "less_than_equal"),
        ({"max_changed_points": 0}, "constraints.max_changed_points", "greater_than_equal"),
        ({"keep": [-1]}, "constraints.keep[0]", "greater_than_equal"),
        ({"keep": [0, 500]}, "constraints.keep[1]", "keep_out_of_plan"),
        ({"max_units": 3}, "constraints.max_units", "extra_forbidden"),
    ],
)
def test_bad_constraints_get_a_422_naming_the_field(
    client: httpx.Client,
    requests: dict[str, TreatmentRequest],
    constraints: dict[str, Any],
    field: str,
    kind: str,
) -> None:
    request = next(iter(requests.values()))
    r = client.post("/v1/recommend", json={**request, "constraints": constraints})
    assert r.status_code == 422, r.text
    (error,) = r.json()["detail"]
    assert (error["field"], error["type"]) == (field, kind)


def test_the_batch_command_and_the_endpoint_agree(
    client: httpx.Client,
    requests: dict[str, TreatmentRequest],
    summary: pd.DataFrame,
    batch: Path,
) -> None:
    injections = pd.read_parquet(batch / "injections.parquet")
    compared = 0
    for status in ("improved", "no_safer_plan", "already_low"):
        for treatment_id in summary.loc[summary["status"] == status, "treatment_id"][:3]:
            row = summary.set_index("treatment_id").loc[treatment_id]
            body = client.post("/v1/recommend", json=requests[treatment_id]).json()
            assert body["status"] == row["status"]
            assert body["before"]["asymmetry_risk"] == pytest.approx(row["asymmetry_risk_before"])
            assert body["after"]["asymmetry_risk"] == pytest.approx(row["asymmetry_risk_after"])
            points = injections[injections["treatment_id"] == treatment_id]
            shown = pd.DataFrame(body["suggested_plan"]["injections"])
            np.testing.assert_allclose(points["units"], shown["units"])
            np.testing.assert_allclose(points["x_mm"], shown["x_mm"].astype(float))
            np.testing.assert_allclose(points["y_mm"], shown["y_mm"].astype(float))
            assert row["changed_points"] == len(body["changes"])
            compared += 1
    assert compared >= 7


def test_the_batch_writes_a_registry_of_the_suggested_plans(
    export: Path, batch: Path, summary: pd.DataFrame, tmp_path: Path
) -> None:
    # The suggested injections with the export's other tables are a valid export.
    for name in TABLES:
        source = batch if name == "injections" else export
        (tmp_path / f"{name}.parquet").write_bytes((source / f"{name}.parquet").read_bytes())
    reg = read_registry(tmp_path)
    assert len(reg.rejects) == 0
    assert len(reg.injections) == len(read_registry(export).injections)
    assert len(summary) == len(reg.treatments)
    assert summary["checks_passed"].all()
    assert set(summary["status"]) == {"improved", "no_safer_plan", "already_low"}
    assert (summary["model_version"] == "1").all()
    unchanged = summary["status"] != "improved"
    assert (summary.loc[unchanged, "changed_points"] == 0).all()
    assert (summary.loc[~unchanged, "changed_points"] > 0).all()


def test_a_recommendation_is_logged(
    client: httpx.Client, requests: dict[str, TreatmentRequest], log_db: Path
) -> None:
    body = client.post("/v1/recommend", json=next(iter(requests.values()))).json()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with sqlite3.connect(log_db) as db:
            rows = db.execute(
                "SELECT outputs FROM predictions WHERE request_id = ?", (body["request_id"],)
            ).fetchall()
        if rows:
            break
        time.sleep(0.1)
    (row,) = rows
    logged = orjson.loads(row[0])
    assert logged["status"] == body["status"]
    assert "patient" not in logged  # the answer, not the request


def test_the_openapi_document_describes_recommend(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    operation = spec["paths"]["/v1/recommend"]["post"]
    response = operation["responses"]["200"]["content"]["application/json"]["schema"]
    assert response == {"$ref": "#/components/schemas/RecommendResponse"}
    schema = spec["components"]["schemas"]["RecommendResponse"]
    assert {"status", "suggested_plan", "changes", "before", "after", "checks", "support"} <= set(
        schema["properties"]
    )
    constraints = spec["components"]["schemas"]["Constraints"]["properties"]
    assert constraints["max_dose_change"]["maximum"] == 0.5


def test_a_bundle_that_cannot_be_used_is_one_line_and_exit_2(tmp_path: Path) -> None:
    app = typer.Typer()
    app.command("recommend")(recommend_cmd)
    app.command("noop")(lambda: None)
    args = ["recommend", "--model", str(tmp_path), "--registry", str(tmp_path), "--out", "x"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert result.output.startswith("error: ") and "manifest" in result.output
