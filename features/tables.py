"""Adapter from contract tables (a whole registry) to ``FeatureInput``.

Each treatment's history is the same patient's treatments with an earlier date in the same
registry; the previous one is the latest of them (ties: the later row in the file).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from data.contract import REGIONS, SIDES
from features.build import build_features
from features.inputs import (
    BASELINE_FIELDS,
    PATIENT_FIELDS,
    REVIEW_FIELDS,
    THICKNESS_FIELDS,
    UNIT_FACTOR_BY_CODE,
    FeatureInput,
    FloatArray,
    IntArray,
    PlanArrays,
    region_u_eq,
)
from features.request import PATIENT_COLUMNS, Earlier, Plan, TreatmentRequest
from features.spec import FEATURE_NAMES


def _floats(s: pd.Series) -> FloatArray:
    """A contract column as float64: enums as codes, bools as 0/1, null as NaN."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        codes: FloatArray = s.cat.codes.to_numpy().astype(np.float64)
        codes[codes < 0] = np.nan
        return codes
    return np.asarray(s.astype("Float64").to_numpy(dtype=np.float64, na_value=np.nan))


def _codes(s: pd.Series) -> IntArray:
    return s.cat.codes.to_numpy().astype(np.int64)


def _previous(patient: IntArray, day: IntArray) -> tuple[IntArray, IntArray]:
    """Index of each treatment's previous treatment (-1: none) and its number of earlier ones."""
    n = len(patient)
    order = np.lexsort((np.arange(n), day, patient))
    p, d = patient[order], day[order]
    pos = np.arange(n)
    new_patient = np.ones(n, dtype=bool)
    new_patient[1:] = p[1:] != p[:-1]
    new_day = new_patient.copy()
    new_day[1:] |= d[1:] != d[:-1]
    patient_start = np.maximum.accumulate(np.where(new_patient, pos, 0))
    day_start = np.maximum.accumulate(np.where(new_day, pos, 0))
    has_prev = day_start > patient_start
    prev_sorted = np.where(has_prev, order[np.maximum(day_start - 1, 0)], -1)
    prev = np.empty(n, dtype=np.int64)
    prior = np.empty(n, dtype=np.int64)
    prev[order] = prev_sorted
    prior[order] = day_start - patient_start
    return prev, prior


def _take(values: FloatArray, prev: IntArray) -> FloatArray:
    """Rows of ``values`` at ``prev``, NaN where there is no previous treatment."""
    out = values[np.maximum(prev, 0)].copy()
    out[prev < 0] = np.nan
    return out


def registry_inputs(tables: Mapping[str, pd.DataFrame]) -> FeatureInput:
    """Turn validated contract tables into ``FeatureInput`` for every treatment.

    Args:
        tables: The four contract tables in canonical dtypes (``data.registry.Registry.tables``
            or ``data.simulate.Simulated.tables``); child rows all belong to listed treatments.

    Returns:
        The inputs, one treatment per row of ``tables["treatments"]``, in that order.
    """
    t = tables["treatments"]
    n = len(t)
    index = pd.Index(t["treatment_id"])
    product = _codes(t["product"])
    factor = UNIT_FACTOR_BY_CODE[product]

    inj = tables["injections"]
    row = index.get_indexer(inj["treatment_id"])
    if (row < 0).any():
        raise ValueError("injections reference treatments not in the table; validate first")
    order = np.argsort(row, kind="stable")
    plan = PlanArrays(
        treatment=row[order].astype(np.int64),
        muscle=_codes(inj["muscle"])[order],
        side=_codes(inj["side"])[order],
        units=inj["units"].to_numpy(np.float64)[order],
        x_mm=inj["x_mm"].to_numpy(np.float64)[order],
        y_mm=inj["y_mm"].to_numpy(np.float64)[order],
    )

    patient_code = pd.factorize(t["patient_id"])[0].astype(np.int64)
    day = t["treatment_date"].to_numpy().astype("datetime64[D]").astype(np.int64)
    prev, prior = _previous(patient_code, day)
    gap = np.where(prev >= 0, day - day[np.maximum(prev, 0)], np.nan).astype(np.float64)

    review = np.full((n, len(REVIEW_FIELDS)), np.nan)
    fol = tables["followups"]
    frow = index.get_indexer(fol["treatment_id"])
    review[frow[frow >= 0]] = np.column_stack([_floats(fol[c]) for c in REVIEW_FIELDS])[frow >= 0]

    shape = (n, len(REGIONS), len(SIDES))
    days = np.full(shape, np.nan)
    returned = np.full(shape, np.nan)
    dur = tables["durations"]
    drow = index.get_indexer(dur["treatment_id"])
    ok = drow >= 0
    at = (drow[ok], _codes(dur["region"])[ok], _codes(dur["side"])[ok])
    days[at] = dur["days"].to_numpy(np.float64)[ok]
    returned[at] = dur["returned"].to_numpy().astype(np.float64)[ok]

    return FeatureInput(
        product=product,
        dilution=t["dilution_ml_per_100u"].to_numpy(np.float64),
        patient=np.column_stack([_floats(t[f]) for f in PATIENT_FIELDS]),
        baseline=np.column_stack([_floats(t[c]) for c in BASELINE_FIELDS]),
        thickness=np.column_stack([_floats(t[c]) for c in THICKNESS_FIELDS]),
        plan=plan,
        prior_treatments=prior.astype(np.float64),
        days_since_previous=gap,
        previous_review=_take(review, prev),
        previous_days=_take(days, prev),
        previous_returned=_take(returned, prev),
        previous_region_u_eq=_take(region_u_eq(plan, plan.units * factor[plan.treatment], n), prev),
    )


def feature_frame(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Feature matrix of every treatment of a registry, with its ``treatment_id`` first.

    Args:
        tables: The four contract tables in canonical dtypes (validated).

    Returns:
        One row per treatment, in the order of ``tables["treatments"]``.
    """
    matrix = build_features(registry_inputs(tables))
    frame = pd.DataFrame(matrix, columns=list(FEATURE_NAMES))
    frame.insert(0, "treatment_id", tables["treatments"]["treatment_id"].to_numpy())
    return frame


def _record(row: Mapping[Any, Any] | pd.Series, columns: Sequence[str]) -> dict[str, Any]:
    """Plain Python values of ``row``; pandas NA/NaN become None."""
    out: dict[str, Any] = {}
    for c in columns:
        v = row[c]
        out[c] = None if v is None or (not isinstance(v, str) and pd.isna(v)) else v
        if isinstance(out[c], np.generic):
            out[c] = out[c].item()
    return out


def registry_requests(tables: Mapping[str, pd.DataFrame]) -> dict[str, TreatmentRequest]:
    """Build, for every treatment of a registry, the request a clinic would send for it.

    Its history is the same patient's treatments with an earlier date, as a registry holds them.
    Used to check that one request gives the same features as the whole registry, and by
    clients that replay a registry against the service.

    Args:
        tables: The four contract tables in canonical dtypes.

    Returns:
        Requests by treatment_id.
    """
    t = tables["treatments"]
    inj = {k: g for k, g in tables["injections"].groupby("treatment_id", sort=False)}
    fol = {k: g for k, g in tables["followups"].groupby("treatment_id", sort=False)}
    dur = {k: g for k, g in tables["durations"].groupby("treatment_id", sort=False)}
    inj_cols = ("muscle", "side", "units", "x_mm", "y_mm", "depth")
    empty = tables["injections"].iloc[:0]

    def plan_of(row: Mapping[Any, Any]) -> Plan:
        rows = inj.get(row["treatment_id"], empty)
        return Plan(
            product=str(row["product"]),
            dilution_ml_per_100u=float(row["dilution_ml_per_100u"]),
            injections=[_record(r, inj_cols) for r in rows.to_dict("records")],
        )

    records = t.to_dict("records")
    by_patient: dict[str, list[dict[Any, Any]]] = {}
    for r in records:
        by_patient.setdefault(r["patient_id"], []).append(r)
    requests: dict[str, TreatmentRequest] = {}
    for r in records:
        history: list[Earlier] = []
        for e in by_patient[r["patient_id"]]:
            before = (r["treatment_date"] - e["treatment_date"]).days
            if before <= 0:
                continue
            f = fol.get(e["treatment_id"])
            d = dur.get(e["treatment_id"])
            history.append(
                Earlier(
                    days_before=int(before),
                    plan=plan_of(e),
                    review=None if f is None else _record(f.iloc[0], REVIEW_FIELDS),
                    durations=[]
                    if d is None
                    else [
                        _record(x, ("region", "side", "days", "returned"))
                        for x in d.to_dict("records")
                    ],
                )
            )
        requests[r["treatment_id"]] = TreatmentRequest(
            patient=_record(r, PATIENT_COLUMNS), plan=plan_of(r), history=history
        )
    return requests
