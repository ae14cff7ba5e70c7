"""The touch-up schedule: when each treated region wears off, when to review and retreat it.

From one prediction (``bundle.predictor.Predictor``), per treated region and side the day by
which activity has returned with 10%, 50% and 90% chance (``SurvivalCurves.days_to``); per
region a review when its first side may start to return (its 10% day) and a touch-up when that
side is expected to have returned (its median); regions whose touch-ups fall more than
``STAGGER_DAYS`` apart are retreated in separate sessions, earliest first (the staggering the
seeds describe: lower face two weeks after upper face when it lasts longer); and, for the next
session, where a region's two sides are predicted to wear off more than ``SIDES_APART_DAYS``
apart, per-side dose changes within the label range that bring their medians together, chosen
by scoring candidate plans with the same model in one batched call (the next session's request:
this plan, changed, with this treatment as the patient's latest earlier one).

A patient's history reaches the schedule the way it reaches every answer: through the model's
history features (earlier plans, reviews and observed durations).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from bundle.heads import OUTCOMES
from bundle.late_asymmetry import LATE_GAP_DAYS
from bundle.postprocess import MAX_DAYS
from bundle.predictor import Predictions, Predictor
from data.atlas import LABEL_RANGE_U_EQ
from data.contract import MUSCLE_REGION, REGIONS, SIDES
from features.build import build_features
from features.inputs import LEFT, RIGHT
from features.longevity import treated_region_sides
from features.request import Earlier, TreatmentRequest, requests_inputs
from features.spec import FEATURE_INDEX

FloatArray = npt.NDArray[np.float64]

TWO_WEEK_REVIEW_DAYS: Final = 14
"""The review after every treatment (DF s4 touch-up row: clinics touch up at day 14-21)."""
STAGGER_DAYS: Final = 14
"""Regions whose touch-up days differ by more are retreated in sessions of their own."""
SIDES_APART_DAYS: Final = 14
"""Two sides predicted to wear off further apart than this get dose changes for next time."""
RETURN_LEVELS: Final = (("day_10", 0.9), ("day_50", 0.5), ("day_90", 0.1))
"""Answer key, and the survival at which that chance of return is reached."""
DOSE_STEPS: Final = (0.05, 0.10, 0.15, 0.20, 0.25)
"""Dose changes tried per side, as a share of its units (at most the advisor's default 25%)."""
MAX_PTOSIS_RISE: Final = 0.01
"""A dose change may raise a ptosis risk by at most this much (absolute)."""
_PTOSIS: Final = tuple(o.name for o in OUTCOMES if "ptosis" in o.name)
_REGION_DOSE: Final = np.array([FEATURE_INDEX[f"region_u_eq_{r}"] for r in REGIONS])
"""Feature columns of each region's dose (U_eq), by region code."""


def _day(value: float) -> float | None:
    """A predicted day as answered: rounded to a tenth, None where it is never reached."""
    return round(value, 1) if np.isfinite(value) and value < MAX_DAYS else None


def _on(start: date, day: float | None) -> str | None:
    return (start + timedelta(days=round(day))).isoformat() if day is not None else None


def _region_rows(p: Predictions) -> dict[int, dict[int, int]]:
    """Row of each (region, side) of the one treatment of ``p``: region -> side -> row."""
    out: dict[int, dict[int, int]] = {}
    for row, (r, s) in enumerate(zip(p.region.tolist(), p.side.tolist(), strict=True)):
        out.setdefault(r, {})[s] = row
    return out


def _scaled(request: TreatmentRequest, factors: dict[tuple[int, int], float]) -> TreatmentRequest:
    """``request`` with each (region, side)'s points' units times its factor (a tenth of a unit)."""
    out = copy.deepcopy(request)
    for point in out["plan"]["injections"]:
        key = (REGIONS.index(MUSCLE_REGION[point["muscle"]]), SIDES.index(point["side"]))
        if key in factors:
            point["units"] = max(0.1, round(point["units"] * factors[key], 1))
    return out


def _next_session(request: TreatmentRequest, days_from_now: float) -> TreatmentRequest:
    """The next session's request: this plan, and this treatment as the latest earlier one."""
    earlier: Earlier = {"days_before": max(1, round(days_from_now)), "plan": request["plan"]}
    return {**request, "history": [*request.get("history", []), earlier]}


def _predict(
    predictor: Predictor, requests: Sequence[TreatmentRequest], late_gap_days: float
) -> tuple[Predictions, FloatArray]:
    """The requests' predictions and their feature rows (the region doses are read there)."""
    inputs = requests_inputs(requests)
    x = build_features(inputs)
    return predictor.predict(
        x.astype(np.float32), *treated_region_sides(inputs.plan), late_gap_days
    ), x


def _medians(p: Predictions, i: int, region: int) -> tuple[float, float]:
    """(left, right) median of ``region`` in treatment ``i`` of ``p``."""
    rows = np.flatnonzero((p.treatment == i) & (p.region == region))
    by_side = dict(zip(p.side[rows].tolist(), p.median_days[rows].tolist(), strict=True))
    return by_side[LEFT], by_side[RIGHT]


def _dose_candidates(region: int, early: int, late: int) -> list[dict[tuple[int, int], float]]:
    """Side factors that lengthen the side wearing off first, the smallest change first.

    More on it and as much less on the other (the region's dose unchanged), or only more on it.
    """
    out: list[dict[tuple[int, int], float]] = []
    for step in DOSE_STEPS:
        out.append({(region, early): 1.0 + step, (region, late): 1.0 - step})
        out.append({(region, early): 1.0 + step})
    return out


def next_session_doses(
    predictor: Predictor,
    request: TreatmentRequest,
    days_from_now: float,
    late_gap_days: float = LATE_GAP_DAYS,
) -> dict[str, Any]:
    """Per-side dose changes for the next session that bring each region's sides together.

    The next session is predicted as planned now (this plan, this treatment in its history);
    for each region whose sides' medians are more than ``SIDES_APART_DAYS`` apart, candidate
    plans move dose toward the side that wears off first (``DOSE_STEPS``) and are scored in one
    batched call. A candidate that takes the region above its label range (or above its dose
    now, if that is higher) or raises a ptosis risk by more than ``MAX_PTOSIS_RISE`` is never
    kept; of the others the smallest change that brings the medians within
    ``SIDES_APART_DAYS`` is kept or, if none does, the one that brings them closest, by 3 days
    at least. All kept changes are then predicted together.

    Args:
        predictor: The model.
        request: This treatment's validated request.
        days_from_now: When the next session is (its earlier treatment's days_before).
        late_gap_days: The late-stage asymmetry's gap (the predictions' own).

    Returns:
        ``status`` (``within``: no region's sides apart; ``adjusted``: all brought together;
        ``improved``: closer, not all together; ``not_possible``: no allowed change helps),
        ``regions`` (per region treated on both sides: each side's median before and after,
        how far apart), the ``dose_changes`` and the next session's ``plan``.
    """
    base = _next_session(request, days_from_now)
    before, x_base = _predict(predictor, [base], late_gap_days)
    rows = _region_rows(before)
    paired = [r for r, sides in sorted(rows.items()) if LEFT in sides and RIGHT in sides]
    apart_before = {r: abs(np.subtract(*_medians(before, 0, r))) for r in paired}
    apart = [r for r in paired if apart_before[r] > SIDES_APART_DAYS]
    candidates = []
    for r in apart:
        left, right = _medians(before, 0, r)
        candidates += _dose_candidates(r, *((LEFT, RIGHT) if left < right else (RIGHT, LEFT)))
    plans = [_scaled(base, f) for f in candidates]
    scored, x = _predict(predictor, plans, late_gap_days) if plans else (before, x_base)
    chosen: dict[int, tuple[float, dict[tuple[int, int], float]]] = {}
    for i, factors in enumerate(candidates):
        (r, _), *_ = factors
        if r in chosen and chosen[r][0] <= SIDES_APART_DAYS:
            continue  # a smaller change already brings the sides together
        high = max(LABEL_RANGE_U_EQ[REGIONS[r]][1], x_base[0, _REGION_DOSE[r]])
        if x[i, _REGION_DOSE[r]] > high:
            continue
        if any(scored.risks[o][i] > before.risks[o][0] + MAX_PTOSIS_RISE for o in _PTOSIS):
            continue
        gap = abs(np.subtract(*_medians(scored, i, r)))
        if gap < chosen.get(r, (apart_before[r] - 3.0, {}))[0]:
            chosen[r] = (gap, factors)
    factors = {k: f for _, change in chosen.values() for k, f in change.items()}
    plan = _scaled(base, factors)
    after = _predict(predictor, [plan], late_gap_days)[0] if factors else before
    apart_after = {r: abs(np.subtract(*_medians(after, 0, r))) for r in paired}
    regions = []
    for r in paired:
        was, now = _medians(before, 0, r), _medians(after, 0, r)
        regions.append(
            {
                "region": REGIONS[r],
                "median_days_before": {"left": round(was[0], 1), "right": round(was[1], 1)},
                "median_days_after": {"left": round(now[0], 1), "right": round(now[1], 1)},
                "apart_before": round(float(apart_before[r]), 1),
                "apart_after": round(float(apart_after[r]), 1),
            }
        )
    changes = []
    for (r, s), f in sorted(factors.items()):
        units = [
            (p["units"], q["units"])
            for p, q in zip(base["plan"]["injections"], plan["plan"]["injections"], strict=True)
            if REGIONS.index(MUSCLE_REGION[p["muscle"]]) == r and SIDES.index(p["side"]) == s
        ]
        changes.append(
            {
                "region": REGIONS[r],
                "side": SIDES[s],
                "factor": f,
                "units_from": round(sum(u for u, _ in units), 1),
                "units_to": round(sum(u for _, u in units), 1),
            }
        )
    if not apart:
        status = "within"
    elif not factors:
        status = "not_possible"
    elif all(apart_after[r] <= SIDES_APART_DAYS for r in apart):
        status = "adjusted"
    else:
        status = "improved"
    return {"status": status, "regions": regions, "dose_changes": changes, "plan": plan["plan"]}


@dataclass(frozen=True)
class ScheduleRows:
    """The schedule of n treatments, one entry per longevity row of their ``Predictions``.

    Attributes:
        returns: (len(RETURN_LEVELS), r) day by which the row's side has returned with 10%, 50%
            and 90% chance (inf: never).
        first: (r,) whether the row is its region's side wearing off first (smallest median).
        review_day: (r,) its region's review: the first side's 10% day.
        touch_up_day: (r,) its region's touch-up: the first side's median.
        session: (r,) its region's retreatment session in its treatment, from 1 (0: never).
    """

    returns: FloatArray
    first: npt.NDArray[np.bool_]
    review_day: FloatArray
    touch_up_day: FloatArray
    session: npt.NDArray[np.int64]


def schedule_rows(p: Predictions) -> ScheduleRows:
    """Return days, review, touch-up and retreatment session of every row of ``p``.

    A region's sessions: its treatment's regions in order of touch-up; a region joins the
    session before when its touch-up comes at most ``STAGGER_DAYS`` after that session's first,
    and starts a session of its own otherwise.

    Args:
        p: Predictions of n treatments (their rows sorted by treatment, as the predictor's).

    Returns:
        The schedule rows.
    """
    levels = np.log([[s for _, s in RETURN_LEVELS]]).T
    returns = p.curves.days_to(levels, slice(None))
    key = p.treatment * len(REGIONS) + p.region
    order = np.lexsort((p.median_days, key))  # each region's rows, its first side first
    starts = np.ones(len(order), dtype=np.bool_)
    np.not_equal(key[order][1:], key[order][:-1], out=starts[1:])
    first = np.zeros(len(key), dtype=np.bool_)
    first[order[starts]] = True
    # Each row gets its region's first side's days: the first row of its run in ``order``.
    run_first = order[np.flatnonzero(starts)[np.cumsum(starts) - 1]]
    of_row = np.empty_like(run_first)
    of_row[order] = run_first
    review, touch_up = returns[0][of_row], p.median_days[of_row]

    # Sessions, rank by rank of touch-up within each treatment (a treatment has few regions).
    regions = np.flatnonzero(first)
    regions = regions[np.lexsort((touch_up[regions], p.treatment[regions]))]
    treatment = p.treatment[regions]
    new_treatment = np.ones(len(regions), dtype=np.bool_)
    np.not_equal(treatment[1:], treatment[:-1], out=new_treatment[1:])
    rank = np.arange(len(regions)) - np.maximum.accumulate(
        np.where(new_treatment, np.arange(len(regions)), 0)
    )
    session = np.zeros(len(regions), dtype=np.int64)
    current = np.zeros(len(regions), dtype=np.int64)
    opened = np.full(len(regions), -np.inf)
    for k in range(int(rank.max()) + 1 if len(rank) else 0):
        at = np.flatnonzero(rank == k)
        prev = at - 1
        day = touch_up[regions[at]]
        start, number = (opened[prev], current[prev]) if k else (np.full(len(at), -np.inf), 0)
        fresh = ~(day - start <= STAGGER_DAYS)
        opened[at] = np.where(fresh, day, start)
        current[at] = number + fresh
        session[at] = np.where(np.isfinite(day) & (day < MAX_DAYS), current[at], 0)
    by_row = np.zeros(len(key), dtype=np.int64)
    by_row[regions] = session
    return ScheduleRows(
        returns=returns,
        first=first,
        review_day=review,
        touch_up_day=touch_up,
        session=by_row[of_row],
    )


def schedule(
    predictor: Predictor,
    request: TreatmentRequest,
    treatment_date: date,
    late_gap_days: float = LATE_GAP_DAYS,
) -> dict[str, Any]:
    """The touch-up schedule of one treatment (the ``ScheduleResponse`` fields but the model's).

    Args:
        predictor: The model.
        request: The validated request.
        treatment_date: The day of this treatment: the schedule's dates count from it.
        late_gap_days: The late-stage asymmetry's gap.

    Returns:
        ``treatment_date``, ``review_date`` (the two-week review), ``regions`` (per treated
        region, earliest touch-up first: each side's return days and dates, the review and
        touch-up days and dates, the late-stage asymmetry risk where both sides are treated),
        ``sessions`` (the staggered retreatments, ``schedule_rows``) and ``next_session``
        (``next_session_doses``).
    """
    p, _ = _predict(predictor, [request], late_gap_days)
    rows = schedule_rows(p)
    firsts = np.flatnonzero(rows.first)
    firsts = firsts[np.lexsort((p.region[firsts], rows.touch_up_day[firsts]))]
    regions = []
    sessions: dict[int, dict[str, Any]] = {}
    for first in firsts.tolist():
        r = int(p.region[first])
        side_rows = []
        for row in np.flatnonzero(p.region == r).tolist():
            returns = {
                key: _day(float(d))
                for (key, _), d in zip(RETURN_LEVELS, rows.returns[:, row], strict=True)
            }
            side_rows.append(
                {
                    "side": SIDES[int(p.side[row])],
                    **returns,
                    "date_50": _on(treatment_date, returns["day_50"]),
                }
            )
        review, touch_up = (
            _day(float(rows.review_day[first])),
            _day(float(rows.touch_up_day[first])),
        )
        late = float(p.region_late_asymmetry_risk[first])
        regions.append(
            {
                "region": REGIONS[r],
                "sides": side_rows,
                "first_side": SIDES[int(p.side[first])],
                "review_day": review,
                "review_date": _on(treatment_date, review),
                "touch_up_day": touch_up,
                "touch_up_date": _on(treatment_date, touch_up),
                "late_asymmetry_risk": None if np.isnan(late) else late,
            }
        )
        number = int(rows.session[first])
        if number and touch_up is not None:
            opened = sessions.setdefault(
                number, {"day": touch_up, "date": _on(treatment_date, touch_up), "regions": []}
            )
            opened["regions"].append(REGIONS[r])
    first_touch_up = sessions[1]["day"] if sessions else TWO_WEEK_REVIEW_DAYS
    return {
        "treatment_date": treatment_date.isoformat(),
        "review_date": _on(treatment_date, TWO_WEEK_REVIEW_DAYS),
        "late_gap_days": late_gap_days,
        "regions": regions,
        "sessions": [sessions[k] for k in sorted(sessions)],
        "staggered": len(sessions) > 1,
        "next_session": next_session_doses(predictor, request, first_touch_up, late_gap_days),
    }
