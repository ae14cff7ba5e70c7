"""What a recommendation says of its suggestion: the points changed, the checks, the support.

``checks`` restates, for the answer, every rule the search (``serving.advisor``) kept: per treated
(region, side) the label range, the dose change and the median days, and the ptosis risks; the
clinic sees what held and by how much. ``support`` compares the suggested plan's features with
the training rows' ranges the bundle carries (``bundle.manifest.FeatureSupport``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from bundle.heads import OUTCOME_BY_TARGET
from bundle.predictor import Predictor
from data.atlas import LABEL_RANGE_U_EQ, label_excess
from data.contract import MIDLINE, REGIONS, SIDES
from features.inputs import PlanArrays
from features.longevity import treated_region_sides
from features.spec import FEATURE_NAMES, FEATURES
from serving.advisor import (
    LONGEVITY_DAYS,
    PTOSIS_MARGIN,
    Candidates,
    Constraints,
    PlanPoints,
    Suggestion,
)

FloatArray = npt.NDArray[np.float64]

"""The ptosis heads (every binary outcome after the asymmetry risk)."""
_PLAN_FEATURES: Final = np.array([f.group == "placement" for f in FEATURES])
"""The features a plan decides (its points, doses and their estimated effects)."""
_MAX_LISTED: Final = 5
"""Features named in a support reason, at most."""


def support_bounds(predictor: Predictor) -> tuple[FloatArray, FloatArray] | None:
    """(F,) the training range of each feature a plan decides, or None without a reference.

    The plan's features (``features.spec`` group ``placement``) only: the advisor changes
    nothing else, and a patient unlike the training ones is the answer's concern, not the
    suggestion's. Other features, and a feature no training row had, get an unbounded range.
    """
    support = predictor.manifest.support
    if support is None:
        return None

    def array(values: tuple[float | None, ...], unbounded: float) -> FloatArray:
        out = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        return np.where(_PLAN_FEATURES & ~np.isnan(out), out, unbounded)

    return array(support.low, -np.inf), array(support.high, np.inf)


def number(value: float) -> float | None:
    """A JSON number, or null for NaN (a point without coordinates)."""
    return None if np.isnan(value) else float(value)


def changes(points: PlanPoints, plan: Candidates) -> list[dict[str, Any]]:
    """``PointChange`` items: the points whose units or place the suggested ``plan`` changes."""
    units, x, y = plan.units[0], plan.x_mm[0], plan.y_mm[0]
    out = []
    for i in range(len(units)):
        moved_x = not np.array_equal(x[i], points.x_mm[i], equal_nan=True)
        moved = moved_x or not np.array_equal(y[i], points.y_mm[i], equal_nan=True)
        if units[i] == points.units[i] and not moved:
            continue
        out.append(
            {
                "index": i,
                "units_from": float(points.units[i]),
                "units_to": float(units[i]),
                "x_mm_from": number(points.x_mm[i]),
                "y_mm_from": number(points.y_mm[i]),
                "x_mm_to": number(x[i]),
                "y_mm_to": number(y[i]),
                "moved_mm": round(float(np.hypot(x[i] - points.x_mm[i], y[i] - points.y_mm[i])), 3)
                if moved
                else 0.0,
            }
        )
    return out


def checks(points: PlanPoints, s: Suggestion, c: Constraints) -> dict[str, Any]:
    """Per treated (region, side): label range, dose change, longevity; and the ptosis risks."""
    plan = PlanArrays(
        treatment=np.zeros(len(points.units), dtype=np.int64),
        muscle=points.muscle,
        side=points.side,
        units=points.units,
        x_mm=points.x_mm,
        y_mm=points.y_mm,
    )
    _, region_codes, side_codes = treated_region_sides(plan)
    before_units, after_units = points.units, s.plan.units[0]
    f = points.unit_factor
    rows = []
    for j, (r, sd) in enumerate(zip(region_codes.tolist(), side_codes.tolist(), strict=True)):
        # A side's points and the region's midline points (which count for both sides).
        on = (points.region == r) & ((points.side == sd) | (points.side == SIDES.index(MIDLINE)))
        in_region = points.region == r
        u0, u1 = float(before_units[on].sum()), float(after_units[on].sum())
        r0, r1 = float(before_units[in_region].sum() * f), float(after_units[in_region].sum() * f)
        low, high = LABEL_RANGE_U_EQ[REGIONS[r]]
        change = (u1 - u0) / u0
        assert s.before.median_days is not None and s.after.median_days is not None
        m0, m1 = float(s.before.median_days[0, j]), float(s.after.median_days[0, j])
        outside_before, outside_after = label_excess(np.array([r0, r1]), r).tolist()
        label_ok = outside_after <= outside_before + 1e-9
        dose_ok = abs(change) <= c.max_dose_change + 1e-9
        longevity_ok = m1 >= m0 - LONGEVITY_DAYS
        rows.append(
            {
                "region": REGIONS[r],
                "side": SIDES[sd],
                "units_before": round(u0, 4),
                "units_after": round(u1, 4),
                "dose_change": round(change, 4),
                "dose_change_ok": dose_ok,
                "region_u_eq_before": round(r0, 4),
                "region_u_eq_after": round(r1, 4),
                "label_range_u_eq": [low, high],
                "within_label_range": outside_after == 0.0,
                "label_range_ok": label_ok,
                "median_days_before": m0,
                "median_days_after": m1,
                "longevity_ok": longevity_ok,
                "passed": label_ok and dose_ok and longevity_ok,
            }
        )
    ptosis = []
    for target, before, after in (
        ("eyelid_ptosis", s.before.eyelid_ptosis[0], s.after.eyelid_ptosis[0]),
        ("brow_ptosis", s.before.brow_ptosis[0], s.after.brow_ptosis[0]),
    ):
        ok = bool(after <= before + PTOSIS_MARGIN)
        name = OUTCOME_BY_TARGET[target].name
        ptosis.append({"outcome": name, "before": float(before), "after": float(after), "ok": ok})
    passed = all(r["passed"] for r in rows) and all(p["ok"] for p in ptosis)
    return {"regions": rows, "ptosis": ptosis, "passed": passed}


def support(
    predictor: Predictor, s: Suggestion, features: Callable[[], FloatArray]
) -> dict[str, Any]:
    """Whether the suggested plan lies where the training plans were, and if not, where not.

    The search never takes a plan's feature outside the training range (``serving.advisor``);
    a suggestion is outside only where the clinician's plan already was.

    Args:
        predictor: The bundle (its ``FeatureSupport``).
        s: The search's outcome (``Scores.outside`` of the suggested plan).
        features: The suggested plan's feature row, computed only to name values outside.
    """
    reference = predictor.manifest.support
    if reference is None or s.after.outside is None:
        return {
            "in_support": None,
            "reason": "the bundle carries no reference of its training data",
            "outside": [],
        }
    low, high = reference.quantiles
    where = (
        f"the range of the {reference.rows:,} training plans (their {low:.1%} to {high:.1%} "
        "quantiles)"
    )
    outside = np.flatnonzero(s.after.outside[0])
    if not len(outside):
        return {
            "in_support": True,
            "reason": f"every feature the suggested plan decides lies within {where}",
            "outside": [],
        }
    bounds = support_bounds(predictor)  # the ranges to report: only now needed
    assert bounds is not None  # the bundle has a reference
    low_of, high_of = bounds
    x = features()
    listed = [
        {
            "feature": FEATURE_NAMES[f],
            "value": float(x[f]),
            "low": float(low_of[f]),
            "high": float(high_of[f]),
        }
        for f in outside[:_MAX_LISTED]
    ]
    names = ", ".join(item["feature"] for item in listed)
    more = f" and {len(outside) - _MAX_LISTED} more" if len(outside) > _MAX_LISTED else ""
    return {
        "in_support": False,
        "reason": f"{len(outside)} feature(s) of the plan lie outside {where}: {names}{more}, "
        "as in the clinician's plan; the model has seen few plans like it, trust its answers "
        "less",
        "outside": listed,
    }
