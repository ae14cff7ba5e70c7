# Over 400 lines: every region's dose habits and point placement, one plan read top to bottom.
"""Injection plans: which points, where and how many units, and where they actually land.

Points are laid out around the atlas' usual sites (left side, mirrored for the right). Injectors
split a region's dose between the sides: evenly by intent, off by an accidental imbalance (larger
for novices, sometimes gross), and in clinics that correct, shifted toward the side a measured
baseline difference calls for (more frontalis on the higher brow, more DAO on the lower corner).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data.atlas import MUSCLE_ATLAS, ORBITAL_RIM_Y_MM
from data.contract import DEPTHS, INJECTIONS, MAX_UNITS_PER_POINT, MUSCLES, REGIONS
from data.simulate import params as p
from data.simulate.types import (
    LEFT,
    MIDLINE,
    RIGHT,
    UNIT_FACTOR_BY_CODE,
    BoolArray,
    FloatArray,
    IntArray,
    rounded,
    segment_ids,
)
from data.simulate.worlds import DEFAULT_WORLD, World

_R = {name: i for i, name in enumerate(REGIONS)}
_M = {name: i for i, name in enumerate(MUSCLES)}
_SUBCUTANEOUS_SHARE = {"frontalis": 0.4, "platysma": 0.8}  # assumption; others 0.15
_DEPTH_OTHER = 0.15
_X = INJECTIONS.column("x_mm")
_Y = INJECTIONS.column("y_mm")


@dataclass(frozen=True, slots=True)
class PlanInput:
    """What the injector knows and does, one entry per treatment of a batch.

    Attributes:
        regions: (treatment, region) treated.
        male: Sex.
        east_asian: Ancestry (true, as the injector sees the patient).
        age: Age at treatment.
        dose_factor: Clinic habit x the patient's usual dose.
        product: Index into PRODUCTS.
        dilution_ml_per_100u: Labelled dilution.
        novice: Session injected by a novice.
        brow_measured: Measured baseline brow difference, NaN if not measured.
        commissure_measured: Same for the commissure.
        corrects: The clinic corrects measured differences.
        forehead_points: Points per side on the forehead.
        crows_feet_units: U_eq per crow's-feet point.
        three_point_glabella: Medial corrugator points only.
        low_glabella_mm: Clinic's shift of the lateral corrugator point height.
        forehead_left_share: If given, force this left share of the forehead dose (for tests of
            how much the plan matters); otherwise the injector decides.
        placement_sd_mm: Per-point placement error sd of (experienced, novice) injectors; a test
            may set it (zero: every point lands where planned); None: the world's.
        world: The world whose injectors plan (imbalance, correction, forehead height).
    """

    regions: BoolArray
    male: BoolArray
    east_asian: BoolArray
    age: FloatArray
    dose_factor: FloatArray
    product: IntArray
    dilution_ml_per_100u: FloatArray
    novice: BoolArray
    brow_measured: FloatArray
    commissure_measured: FloatArray
    corrects: BoolArray
    forehead_points: IntArray
    crows_feet_units: FloatArray
    three_point_glabella: BoolArray
    low_glabella_mm: FloatArray
    forehead_left_share: float | None = None
    placement_sd_mm: tuple[float, float] | None = None
    world: World = DEFAULT_WORLD


@dataclass(frozen=True, slots=True)
class Plan:
    """Injection points of a batch, grouped by treatment in the order of the batch.

    Attributes:
        treatment: Index of the point's treatment in the batch.
        muscle: Index into MUSCLES.
        side: Index into SIDES.
        units: Labelled units (as recorded).
        u_eq: Dose in onabotulinumtoxinA-equivalent units.
        volume_ml: Injected volume.
        x_plan: Planned (and, where recorded, registered) x.
        y_plan: Planned y.
        x_mm: Where the point actually landed.
        y_mm: Same for y.
        placement_sd_mm: The sd of the placement error each point was drawn with.
        depth: Index into DEPTHS.
    """

    treatment: IntArray
    muscle: IntArray
    side: IntArray
    units: FloatArray
    u_eq: FloatArray
    volume_ml: FloatArray
    x_plan: FloatArray
    y_plan: FloatArray
    x_mm: FloatArray
    y_mm: FloatArray
    placement_sd_mm: FloatArray
    depth: IntArray


@dataclass(slots=True)
class _Block:
    treatment: IntArray
    muscle: IntArray
    side: IntArray
    u_eq: FloatArray
    x_left: FloatArray  # x on the left side; mirrored for the right
    y: FloatArray


def _share(
    rng: np.random.Generator, inp: PlanInput, idx: IntArray, shift: FloatArray
) -> FloatArray:
    """Left share of a region's dose: even + correction ``shift`` + accidental imbalance."""
    n = len(idx)
    sd = np.where(inp.novice[idx], inp.world.imbalance_sd[1], inp.world.imbalance_sd[0])
    gross = (rng.random(n) < p.P_GROSS_IMBALANCE) * rng.choice([-1.0, 1.0], n) * p.GROSS_IMBALANCE
    share = np.clip(0.5 + shift + rng.normal(0.0, 1.0, n) * sd + gross, *p.SHARE_RANGE)
    return np.asarray(share, dtype=np.float64)


def _paired(
    rng: np.random.Generator,
    idx: IntArray,
    per_side: IntArray,
    dose_left: FloatArray,
    dose_right: FloatArray,
    muscle: str,
    site: tuple[FloatArray, FloatArray],
    spacing: tuple[float, float],
) -> _Block:
    """``per_side`` points on each side around ``site``, spaced along (dx, dy), dose split evenly.

    ``site`` holds per-treatment centres; points are centred on it.
    """
    counts = np.concatenate([per_side, per_side])
    owner = np.concatenate([np.arange(len(idx)), np.arange(len(idx))])
    sides = np.repeat(np.array([LEFT, RIGHT]), len(idx))
    group, pos = segment_ids(counts)
    o = owner[group]
    n = counts[group]
    centred = pos - (n - 1) / 2.0
    side = sides[group]
    dose = np.where(side == LEFT, dose_left[o], dose_right[o]) / n
    jitter = rng.normal(0.0, p.SITE_JITTER_MM, (len(group), 2))
    return _Block(
        treatment=idx[o],
        muscle=np.full(len(group), _M[muscle], dtype=np.int64),
        side=side.astype(np.int64),
        u_eq=dose,
        x_left=site[0][o] + spacing[0] * centred + jitter[:, 0],
        y=site[1][o] + spacing[1] * centred + jitter[:, 1],
    )


def _const(n: int, value: float) -> FloatArray:
    return np.full(n, value)


def draw_plan(rng: np.random.Generator, inp: PlanInput) -> Plan:
    """Lay out the injection points of a batch of treatments and where they land.

    Args:
        rng: Random source.
        inp: The batch's treatments.

    Returns:
        One row per point, grouped by treatment in batch order, regions in contract order.
    """
    ea = np.where(inp.east_asian, p.EAST_ASIAN_DOSE, 1.0)
    blocks: list[_Block] = []

    def treated(region: str) -> IntArray:
        return np.flatnonzero(inp.regions[:, _R[region]]).astype(np.int64)

    # Forehead (DF s11): 10-20 U_eq over 4-10 points, lowest row at y >= 35 + planning error.
    i = treated("forehead")
    dose = (
        rng.uniform(*p.FOREHEAD_DOSE, len(i))
        * np.where(inp.male[i], p.MALE_FOREHEAD, 1.0)
        * ea[i]
        * inp.dose_factor[i]
    )
    measured = np.nan_to_num(inp.brow_measured[i])  # not measured: nothing to correct
    shift = np.where(inp.corrects[i], inp.world.correction_per_mm * measured, 0.0)
    left = _share(rng, inp, i, shift)
    if inp.forehead_left_share is not None:
        left = np.full(len(i), inp.forehead_left_share)
    low_y = inp.world.forehead_lowest_y_mm + rng.normal(0.0, p.FOREHEAD_PLAN_SD_MM, len(i))
    per_side = inp.forehead_points[i]
    x0, x1 = p.FOREHEAD_X_RANGE_MM
    block = _paired(
        rng,
        i,
        per_side,
        dose * left,
        dose * (1 - left),
        "frontalis",
        (_const(len(i), (x0 + x1) / 2), low_y),
        (0.0, 0.0),
    )
    # Spread evenly across the forehead width, alternating between two rows.
    counts = np.concatenate([per_side, per_side])
    n_side = np.repeat(counts, counts)
    pos = segment_ids(counts)[1]
    block.x_left = block.x_left + (x1 - x0) / n_side * (pos - (n_side - 1) / 2)
    block.y = block.y + p.FOREHEAD_ROW_GAP_MM * (pos % 2)
    blocks.append(block)

    # Glabella (DF s11): 20 U_eq women, 30-40 U_eq men; 1 procerus + 2 points per corrugator.
    i = treated("glabella")
    mean = np.where(inp.male[i], p.GLABELLA_DOSE["male"][0], p.GLABELLA_DOSE["female"][0])
    sd = np.where(inp.male[i], p.GLABELLA_DOSE["male"][1], p.GLABELLA_DOSE["female"][1])
    age_extra = p.AGE_DOSE_PER_YEAR * np.maximum(inp.age[i] - p.AGE_DOSE_FROM, 0.0)
    dose = np.clip(
        (rng.normal(mean, sd) * ea[i] + age_extra) * inp.dose_factor[i], *p.GLABELLA_RANGE
    )
    px, py = MUSCLE_ATLAS["procerus"].usual_site
    blocks.append(
        _Block(
            treatment=i,
            muscle=np.full(len(i), _M["procerus"], dtype=np.int64),
            side=np.full(len(i), MIDLINE, dtype=np.int64),
            u_eq=dose * p.PROCERUS_SHARE,
            x_left=_const(len(i), px),
            y=py + rng.normal(0.0, p.SITE_JITTER_MM / 2, len(i)),
        )
    )
    left = _share(rng, inp, i, np.zeros(len(i)))
    corr = dose * (1 - p.PROCERUS_SHARE)
    lateral = ~inp.three_point_glabella[i]
    med_share = np.where(lateral, 1 - p.LATERAL_CORRUGATOR_SHARE, 1.0)
    mx, my = p.CORRUGATOR_MEDIAL_SITE
    ones = np.ones(len(i), dtype=np.int64)
    blocks.append(
        _paired(
            rng,
            i,
            ones,
            corr * left * med_share,
            corr * (1 - left) * med_share,
            "corrugator",
            (_const(len(i), mx), _const(len(i), my)),
            (0.0, 0.0),
        )
    )
    j = i[lateral]
    height = p.LATERAL_CORRUGATOR_ABOVE_RIM[0] + inp.low_glabella_mm[j]
    block = _paired(
        rng,
        j,
        ones[lateral],
        (corr * left * (1 - med_share))[lateral],
        (corr * (1 - left) * (1 - med_share))[lateral],
        "corrugator",
        (_const(len(j), p.LATERAL_CORRUGATOR_X_MM), ORBITAL_RIM_Y_MM + height),
        (0.0, 0.0),
    )
    # The height above the rim is the eyelid-ptosis driver (DF s11): its own spread, not the
    # generic site jitter.
    height = np.concatenate([height, height])
    block.y = (
        ORBITAL_RIM_Y_MM + height + rng.normal(0.0, p.LATERAL_CORRUGATOR_ABOVE_RIM[1], len(height))
    )
    blocks.append(block)

    # Crow's feet (DF s11): 3 points per side, 2-4 U each, fanning 1 cm apart.
    i = treated("crows_feet")
    left = _share(rng, inp, i, np.zeros(len(i)))
    per_side_dose = p.CROWS_FEET_POINTS * inp.crows_feet_units[i] * inp.dose_factor[i] * ea[i]
    sx, sy = MUSCLE_ATLAS["orbicularis_oculi"].usual_site
    blocks.append(
        _paired(
            rng,
            i,
            np.full(len(i), p.CROWS_FEET_POINTS, dtype=np.int64),
            2 * per_side_dose * left,
            2 * per_side_dose * (1 - left),
            "orbicularis_oculi",
            (_const(len(i), sx), _const(len(i), sy)),
            (0.0, -p.CROWS_FEET_DY_MM),
        )
    )

    # Nose (DF s11 LLSAN): one point per side, 1-2.5 U.
    blocks.append(
        _simple(
            rng, inp, treated("nose"), p.NOSE_DOSE_PER_SIDE, (1, 1), "levator_labii_alaeque_nasi"
        )
    )
    # Mouth corners (DF s11 DAO): 2-5 U per side over 1-3 points; correct a commissure
    # difference by more DAO on the lower corner.
    i = treated("mouth_corners")
    measured = np.nan_to_num(inp.commissure_measured[i])
    shift = np.where(inp.corrects[i], -p.DAO_CORRECTION_PER_MM * measured, 0.0)
    blocks.append(
        _simple(
            rng, inp, i, p.DAO_DOSE_PER_SIDE, p.DAO_POINTS_PER_SIDE, "depressor_anguli_oris", shift
        )
    )
    # Chin (DF s11 mentalis): 2-8 U total, one midline point or a pair 7-8 mm from the midline.
    i = treated("chin")
    dose = rng.uniform(*p.CHIN_DOSE, len(i)) * inp.dose_factor[i]
    midline = rng.random(len(i)) < p.P_CHIN_MIDLINE
    sx, sy = MUSCLE_ATLAS["mentalis"].usual_site
    k = i[midline]
    blocks.append(
        _Block(
            treatment=k,
            muscle=np.full(len(k), _M["mentalis"], dtype=np.int64),
            side=np.full(len(k), MIDLINE, dtype=np.int64),
            u_eq=dose[midline],
            x_left=_const(len(k), 0.0),
            y=sy + rng.normal(0.0, p.SITE_JITTER_MM, len(k)),
        )
    )
    k = i[~midline]
    half = dose[~midline] / 2
    blocks.append(
        _paired(
            rng,
            k,
            np.ones(len(k), dtype=np.int64),
            half,
            half,
            "mentalis",
            (_const(len(k), sx), _const(len(k), sy)),
            (0.0, 0.0),
        )
    )
    # Jaw (DF s11 masseter): 20-40 U_eq per side over 1-3 points, men's muscles larger.
    i = treated("jaw")
    blocks.append(_simple(rng, inp, i, p.JAW_DOSE_PER_SIDE, p.JAW_POINTS_PER_SIDE, "masseter"))
    # Neck (DF s11 platysma): up to 20 U per side over 3-5 points along the bands.
    i = treated("neck")
    blocks.append(_simple(rng, inp, i, p.NECK_DOSE_PER_SIDE, p.NECK_POINTS_PER_SIDE, "platysma"))

    return _finish(rng, inp, blocks)


_SPACING = {
    "levator_labii_alaeque_nasi": (0.0, 0.0),
    "depressor_anguli_oris": (0.0, 6.0),  # assumption: along the muscle
    "masseter": (0.0, p.JAW_DY_MM),
    "platysma": (4.0, -6.0),  # assumption: down a band
}


def _simple(
    rng: np.random.Generator,
    inp: PlanInput,
    i: IntArray,
    dose_range: tuple[float, float],
    points: tuple[int, int],
    muscle: str,
    shift: FloatArray | None = None,
) -> _Block:
    """A paired region: per-side dose from ``dose_range``, 1..n points per side at the site."""
    per_side_dose = rng.uniform(*dose_range, len(i)) * inp.dose_factor[i]
    if muscle == "masseter":
        per_side_dose = per_side_dose * np.where(inp.male[i], p.MALE_MASSETER, 1.0)
    left = _share(rng, inp, i, np.zeros(len(i)) if shift is None else shift)
    per_side = rng.integers(points[0], points[1] + 1, len(i))
    sx, sy = MUSCLE_ATLAS[muscle].usual_site
    return _paired(
        rng,
        i,
        per_side,
        2 * per_side_dose * left,
        2 * per_side_dose * (1 - left),
        muscle,
        (_const(len(i), sx), _const(len(i), sy)),
        _SPACING[muscle],
    )


def _finish(rng: np.random.Generator, inp: PlanInput, blocks: list[_Block]) -> Plan:
    """Concatenate the region blocks, convert to labelled units, place the points."""
    treatment = np.concatenate([b.treatment for b in blocks])
    order = np.argsort(treatment, kind="stable")  # blocks are in region order already
    treatment = treatment[order]

    def cat(attr: str) -> FloatArray:
        return np.concatenate([getattr(b, attr) for b in blocks])[order]

    muscle = cat("muscle").astype(np.int64)
    side = cat("side").astype(np.int64)
    factor = UNIT_FACTOR_BY_CODE[inp.product[treatment]]
    units = np.clip(rounded(cat("u_eq") / factor, 2), 0.01, MAX_UNITS_PER_POINT)
    u_eq = units * factor
    sign = np.select([side == LEFT, side == RIGHT], [1.0, -1.0], 0.0)
    x_plan = rounded(np.clip(cat("x_left") * sign, _X.minimum, _X.maximum), 1)
    y_plan = rounded(np.clip(cat("y"), _Y.minimum, _Y.maximum), 1)
    placement = inp.world.placement_sd_mm if inp.placement_sd_mm is None else inp.placement_sd_mm
    sd = np.where(inp.novice, placement[1], placement[0])[treatment]
    error = rng.normal(size=(len(treatment), 2)) * sd[:, None]
    sub_share = np.full(len(MUSCLES), _DEPTH_OTHER)
    for name, share in _SUBCUTANEOUS_SHARE.items():
        sub_share[_M[name]] = share
    depth = np.where(
        rng.random(len(treatment)) < sub_share[muscle],
        DEPTHS.index("subcutaneous"),
        DEPTHS.index("intramuscular"),
    )
    return Plan(
        treatment=treatment,
        muscle=muscle,
        side=side,
        units=units,
        u_eq=u_eq,
        volume_ml=units * inp.dilution_ml_per_100u[treatment] / 100.0,
        x_plan=x_plan,
        y_plan=y_plan,
        x_mm=x_plan + error[:, 0],
        y_mm=y_plan + error[:, 1],
        placement_sd_mm=sd,
        depth=depth.astype(np.int64),
    )
