"""Longevity inputs: one row per treated (region, side), gathered from the treatment features.

The longevity model predicts, for each treated region and side, when muscle activity returns. Its
input row is built only from the treatment's row of the feature matrix (``features.spec``), by
fixed column picks and sums, so a whole registry and one clinic request give the same rows bit for
bit. numpy only: serving imports this module.

Sides: a row's side is left, right or midline (contract ``SIDES`` codes). The dose of a region on
one side counts that side's points plus half of the region's midline points (a midline point
spreads to both sides); a midline row exists only when all of the region's points are midline
(``treated_region_sides``), so its dose is the region's whole dose. This is the simulator's rule
for its ``durations`` rows too (``data.simulate.longevity.region_sides``).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from data.contract import HANDS, MUSCLE_REGION, MUSCLES, REGIONS, SIDES
from features.atlas import UNPAIRED_MUSCLES
from features.inputs import LEFT, MIDLINE, REGION_OF_MUSCLE, RIGHT, PlanArrays
from features.placement import LABEL_HIGH
from features.spec import FEATURE_INDEX, INJECTION_UNITS, Feature

Float32Array = npt.NDArray[np.float32]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

_G = "longevity"

PATIENT_COLUMNS: Final = (
    "age_years",
    "sex_male",
    "ancestry",
    "chrna1_carrier",
    "exercise_sessions_per_week",
    "bruxism",
    "smoker",
    "product",
    "dilution_ml_per_100u",
    "unit_factor",
    "prior_treatments",
    "days_since_previous",
    "total_u_eq",
    "regions_treated",
)
"""Treatment features copied as they are: who is treated, with what, and their history."""

LONGEVITY_FEATURES: Final = (
    Feature("region", "categorical", "", "Region code (contract REGIONS order).", _G),
    Feature("side", "categorical", "", "Side code: 0 left, 1 right, 2 midline.", _G),
    Feature(
        "dose_u_eq",
        "numeric",
        "U_eq",
        "Dose of the region on this side (+ half its midline points); midline row: all of it.",
        _G,
    ),
    Feature(
        "dose_label_ratio",
        "numeric",
        "",
        "dose_u_eq over the top of the region's label range (half of it for one side).",
        _G,
    ),
    Feature("other_dose_u_eq", "numeric", "U_eq", "The same on the other side; midline: NaN.", _G),
    Feature(
        "dose_lr_ratio",
        "numeric",
        "",
        "(this - other) / (this + other) side dose; midline: 0.",
        _G,
    ),
    Feature(
        "eff_u_eq",
        "numeric",
        "U_eq",
        "Spread-weighted dose on the region's muscles on this side (+ half of an unpaired one).",
        _G,
    ),
    Feature("other_eff_u_eq", "numeric", "U_eq", "The same on the other side; midline: NaN.", _G),
    Feature("region_u_eq", "numeric", "U_eq", "Total dose of the region, both sides.", _G),
    Feature(
        "region_label_ratio", "numeric", "", "Region dose over the top of its label range.", _G
    ),
    Feature(
        "thickness_mm",
        "numeric",
        "mm",
        "Ultrasound thickness of this side's muscle (frontalis, masseter); else NaN.",
        _G,
    ),
    Feature("other_thickness_mm", "numeric", "mm", "The same on the other side.", _G),
    Feature(
        "side_is_dominant",
        "binary",
        "",
        "1 if this side is the dominant hand's side, 0 if not or ambidextrous; no hand: NaN.",
        _G,
    ),
    Feature(
        "previous_days",
        "numeric",
        "days",
        "Previous session's longevity of the region as known today (shortest side).",
        _G,
    ),
    Feature(
        "previous_side_days",
        "numeric",
        "days",
        "The same for this side (shortest + the left-right difference where it is known).",
        _G,
    ),
    Feature("previous_returned", "binary", "", "1 if the region had returned by today.", _G),
    Feature(
        "previous_lr_days_diff", "numeric", "days", "Previous longevity, left minus right.", _G
    ),
    Feature("previous_u_eq", "numeric", "U_eq", "Previous session's dose in the region.", _G),
    Feature("dose_vs_previous", "numeric", "", "Region dose now over the previous session's.", _G),
    *(Feature(n, "numeric", "", f"Treatment feature {n}.", _G) for n in PATIENT_COLUMNS),
)
"""Columns of a longevity input row, in order. The hazard model appends the bin start day."""

LONGEVITY_NAMES: Final = tuple(f.name for f in LONGEVITY_FEATURES)
LONGEVITY_INDEX: Final = {n: i for i, n in enumerate(LONGEVITY_NAMES)}

_N_REGIONS: Final = len(REGIONS)
_N_SIDES: Final = len(SIDES)
_THICKNESS_REGION: Final = {"forehead": "frontalis", "jaw": "masseter"}
_HAND_SIDE: Final = {HANDS.index("right"): RIGHT, HANDS.index("left"): LEFT}


def _weights(columns: list[tuple[str, float]]) -> list[tuple[int, float]]:
    return [(FEATURE_INDEX[c], w) for c, w in columns]


def _dose_terms(region: str, side: int) -> list[tuple[str, float]]:
    """The u_eq columns (and weights) summed into the dose of ``region`` on ``side``."""
    units = [(m, s) for m, s in INJECTION_UNITS if MUSCLE_REGION[m] == region]
    if side == MIDLINE:
        return [(f"u_eq_{m}_{s}", 1.0) for m, s in units]
    name, midline = SIDES[side], SIDES[MIDLINE]
    return [(f"u_eq_{m}_{s}", 1.0 if s == name else 0.5) for m, s in units if s in (name, midline)]


def _eff_terms(region: str, side: int) -> list[tuple[str, float]]:
    """The eff columns (and weights) summed into the effective dose of ``region`` on ``side``."""
    out: list[tuple[str, float]] = []
    for m in MUSCLES:
        if MUSCLE_REGION[m] != region:
            continue
        if m in UNPAIRED_MUSCLES:
            out.append((f"eff_{m}_midline", 1.0 if side == MIDLINE else 0.5))
        elif side == MIDLINE:
            out += [(f"eff_{m}_left", 1.0), (f"eff_{m}_right", 1.0)]
        else:
            out.append((f"eff_{m}_{SIDES[side]}", 1.0))
    return out


def _table(terms: list[list[list[tuple[int, float]]]]) -> tuple[IntArray, FloatArray]:
    """Pad per-(region, side) term lists into (regions, sides, k) column and weight tables.

    Padding points at the zero column appended past the features (index ``len(FEATURE_INDEX)``).
    """
    k = max(len(t) for by_side in terms for t in by_side)
    cols = np.full((_N_REGIONS, _N_SIDES, k), len(FEATURE_INDEX), dtype=np.int64)
    weights = np.zeros((_N_REGIONS, _N_SIDES, k))
    for r, by_side in enumerate(terms):
        for s, t in enumerate(by_side):
            for j, (c, w) in enumerate(t):
                cols[r, s, j], weights[r, s, j] = c, w
    return cols, weights


def _sum_tables(kind: str) -> tuple[IntArray, FloatArray]:
    make = _dose_terms if kind == "dose" else _eff_terms
    return _table([[_weights(make(r, s)) for s in range(_N_SIDES)] for r in REGIONS])


_DOSE_COLS, _DOSE_W = _sum_tables("dose")
_EFF_COLS, _EFF_W = _sum_tables("eff")
_ZERO: Final = len(FEATURE_INDEX)
_NAN_COL: Final = _ZERO + 1


def _thickness_cols() -> IntArray:
    """Thickness column per (region, side) where the region's muscle is measured; else NaN."""
    out = np.full((_N_REGIONS, _N_SIDES), _NAN_COL, dtype=np.int64)
    for region, muscle in _THICKNESS_REGION.items():
        for s in (LEFT, RIGHT):
            out[REGIONS.index(region), s] = FEATURE_INDEX[f"{muscle}_thickness_{SIDES[s]}_mm"]
    return out


_THICK_COLS: Final = _thickness_cols()
_REGION_COLS: Final = {
    name: np.array([FEATURE_INDEX[f"{stem.format(r)}"] for r in REGIONS], dtype=np.int64)
    for name, stem in (
        ("region_u_eq", "region_u_eq_{}"),
        ("region_label_ratio", "region_label_ratio_{}"),
        ("previous_days", "previous_{}_days"),
        ("previous_returned", "previous_{}_returned"),
        ("previous_lr_days_diff", "previous_{}_lr_days_diff"),
        ("previous_u_eq", "previous_{}_u_eq"),
    )
}
_PATIENT_COLS: Final = np.array([FEATURE_INDEX[c] for c in PATIENT_COLUMNS], dtype=np.int64)
_HAND_COL: Final = FEATURE_INDEX["dominant_hand"]


def _summed(
    x: FloatArray, cols: IntArray, weights: FloatArray, region: IntArray, side: IntArray
) -> FloatArray:
    """Weighted sum of the tabled columns, term by term in table order (fixed additions)."""
    c, w = cols[region, side], weights[region, side]
    rows = np.arange(len(x))[:, None]
    out: FloatArray = (x[rows, c] * w).sum(axis=1)
    return out


def longevity_matrix(
    x: Float32Array, treatment: IntArray, region: IntArray, side: IntArray
) -> Float32Array:
    """Longevity input rows of treated (region, side)s, from their treatments' feature rows.

    Args:
        x: (n, F) treatment feature matrix, ``features.spec`` columns (float32, as models take).
        treatment: Row of ``x`` of each output row.
        region: Region code (contract ``REGIONS`` order) of each output row.
        side: Side code (contract ``SIDES`` order) of each output row.

    Returns:
        (r, len(LONGEVITY_FEATURES)) float32 matrix, columns in ``LONGEVITY_NAMES`` order.
    """
    r = len(treatment)
    treatment = np.asarray(treatment, dtype=np.int64)
    region = np.asarray(region, dtype=np.int64)
    side = np.asarray(side, dtype=np.int64)
    # float64 gathers of float32 values, two extra columns (0 and NaN) for table padding.
    base = np.empty((r, x.shape[1] + 2))
    base[:, :-2] = x[treatment]
    base[:, -2], base[:, -1] = 0.0, np.nan
    midline = side == MIDLINE
    other = np.where(midline, MIDLINE, np.where(side == LEFT, RIGHT, LEFT))

    dose = _summed(base, _DOSE_COLS, _DOSE_W, region, side)
    other_dose = np.where(midline, np.nan, _summed(base, _DOSE_COLS, _DOSE_W, region, other))
    top = LABEL_HIGH[region] * np.where(midline, 1.0, 0.5)
    both = dose + np.nan_to_num(other_dose)
    with np.errstate(invalid="ignore", divide="ignore"):
        lr = np.where(midline, 0.0, (dose - np.nan_to_num(other_dose)) / both)
    eff = _summed(base, _EFF_COLS, _EFF_W, region, side)
    other_eff = np.where(midline, np.nan, _summed(base, _EFF_COLS, _EFF_W, region, other))
    rows = np.arange(r)
    thick = base[rows, _THICK_COLS[region, side]]
    other_thick = base[rows, _THICK_COLS[region, other]]
    other_thick = np.where(midline, np.nan, other_thick)

    hand = base[:, _HAND_COL]
    hand_side = np.full(r, -1.0)
    for code, hand_is in _HAND_SIDE.items():
        hand_side[hand == code] = hand_is
    dominant = np.where(np.isnan(hand), np.nan, (hand_side == side) * 1.0)

    def region_col(name: str) -> FloatArray:
        out: FloatArray = base[rows, _REGION_COLS[name][region]]
        return out

    prev_days = region_col("previous_days")
    prev_lr = region_col("previous_lr_days_diff")
    sign = np.where(side == LEFT, 1.0, np.where(side == RIGHT, -1.0, 0.0))
    # This side's previous longevity is the shortest side plus how much longer it lasted.
    prev_side = prev_days + np.maximum(np.nan_to_num(sign * prev_lr), 0.0)
    region_dose = region_col("region_u_eq")
    prev_u = region_col("previous_u_eq")
    with np.errstate(invalid="ignore", divide="ignore"):
        vs_prev = np.where(prev_u > 0, region_dose / prev_u, np.nan)

    columns = [
        region * 1.0,
        side * 1.0,
        dose,
        dose / top,
        other_dose,
        lr,
        eff,
        other_eff,
        region_dose,
        region_col("region_label_ratio"),
        thick,
        other_thick,
        dominant,
        prev_days,
        prev_side,
        region_col("previous_returned"),
        prev_lr,
        prev_u,
        vs_prev,
    ]
    out = np.empty((r, len(LONGEVITY_NAMES)), dtype=np.float32)
    out[:, : len(columns)] = np.array(columns).T
    out[:, len(columns) :] = base[:, _PATIENT_COLS]
    return out


def treated_region_sides(plan: PlanArrays) -> tuple[IntArray, IntArray, IntArray]:
    """One (treatment, region, side) per treated region and side of a plan's points.

    A side is treated in a region when one of the region's points is on it; a midline row appears
    only when all of the region's points are midline (otherwise a midline point counts for both
    sides), the rule of the registry's ``durations`` rows.

    Args:
        plan: Injection points, grouped by treatment.

    Returns:
        treatment, region and side codes, sorted by treatment, region, side.
    """
    key = (plan.treatment * _N_REGIONS + REGION_OF_MUSCLE[plan.muscle]) * _N_SIDES + plan.side
    key = np.unique(key)
    side = key % _N_SIDES
    pair = key // _N_SIDES  # treatment * regions + region
    sided = np.unique(pair[side != MIDLINE])
    keep = (side != MIDLINE) | ~np.isin(pair, sided)
    key = key[keep]
    pair = key // _N_SIDES
    return (
        (pair // _N_REGIONS).astype(np.int64),
        (pair % _N_REGIONS).astype(np.int64),
        (key % _N_SIDES).astype(np.int64),
    )
