"""Placement features: where each unit of toxin goes relative to each muscle and structure at risk.

Every point without coordinates sits at its muscle's usual site (``atlas.USUAL_SITES``). Its dose
spreads as a Gaussian kernel (``atlas.spread_sd_mm``) and reaches each target in proportion to
``atlas.reach``; summed per treatment this gives the spread-weighted effective dose on each muscle
and risk structure. The expected left/right changes use nominal paralysis curves and
displacements (assumptions below) so the trees see the physics directly, not only its inputs.
"""

from __future__ import annotations

from typing import Final

import numpy as np

from data.contract import MUSCLES, REGIONS
from features.atlas import (
    BROW_LINE_Y_MM,
    COMMISSURE_XY_MM,
    LABEL_RANGE_U_EQ,
    LOWER_FACE_REGIONS,
    MUSCLE_BLOBS,
    ORBITAL_RIM_Y_MM,
    RISK_BLOBS,
    USUAL_SITES,
    reach,
    spread_sd_mm,
)
from features.inputs import (
    MUSCLE_CODE,
    SIDE_CODE,
    UNIT_FACTOR_BY_CODE,
    FeatureInput,
    FloatArray,
    IntArray,
    group_sum,
    region_u_eq,
)
from features.spec import (
    DIFFS,
    INJECTION_UNITS,
    MUSCLE_TARGETS,
    PAIRED_MUSCLES,
    RISK_TARGETS,
)

N_SIDES: Final = 3
_SIGN = {"left": 1.0, "right": -1.0, "midline": 0.0}


def _targets() -> tuple[FloatArray, ...]:
    names = [(MUSCLE_BLOBS[m], s) for m, s in MUSCLE_TARGETS]
    names += [(RISK_BLOBS[r], s) for r, s in RISK_TARGETS]
    cx = np.array([b.x_mm * _SIGN[s] if s != "midline" else 0.0 for b, s in names])
    cy = np.array([b.y_mm for b, _ in names])
    sx = np.array([b.sd_x_mm for b, _ in names])
    sy = np.array([b.sd_y_mm for b, _ in names])
    return cx, cy, sx, sy


TARGET_X, TARGET_Y, TARGET_SD_X, TARGET_SD_Y = _targets()
N_TARGETS: Final = len(TARGET_X)
TARGET_INDEX: Final = {
    f"{name}_{side}": i for i, (name, side) in enumerate(MUSCLE_TARGETS + RISK_TARGETS)
}

# Usual site per (muscle code, side code); midline points (procerus, mentalis) sit at x = 0.
USUAL_X: Final = np.array(
    [[USUAL_SITES[m][0], -USUAL_SITES[m][0], 0.0] for m in MUSCLES], dtype=np.float64
)
USUAL_Y: Final = np.array([[USUAL_SITES[m][1]] * N_SIDES for m in MUSCLES], dtype=np.float64)

INJECTION_UNIT_INDEX: Final = np.full((len(MUSCLES), N_SIDES), -1, dtype=np.int64)
for _i, (_m, _s) in enumerate(INJECTION_UNITS):
    INJECTION_UNIT_INDEX[MUSCLE_CODE[_m], SIDE_CODE[_s]] = _i

# Target columns of each paired structure's left and right side: paired muscles, then risk ones.
PAIRED_LEFT: Final = np.array(
    [TARGET_INDEX[f"{m}_left"] for m in PAIRED_MUSCLES + tuple(RISK_BLOBS)], dtype=np.int64
)
PAIRED_RIGHT: Final = np.array(
    [TARGET_INDEX[f"{m}_right"] for m in PAIRED_MUSCLES + tuple(RISK_BLOBS)], dtype=np.int64
)

LABEL_HIGH: Final = np.array([LABEL_RANGE_U_EQ[r][1] for r in REGIONS])
LOWER_FACE: Final = np.array([r in LOWER_FACE_REGIONS for r in REGIONS])

# Nominal paralysis: P = 1 - exp(-ln 4 * dose / ref), i.e. 75% at the reference effective dose
# of one side of a usual label plan (assumption, from DF s1/s11 doses x typical atlas reach).
PARALYSIS_REF_U_EQ: Final = {
    "frontalis": 6.0,
    "corrugator": 5.0,
    "procerus": 3.0,
    "orbicularis_oculi": 6.0,
    "levator_labii_alaeque_nasi": 1.5,
    "depressor_anguli_oris": 2.0,
    "mentalis": 2.0,
    "masseter": 20.0,
    "platysma": 10.0,
    "levator_palpebrae": 1.0,
    "zygomaticus_major": 2.0,
    "risorius": 2.0,
    "oral_commissure": 2.0,
}
# Nominal displacement of one side at full paralysis, mm (assumption; DF s3 mechanisms: frontalis
# lifts the brow, corrugator/procerus and lateral orbicularis pull it down, the levator opens the
# lid, DAO pulls the commissure down, zygomaticus major and risorius pull it up and out).
DISPLACEMENT_MM: Final = {
    "brow_height": {
        "frontalis": -3.0,
        "corrugator": 1.0,
        "procerus": 0.5,
        "orbicularis_oculi": 0.7,
    },
    "palpebral_fissure": {"levator_palpebrae": -2.5, "orbicularis_oculi": 0.3},
    "commissure_height": {
        "depressor_anguli_oris": 1.5,
        "zygomaticus_major": -2.0,
        "risorius": -1.5,
        "platysma": 0.3,
    },
}


def _paralysis_tables() -> tuple[FloatArray, IntArray, IntArray, FloatArray]:
    """Reference dose per target; per difference, the (left, right, mm) terms to combine.

    The terms are a (differences, 4) table padded with zero-mm terms at the end, so that one
    row-wise sum adds them in the same order for one treatment or many.
    """
    ref = np.empty(N_TARGETS)
    for key, i in TARGET_INDEX.items():
        ref[i] = next(v for name, v in PARALYSIS_REF_U_EQ.items() if key.startswith(name + "_"))
    width = max(len(v) for v in DISPLACEMENT_MM.values())
    left = np.zeros((len(DIFFS), width), dtype=np.int64)
    right = np.zeros((len(DIFFS), width), dtype=np.int64)
    mm = np.zeros((len(DIFFS), width))
    for k, d in enumerate(DIFFS):
        for j, (name, shift) in enumerate(DISPLACEMENT_MM[d].items()):
            # An unpaired muscle is one midline target that acts on both sides equally.
            midline = TARGET_INDEX.get(f"{name}_midline", -1)
            left[k, j] = TARGET_INDEX.get(f"{name}_left", midline)
            right[k, j] = TARGET_INDEX.get(f"{name}_right", midline)
            mm[k, j] = shift
    return ref, left, right, mm


PARALYSIS_REF, TERM_LEFT, TERM_RIGHT, TERM_MM = _paralysis_tables()
PARALYSIS_RATE: Final = -np.log(4.0) / PARALYSIS_REF
"""P = 1 - exp(rate * dose): 75% paralysis at the reference dose."""

# Which geometry column (0..5, spec order: frontalis L, R, corrugator L, R, DAO L, R) a point of
# (muscle code, side code) feeds, -1 for none.
_GEOMETRY_SLOT = np.full((len(MUSCLES), N_SIDES), -1, dtype=np.int64)
for _k, _m in enumerate(("frontalis", "corrugator", "depressor_anguli_oris")):
    _GEOMETRY_SLOT[MUSCLE_CODE[_m], SIDE_CODE["left"]] = 2 * _k
    _GEOMETRY_SLOT[MUSCLE_CODE[_m], SIDE_CODE["right"]] = 2 * _k + 1


_TARGET_COLUMNS: Final = np.arange(N_TARGETS)


def _positions(inp: FeatureInput) -> tuple[FloatArray, FloatArray]:
    """Point positions; a point without coordinates sits at its muscle's usual site."""
    plan = inp.plan
    x = np.where(np.isnan(plan.x_mm), USUAL_X[plan.muscle, plan.side], plan.x_mm)
    y = np.where(np.isnan(plan.y_mm), USUAL_Y[plan.muscle, plan.side], plan.y_mm)
    return x, y


def effective_dose(inp: FeatureInput, u_eq: FloatArray, x: FloatArray, y: FloatArray) -> FloatArray:
    """Spread-weighted dose reaching every target, (n, targets), in U_eq."""
    plan = inp.plan
    volume_ml = plan.units * inp.dilution[plan.treatment] / 100.0
    sd = spread_sd_mm(u_eq, volume_ml)[:, None]
    r = reach(x[:, None], y[:, None], sd, TARGET_X, TARGET_Y, TARGET_SD_X, TARGET_SD_Y)
    idx = plan.treatment[:, None] * N_TARGETS + _TARGET_COLUMNS
    sums = group_sum(idx.ravel(), (r * u_eq[:, None]).ravel(), inp.n * N_TARGETS)
    return sums.reshape(inp.n, N_TARGETS)


def _geometry(inp: FeatureInput, x: FloatArray, y: FloatArray) -> FloatArray:
    """(n, 6) lowest frontalis and corrugator points, nearest DAO point to the commissure."""
    plan = inp.plan
    slot = _GEOMETRY_SLOT[plan.muscle, plan.side]
    cx, cy = COMMISSURE_XY_MM
    value = np.where(
        slot < 2,
        y - BROW_LINE_Y_MM,
        np.where(slot < 4, y - ORBITAL_RIM_Y_MM, np.hypot(np.abs(x) - cx, y - cy)),
    )
    use = slot >= 0
    out = np.full(inp.n * 6, np.inf)
    np.minimum.at(out, plan.treatment[use] * 6 + slot[use], value[use])
    out[np.isinf(out)] = np.nan
    return out.reshape(inp.n, 6)


def placement_block(inp: FeatureInput) -> list[FloatArray]:
    """Placement features of n treatments: 2-D blocks whose columns follow ``features.spec``."""
    n, plan = inp.n, inp.plan
    factor = UNIT_FACTOR_BY_CODE[inp.product]
    u_eq = plan.units * factor[plan.treatment]
    x, y = _positions(inp)
    n_units = len(INJECTION_UNITS)
    unit_idx = plan.treatment * n_units + INJECTION_UNIT_INDEX[plan.muscle, plan.side]
    unit_u = group_sum(unit_idx, u_eq, n * n_units).reshape(n, n_units)
    unit_n = group_sum(unit_idx, None, n * n_units).reshape(n, n_units)

    eff = effective_dose(inp, u_eq, x, y)
    left, right = eff[:, PAIRED_LEFT], eff[:, PAIRED_RIGHT]
    total, diff = left + right, left - right
    ratio = np.divide(diff, total, out=np.zeros_like(total), where=total > 1e-9)

    paralysis = 1.0 - np.exp(eff * PARALYSIS_RATE)
    change = ((paralysis[:, TERM_LEFT] - paralysis[:, TERM_RIGHT]) * TERM_MM).sum(axis=2)
    post = np.abs(inp.baseline + change)

    regions = region_u_eq(plan, u_eq, n)
    treated = regions > 0.0
    totals = np.array(
        [
            group_sum(plan.treatment, u_eq, n),
            unit_n.sum(axis=1),  # counts: exact whatever the order
            group_sum(plan.treatment, np.isnan(plan.x_mm + plan.y_mm) * 1.0, n),
            (treated & LOWER_FACE).sum(axis=1) * 1.0,
            treated.sum(axis=1) * 1.0,
        ]
    ).T
    return [
        unit_u,
        unit_n,
        eff,
        diff,
        ratio[:, : len(PAIRED_MUSCLES)],
        _geometry(inp, x, y),
        change,
        post,
        np.abs(inp.baseline) - post,
        regions,
        regions / LABEL_HIGH,
        totals,
    ]
