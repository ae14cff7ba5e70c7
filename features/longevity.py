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

from data.atlas import UNPAIRED_MUSCLES
from data.contract import HANDS, MUSCLE_REGION, MUSCLES, REGIONS, SIDES
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


# One longevity row is one gather of a fixed list of slots per (region, side), ``_SLOT_INDEX``:
# feature columns of the treatment's row, or constants of the (region, side) (``_SLOT_CONSTANTS``,
# appended to the row). Then a few array operations on the gathered block compute the derived
# columns in place. One request has only a handful of rows, where each numpy call costs more than
# its work: so as few calls as possible, all of them on whole blocks.
#
# Slots, in order:
#   [_SUMS]     4 sums of _TERMS terms: dose, other side's dose, eff, other side's eff, each
#               padded with 0 (the midline row's "other side" is one NaN: its sum is NaN);
#   [_WEIGHTS]  their weights (constants; 0 for padding);
#   _TOP, _SIGN, _HAND_OF_SIDE  constants: the top of the label range for this side, +1/-1/0
#               for left/right/midline, the dominant_hand code of this side (NaN for midline);
#   [_OUT]      the output columns in LONGEVITY_NAMES order: features picked as they are, and
#               placeholders (constants) that the derived columns overwrite.
_TERMS: Final = 5
"""Most terms of one sum (the glabella midline dose: corrugators, procerus left/right/midline).

The terms are added one after the other (the order in which ``numpy.sum`` adds fewer than 8
values of a row, which this module used at first), so the padding zeros at the end leave each
sum bit for bit what the terms alone give."""
_SUMS: Final = slice(0, 4 * _TERMS)
_WEIGHTS: Final = slice(_SUMS.stop, _SUMS.stop + 4 * _TERMS)
_TOP: Final = _WEIGHTS.stop
_SIGN: Final = _TOP + 1
_HAND_OF_SIDE: Final = _TOP + 2
_OUT: Final = _TOP + 3
_SLOTS: Final = _OUT + len(LONGEVITY_NAMES)
_O: Final = {n: _OUT + i for i, n in enumerate(LONGEVITY_NAMES)}
"""Slot of each output column."""
_SUM_COLUMNS: Final = np.array(
    [LONGEVITY_INDEX[n] for n in ("dose_u_eq", "other_dose_u_eq", "eff_u_eq", "other_eff_u_eq")]
)
"""Output columns of the four sums, in ``_SUMS`` order."""
_MAX: Final = float(np.finfo(np.float64).max)
_OTHER_SIDE: Final = {LEFT: RIGHT, RIGHT: LEFT, MIDLINE: None}
_REGION_STEMS: Final = {
    "region_u_eq": "region_u_eq_{}",
    "region_label_ratio": "region_label_ratio_{}",
    "previous_days": "previous_{}_days",
    "previous_returned": "previous_{}_returned",
    "previous_lr_days_diff": "previous_{}_lr_days_diff",
    "previous_u_eq": "previous_{}_u_eq",
}


def _slots(region: str, side: int) -> list[tuple[int | None, float]]:
    """(feature column, or None for a constant, and the constant) of each slot of one row."""
    slots: list[tuple[int | None, float]] = [(None, 0.0)] * _SLOTS
    other = _OTHER_SIDE[side]
    for i, terms in enumerate(
        (
            _dose_terms(region, side),
            None if other is None else _dose_terms(region, other),
            _eff_terms(region, side),
            None if other is None else _eff_terms(region, other),
        )
    ):
        weighted = [(FEATURE_INDEX[c], w) for c, w in terms] if terms is not None else []
        if len(weighted) > _TERMS:
            raise ValueError(f"{region}: {len(weighted)} terms in a sum, at most {_TERMS}")
        for j, (c, w) in enumerate(weighted):
            slots[_SUMS.start + i * _TERMS + j] = (c, 0.0)
            slots[_WEIGHTS.start + i * _TERMS + j] = (None, w)
        if terms is None:  # no other side: NaN times 1, plus padding
            slots[_SUMS.start + i * _TERMS] = (None, np.nan)
            slots[_WEIGHTS.start + i * _TERMS] = (None, 1.0)
    r = REGIONS.index(region)
    slots[_TOP] = (None, float(LABEL_HIGH[r]) * (1.0 if side == MIDLINE else 0.5))
    slots[_SIGN] = (None, {LEFT: 1.0, RIGHT: -1.0}.get(side, 0.0))
    hand = {s: float(code) for code, s in _HAND_SIDE.items()}
    slots[_HAND_OF_SIDE] = (None, hand.get(side, np.nan))
    slots[_O["region"]] = (None, float(r))
    slots[_O["side"]] = (None, float(side))
    for name, stem in _REGION_STEMS.items():
        slots[_O[name]] = (FEATURE_INDEX[stem.format(region)], 0.0)
    muscle = _THICKNESS_REGION.get(region)
    for name, s in (("thickness_mm", side), ("other_thickness_mm", other)):
        if muscle is not None and s is not None and s != MIDLINE:
            slots[_O[name]] = (FEATURE_INDEX[f"{muscle}_thickness_{SIDES[s]}_mm"], 0.0)
        else:
            slots[_O[name]] = (None, np.nan)
    # The hand code, compared with _HAND_OF_SIDE in place.
    slots[_O["side_is_dominant"]] = (FEATURE_INDEX["dominant_hand"], 0.0)
    slots[_O["dose_vs_previous"]] = (None, np.nan)  # stays NaN without a previous dose
    for name in PATIENT_COLUMNS:
        slots[_O[name]] = (FEATURE_INDEX[name], 0.0)
    return slots


_N_FEATURES: Final = len(FEATURE_INDEX)


def _slot_tables() -> tuple[IntArray, FloatArray]:
    """(regions x sides, slots) column of every slot, and the constants.

    Columns past the treatment features are the constants, appended to each treatment's row by
    ``longevity_matrix``: so one gather fills every slot, features and constants alike.
    """
    index = np.zeros((_N_REGIONS, _N_SIDES, _SLOTS), dtype=np.int64)
    constants: dict[bytes, int] = {}  # by bit pattern: NaN, 0.0 and -0.0 are all kept as they are
    values: list[float] = []
    for r, region in enumerate(REGIONS):
        for side in range(_N_SIDES):
            for k, (c, v) in enumerate(_slots(region, side)):
                if c is None:
                    key = np.float64(v).tobytes()
                    if key not in constants:
                        constants[key] = len(values)
                        values.append(v)
                    c = _N_FEATURES + constants[key]
                index[r, side, k] = c
    # Flat: row region * sides + side, looked up through _CODE.
    flat = index.reshape(_N_REGIONS * _N_SIDES, _SLOTS)
    const = np.array(values, dtype=np.float64)
    flat.flags.writeable = const.flags.writeable = False
    return flat, const


_SLOT_INDEX, _SLOT_CONSTANTS = _slot_tables()
_ROW_WIDTH: Final = _N_FEATURES + len(_SLOT_CONSTANTS)
"""A treatment's row in ``longevity_matrix``: its features, then the slot constants."""
_CODE: Final = np.arange(_N_REGIONS * _N_SIDES).reshape(_N_REGIONS, _N_SIDES)
"""Row of the slot tables of each (region, side); indexing it rejects codes past the end."""


def _nan_to_num(v: FloatArray) -> FloatArray:
    """``np.nan_to_num`` of a float64 array (NaN: 0, +-inf: +-max), without its call overhead."""
    out: FloatArray = np.minimum(np.maximum(v, -_MAX), _MAX)
    out[np.isnan(out)] = 0.0
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
    treatment = np.asarray(treatment, dtype=np.int64)
    region = np.asarray(region, dtype=np.int64)
    side = np.asarray(side, dtype=np.int64)
    # Every slot of every row in one flat take (float64, as the sums are done in float64) from
    # the treatments' rows with the slot constants appended: a few times faster than a 2-D
    # fancy index into x and a choice between it and the constants.
    code = _CODE[region, side]  # one lookup of the (region, side), then cheap takes
    rows = np.empty((len(x), _ROW_WIDTH))
    rows[:, :_N_FEATURES] = x
    rows[:, _N_FEATURES:] = _SLOT_CONSTANTS
    at = _SLOT_INDEX.take(code, axis=0)
    at += (treatment * _ROW_WIDTH)[:, None]
    g = rows.take(at)
    terms = (g[:, _SUMS] * g[:, _WEIGHTS]).reshape(-1, 4, _TERMS)
    # One after the other (``_TERMS``), in whole-column adds: ``terms.sum(axis=2)`` adds in the
    # same order, but its per-row reduction costs as much as the rest of this function.
    sums = terms[:, :, 0] + terms[:, :, 1]
    for j in range(2, _TERMS):
        sums += terms[:, :, j]
    c = LONGEVITY_INDEX
    out = g[:, _OUT:]
    out[:, _SUM_COLUMNS] = sums
    # NaN-free copies, in one call: the other side's dose, how much longer this side lasted.
    fixed = np.empty((2, len(code)))
    fixed[0] = sums[:, 1]
    np.multiply(g[:, _SIGN], out[:, c["previous_lr_days_diff"]], out=fixed[1])
    other, longer = _nan_to_num(fixed)
    dose = sums[:, 0]
    hand = out[:, c["side_is_dominant"]]  # the dominant_hand code until compared
    unknown = np.isnan(hand)
    np.equal(hand, g[:, _HAND_OF_SIDE], out=hand)
    hand[unknown] = np.nan
    # This side's previous longevity is the shortest side plus how much longer it lasted.
    np.add(
        out[:, c["previous_days"]],
        np.maximum(longer, 0.0),
        out=out[:, c["previous_side_days"]],
    )
    prev_u = out[:, c["previous_u_eq"]]
    with np.errstate(invalid="ignore", divide="ignore"):
        np.divide(dose, g[:, _TOP], out=out[:, c["dose_label_ratio"]])
        # Midline rows keep their placeholder 0; 0 / 0 (nothing on either side) is NaN.
        np.divide(dose - other, dose + other, out=out[:, c["dose_lr_ratio"]], where=side != MIDLINE)
        # Without a previous dose, the placeholder NaN stays.
        np.divide(
            out[:, c["region_u_eq"]], prev_u, out=out[:, c["dose_vs_previous"]], where=prev_u > 0
        )
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
