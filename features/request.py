"""Adapter from clinic requests (plain dicts) to ``FeatureInput``, without pandas.

A request holds the patient (the patient columns of ``treatments``), the plan (product, dilution
and the ``injections`` rows without treatment_id) and the patient's earlier treatments, each with
how many days before this one it was, its plan, its review (``followups`` columns) and its
observed ``durations`` rows. Field names are the contract's column names. Values are assumed
valid (the serving layer validates them against the contract first).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache
from itertools import chain, repeat
from operator import itemgetter
from typing import Any, Final, NotRequired, TypedDict

import numpy as np
import numpy.typing as npt

from data.atlas import UNIT_FACTOR
from data.contract import REGIONS, SIDES, TREATMENTS
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
_NAN = float("nan")
_ENUM_CODES: Final[dict[str, dict[str | None, float]]] = {
    c.name: {None: _NAN, **{v: float(i) for i, v in enumerate(c.values)}}
    for c in TREATMENTS.columns
    if c.values
}
"""Float code of each value of an enum field; None (missing) is NaN."""
FloatArray = npt.NDArray[np.float64]
_WIDTHS: Final[dict[str, int | None]] = {  # None: one value per treatment
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
"""The float fields of ``FeatureInput``, in the order they sit in one (n, size) buffer."""
_SIZES: Final = [width or 1 for width in _WIDTHS.values()]
_STARTS: Final = {name: sum(_SIZES[:k]) for k, name in enumerate(_WIDTHS)}
_BUFFER_SIZE: Final = sum(_SIZES)
_PATIENT_AT: Final = slice(_STARTS["patient"], _STARTS["dilution"])
"""Patient, baseline and thickness values: adjacent in the buffer, in ``_PATIENT_VALUES`` order."""


_COLUMNS: Final = {
    name: _STARTS[name] if width is None else slice(_STARTS[name], _STARTS[name] + width)
    for name, width in _WIDTHS.items()
}
"""The buffer column (or columns) of each field."""


def _fields(buf: FloatArray) -> dict[str, FloatArray]:
    """Each float field of ``FeatureInput`` as a view of the (n, size) buffer."""
    out = {name: buf[:, at] for name, at in _COLUMNS.items()}
    for name in ("previous_days", "previous_returned"):
        out[name] = out[name].reshape(len(buf), len(REGIONS), len(SIDES))
    return out


def _get(records: Iterable[dict[str, Any]], field: str) -> Iterable[Any]:
    """``record.get(field)`` of each record: None where the field is absent or null."""
    return map(dict.get, records, repeat(field))


@cache
def _enums(fields: tuple[str, ...]) -> tuple[tuple[int, dict[str | None, float]], ...]:
    """Position and codes of each enum among ``fields``."""
    return tuple((k, _ENUM_CODES[f]) for k, f in enumerate(fields) if f in _ENUM_CODES)


def _values(records: Sequence[dict[str, Any]], fields: tuple[str, ...]) -> FloatArray:
    """(len(records), len(fields)) float array of the records' values, NaN where missing.

    Enums become their contract codes, bools 0/1; numpy reads None as NaN.
    """
    # A record's values in one ``map`` in C, then only its few enums in Python: a batch has
    # 15,000 patient values, where one Python call per value was the costliest step.
    rows = [list(map(record.get, fields)) for record in records]
    enums = _enums(fields)
    for row in rows:
        for k, codes in enums:
            row[k] = codes[row[k]]
    return np.array(rows, dtype=np.float64).reshape(len(records), len(fields))  # n may be 0


_INJECTIONS = itemgetter("injections")
_MUSCLE, _SIDE, _UNITS = itemgetter("muscle"), itemgetter("side"), itemgetter("units")


def _plans(plans: Sequence[Plan]) -> PlanArrays:
    """The injection points of n plans, treatment i's points as treatment i."""
    # A field at a time, each a ``map`` in C rather than a Python loop over the points (a batch
    # has 12,000): the codes straight into int arrays, the floats into one array (numpy reads
    # None as NaN). Few numpy calls, as one request has only a dozen points.
    injections = list(map(_INJECTIONS, plans))
    rows = list(chain.from_iterable(injections))
    m = len(rows)
    floats = np.array(
        list(chain(map(_UNITS, rows), _get(rows, "x_mm"), _get(rows, "y_mm"))), dtype=np.float64
    ).reshape(3, m)  # m may be 0
    return PlanArrays(
        treatment=np.arange(len(plans)).repeat(list(map(len, injections))),
        muscle=np.fromiter(map(MUSCLE_CODE.__getitem__, map(_MUSCLE, rows)), np.int64, m),
        side=np.fromiter(map(SIDE_CODE.__getitem__, map(_SIDE, rows)), np.int64, m),
        units=floats[0],
        x_mm=floats[1],
        y_mm=floats[2],
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


def requests_inputs(requests: Sequence[TreatmentRequest]) -> FeatureInput:
    """Turn n treatment requests into ``FeatureInput``, request i as treatment i.

    Args:
        requests: Each the patient, plan and earlier treatments, contract field names.

    Returns:
        The inputs of the n treatments (n may be 0).
    """
    n = len(requests)
    # Every float field is a view of one NaN-filled buffer, filled a column block at a time
    # from Python lists: one allocation, and a handful of numpy calls whatever n is.
    buf = np.full((n, _BUFFER_SIZE), _NAN)
    fields = _fields(buf)
    plans = [r["plan"] for r in requests]
    buf[:, _PATIENT_AT] = _values([r["patient"] for r in requests], _PATIENT_VALUES)
    fields["dilution"][:] = [p["dilution_ml_per_100u"] for p in plans]
    histories = [r.get("history") or [] for r in requests]
    fields["prior_treatments"][:] = [len(h) for h in histories]

    with_prev, gaps, reviewed, doses = [], [], [], []
    reviews: list[dict[str, Any]] = []
    at: list[tuple[int, int, int]] = []
    days: list[float] = []
    returned: list[float] = []
    for i, history in enumerate(histories):
        prev = _previous(history)
        if prev is None:
            continue
        with_prev.append(i)
        gaps.append(prev["days_before"])
        doses.append(_region_u_eq(prev["plan"]))
        review = prev.get("review")
        if review is not None:
            reviewed.append(i)
            reviews.append(review)
        for d in prev.get("durations") or []:
            at.append((i, REGION_CODE[d["region"]], SIDE_CODE[d["side"]]))
            days.append(d["days"])
            returned.append(float(d["returned"]))
    if with_prev:
        fields["days_since_previous"][with_prev] = gaps
        fields["previous_region_u_eq"][with_prev] = doses
    if reviewed:
        fields["previous_review"][reviewed] = _values(reviews, REVIEW_FIELDS)
    if at:
        index = tuple(np.array(at).T)
        fields["previous_days"][index] = days
        fields["previous_returned"][index] = returned

    return FeatureInput(
        product=np.array([PRODUCT_CODE[p["product"]] for p in plans], dtype=np.int64),
        plan=_plans(plans),
        **fields,
    )


def request_inputs(request: TreatmentRequest) -> FeatureInput:
    """Turn one treatment request into ``FeatureInput`` with n = 1 (``requests_inputs``).

    Args:
        request: The patient, plan and earlier treatments, contract field names.

    Returns:
        The inputs of that one treatment.
    """
    return requests_inputs([request])
