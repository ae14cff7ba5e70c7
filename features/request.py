"""Adapter from one clinic request (plain dicts) to ``FeatureInput``, without pandas.

A request holds the patient (the patient columns of ``treatments``), the plan (product, dilution
and the ``injections`` rows without treatment_id) and the patient's earlier treatments, each with
how many days before this one it was, its plan, its review (``followups`` columns) and its
observed ``durations`` rows. Field names are the contract's column names. Values are assumed
valid (the serving layer validates them against the contract first).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NotRequired, TypedDict

import numpy as np

from data.contract import REGIONS, SIDES, TREATMENTS
from features.atlas import UNIT_FACTOR
from features.inputs import (
    BASELINE_FIELDS,
    MUSCLE_CODE,
    PATIENT_FIELDS,
    PRODUCT_CODE,
    REGION_CODE,
    REGION_OF_MUSCLE,
    REVIEW_FIELDS,
    SIDE_CODE,
    THICKNESS_FIELDS,
    FeatureInput,
    PlanArrays,
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
    """One treatment to featurise: the patient, the plan and the patient's earlier treatments."""

    patient: dict[str, Any]
    plan: Plan
    history: NotRequired[list[Earlier]]


PATIENT_COLUMNS = tuple(
    c.name
    for c in TREATMENTS.columns
    if c.name not in ("treatment_id", "patient_id", "clinic_id", "treatment_date")
    and c.name not in ("product", "dilution_ml_per_100u")
)
"""Columns of ``treatments`` that a request's ``patient`` holds."""

_PATIENT_VALUES = PATIENT_FIELDS + BASELINE_FIELDS + THICKNESS_FIELDS
_ENUM_CODES = {
    c.name: {v: float(i) for i, v in enumerate(c.values)} for c in TREATMENTS.columns if c.values
}
_NAN = float("nan")
_DURATIONS_SHAPE = (1, len(REGIONS), len(SIDES))


def _buffer_layout() -> tuple[dict[str, tuple[int | slice, slice]], int]:
    """Where each float field of ``FeatureInput`` (n = 1) sits in one (1, size) buffer.

    Returns:
        The index of each field's view in the buffer, and the buffer's size. A field of one
        value per treatment is a (1,) view; the others are (1, k) views, the durations fields to
        be reshaped to ``_DURATIONS_SHAPE``.
    """
    widths: dict[str, int | None] = {  # None: one value per treatment
        "patient": len(PATIENT_FIELDS),
        "baseline": len(BASELINE_FIELDS),
        "thickness": len(THICKNESS_FIELDS),
        "dilution": None,
        "prior_treatments": None,
        "days_since_previous": None,
        "previous_review": len(REVIEW_FIELDS),
        "previous_region_u_eq": len(REGIONS),
        "previous_days": len(REGIONS) * len(SIDES),
        "previous_returned": len(REGIONS) * len(SIDES),
    }
    layout: dict[str, tuple[int | slice, slice]] = {}
    start = 0
    for name, width in widths.items():
        row: int | slice = 0 if width is None else slice(None)
        stop = start + (width or 1)
        layout[name] = (row, slice(start, stop))
        start = stop
    return layout, start


_BUFFER, _BUFFER_SIZE = _buffer_layout()
_PATIENT_VALUES_AT = slice(_BUFFER["patient"][1].start, _BUFFER["thickness"][1].stop)


def _value(patient: Mapping[str, Any], field: str) -> float:
    v = patient.get(field)
    if v is None:
        return _NAN
    codes = _ENUM_CODES.get(field)
    return codes[v] if codes is not None else float(v)


def _plan(plan: Plan) -> PlanArrays:
    rows = plan["injections"]
    # One float array for the whole plan from one flat list (numpy reads None as NaN): a request
    # is featurised in microseconds, so every separate array construction counts.
    flat: list[Any] = []
    for r in rows:
        flat += (
            MUSCLE_CODE[r["muscle"]],
            SIDE_CODE[r["side"]],
            r["units"],
            r.get("x_mm"),
            r.get("y_mm"),
        )
    table = np.array(flat, dtype=np.float64).reshape(len(rows), 5)
    codes = table[:, :2].astype(np.int64)
    return PlanArrays(
        treatment=np.zeros(len(rows), dtype=np.int64),
        muscle=codes[:, 0],
        side=codes[:, 1],
        units=table[:, 2],
        x_mm=table[:, 3],
        y_mm=table[:, 4],
    )


def _region_u_eq(plan: Plan) -> list[float]:
    """Dose per region of an earlier plan, U_eq.

    The same additions, in the same order, as ``inputs.region_u_eq`` (``np.bincount`` adds
    sequentially from 0.0), so the result is bit-identical; plain Python is faster for one plan.
    """
    factor = UNIT_FACTOR[plan["product"]]
    totals = [0.0] * len(REGIONS)
    for r in plan["injections"]:
        totals[REGION_OF_MUSCLE[MUSCLE_CODE[r["muscle"]]]] += r["units"] * factor
    return totals


def _previous(history: Sequence[Earlier]) -> Earlier | None:
    """The latest earlier treatment (ties: the later item, as in a registry file)."""
    best: Earlier | None = None
    for item in history:
        if best is None or item["days_before"] <= best["days_before"]:
            best = item
    return best


def request_inputs(request: TreatmentRequest) -> FeatureInput:
    """Turn one treatment request into ``FeatureInput`` with n = 1.

    Args:
        request: The patient, plan and earlier treatments, contract field names.

    Returns:
        The inputs of that one treatment.
    """
    patient = request["patient"]
    plan = request["plan"]
    history = request.get("history") or []

    # Every float field of the treatment is a view of one NaN-filled buffer (one allocation).
    buf = np.full((1, _BUFFER_SIZE), _NAN)
    fields = {name: buf[at] for name, at in _BUFFER.items()}
    for name in ("previous_days", "previous_returned"):
        fields[name] = fields[name].reshape(_DURATIONS_SHAPE)
    buf[0, _PATIENT_VALUES_AT] = [_value(patient, f) for f in _PATIENT_VALUES]
    fields["dilution"][0] = plan["dilution_ml_per_100u"]
    fields["prior_treatments"][0] = len(history)
    prev = _previous(history)
    if prev is not None:
        fields["days_since_previous"][0] = prev["days_before"]
        prev_review = prev.get("review")
        if prev_review is not None:
            fields["previous_review"][0] = [_value(prev_review, f) for f in REVIEW_FIELDS]
        days, returned = fields["previous_days"], fields["previous_returned"]
        for d in prev.get("durations") or []:
            at = (0, REGION_CODE[d["region"]], SIDE_CODE[d["side"]])
            days[at] = d["days"]
            returned[at] = float(d["returned"])
        fields["previous_region_u_eq"][0] = _region_u_eq(prev["plan"])

    return FeatureInput(
        product=np.array([PRODUCT_CODE[plan["product"]]], dtype=np.int64),
        plan=_plan(plan),
        **fields,
    )
