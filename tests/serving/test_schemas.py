"""Request models follow the contract: every column, its range, enum and nullability."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from data.contract import DURATIONS, FOLLOWUPS, INJECTIONS, TREATMENTS, Column, Kind, Table
from features.request import PATIENT_COLUMNS
from features.spec import FEATURE_NAMES
from serving.contributions import FEATURE_GROUPS
from serving.schemas import (
    PREDICT_REQUEST,
    Duration,
    EarlierTreatment,
    Injection,
    Patient,
    Plan,
    Review,
    risk_band,
)
from serving.service import canonical_sha256


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
def test_models_derive_from_the_contract(model: Any, columns: list[Column]) -> None:
    schema = TypeAdapter(model).json_schema()
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


def test_minimal_request_is_valid_and_fills_every_absent_field() -> None:
    r = PREDICT_REQUEST.validate_python(_REQUEST)
    assert r["history"] == []
    assert r["patient"]["ancestry"] is None
    assert r["plan"]["injections"][0]["x_mm"] is None
    # Every field, in the schema's order, whatever the client's order: the canonical hash and
    # `features.request` rely on it.
    shuffled = {"plan": dict(reversed(_REQUEST["plan"].items())), "patient": _REQUEST["patient"]}
    again = PREDICT_REQUEST.validate_python(shuffled)
    assert list(again) == ["patient", "plan", "history", "late_gap_days"]
    assert list(again["patient"]) == list(PATIENT_COLUMNS)
    assert again == r


def test_canonical_hash_ignores_order_spacing_and_explicit_nulls() -> None:
    base = canonical_sha256(PREDICT_REQUEST.validate_python(_REQUEST))
    reordered = {"plan": dict(reversed(_REQUEST["plan"].items())), "patient": _REQUEST["patient"]}
    explicit = copy.deepcopy(_REQUEST)
    explicit["patient"]["ancestry"] = None
    explicit["history"] = []
    for same in (reordered, explicit):
        assert canonical_sha256(PREDICT_REQUEST.validate_python(same)) == base
    other = copy.deepcopy(_REQUEST)
    other["plan"]["injections"][0]["units"] = 5.5
    assert canonical_sha256(PREDICT_REQUEST.validate_python(other)) != base
    assert len(base) == 64


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
        PREDICT_REQUEST.validate_python(body)
    assert err.value.errors()[0]["loc"] == loc


def _earlier(durations: list[dict[str, Any]]) -> dict[str, Any]:
    return {"days_before": 90, "plan": _REQUEST["plan"], "durations": durations}


def test_midline_duration_only_for_midline_regions() -> None:
    earlier = TypeAdapter(EarlierTreatment)
    ok = {"region": "glabella", "side": "midline", "days": 80, "returned": True}
    assert earlier.validate_python(_earlier([ok]))["durations"][0]["side"] == "midline"
    bad = {"region": "neck", "side": "midline", "days": 80, "returned": True}
    with pytest.raises(
        ValidationError, match="midline is allowed only for regions chin, glabella"
    ) as err:
        earlier.validate_python(_earlier([ok, bad]))
    assert err.value.errors()[0]["loc"] == ("durations", 1, "side")


def test_one_durations_row_per_region_and_side() -> None:
    row = {"region": "neck", "side": "left", "days": 80, "returned": True}
    with pytest.raises(ValidationError, match="two durations rows for region neck, side left"):
        TypeAdapter(EarlierTreatment).validate_python(_earlier([row, row]))


def test_bool_is_not_an_int() -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(Duration).validate_python(
            {"region": "neck", "side": "left", "days": 80, "returned": 1}
        )


@pytest.mark.parametrize(
    ("risk", "band"), [(0.0, "low"), (0.149, "low"), (0.15, "moderate"), (0.4, "high")]
)
def test_risk_bands(risk: float, band: str) -> None:
    assert risk_band(risk) == band


def test_feature_groups_cover_every_feature_once() -> None:
    names = [n for group in FEATURE_GROUPS.values() for n in group]
    assert sorted(names) == sorted(FEATURE_NAMES)
    assert {"history", "demographics", "thickness", "placement:frontalis"} <= set(FEATURE_GROUPS)


def test_every_midline_point_on_a_paired_muscle_is_reported_at_its_side() -> None:
    points = [
        {"muscle": "procerus", "side": "midline", "units": 4},
        {"muscle": "frontalis", "side": "midline", "units": 2},
        {"muscle": "frontalis", "side": "left", "units": 2},
        {"muscle": "masseter", "side": "midline", "units": 20},
    ]
    body = {**_REQUEST, "plan": {**_REQUEST["plan"], "injections": points}}
    with pytest.raises(ValidationError) as err:
        PREDICT_REQUEST.validate_python(body)
    errors = err.value.errors()
    assert [e["loc"] for e in errors] == [
        ("plan", "injections", 1, "side"),
        ("plan", "injections", 3, "side"),
    ]
    assert [e["type"] for e in errors] == ["midline_on_paired_muscle"] * 2
    assert "frontalis takes left or right" in errors[0]["msg"]
    assert "masseter takes left or right" in errors[1]["msg"]


def test_a_midline_point_is_reported_even_when_another_point_is_wrong() -> None:
    # Each point is checked on its own: one bad value elsewhere must not hide this rule, or a
    # clinic would fix one error only to be told of the next.
    points = [
        {"muscle": "frontalis", "side": "midline", "units": 2},
        {"muscle": "procerus", "side": "midline", "units": -4},
    ]
    body = {**_REQUEST, "plan": {**_REQUEST["plan"], "injections": points}}
    with pytest.raises(ValidationError) as err:
        PREDICT_REQUEST.validate_python(body)
    found = {(e["loc"], e["type"]) for e in err.value.errors()}
    assert (("plan", "injections", 0, "side"), "midline_on_paired_muscle") in found
    assert ("plan", "injections", 1, "units") in {loc for loc, _ in found}
