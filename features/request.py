"""Adapter from clinic requests (plain dicts) to ``FeatureInput``, without pandas.

A request holds the patient (the patient columns of ``treatments``), the plan (product, dilution
and the ``injections`` rows without treatment_id) and the patient's earlier treatments, each with
how many days before this one it was, its plan, its review (``followups`` columns) and its
observed ``durations`` rows. Field names are the contract's column names. Values are assumed
valid (the serving layer validates them against the contract first).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, NotRequired, TypedDict

import numpy as np

from data.contract import REGIONS, SIDES, TREATMENTS
from features.inputs import (
    BASELINE_FIELDS,
    MUSCLE_CODE,
    PATIENT_FIELDS,
    PRODUCT_CODE,
    REGION_CODE,
    REVIEW_FIELDS,
    SIDE_CODE,
    THICKNESS_FIELDS,
    UNIT_FACTOR_BY_CODE,
    FeatureInput,
    FloatArray,
    PlanArrays,
    region_u_eq,
)


class Plan(TypedDict):
    """A treatment plan: product, dilution and injection points (``injections`` columns)."""

    product: str
    dilution_ml_per_100u: float
    injections: list[dict[str, Any]]


class Earlier(TypedDict):
    """One earlier treatment of the patient."""

    days_before: int
    plan: Plan
    review: NotRequired[dict[str, Any] | None]
    durations: NotRequired[list[dict[str, Any]]]


class TreatmentRequest(TypedDict):
    """One treatment to featurise: the patient, the plan and the patient's earlier treatments.

    ``late_gap_days`` is an option of the answer (the late-stage asymmetry's gap), not an input
    of any feature.
    """

    patient: dict[str, Any]
    plan: Plan
    history: NotRequired[list[Earlier]]
    late_gap_days: NotRequired[float]


PATIENT_COLUMNS = tuple(
    c.name
    for c in TREATMENTS.columns
    if c.name not in ("treatment_id", "patient_id", "clinic_id", "treatment_date")
    and c.name not in ("product", "dilution_ml_per_100u")
)
"""Columns of ``treatments`` that a request's ``patient`` holds."""

_PATIENT_VALUES: Final = PATIENT_FIELDS + BASELINE_FIELDS + THICKNESS_FIELDS
"""The values a request's ``patient`` holds: ``FeatureInput.patient``, baseline, thickness."""
_NAN = float("nan")
_ENUM_CODES: Final[dict[str, dict[str | None, float]]] = {
    c.name: {None: _NAN, **{v: float(i) for i, v in enumerate(c.values)}}
    for c in TREATMENTS.columns
    if c.values
}
"""Float code of each value of an enum field; None (missing) is NaN."""


def _values(records: Sequence[dict[str, Any]], fields: tuple[str, ...]) -> FloatArray:
    """(len(records), len(fields)) float array of the records' values, NaN where missing.

    Enums become their contract codes, bools 0/1; numpy reads None as NaN.
    """
    rows = [
        [_ENUM_CODES[f][r.get(f)] if f in _ENUM_CODES else r.get(f) for f in fields]
        for r in records
    ]
    return np.array(rows, dtype=np.float64).reshape(len(records), len(fields))  # n may be 0


def _plans(plans: Sequence[Plan]) -> PlanArrays:
    """The injection points of n plans, treatment i's points as treatment i."""
    # One array of every point's fields, a row per field (numpy reads a missing coordinate,
    # None, as NaN); the codes are small integers, exact in float64.
    fields = (
        np.array(
            [
                (
                    i,
                    MUSCLE_CODE[p["muscle"]],
                    SIDE_CODE[p["side"]],
                    p["units"],
                    p.get("x_mm"),
                    p.get("y_mm"),
                )
                for i, plan in enumerate(plans)
                for p in plan["injections"]
            ],
            dtype=np.float64,
        )
        .reshape(-1, 6)
        .T
    )
    codes = fields[:3].astype(np.int64)
    return PlanArrays(
        treatment=codes[0],
        muscle=codes[1],
        side=codes[2],
        units=fields[3],
        x_mm=fields[4],
        y_mm=fields[5],
    )


def _region_u_eq(plans: Sequence[Plan]) -> FloatArray:
    """Dose per region of each plan, U_eq, (plans, regions): ``inputs.region_u_eq``."""
    arrays = _plans(plans)
    factor = UNIT_FACTOR_BY_CODE[[PRODUCT_CODE[p["product"]] for p in plans]]
    return region_u_eq(arrays, arrays.units * factor[arrays.treatment], len(plans))


def _previous(history: Sequence[Earlier]) -> Earlier | None:
    """The latest earlier treatment (ties: the later item, as in a registry file)."""
    best: Earlier | None = None
    for item in history:
        if best is None or item["days_before"] <= best["days_before"]:
            best = item
    return best


def requests_inputs(requests: Sequence[TreatmentRequest]) -> FeatureInput:
    """Turn n treatment requests into ``FeatureInput``, request i as treatment i.

    Args:
        requests: Each the patient, plan and earlier treatments, contract field names.

    Returns:
        The inputs of the n treatments (n may be 0).
    """
    n = len(requests)
    plans = [r["plan"] for r in requests]
    histories = [r.get("history") or [] for r in requests]
    values = _values([r["patient"] for r in requests], _PATIENT_VALUES)

    # The previous treatment of each request that has one; NaN where none.
    previous = [(i, p) for i, h in enumerate(histories) if (p := _previous(h)) is not None]
    days_since = np.full(n, _NAN)
    region_dose = np.full((n, len(REGIONS)), _NAN)
    review = np.full((n, len(REVIEW_FIELDS)), _NAN)
    days = np.full((n, len(REGIONS), len(SIDES)), _NAN)
    returned = np.full_like(days, _NAN)
    if previous:  # most first visits have none: nothing to read
        with_prev = [i for i, _ in previous]
        days_since[with_prev] = [p["days_before"] for _, p in previous]
        region_dose[with_prev] = _region_u_eq([p["plan"] for _, p in previous])
        reviewed = [(i, r) for i, p in previous if (r := p.get("review")) is not None]
        if reviewed:
            review[[i for i, _ in reviewed]] = _values([r for _, r in reviewed], REVIEW_FIELDS)
        # (request, region, side, days, returned) of each observed durations row.
        durations = [
            (i, REGION_CODE[d["region"]], SIDE_CODE[d["side"]], d["days"], d["returned"])
            for i, p in previous
            for d in p.get("durations") or []
        ]
        if durations:
            rows = np.array(durations, dtype=np.float64)
            at = tuple(rows[:, :3].astype(np.int64).T)
            days[at] = rows[:, 3]
            returned[at] = rows[:, 4]

    return FeatureInput(
        product=np.array([PRODUCT_CODE[p["product"]] for p in plans], dtype=np.int64),
        dilution=np.array([p["dilution_ml_per_100u"] for p in plans], dtype=np.float64),
        patient=values[:, : len(PATIENT_FIELDS)],
        baseline=values[:, len(PATIENT_FIELDS) : -len(THICKNESS_FIELDS)],
        thickness=values[:, -len(THICKNESS_FIELDS) :],
        plan=_plans(plans),
        prior_treatments=np.array([len(h) for h in histories], dtype=np.float64),
        days_since_previous=days_since,
        previous_review=review,
        previous_days=days,
        previous_returned=returned,
        previous_region_u_eq=region_dose,
    )


def request_inputs(request: TreatmentRequest) -> FeatureInput:
    """Turn one treatment request into ``FeatureInput`` with n = 1 (``requests_inputs``).

    Args:
        request: The patient, plan and earlier treatments, contract field names.

    Returns:
        The inputs of that one treatment.
    """
    return requests_inputs([request])
