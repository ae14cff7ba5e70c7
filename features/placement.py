"""Placement features: where each unit of toxin goes relative to each muscle and structure at risk.

Every point without coordinates sits at its muscle's usual site (``Muscle.usual_site``). Its dose
spreads as a Gaussian kernel (``atlas.spread_sd_mm``) and reaches each target in proportion to
``atlas.reach``; summed per treatment this gives the spread-weighted effective dose on each muscle
and risk structure. The expected left/right changes use each structure's nominal paralysis
(``reference_dose_u_eq``) and displacements (``shift_mm``) from the atlas, so the trees see the
physics directly, not only its inputs. The mean recorded coordinates of each (muscle, side)
assume no atlas at all: in a world whose anatomy or spread differ from the atlas' (a real
registry), they let the trees learn where the toxin goes from the data.
"""

from __future__ import annotations

from typing import Final

import numpy as np

from data.atlas import (
    BROW_LINE_Y_MM,
    COMMISSURE_XY_MM,
    LABEL_HIGH,
    LOWER_FACE_REGIONS,
    MUSCLE_ATLAS,
    ORBITAL_RIM_Y_MM,
    RISK_STRUCTURES,
    Muscle,
    RiskStructure,
    reach,
    spread_sd_mm,
)
from data.contract import MUSCLES, REGIONS, SIDES
from features.inputs import (
    MUSCLE_CODE,
    SIDE_CODE,
    UNIT_FACTOR_BY_CODE,
    FeatureInput,
    FloatArray,
    columns,
    region_u_eq,
    table_sum,
)
from features.spec import (
    DIFFS,
    GEOMETRY,
    INJECTION_UNITS,
    MUSCLE_TARGETS,
    PAIRED_MUSCLES,
    RISK_TARGETS,
    SIDES2,
)

_STRUCTURES: Final[dict[str, Muscle | RiskStructure]] = {**MUSCLE_ATLAS, **RISK_STRUCTURES}
_SIGN: Final = {"left": 1.0, "right": -1.0, "midline": 0.0}
TARGETS: Final = MUSCLE_TARGETS + RISK_TARGETS
"""The (structure, side) of each ``eff_`` feature, in spec order."""
TARGET_INDEX: Final = {f"{name}_{side}": i for i, (name, side) in enumerate(TARGETS)}
N_TARGETS: Final = len(TARGETS)

# Centre and spread of each target: the atlas blob, x mirrored for the right side.
_TARGET_X, _TARGET_Y, _TARGET_SD_X, _TARGET_SD_Y = (
    np.array([_SIGN[side] * _STRUCTURES[name].blob.x_mm for name, side in TARGETS]),
    np.array([_STRUCTURES[name].blob.y_mm for name, _ in TARGETS]),
    np.array([_STRUCTURES[name].blob.sd_x_mm for name, _ in TARGETS]),
    np.array([_STRUCTURES[name].blob.sd_y_mm for name, _ in TARGETS]),
)

# Per (muscle code, side code): the usual site (midline points sit at x = 0) and the injection
# unit (``u_eq_``/``points_`` column; -1 where the contract allows no such point).
USUAL_X: Final = np.array(
    [[MUSCLE_ATLAS[m].usual_site[0] * _SIGN[s] for s in SIDES] for m in MUSCLES]
)
USUAL_Y: Final = np.array([[MUSCLE_ATLAS[m].usual_site[1]] * len(SIDES) for m in MUSCLES])
_UNIT = np.full((len(MUSCLES), len(SIDES)), -1, dtype=np.int64)
for _unit, (_m, _s) in enumerate(INJECTION_UNITS):
    _UNIT[MUSCLE_CODE[_m], SIDE_CODE[_s]] = _unit

# Point geometry: a frontalis point counts by its height above the brow line, a corrugator point
# above the orbital rim, a DAO point by its distance from the commissure. Per (muscle, side): the
# geometry column, ``_NO_GEOMETRY`` for other points; and per muscle the reference height.
_REFERENCE_Y: Final = {
    "frontalis_low_point_above_brow_mm": BROW_LINE_Y_MM,
    "glabella_low_point_above_rim_mm": ORBITAL_RIM_Y_MM,
    "dao_point_to_commissure_mm": COMMISSURE_XY_MM[1],
}
_NO_GEOMETRY: Final = 2 * len(GEOMETRY)
"""A spare column after the geometry columns, where the points without geometry go."""
_GEOMETRY_COLUMN = np.full((len(MUSCLES), len(SIDES)), _NO_GEOMETRY, dtype=np.int64)
_GEOMETRY_Y0 = np.full(len(MUSCLES), np.nan)
for _g, (_stem, _m, _) in enumerate(GEOMETRY):
    _GEOMETRY_Y0[MUSCLE_CODE[_m]] = _REFERENCE_Y[_stem]
    for _k, _s in enumerate(SIDES2):
        _GEOMETRY_COLUMN[MUSCLE_CODE[_m], SIDE_CODE[_s]] = 2 * _g + _k
_DAO: Final = MUSCLE_CODE["depressor_anguli_oris"]

# Left and right target of each paired structure: paired muscles, then risk ones.
_PAIRED: Final = PAIRED_MUSCLES + tuple(RISK_STRUCTURES)
PAIRED_LEFT: Final = np.array([TARGET_INDEX[f"{m}_left"] for m in _PAIRED])
PAIRED_RIGHT: Final = np.array([TARGET_INDEX[f"{m}_right"] for m in _PAIRED])

_AREA_COUNTS: Final = np.array([[r in LOWER_FACE_REGIONS, 1.0] for r in REGIONS], dtype=np.float64)
"""Treated regions (0/1) times this: lower-face regions treated, regions treated."""

PARALYSIS_RATE: Final = np.array(
    [-np.log(4.0) / _STRUCTURES[name].reference_dose_u_eq for name, _ in TARGETS]
)
"""Nominal paralysis of each target, P = 1 - exp(rate * dose): 75% at the reference dose."""


def _change_mm() -> FloatArray:
    """(targets, differences): how far each target's paralysis shifts each left-right difference.

    A paired structure's left target shifts a difference by its ``shift_mm``, its right target
    by minus that; an unpaired muscle (one midline target) acts on both sides equally and shifts
    none.
    """
    out = np.zeros((N_TARGETS, len(DIFFS)))
    for k, d in enumerate(DIFFS):
        for name, s in _STRUCTURES.items():
            if d in s.shift_mm and f"{name}_left" in TARGET_INDEX:
                out[TARGET_INDEX[f"{name}_left"], k] = s.shift_mm[d]
                out[TARGET_INDEX[f"{name}_right"], k] = -s.shift_mm[d]
    return out


CHANGE_MM: Final = _change_mm()

_UNIT_U_EQ = columns([f"u_eq_{m}_{s}" for m, s in INJECTION_UNITS])
_UNIT_POINTS = columns([f"points_{m}_{s}" for m, s in INJECTION_UNITS])
_MEAN_X = columns([f"mean_x_mm_{m}_{s}" for m, s in INJECTION_UNITS])
_MEAN_Y = columns([f"mean_y_mm_{m}_{s}" for m, s in INJECTION_UNITS])
_EFF = columns([f"eff_{m}_{s}" for m, s in TARGETS])
_DIFF = columns([f"eff_lr_diff_{m}" for m in _PAIRED])
_RATIO = columns([f"eff_lr_ratio_{m}" for m in PAIRED_MUSCLES])
_GEOMETRY = columns([f"{stem}_{s}" for stem, _, _ in GEOMETRY for s in SIDES2])
_CHANGE = columns([f"expected_{d}_change_mm" for d in DIFFS])
_POST = columns([f"expected_{d}_post_abs_mm" for d in DIFFS])
_CORRECTION = columns([f"expected_{d}_correction_mm" for d in DIFFS])
_REGION_U_EQ = columns([f"region_u_eq_{r}" for r in REGIONS])
_LABEL_RATIO = columns([f"region_label_ratio_{r}" for r in REGIONS])
_TOTALS = columns(["total_u_eq", "total_points", "points_usual_site"])
_AREAS = columns(["lower_face_areas", "regions_treated"])

WRITES: Final = (
    _UNIT_U_EQ,
    _UNIT_POINTS,
    _MEAN_X,
    _MEAN_Y,
    _EFF,
    _DIFF,
    _RATIO,
    _GEOMETRY,
    _CHANGE,
    _POST,
    _CORRECTION,
    _REGION_U_EQ,
    _LABEL_RATIO,
    _TOTALS,
    _AREAS,
)
"""The matrix columns that ``placement_block`` fills."""

# The table of ``placement_block``'s sums: the dose reaching each target, the totals (dose,
# points, points at their muscle's usual site), then per injection unit five: its dose, points,
# points with coordinates and the sums of their x and y. A point's values (``_VALUES`` of them:
# the doses reaching the targets, its dose twice, 1 twice, at its usual site or not, recorded or
# not, x and y where recorded) go to the columns ``_SUM_AT``, those of the units moved on by
# ``_UNIT_STEP`` times the point's unit.
_BY_UNIT: Final = N_TARGETS + 3
_SUMS: Final = _BY_UNIT + 5 * len(INJECTION_UNITS)
_SUM_AT: Final = np.array(
    [
        *range(N_TARGETS),
        *(N_TARGETS, _BY_UNIT),  # its dose: to the total, to its unit's
        *(N_TARGETS + 1, _BY_UNIT + 1),  # 1: a point
        N_TARGETS + 2,  # at its usual site
        *(_BY_UNIT + 2, _BY_UNIT + 3, _BY_UNIT + 4),  # recorded, and x and y: its unit's
    ]
)
_VALUES: Final = len(_SUM_AT)
_UNIT_STEP: Final = np.where(_SUM_AT >= _BY_UNIT, 5, 0)

_CHUNK = 4096
"""Points per ``reach`` call: a registry's million points by 25 targets would make temporaries
of hundreds of MB (memory-bound, twice as slow); 4,096 points keep them in cache."""


def effective_doses(x: FloatArray, y: FloatArray, sd: FloatArray, u_eq: FloatArray) -> FloatArray:
    """Dose of each point that reaches each target, (points, ``TARGETS``), U_eq.

    Args:
        x: x of each point, mm.
        y: y of each point, mm.
        sd: Spread of each point (``atlas.spread_sd_mm``), mm.
        u_eq: Dose of each point, U_eq.
    """
    out = np.empty((len(x), N_TARGETS))
    for at in range(0, len(x), _CHUNK):
        p = slice(at, at + _CHUNK)
        share = reach(
            x[p, None], y[p, None], sd[p, None], _TARGET_X, _TARGET_Y, _TARGET_SD_X, _TARGET_SD_Y
        )
        np.multiply(share, u_eq[p, None], out=out[p])
    return out


def placement_block(inp: FeatureInput, matrix: FloatArray) -> None:
    """Fill the placement columns of the (n, features) ``matrix``.

    Per-treatment sums are ``np.bincount`` (``inputs.group_sum``), which adds in point order, so
    a treatment's sums are the same alone or inside a registry.

    Args:
        inp: Contract data of n treatments.
        matrix: The feature matrix.

    Raises:
        ValueError: If a point has a (muscle, side) the contract does not allow.
    """
    n, plan = inp.n, inp.plan
    t = plan.treatment
    unit = _UNIT[plan.muscle, plan.side]
    if (unit < 0).any():
        raise ValueError("a point's side is not allowed for its muscle; validate first")
    u_eq = plan.units * UNIT_FACTOR_BY_CODE[inp.product[t]]
    volume_ml = plan.units * inp.dilution[t] / 100.0
    # A point without coordinates sits at its muscle's usual site.
    at_usual = np.isnan(plan.x_mm) | np.isnan(plan.y_mm)
    x = np.where(np.isnan(plan.x_mm), USUAL_X[plan.muscle, plan.side], plan.x_mm)
    y = np.where(np.isnan(plan.y_mm), USUAL_Y[plan.muscle, plan.side], plan.y_mm)

    # Every per-treatment sum of points in one table (``_SUMS``): a point's values, in
    # ``_SUM_AT``'s order, each added to its column (its unit's, for the unit sums).
    values = np.empty((len(t), _VALUES))
    values[:, :N_TARGETS] = effective_doses(x, y, spread_sd_mm(u_eq, volume_ml), u_eq)
    values[:, N_TARGETS : N_TARGETS + 2] = u_eq[:, None]
    values[:, N_TARGETS + 2 : N_TARGETS + 4] = 1.0
    values[:, N_TARGETS + 4] = at_usual
    recorded = ~at_usual
    values[:, N_TARGETS + 5] = recorded
    values[:, N_TARGETS + 6 :] = 0.0
    np.copyto(values[:, N_TARGETS + 6], plan.x_mm, where=recorded)
    np.copyto(values[:, N_TARGETS + 7], plan.y_mm, where=recorded)
    sums = table_sum(t[:, None], _SUM_AT + unit[:, None] * _UNIT_STEP, values, (n, _SUMS))
    eff = sums[:, :N_TARGETS]
    matrix[:, _EFF] = eff
    matrix[:, _TOTALS] = sums[:, N_TARGETS:_BY_UNIT]
    by_unit = sums[:, _BY_UNIT:].reshape(n, len(INJECTION_UNITS), 5)
    matrix[:, _UNIT_U_EQ] = by_unit[:, :, 0]
    matrix[:, _UNIT_POINTS] = by_unit[:, :, 1]
    count = by_unit[:, :, 2:3]
    mean = np.divide(
        by_unit[:, :, 3:], count, out=np.full_like(by_unit[:, :, 3:], np.nan), where=count > 0
    )
    matrix[:, _MEAN_X] = mean[:, :, 0]
    matrix[:, _MEAN_Y] = mean[:, :, 1]
    regions = region_u_eq(plan, u_eq, n)
    matrix[:, _REGION_U_EQ] = regions

    # The lowest (frontalis, corrugator) or nearest (DAO) point per side: y - y0, or for a DAO
    # point its distance from the commissure; NaN without such a point (np.fmin skips NaN).
    dy = y - _GEOMETRY_Y0[plan.muscle]
    value = np.where(plan.muscle == _DAO, np.hypot(np.abs(x) - COMMISSURE_XY_MM[0], dy), dy)
    geometry = np.full((n, _NO_GEOMETRY + 1), np.nan)
    np.fmin.at(geometry, (t, _GEOMETRY_COLUMN[plan.muscle, plan.side]), value)
    matrix[:, _GEOMETRY] = geometry[:, :_NO_GEOMETRY]

    left, right = eff[:, PAIRED_LEFT], eff[:, PAIRED_RIGHT]
    diff = left - right
    matrix[:, _DIFF] = diff
    # Where there is (almost) no dose the ratio is 0.
    k = len(PAIRED_MUSCLES)
    total = left[:, :k] + right[:, :k]
    ratio = np.divide(diff[:, :k], total, out=np.zeros_like(total), where=total > 1e-9)
    matrix[:, _RATIO] = ratio

    paralysis = 1.0 - np.exp(PARALYSIS_RATE * eff)
    change = paralysis @ CHANGE_MM
    post = np.abs(inp.baseline + change)
    matrix[:, _CHANGE] = change
    matrix[:, _POST] = post
    matrix[:, _CORRECTION] = np.abs(inp.baseline) - post

    matrix[:, _LABEL_RATIO] = regions / LABEL_HIGH
    treated = regions > 0  # doses are positive (contract)
    matrix[:, _AREAS] = treated @ _AREA_COUNTS
