"""Request and response models of ``POST /v1/recommend``: the plan advisor's API.

The request is a ``/v1/predict`` request (``serving.schemas.PredictRequest``) with optional
``constraints``, whose defaults are the advisor's (``serving.advisor.Constraints``). The answer
is what the clinic page draws: the status, the suggested plan in the request's own shape, the
points changed, the full ``/v1/predict`` answers of both plans, the checks, the support flag, what
the search cost, the constraints applied and the advisor's stated margins (``rules``).
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal, NotRequired

from pydantic import AfterValidator, BaseModel, Field, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from data.contract import REGIONS, SIDES
from serving.advisor import Constraints
from serving.schemas import (
    MAX_INJECTIONS,
    ModelInfo,
    Plan,
    PredictRequest,
    PredictResponse,
)
from serving.schemas import typed_dict as stricttyped_dict  # the API's one way to a request

MAX_DOSE_CHANGE: Final = 0.5
"""Most ``max_dose_change`` a clinician may allow: beyond half the units it is another plan."""
MAX_MOVE_MM: Final = 10.0
"""Most ``max_move_mm`` a clinician may allow: beyond 1 cm a point is another point."""
_DEFAULT: Final = Constraints()

ConstraintsBody: Final = stricttyped_dict(
    "Constraints",
    "What the advisor may change; every field optional.",
    {
        "max_dose_change": NotRequired[
            Annotated[
                float,
                Field(
                    default=_DEFAULT.max_dose_change,
                    ge=0.0,
                    le=MAX_DOSE_CHANGE,
                    description="Most change of each treated (region, side)'s units, as a "
                    f"fraction (0: positions only). Allowed: 0 to {MAX_DOSE_CHANGE:g}.",
                ),
            ]
        ],
        "max_move_mm": NotRequired[
            Annotated[
                float,
                Field(
                    default=_DEFAULT.max_move_mm,
                    ge=0.0,
                    le=MAX_MOVE_MM,
                    description="Most a point may move from its planned place, mm (0: doses "
                    f"only; points without coordinates never move). Allowed: 0 to "
                    f"{MAX_MOVE_MM:g}.",
                ),
            ]
        ],
        "keep": NotRequired[
            Annotated[
                list[Annotated[int, Field(ge=0)]],
                Field(
                    default_factory=list,
                    max_length=MAX_INJECTIONS,
                    description="Indexes (0-based) of plan.injections not to touch.",
                ),
            ]
        ],
        "max_changed_points": NotRequired[
            Annotated[
                int | None,
                Field(
                    default=_DEFAULT.max_changed_points,
                    ge=1,
                    le=MAX_INJECTIONS,
                    description="Most points changed (units or place); null: no limit.",
                ),
            ]
        ],
    },
)


def _keep_within_plan(body: dict[str, Any]) -> dict[str, Any]:
    """Every ``keep`` index names an injection of the plan (a 422 at the index otherwise)."""
    n = len(body["plan"]["injections"])
    constraints = body.get("constraints") or {}
    errors = [
        InitErrorDetails(
            type=PydanticCustomError(
                "keep_out_of_plan", "index {index} is not an injection of the plan", {"index": i}
            ),
            loc=("constraints", "keep", k),
            input=i,
        )
        for k, i in enumerate(constraints.get("keep", []))
        if i >= n
    ]
    if errors:
        raise ValidationError.from_exception_data("keep_out_of_plan", errors)
    return body


RecommendRequest: Final[Any] = Annotated[
    stricttyped_dict(
        "RecommendRequest",
        "A /v1/predict request and what the advisor may change in its plan.",
        {
            **PredictRequest.__annotations__,  # its fields, optional ones NotRequired
            "constraints": NotRequired[
                Annotated[
                    ConstraintsBody | None,
                    Field(default=None, description="Optional; absent or null: the defaults."),
                ]
            ],
        },
    ),
    AfterValidator(_keep_within_plan),
]
"""A recommend request as validated: a ``features.request.TreatmentRequest`` plus
``constraints`` (plain dicts)."""


def constraints_of(body: dict[str, Any] | None) -> Constraints:
    """The advisor's ``Constraints`` of a validated ``constraints`` body (None: defaults)."""
    if body is None:
        return _DEFAULT
    return Constraints(
        max_dose_change=body["max_dose_change"],
        max_move_mm=body["max_move_mm"],
        keep=frozenset(body["keep"]),
        max_changed_points=body["max_changed_points"],
    )


# --- Responses ----------------------------------------------------------------------------------


class PointChange(BaseModel):
    """One point of the plan that the suggestion changes."""

    index: int = Field(ge=0, description="Its index in plan.injections (0-based).")
    units_from: float = Field(description="Labelled units in the clinician's plan.")
    units_to: float = Field(description="Labelled units suggested.")
    x_mm_from: float | None = Field(description="Its x in the clinician's plan (null: none).")
    y_mm_from: float | None = Field(description="Its y in the clinician's plan (null: none).")
    x_mm_to: float | None = Field(description="Suggested x (null: none).")
    y_mm_to: float | None = Field(description="Suggested y (null: none).")
    moved_mm: float = Field(ge=0, description="How far it moves, mm (0: units only).")


class RegionCheck(BaseModel):
    """The checks of one treated (region, side); a region's midline points count for each side."""

    region: str = Field(json_schema_extra={"enum": list(REGIONS)}, description="Treated region.")
    side: str = Field(json_schema_extra={"enum": list(SIDES)}, description="Treated side.")
    units_before: float = Field(description="Labelled units on this side in the clinician's plan.")
    units_after: float = Field(description="Labelled units on this side suggested.")
    dose_change: float = Field(description="(after - before) / before.")
    dose_change_ok: bool = Field(description="|dose_change| <= constraints.max_dose_change.")
    region_u_eq_before: float = Field(description="The region's dose, both sides, U_eq, before.")
    region_u_eq_after: float = Field(description="The region's dose, both sides, U_eq, after.")
    label_range_u_eq: list[float] = Field(
        min_length=2, max_length=2, description="The region's usual (label) range, U_eq."
    )
    within_label_range: bool = Field(description="region_u_eq_after lies within the range.")
    label_range_ok: bool = Field(
        description="Within the range, or no further outside it than the clinician's plan."
    )
    median_days_before: float = Field(description="Predicted median days, clinician's plan.")
    median_days_after: float = Field(description="Predicted median days, suggested plan.")
    longevity_ok: bool = Field(
        description="median_days_after >= median_days_before - rules.longevity_days."
    )
    passed: bool = Field(description="dose_change_ok, label_range_ok and longevity_ok.")


class PtosisCheck(BaseModel):
    """A ptosis risk of the clinician's and of the suggested plan."""

    outcome: str = Field(description="eyelid_ptosis_risk or brow_ptosis_risk.")
    before: float = Field(ge=0, le=1)
    after: float = Field(ge=0, le=1)
    ok: bool = Field(description="after <= before + rules.ptosis_margin.")


class Checks(BaseModel):
    """What every suggested plan keeps; the advisor never proposes one that fails a check."""

    regions: list[RegionCheck] = Field(description="One per treated (region, side).")
    ptosis: list[PtosisCheck]
    passed: bool = Field(description="Every check passed.")


class FeatureOutside(BaseModel):
    """A feature of the suggested plan outside the training plans' range."""

    feature: str = Field(description="Feature name (docs/features.md).")
    value: float
    low: float = Field(description="Low end of the training rows' range (support.reason).")
    high: float = Field(description="High end of the training rows' range.")


class Support(BaseModel):
    """Whether the suggested plan lies where the training data were."""

    in_support: bool | None = Field(
        description="True: every feature the plan decides lies within the training plans' "
        "range; false: not (as in the clinician's plan: the search never leaves the range; "
        "trust the answers less); null: the bundle carries no reference."
    )
    reason: str
    outside: list[FeatureOutside] = Field(description="The first features outside, if any.")


class SearchInfo(BaseModel):
    """What the search cost."""

    candidates: int = Field(ge=0, description="Plans scored for this request.")
    steps: int = Field(ge=0, description="Descent steps taken.")
    scorer_calls: int = Field(ge=0, description="Model calls of the search.")
    milliseconds: float = Field(ge=0, description="Wall time of the search.")


class AppliedConstraints(BaseModel):
    """The constraints the search ran under (the request's, defaults filled in)."""

    max_dose_change: float
    max_move_mm: float
    keep: list[int]
    max_changed_points: int | None


class Rules(BaseModel):
    """The advisor's stated margins and steps (``serving.advisor``)."""

    improvement_margin: float = Field(
        description="Least fall of the risk for improved, as planned and as carried out."
    )
    ptosis_margin: float = Field(description="Most a ptosis risk may rise.")
    longevity_days: float = Field(description="Most a median may shorten, days.")
    change_cost: float = Field(description="Objective per grid step away from the plan.")
    dose_step: float = Field(description="One dose level, a fraction of a side's units.")
    move_step_mm: float = Field(description="One grid step of a point move, mm.")
    units_decimals: int = Field(description="Decimals of a changed point's units.")
    robust_draws: int = Field(description="Copies of a plan as carried out.")
    dose_jitter: float = Field(description="sd of a side's units as carried out, relative.")
    placement_jitter_mm: float = Field(description="sd of a point's place as carried out, mm.")


class RecommendResponse(BaseModel):
    """A safer plan within the clinician's constraints, or why there is none.

    ``status``: ``improved`` (the suggested plan's predicted risk is lower by at least
    rules.improvement_margin), ``already_low`` (the plan's risk is in the low band: nothing to
    do) or ``no_safer_plan`` (nothing within the constraints lowers it by the margin); unless
    improved, the suggested plan is the clinician's own.
    """

    status: Literal["improved", "already_low", "no_safer_plan"]
    notice: str = Field(description="What the suggestion is: a prediction, not a guarantee.")
    suggested_plan: Plan = Field(
        description="The request's plan, the same points in the same order, with the suggested "
        "units and places."
    )
    changes: list[PointChange] = Field(description="The points changed, in plan order.")
    before: PredictResponse = Field(description="The /v1/predict answer of the clinician's plan.")
    after: PredictResponse = Field(description="The /v1/predict answer of the suggested plan.")
    checks: Checks
    support: Support
    search: SearchInfo
    constraints: AppliedConstraints
    rules: Rules
    model: ModelInfo
    request_id: str
