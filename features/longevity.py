"""Longevity inputs: one row per treated (region, side), gathered from the treatment features.

The longevity model predicts, for each treated region and side, when muscle activity returns. Its
input row is built only from the treatment's row of the feature matrix (``features.spec``), by
column picks and fixed weighted sums, so a whole registry and one clinic request give the same
rows. numpy only: serving imports this module.

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

from data.atlas import LABEL_HIGH, MUSCLE_ATLAS
from data.contract import HANDS, MUSCLE_REGION, REGIONS, SIDES
from features.inputs import LEFT, MIDLINE, REGION_OF_MUSCLE, RIGHT, PlanArrays
from features.spec import FEATURE_INDEX, INJECTION_UNITS, THICKNESS_MUSCLES, Feature

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
_THICKNESS_MUSCLE: Final = {MUSCLE_REGION[m]: m for m in THICKNESS_MUSCLES}
"""The muscle whose ultrasound thickness a region's rows carry (forehead, jaw)."""
# By side code: the other side (midline: itself, then masked), +1 left / -1 right / 0 midline,
# and the dominant_hand code of the side (midline: NaN, never dominant).
_OTHER_SIDE: Final = np.arange(_N_SIDES)
_OTHER_SIDE[[LEFT, RIGHT]] = RIGHT, LEFT
_SIGN: Final = np.zeros(_N_SIDES)
_SIGN[[LEFT, RIGHT]] = 1.0, -1.0
_HAND_OF_SIDE: Final = np.full(_N_SIDES, np.nan)
_HAND_OF_SIDE[[LEFT, RIGHT]] = HANDS.index("left"), HANDS.index("right")


def _dose_terms(region: str, side: int) -> dict[str, float]:
    """The u_eq columns (and weights) summed into the dose of ``region`` on ``side``."""
    units = [(m, s) for m, s in INJECTION_UNITS if MUSCLE_REGION[m] == region]
    if side == MIDLINE:
        return {f"u_eq_{m}_{s}": 1.0 for m, s in units}
    name, midline = SIDES[side], SIDES[MIDLINE]
    return {f"u_eq_{m}_{s}": 1.0 if s == name else 0.5 for m, s in units if s in (name, midline)}


def _eff_terms(region: str, side: int) -> dict[str, float]:
    """The eff columns (and weights) summed into the effective dose of ``region`` on ``side``."""
    out: dict[str, float] = {}
    for muscle in MUSCLE_ATLAS.values():
        m = muscle.name
        if muscle.region != region:
            continue
        if not muscle.paired:
            out[f"eff_{m}_midline"] = 1.0 if side == MIDLINE else 0.5
        elif side == MIDLINE:
            out |= {f"eff_{m}_left": 1.0, f"eff_{m}_right": 1.0}
        else:
            out[f"eff_{m}_{SIDES[side]}"] = 1.0
    return out


def _sum_weights() -> tuple[IntArray, FloatArray]:
    """The feature columns the sums read, and their (columns, 2 x regions x sides) weights.

    Sum ``r * sides + s`` is the dose of region r on side s, sum ``regions x sides`` further on
    its effective dose.
    """
    sums = [
        terms(region, side)
        for terms in (_dose_terms, _eff_terms)
        for region in REGIONS
        for side in range(_N_SIDES)
    ]
    names = sorted({c for t in sums for c in t}, key=FEATURE_INDEX.__getitem__)
    weights = np.zeros((len(names), len(sums)))
    for j, t in enumerate(sums):
        for c, w in t.items():
            weights[names.index(c), j] = w
    return np.array([FEATURE_INDEX[c] for c in names]), weights


_SUM_COLUMNS, _SUM_WEIGHTS = _sum_weights()
_EFF_SUMS: Final = _N_REGIONS * _N_SIDES
"""Offset of the effective-dose sums among the sums."""

_COPIED: Final = (
    "region_u_eq",
    "region_label_ratio",
    "thickness_mm",
    "other_thickness_mm",
    "previous_days",
    "previous_returned",
    "previous_lr_days_diff",
    "previous_u_eq",
    *PATIENT_COLUMNS,
)
"""Longevity columns copied from a treatment feature (of the row's region, or side)."""
_NO_FEATURE: Final = -1
"""Column index of a feature the row does not have: ``longevity_matrix`` puts NaN there."""


def _copy_from() -> IntArray:
    """(regions, sides, ``_COPIED``) feature column each (region, side) row copies."""
    out = np.full((_N_REGIONS, _N_SIDES, len(_COPIED)), _NO_FEATURE)
    for r, region in enumerate(REGIONS):
        for side in range(_N_SIDES):
            other = _OTHER_SIDE[side] if side != MIDLINE else MIDLINE
            muscle = _THICKNESS_MUSCLE.get(region)
            thickness = {
                name: FEATURE_INDEX[f"{muscle}_thickness_{SIDES[s]}_mm"]
                for name, s in (("thickness_mm", side), ("other_thickness_mm", other))
                if muscle is not None and s != MIDLINE
            }
            column = {
                "region_u_eq": FEATURE_INDEX[f"region_u_eq_{region}"],
                "region_label_ratio": FEATURE_INDEX[f"region_label_ratio_{region}"],
                **thickness,
                "previous_days": FEATURE_INDEX[f"previous_{region}_days"],
                "previous_returned": FEATURE_INDEX[f"previous_{region}_returned"],
                "previous_lr_days_diff": FEATURE_INDEX[f"previous_{region}_lr_days_diff"],
                "previous_u_eq": FEATURE_INDEX[f"previous_{region}_u_eq"],
                **{n: FEATURE_INDEX[n] for n in PATIENT_COLUMNS},
            }
            out[r, side] = [column.get(n, _NO_FEATURE) for n in _COPIED]
    return out


_COPY_FROM: Final = _copy_from()
_HAND: Final = FEATURE_INDEX["dominant_hand"]
_READ: Final = np.array(
    sorted({*_COPY_FROM[_COPY_FROM != _NO_FEATURE].tolist(), *_SUM_COLUMNS.tolist(), _HAND})
)
"""The treatment features the longevity rows read (about a hundred of them)."""
# ``longevity_matrix``'s per-treatment table: the ``_READ`` features, a NaN column, then the sums.
_NAN_AT: Final = len(_READ)
_SUMS_AT: Final = _NAN_AT + 1
_AT: Final = np.full(max(FEATURE_INDEX.values()) + 2, _NAN_AT)
"""The table column of each treatment feature; the NaN column for one not read (and for
``_NO_FEATURE``, -1)."""
_AT[_READ] = np.arange(len(_READ))
_SUM_AT: Final = _AT[_SUM_COLUMNS]


def _sources() -> IntArray:
    """(regions, sides, k) the table columns a (region, side) row gathers.

    First the ``_COPIED`` features, then its dose, the other side's, its effective dose and the
    other side's (a midline row has no other side: NaN), then the dominant hand.
    """
    out = np.empty((_N_REGIONS, _N_SIDES, len(_COPIED) + 5), dtype=np.int64)
    out[:, :, : len(_COPIED)] = _AT[_COPY_FROM]
    for r in range(_N_REGIONS):
        for side in range(_N_SIDES):
            dose = _SUMS_AT + r * _N_SIDES + side
            other = _SUMS_AT + r * _N_SIDES + _OTHER_SIDE[side]
            other_dose, other_eff = (
                (_NAN_AT, _NAN_AT) if side == MIDLINE else (other, other + _EFF_SUMS)
            )
            out[r, side, len(_COPIED) :] = (
                dose,
                other_dose,
                dose + _EFF_SUMS,
                other_eff,
                _AT[_HAND],
            )
    return out


_SOURCES: Final = _sources()
_GATHERED_AT: Final = np.array(
    [
        LONGEVITY_INDEX[n]
        for n in (*_COPIED, "dose_u_eq", "other_dose_u_eq", "eff_u_eq", "other_eff_u_eq")
    ]
)
"""The longevity columns of the gathered ones but the last (the hand)."""
_DOSE: Final = LONGEVITY_INDEX["dose_u_eq"]
_OTHER_DOSE: Final = LONGEVITY_INDEX["other_dose_u_eq"]
_TOP: Final = LABEL_HIGH[:, None] * np.where(np.arange(_N_SIDES) == MIDLINE, 1.0, 0.5)
"""(regions, sides) top of the label range for the row: half of the region's for one side."""


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

    Raises:
        IndexError: If a region or side code is out of range.
    """
    treatment = np.asarray(treatment, dtype=np.int64)
    region = np.asarray(region, dtype=np.int64)
    side = np.asarray(side, dtype=np.int64)
    # Per treatment (a treatment has several rows), in float64: the features the rows read, a
    # NaN column (where ``_NO_FEATURE`` and a midline row's other side land), then the dose and
    # effective dose of every (region, side): sums of a few doses, exact or nearly so in
    # float64, so the order of their additions does not show at float32.
    table = np.empty((len(x), _SUMS_AT + _SUM_WEIGHTS.shape[1]))
    table[:, :_NAN_AT] = x.take(_READ, axis=1)
    table[:, _NAN_AT] = np.nan
    table[:, _SUMS_AT:] = table[:, _SUM_AT] @ _SUM_WEIGHTS
    gathered = table[treatment[:, None], _SOURCES[region, side]]  # IndexError
    out = np.empty((len(treatment), len(LONGEVITY_NAMES)))
    out[:, _GATHERED_AT] = gathered[:, :-1]
    dose, other_dose = out[:, _DOSE], out[:, _OTHER_DOSE]
    c = LONGEVITY_INDEX
    out[:, c["region"]] = region
    out[:, c["side"]] = side
    out[:, c["dose_label_ratio"]] = dose / _TOP[region, side]
    midline = side == MIDLINE
    # Nothing on either side is NaN; a midline row has no sides to compare: 0.
    both = dose + other_dose
    lr_ratio = np.where(midline, 0.0, np.nan)
    np.divide(dose - other_dose, both, out=lr_ratio, where=~midline & (both > 0))
    out[:, c["dose_lr_ratio"]] = lr_ratio
    hand = gathered[:, -1]
    out[:, c["side_is_dominant"]] = np.where(np.isnan(hand), np.nan, hand == _HAND_OF_SIDE[side])
    # This side's previous longevity: the shortest side's plus how much longer it lasted,
    # where the difference is known.
    longer = np.fmax(_SIGN[side] * out[:, c["previous_lr_days_diff"]], 0.0)  # NaN: 0
    out[:, c["previous_side_days"]] = out[:, c["previous_days"]] + longer
    previous_dose = out[:, c["previous_u_eq"]]
    vs_previous = np.full(len(treatment), np.nan)  # stays NaN without a previous dose
    np.divide(out[:, c["region_u_eq"]], previous_dose, out=vs_previous, where=previous_dose > 0)
    out[:, c["dose_vs_previous"]] = vs_previous
    result: Float32Array = out.astype(np.float32)
    return result


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
    # A dense (treatment * region, side) table rather than np.unique and np.isin: one request
    # has a dozen points, and each of those calls costs more than the whole table.
    n = int(plan.treatment.max()) + 1 if len(plan.treatment) else 0
    treated = np.zeros((n * _N_REGIONS, _N_SIDES), dtype=np.bool_)
    treated.reshape(-1)[key] = True
    treated[:, MIDLINE] &= ~(treated[:, LEFT] | treated[:, RIGHT])
    pair, side = np.nonzero(treated)  # row-major: sorted by treatment, region, side
    return pair // _N_REGIONS, pair % _N_REGIONS, side
