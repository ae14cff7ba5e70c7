# Over 400 lines: the request models, derived from the contract, and their answers are one API.
"""Request and response models of the prediction API.

The request models are derived from the registry contract (``data.contract``): every contract
column becomes a field of the same name, whose type, range, enum and nullability come from its
``Column``; nothing is restated here. A request is what ``features.request.TreatmentRequest``
describes: the patient (the patient columns of ``treatments``), the plan (product, dilution and the
``injections`` rows) and the patient's earlier treatments (plan, ``followups`` review and
``durations`` rows). Unknown fields are refused, so a typo is never silently ignored.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal, NotRequired

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    create_model,
)
from pydantic_core import InitErrorDetails, PydanticCustomError
from typing_extensions import TypedDict  # pydantic needs it on Python < 3.12

from bundle.heads import OUTCOMES
from bundle.late_asymmetry import LATE_GAP_DAYS
from data.contract import (
    DURATIONS,
    FOLLOWUPS,
    INJECTIONS,
    MIDLINE,
    MIDLINE_MUSCLES,
    MIDLINE_REGIONS,
    REGIONS,
    SIDES,
    TREATMENTS,
    Column,
    Kind,
)
from features.request import PATIENT_COLUMNS, TreatmentRequest

MAX_INJECTIONS: Final = 200
"""Most injection points in one plan (a full-face session has well under 100)."""
MAX_HISTORY: Final = 200
"""Most earlier treatments in one request (one every quarter for 50 years)."""
MAX_DAYS_BEFORE: Final = 36_500
"""Oldest earlier treatment, days before this one (100 years)."""
MAX_DURATIONS: Final = len(REGIONS) * len(SIDES)
"""Most durations rows of one earlier treatment: one per (region, side)."""
MAX_LATE_GAP_DAYS: Final = 180.0
"""Largest late-stage asymmetry gap asked for (half a year: beyond it no two sides differ)."""

MODERATE_RISK: Final = 0.15
"""Risk band thresholds: risk < 0.15 is low, 0.15 <= risk < 0.40 moderate, risk >= 0.40 high.

A product decision, not a fitted value: about 2/3 and 1.75 times the visible-asymmetry rate at
review of the simulated demo registry (~23%); clinics may read the number itself instead."""
HIGH_RISK: Final = 0.40
TOP_CONTRIBUTIONS: Final = 5
"""Contributions listed per answer, largest |log_odds| first."""


_STRICT: Final = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)
"""Refuses unknown fields, NaN/infinity and coercion.

Strict: "12" is not a number and 0 is not false, so a client's type mistake is reported rather
than guessed at; NaN and infinity are not JSON, though Python's parser accepts them."""


def _allowed(column: Column) -> str:
    """``Column.allowed()``, except booleans: JSON has true and false (not the CSV spellings)."""
    return "true or false" if column.kind is Kind.BOOL else column.allowed()


def _field(column: Column) -> Any:
    """The annotation of a contract column: its type, range, enum and nullability."""
    kinds: dict[Kind, Any] = {
        Kind.FLOAT: float,
        Kind.INT: int,
        Kind.BOOL: bool,
        Kind.STRING: str,
        Kind.DATE: str,
    }
    annotation: Any = Literal[column.values] if column.kind is Kind.ENUM else kinds[column.kind]
    low, high = column.minimum, column.maximum
    ge = None if column.exclusive_minimum else low
    gt = low if column.exclusive_minimum else None
    unit = f" Unit: {column.unit}." if column.unit else ""
    description = f"{column.description}{unit} Allowed: {_allowed(column)}."
    if column.nullable:
        description += " Optional (null or absent: unknown)."
        field = Field(default=None, description=description, ge=ge, gt=gt, le=high)
        return NotRequired[Annotated[annotation | None, field]]
    return Annotated[annotation, Field(description=description, ge=ge, gt=gt, le=high)]


def typed_dict(name: str, doc: str, fields: dict[str, Any]) -> Any:
    """A strict TypedDict that pydantic validates (and FastAPI documents) like a model.

    TypedDicts, not models: a request is validated into the plain dicts that
    ``features.request`` reads, three times faster than into model instances and with no dump
    afterwards (a batch of 1000 treatments: 9 ms instead of 36 + 31 ms). Absent optional fields
    are filled with their defaults, so every validated request has every key, in field order.
    """
    make: Any = TypedDict  # the functional form, with a name made at run time
    out: Any = make(name, fields)
    out.__doc__ = doc
    out.__pydantic_config__ = _STRICT
    return out


def _list_of(item: Any) -> Any:
    """``list[item]`` for an item type made at run time (mypy cannot see it as a type)."""
    return list.__class_getitem__(item)


def _columns(name: str, doc: str, columns: tuple[Column, ...], **extra: Any) -> Any:
    """A TypedDict with one field per contract column, plus ``extra`` fields (annotations)."""
    return typed_dict(name, doc, {c.name: _field(c) for c in columns} | extra)


def _without_id(columns: tuple[Column, ...]) -> tuple[Column, ...]:
    return tuple(c for c in columns if c.name != "treatment_id")


def _rule_broken(kind: str, message: str, field: str, value: object) -> ValidationError:
    """A validation error located at ``field`` of the item being checked (not at the item)."""
    error = InitErrorDetails(type=PydanticCustomError(kind, message), loc=(field,), input=value)
    return ValidationError.from_exception_data(kind, [error])


ALLOWED: Final = {
    c.name: _allowed(c) for t in (TREATMENTS, INJECTIONS, FOLLOWUPS, DURATIONS) for c in t.columns
}
"""What each contract field allows, in words, for error messages (same name, same rule)."""


Patient: Final = _columns(
    "Patient",
    "The patient: the patient columns of contract table ``treatments``.",
    tuple(TREATMENTS.column(n) for n in PATIENT_COLUMNS),
)


def _list_with_midline_rule(item: Any, key: str, allowed: frozenset[str], kind: str) -> Any:
    """``list[item]`` whose items may be ``midline`` only where their ``key`` allows it.

    ``key`` is muscle or region. Checked on each item, so that the error points at its ``side``
    and is reported whatever is wrong elsewhere in the list.
    """
    nouns = {"muscle": "muscles", "region": "regions"}

    def check(item: dict[str, Any]) -> dict[str, Any]:
        if item["side"] == MIDLINE and item[key] not in allowed:
            raise _rule_broken(
                kind,
                f"side midline is allowed only for {nouns[key]} {', '.join(sorted(allowed))}; "
                f"{item[key]} takes left or right",
                "side",
                item["side"],
            )
        return item

    return _list_of(Annotated[item, AfterValidator(check)])


Injection: Final = _columns(
    "Injection",
    "One injection point: contract table ``injections`` without treatment_id.",
    _without_id(INJECTIONS.columns),
)
Plan: Final = _columns(
    "Plan",
    "A treatment plan: product and dilution (``treatments`` columns) and injection points.",
    (TREATMENTS.column("product"), TREATMENTS.column("dilution_ml_per_100u")),
    injections=Annotated[
        _list_with_midline_rule(Injection, "muscle", MIDLINE_MUSCLES, "midline_on_paired_muscle"),
        Field(
            min_length=1,
            max_length=MAX_INJECTIONS,
            description=f"The injection points, 1 to {MAX_INJECTIONS}.",
        ),
    ],
)
Review: Final = _columns(
    "Review",
    "The review visit of an earlier treatment: contract table ``followups``.",
    _without_id(FOLLOWUPS.columns),
)


def _one_per_region_side(durations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    seen: set[tuple[str, str]] = set()
    for d in durations:
        key = (d["region"], d["side"])
        if key in seen:
            raise ValueError(f"two durations rows for region {key[0]}, side {key[1]}")
        seen.add(key)
    return durations


Duration: Final = _columns(
    "Duration",
    "When activity came back after an earlier treatment: contract table ``durations``.",
    _without_id(DURATIONS.columns),
)
EarlierTreatment: Final = typed_dict(
    "EarlierTreatment",
    "One earlier treatment of the same patient.",
    {
        "days_before": Annotated[
            int,
            Field(ge=1, le=MAX_DAYS_BEFORE, description="Days before this treatment (1 or more)."),
        ],
        "plan": Plan,
        "review": NotRequired[
            Annotated[
                Review | None,
                Field(default=None, description="Its review visit, if it happened before today."),
            ]
        ],
        "durations": NotRequired[
            Annotated[
                _list_with_midline_rule(
                    Duration, "region", MIDLINE_REGIONS, "midline_on_paired_region"
                ),
                Field(
                    default_factory=list,
                    max_length=MAX_DURATIONS,
                    description="Its durations rows known today, at most one per (region, side).",
                ),
                AfterValidator(_one_per_region_side),
            ]
        ],
    },
)
PREDICT_FIELDS: Final[dict[str, Any]] = {
    "patient": Patient,
    "plan": Plan,
    "history": NotRequired[
        Annotated[
            _list_of(EarlierTreatment),
            Field(
                default_factory=list,
                max_length=MAX_HISTORY,
                description="The patient's earlier treatments (any order); [] for a first "
                "treatment.",
            ),
        ]
    ],
    "late_gap_days": NotRequired[
        Annotated[
            float,
            Field(
                default=LATE_GAP_DAYS,
                ge=0,
                le=MAX_LATE_GAP_DAYS,
                description="Late-stage asymmetry: one side wearing off at least this many "
                f"days before the other (default {LATE_GAP_DAYS:g}).",
            ),
        ]
    ],
}
"""The fields of a predict request (other requests add their own)."""
PredictRequest: Final = typed_dict(
    "PredictRequest",
    "One treatment to predict: the patient, the plan and the patient's earlier treatments.",
    PREDICT_FIELDS,
)
"""A request as validated: the plain dicts of ``features.request.TreatmentRequest``."""
BatchRequest: Final = typed_dict(
    "BatchRequest",
    "Several treatments, answered together (at most the server's max_batch).",
    {"requests": Annotated[_list_of(PredictRequest), Field(min_length=1)]},
)
PREDICT_REQUEST: Final = TypeAdapter[TreatmentRequest](PredictRequest)
"""Validates one request (outside FastAPI: the CLI, tests)."""


# --- Responses ----------------------------------------------------------------------------------


class ModelInfo(BaseModel):
    """Which model answered."""

    name: str = Field(description="Registered model name.")
    version: str = Field(description="Registered version number (the MLflow Model Registry's).")
    run_id: str | None = Field(default=None, description="MLflow run that trained it.")


class DifferenceInterval(BaseModel):
    """A predicted post-treatment left-minus-right difference, mm."""

    expected: float = Field(description="Median prediction, mm.")
    low_10: float = Field(description="10th percentile, mm.")
    high_90: float = Field(description="90th percentile, mm.")


class LongevityRow(BaseModel):
    """When muscle activity is predicted to return, for one treated region and side."""

    region: str = Field(json_schema_extra={"enum": list(REGIONS)}, description="Treated region.")
    side: str = Field(json_schema_extra={"enum": list(SIDES)}, description="Treated side.")
    median_days: float = Field(description="Predicted median days until activity returns.")
    p_not_returned_90: float = Field(ge=0, le=1, description="P(not yet returned at day 90).")
    p_not_returned_120: float = Field(ge=0, le=1, description="P(not yet returned at day 120).")
    p_not_returned_150: float = Field(ge=0, le=1, description="P(not yet returned at day 150).")


class RegionLateAsymmetry(BaseModel):
    """Late-stage asymmetry of one region treated on both sides."""

    region: str = Field(json_schema_extra={"enum": list(REGIONS)}, description="The region.")
    risk: float = Field(
        ge=0, le=1, description="P(one side wears off gap_days or more before the other)."
    )


class LateAsymmetry(BaseModel):
    """Risk that one side of a region treated on both sides wears off well before the other.

    Each side keeps its predicted curve; the two sides are joined by the dependence fitted on
    training pairs (they share the patient, the session and the product), so the risk is not
    that of two independent sides.
    """

    risk: float = Field(
        ge=0,
        le=1,
        description="P(some region's sides wear off gap_days or more apart): regions taken as "
        "independent of each other (0 when no region is treated on both sides).",
    )
    gap_days: float = Field(description="The gap asked for (late_gap_days of the request).")
    regions: list[RegionLateAsymmetry] = Field(
        description="Per region treated on both sides, in contract order."
    )
    first_region: str | None = Field(
        json_schema_extra={"enum": [*REGIONS, None]},
        description="Region expected to wear off first (null: no longevity row).",
    )
    first_side: str | None = Field(
        json_schema_extra={"enum": [*SIDES, None]}, description="Its side."
    )


class Contribution(BaseModel):
    """How much a group of features moves this prediction (see PredictResponse)."""

    group: str = Field(description="Feature group (e.g. placement:frontalis, history).")
    log_odds: float = Field(
        description="What this group adds to the log-odds of asymmetry_risk (> 0: raises it)."
    )


class PlanWarning(BaseModel):
    """Something in the plan a clinician should look at (not a prediction)."""

    code: str = Field(
        description="dose_above_label_range, frontalis_point_low or corrugator_point_low."
    )
    message: str
    region: str | None = Field(
        json_schema_extra={"enum": [*REGIONS, None]}, description="The region it is about."
    )
    side: str | None = Field(
        json_schema_extra={"enum": [*SIDES, None]},
        description="The side whose lowest point it is about (null: the region, both sides).",
    )
    muscle: str | None = Field(
        description="The muscle whose lowest point it is about (null: the region's dose)."
    )


class _Answer(BaseModel):
    """Every answer for one treatment.

    ``contributions`` split the log-odds of ``asymmetry_risk`` between feature groups, exported
    with the model (a path attribution of the risk trees): over all groups they add up, with the
    model's base, to logit(asymmetry_risk), where the base is calibration.intercept +
    calibration.slope * contribution_base of the ``asymmetry_risk`` head of ``GET /v1/model``;
    the largest in absolute value are listed. They explain this model's answer, not the
    patient's physiology.
    """

    risk_band: Literal["low", "moderate", "high"] = Field(
        description="Band of asymmetry_risk: low < 0.15 <= moderate < 0.40 <= high."
    )
    differences: dict[str, DifferenceInterval] = Field(
        description="Post-treatment left-minus-right differences by followups column, mm."
    )
    longevity: list[LongevityRow] = Field(description="One row per treated region and side.")
    late_asymmetry: LateAsymmetry
    contributions: list[Contribution] = Field(
        max_length=TOP_CONTRIBUTIONS,
        description=f"Top {TOP_CONTRIBUTIONS} feature groups by |log_odds|; [] if not asked for.",
    )
    warnings: list[PlanWarning]
    model: ModelInfo
    request_id: str


_OUTCOME_FIELDS: Final[dict[str, Any]] = {
    o.name: (float, Field(ge=0, le=1, description=o.description)) for o in OUTCOMES
}
PredictResponse: Final = create_model(
    "PredictResponse", __base__=_Answer, __doc__=_Answer.__doc__, **_OUTCOME_FIELDS
)
"""One calibrated probability per binary outcome (``bundle.heads``), then ``_Answer``'s fields."""


class BatchResponse(BaseModel):
    """Answers in request order."""

    predictions: list[PredictResponse]
    model: ModelInfo
    request_id: str


class Health(BaseModel):
    """Liveness or readiness."""

    status: Literal["ok", "unavailable"]
    model: ModelInfo | None = None


class ErrorDetail(BaseModel):
    """One problem with a request."""

    loc: list[str | int] = Field(description="Path of the field in the request.")
    field: str = Field(description="The path written as a.b[0].c.")
    msg: str
    type: str
    allowed: str | None = Field(default=None, description="What the field allows, if known.")


class ErrorResponse(BaseModel):
    """Why a request was refused."""

    detail: list[ErrorDetail] | str


def risk_band(risk: float) -> Literal["low", "moderate", "high"]:
    """The band of a risk (``MODERATE_RISK``, ``HIGH_RISK``)."""
    if risk < MODERATE_RISK:
        return "low"
    if risk < HIGH_RISK:
        return "moderate"
    return "high"
