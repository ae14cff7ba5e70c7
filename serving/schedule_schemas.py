"""Request and response models of ``POST /v1/schedule`` (the touch-up schedule)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Final, Literal, NotRequired

from pydantic import AfterValidator, BaseModel, Field, TypeAdapter

from data.contract import REGIONS, SIDES
from features.request import TreatmentRequest
from serving.schedule import SIDES_APART_DAYS, STAGGER_DAYS
from serving.schemas import PREDICT_FIELDS, ModelInfo, Plan, typed_dict


def _iso_date(value: str | None) -> str | None:
    """A real day written YYYY-MM-DD (2026-02-30 is not one)."""
    if value is not None:
        try:
            date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{value!r} is not a date written YYYY-MM-DD") from None
        if len(value) != 10:
            raise ValueError(f"{value!r} is not a date written YYYY-MM-DD")
    return value


ScheduleRequest: Final = typed_dict(
    "ScheduleRequest",
    "One treatment to schedule: the body of /v1/predict and the day of the treatment.",
    {
        **PREDICT_FIELDS,
        "treatment_date": NotRequired[
            Annotated[
                str | None,
                Field(
                    default=None,
                    description="Day of this treatment, YYYY-MM-DD; the schedule's dates count "
                    "from it (null or absent: today, UTC).",
                ),
                AfterValidator(_iso_date),
            ]
        ],
    },
)
"""A schedule request as validated: a ``features.request.TreatmentRequest`` and its date."""
SCHEDULE_REQUEST: Final = TypeAdapter[TreatmentRequest](ScheduleRequest)

_REGION: Final[Any] = {"enum": list(REGIONS)}
_SIDE: Final[Any] = {"enum": list(SIDES)}


class SideReturn(BaseModel):
    """When activity is predicted to come back on one side of a treated region."""

    side: str = Field(json_schema_extra=_SIDE)
    day_10: float | None = Field(description="Day by which it has returned with 10% chance.")
    day_50: float | None = Field(description="Median day of return (null: beyond ten years).")
    day_90: float | None = Field(description="Day by which it has returned with 90% chance.")
    date_50: str | None = Field(description="The median day as a date.")


class RegionSchedule(BaseModel):
    """One treated region: its sides, when to review it and when to retreat it."""

    region: str = Field(json_schema_extra=_REGION)
    sides: list[SideReturn]
    first_side: str = Field(json_schema_extra=_SIDE, description="The side wearing off first.")
    review_day: float | None = Field(
        description="When its first side may start to come back (its 10% day): a check that "
        "both sides come back together."
    )
    review_date: str | None
    touch_up_day: float | None = Field(
        description="When its first side is expected back (its median): retreat then."
    )
    touch_up_date: str | None
    late_asymmetry_risk: float | None = Field(
        ge=0,
        le=1,
        description="P(one side wears off late_gap_days or more before the other); null for a "
        "region treated on one side or the midline only.",
    )


class Session(BaseModel):
    """A retreatment session of the staggered plan."""

    day: float = Field(description="Days after this treatment.")
    date: str | None
    regions: list[str] = Field(description="The regions retreated then, earliest first.")


class SidesApart(BaseModel):
    """A region treated on both sides: its sides' medians next time, as planned and changed."""

    region: str = Field(json_schema_extra=_REGION)
    median_days_before: dict[str, float] = Field(description="Per side, as planned now.")
    median_days_after: dict[str, float] = Field(description="Per side, with the dose changes.")
    apart_before: float = Field(description="Days between the sides, as planned now.")
    apart_after: float = Field(description="Days between the sides, with the dose changes.")


class DoseChange(BaseModel):
    """One side's dose for the next session."""

    region: str = Field(json_schema_extra=_REGION)
    side: str = Field(json_schema_extra=_SIDE)
    factor: float = Field(description="Its units times this.")
    units_from: float = Field(description="Its labelled units now.")
    units_to: float = Field(description="Its labelled units next time.")


class NextSession(BaseModel):
    """Per-side dose changes that bring each region's sides close (``SIDES_APART_DAYS``)."""

    status: Literal["within", "adjusted", "improved", "not_possible"] = Field(
        description=f"within: no region's sides {SIDES_APART_DAYS}+ days apart; adjusted: all "
        "brought within; "
        "improved: closer but not all within; not_possible: no change within the label range "
        "and without raising a ptosis risk helps."
    )
    regions: list[SidesApart]
    dose_changes: list[DoseChange]
    plan: Plan = Field(description="The next session's plan: this one with the changes.")


class ScheduleResponse(BaseModel):
    """The touch-up schedule of one treatment.

    A prediction learned from registry data (each side's predicted return and the two sides
    jointly), not a guarantee; the doses stay the clinician's decision.
    """

    treatment_date: str
    review_date: str = Field(description="The two-week review.")
    late_gap_days: float
    regions: list[RegionSchedule] = Field(description="Earliest touch-up first.")
    sessions: list[Session] = Field(
        description=f"Retreatments: regions whose touch-ups are within {STAGGER_DAYS} days "
        "share one."
    )
    staggered: bool = Field(description="More than one session: regions drift apart.")
    next_session: NextSession
    model: ModelInfo
    request_id: str
