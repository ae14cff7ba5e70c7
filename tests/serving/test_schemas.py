"""Request models follow the contract: every column, its range, enum and nullability."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from data.contract import DURATIONS, FOLLOWUPS, INJECTIONS, TREATMENTS, Column, Kind, Table
from features.request import PATIENT_COLUMNS
from features.spec import FEATURE_NAMES
from serving.schemas import (
    Duration,
    Injection,
    Patient,
    Plan,
    PredictRequest,
    Review,
    risk_band,
)
from serving.service import FEATURE_GROUPS


def _columns(table: Table, names: tuple[str, ...] | None = None) -> list[Column]:
    return [c for c in table.columns if c.name != "treatment_id" and (not names or c.name in names)]


@pytest.mark.parametrize(
    ("model", "columns"),
    [
        (Patient, _columns(TREATMENTS, PATIENT_COLUMNS)),
        (Injection, _columns(INJECTIONS)),
        (Review, _columns(FOLLOWUPS)),
        (Duration, _columns(DURATIONS)),
        (Plan, _columns(TREATMENTS, ("product", "dilution_ml_per_100u"))),
    ],
)
def test_models_derive_from_the_contract(model: type[BaseModel], columns: list[Column]) -> None:
    schema = model.model_json_schema()
    props = schema["properties"]
    assert set(props) - {"injections"} == {c.name for c in columns}
    assert schema["additionalProperties"] is False
    for c in columns:
        prop = props[c.name]
        # Nullable: optional and may be null; otherwise required.
        assert (c.name in schema.get("required", [])) is not c.nullable
        typed = next(p for p in prop.get("anyOf", [prop]) if p.get("type") != "null")
        if c.kind is Kind.ENUM:
            assert tuple(typed["enum"]) == c.values
        if c.minimum is not None:
            key = "exclusiveMinimum" if c.exclusive_minimum else "minimum"
            assert typed[key] == c.minimum
        if c.maximum is not None:
            assert typed["maximum"] == c.maximum
        assert c.description in prop["description"]


_REQUEST: dict[str, Any] = {
    "patient": {"age_years": 40, "sex": "male"},
    "plan": {
        "product": "incobotulinumtoxinA",
        "dilution_ml_per_100u": 2.0,
        "injections": [{"muscle": "mentalis", "side": "midline", "units": 5}],
    },
}


def test_minimal_request_is_valid_and_defaults_history() -> None:
    r = PredictRequest.model_validate(_REQUEST)
    assert r.history == []
    assert r.patient.ancestry is None
    assert r.plan.injections[0].x_mm is None


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"muscle": "frontalis"}, ("plan", "injections", 0, "side")),
        ({"units": "5"}, ("plan", "injections", 0, "units")),  # no coercion from strings
        ({"colour": "red"}, ("plan", "injections", 0, "colour")),
    ],
)
def test_injection_rules(change: dict[str, Any], loc: tuple[Any, ...]) -> None:
    body = copy.deepcopy(_REQUEST)
    body["plan"]["injections"][0].update(change)
    with pytest.raises(ValidationError) as err:
        PredictRequest.model_validate(body)
    assert err.value.errors()[0]["loc"] == loc


def test_midline_duration_only_for_midline_regions() -> None:
    Duration.model_validate({"region": "glabella", "side": "midline", "days": 80, "returned": True})
    with pytest.raises(ValidationError, match="midline is allowed only for regions chin, glabella"):
        Duration.model_validate({"region": "neck", "side": "midline", "days": 80, "returned": True})


def test_bool_is_not_an_int() -> None:
    with pytest.raises(ValidationError):
        Duration.model_validate({"region": "neck", "side": "left", "days": 80, "returned": 1})


@pytest.mark.parametrize(
    ("risk", "band"), [(0.0, "low"), (0.149, "low"), (0.15, "moderate"), (0.4, "high")]
)
def test_risk_bands(risk: float, band: str) -> None:
    assert risk_band(risk) == band


def test_feature_groups_cover_every_feature_once() -> None:
    names = [n for group in FEATURE_GROUPS.values() for n in group]
    assert sorted(names) == sorted(FEATURE_NAMES)
    assert {"history", "demographics", "thickness", "placement:frontalis"} <= set(FEATURE_GROUPS)
