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

from data.atlas import (
    BROW_LINE_Y_MM,
    COMMISSURE_XY_MM,
    LABEL_RANGE_U_EQ,
    LOWER_FACE_REGIONS,
    MUSCLE_BLOBS,
    ORBITAL_RIM_Y_MM,
    RISK_BLOBS,
    USUAL_SITES,
    reach_in_place,
    spread_sd_mm,
)
from data.contract import MUSCLES, REGIONS
from features.inputs import (
    MUSCLE_CODE,
    REGION_OF_MUSCLE,
    SIDE_CODE,
    UNIT_FACTOR_BY_CODE,
    FeatureInput,
    FloatArray,
    IntArray,
    columns,
)
from features.spec import (
    DIFFS,
    FEATURE_NAMES,
    GEOMETRY,
    INJECTION_UNITS,
    MUSCLE_TARGETS,
    PAIRED_MUSCLES,
    RISK_TARGETS,
    SIDES2,
)

N_SIDES: Final = 3
_SIGN = {"left": 1.0, "right": -1.0, "midline": 0.0}


TARGET_INDEX: Final = {
    f"{name}_{side}": i for i, (name, side) in enumerate(MUSCLE_TARGETS + RISK_TARGETS)
}
"""Position of each target (``eff_`` feature) among the targets, in spec order."""
N_TARGETS: Final = len(TARGET_INDEX)

# ``_reach_doses`` works per structure: a paired structure's left and right targets differ only
# in the sign of x, so all but the x term (the variances, the y term and the normalisation with
# its square root) is computed once for both. Paired structures come first, so the right-side
# targets are the first ``_N_PAIRED_STRUCTURES`` of them.
_PAIRED_STRUCTURES: Final = PAIRED_MUSCLES + tuple(RISK_BLOBS)
_STRUCTURES: Final = _PAIRED_STRUCTURES + tuple(m for m, s in MUSCLE_TARGETS if s == "midline")
_N_STRUCTURES: Final = len(_STRUCTURES)
_N_PAIRED_STRUCTURES: Final = len(_PAIRED_STRUCTURES)
REACH_TARGETS: Final = (
    *(f"{m}_left" for m in _PAIRED_STRUCTURES),
    *(f"{m}_midline" for m in _STRUCTURES[_N_PAIRED_STRUCTURES:]),
    *(f"{m}_right" for m in _PAIRED_STRUCTURES),
)
"""Targets in the order ``_reach_doses`` writes them: each structure's left (or midline) one,
then each paired structure's right one."""
if sorted(REACH_TARGETS) != sorted(TARGET_INDEX):  # a target without its dose: a bug
    raise AssertionError("REACH_TARGETS must hold every target once")


def _structure_tables() -> tuple[FloatArray, ...]:
    """Centre x (sides, structures, 1), and (structures, 1) centre y, sd_x^2, sd_y^2, sd_x sd_y.

    The products as ``atlas.reach`` computes them.
    """
    blobs = [{**MUSCLE_BLOBS, **RISK_BLOBS}[m] for m in _STRUCTURES]
    paired = [m in _PAIRED_STRUCTURES for m in _STRUCTURES]
    cx = [
        [b.x_mm * _SIGN[s] if p else 0.0 for b, p in zip(blobs, paired, strict=True)]
        for s in SIDES2
    ]
    sx = np.array([b.sd_x_mm for b in blobs])
    sy = np.array([b.sd_y_mm for b in blobs])
    cy = np.array([b.y_mm for b in blobs])
    return tuple(a[..., None] for a in (np.array(cx), cy, sx * sx, sy * sy, sx * sy))


_CENTRE_X, _CENTRE_Y, _SD_X2, _SD_Y2, _SD_XY = _structure_tables()


def _reach_doses(
    x: FloatArray, y: FloatArray, sd: FloatArray, u_eq: FloatArray, out: FloatArray
) -> None:
    """Write the dose of each point that reaches each target into ``out`` (targets, points).

    ``atlas.reach`` of each (point, target) times the point's ``u_eq``, targets in
    ``REACH_TARGETS`` order: the same operations in the same order as ``atlas.reach``, hence the
    same bits, but what both sides of a structure share only once, and every array with the
    points along its last axis, so that each operation runs over long contiguous rows.

    Args:
        x: x of each point, mm.
        y: y of each point, mm.
        sd: Spread of each point (``atlas.spread_sd_mm``), mm.
        u_eq: Dose of each point, U_eq.
        out: (``N_TARGETS``, points) array to write to.
    """
    s2 = sd * sd
    vx = np.add(_SD_X2, s2)  # (structures, points)
    vy = np.add(_SD_Y2, s2)
    dx = np.subtract(x, _CENTRE_X)  # (sides, structures, points)
    dy = np.subtract(y, _CENTRE_Y)  # (structures, points): the same on both sides
    q = reach_in_place(dx, dy, vx, vy, _SD_XY)
    np.multiply(q[0], u_eq, out=out[:_N_STRUCTURES])
    np.multiply(q[1, :_N_PAIRED_STRUCTURES], u_eq, out=out[_N_STRUCTURES:])


# Usual site per (muscle code, side code); midline points (procerus, mentalis) sit at x = 0.
USUAL_X: Final = np.array(
    [[USUAL_SITES[m][0], -USUAL_SITES[m][0], 0.0] for m in MUSCLES], dtype=np.float64
)
USUAL_Y: Final = np.array([[USUAL_SITES[m][1]] * N_SIDES for m in MUSCLES], dtype=np.float64)

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

# --- The feature matrix ---------------------------------------------------------------------
# One request has about a dozen points, where a numpy call costs about a microsecond whatever its
# size: so all per-treatment sums of point values are ONE np.bincount that creates the feature
# matrix itself, everything that depends only on a point's (muscle, side) comes from tables built
# here, and the blocks write their columns into that matrix in place.

N_COLUMNS: Final = len(FEATURE_NAMES)
_UNIT_U_EQ = columns([f"u_eq_{m}_{s}" for m, s in INJECTION_UNITS])
_UNIT_POINTS = columns([f"points_{m}_{s}" for m, s in INJECTION_UNITS])
_EFF = columns([f"eff_{m}_{s}" for m, s in MUSCLE_TARGETS + RISK_TARGETS])
_DIFF = columns([f"eff_lr_diff_{m}" for m in PAIRED_MUSCLES + tuple(RISK_BLOBS)])
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
"""The matrix columns that ``point_block`` and ``placement_block`` fill."""

# What each point adds to the bincount, per entry: the matrix column (``_POINT_COLUMNS``) and the
# weight (the ``weights`` array of ``point_block``), both (entries, points). Its dose reaching
# every target; its dose in U_eq to its injection unit, its region and the session total; a count
# to its injection unit and the session; 1 if it sits at the usual site; and its geometry value,
# which the sum only carries (``point_block`` overwrites those columns with the minimum).
_W_EFF = slice(0, N_TARGETS)
_W_U_EQ = slice(N_TARGETS, N_TARGETS + 3)
_W_COUNT = slice(N_TARGETS + 3, N_TARGETS + 5)
_W_USUAL = N_TARGETS + 5
_W_GEOMETRY = N_TARGETS + 6
_W_WIDTH = N_TARGETS + 7

_CHUNK = 4096
"""Points per ``_reach_doses`` call: its (2 sides, structures, 4096) float64 temporary is 850 kB."""

# Per-point constants (rows of ``_POINT_CONSTANTS``).
_USUAL_X, _USUAL_Y, _GEOMETRY_Y0, _IS_DAO = range(4)

_INVALID = -(2**62)
"""Matrix column of a (muscle, side) the contract does not allow: negative, so np.bincount raises
instead of adding the point to another treatment's column (such rows are rejected upstream)."""

_EFF_COLUMNS: Final = np.array([[_EFF.start + TARGET_INDEX[t]] for t in REACH_TARGETS])
"""Matrix column of each ``_W_EFF`` entry, (targets, 1): the same for every kind of point (a point
of a kind the contract does not allow still makes np.bincount raise, through its other entries)."""


def _point_tables() -> tuple[IntArray, FloatArray]:
    """Bincount columns (of the entries past ``_W_EFF``) and constants of each kind of point.

    A kind, ``muscle * N_SIDES + side``, is a column of both tables. Geometry: a frontalis point
    counts by its height above the brow line, a corrugator point above the orbital rim, both
    ``y - y0``; a DAO point by its distance from the commissure, ``hypot(|x| - x_c, y - y0)`` with
    y0 the commissure's y. Any other point has y0 NaN, so its geometry value is NaN, which the
    ``np.fmin`` that keeps the lowest or nearest point ignores.
    """
    cols = np.full((len(MUSCLES) * N_SIDES, _W_WIDTH), _INVALID, dtype=np.int64)
    consts = np.zeros((len(MUSCLES) * N_SIDES, 4))
    y0_of = {
        "frontalis": BROW_LINE_Y_MM,
        "corrugator": ORBITAL_RIM_Y_MM,
        "depressor_anguli_oris": COMMISSURE_XY_MM[1],
    }
    # In GEOMETRY's order, the order of the geometry columns (``slot`` below).
    geometry_y0 = {muscle: y0_of[muscle] for _, muscle, _ in GEOMETRY}
    for unit, (m, s) in enumerate(INJECTION_UNITS):
        mi, si = MUSCLE_CODE[m], SIDE_CODE[s]
        row = mi * N_SIDES + si
        has_geometry = m in geometry_y0 and s != "midline"
        slot = 2 * list(geometry_y0).index(m) + (s == "right") if has_geometry else 0
        cols[row, _W_U_EQ] = (
            _UNIT_U_EQ.start + unit,
            _REGION_U_EQ.start + REGION_OF_MUSCLE[mi],
            _TOTALS.start,
        )
        cols[row, _W_COUNT] = (_UNIT_POINTS.start + unit, _TOTALS.start + 1)
        cols[row, _W_USUAL] = _TOTALS.start + 2
        cols[row, _W_GEOMETRY] = _GEOMETRY.start + slot
        consts[row] = (
            USUAL_X[mi, si],
            USUAL_Y[mi, si],
            geometry_y0[m] if has_geometry else np.nan,
            m == "depressor_anguli_oris",
        )
    # Transposed: point_block takes whole rows of them, one per entry.
    return np.ascontiguousarray(cols[:, _W_EFF.stop :].T), np.ascontiguousarray(consts.T)


_POINT_COLUMNS, _POINT_CONSTANTS = _point_tables()

# The effective doses the derived features read, gathered in one fancy index: the paired
# structures' left doses, their right doses, then the change terms (2 sides, differences, 4).
_N_PAIRED = len(PAIRED_LEFT)
_N_RATIO = len(PAIRED_MUSCLES)
_TERMS_SHAPE = (2, *TERM_LEFT.shape)
_GATHER = np.concatenate([PAIRED_LEFT, PAIRED_RIGHT, TERM_LEFT.ravel(), TERM_RIGHT.ravel()])
_TERM_RATE = PARALYSIS_RATE[_GATHER[2 * _N_PAIRED :]]
# Treated regions times this: lower-face regions treated, regions treated (0/1 sums, exact).
_AREA_COUNT = np.stack([LOWER_FACE, np.ones(len(REGIONS), dtype=bool)], axis=1) * 1.0


def point_block(inp: FeatureInput) -> FloatArray:
    """Create the feature matrix and fill the columns that come from single points.

    Every per-treatment sum of point values (dose per injection unit, region and target; point
    counts) comes from one ``np.bincount`` over (treatment, column) that creates the
    (n, features) matrix; ``np.bincount`` adds in input order, so a treatment's sums are
    bit-identical alone or inside a registry. The point geometry (lowest or nearest point) is one
    ``np.fmin.at`` into the same matrix. Every other column is 0 until its block fills it.

    Args:
        inp: Contract data of n treatments.

    Returns:
        The (n, ``N_COLUMNS``) float64 matrix.
    """
    n, plan = inp.n, inp.plan
    # Takes by one index: much faster than [muscle, side] on a million points.
    kind = plan.muscle * N_SIDES + plan.side
    consts = _POINT_CONSTANTS.take(kind, axis=1)
    u_eq = plan.units * UNIT_FACTOR_BY_CODE[inp.product][plan.treatment]
    volume_ml = plan.units * inp.dilution[plan.treatment] / 100.0
    # A point without coordinates sits at its muscle's usual site.
    no_x, no_y = np.isnan(plan.x_mm), np.isnan(plan.y_mm)
    x = np.where(no_x, consts[_USUAL_X], plan.x_mm)
    y = np.where(no_y, consts[_USUAL_Y], plan.y_mm)

    sd = spread_sd_mm(u_eq, volume_ml)
    # Entries x points, not points x entries: every write below is then a contiguous row. Each
    # matrix column takes one entry only, so np.bincount still adds a cell's weights in point
    # order: no bit changes.
    weights = np.empty((_W_WIDTH, len(u_eq)))
    # Points in chunks: _reach_doses makes a few (structures, points) arrays, which for a
    # registry's million points would be hundreds of MB each (memory-bound, twice as slow);
    # chunked they stay in cache. Elementwise, so chunking changes no bit; one request is one
    # chunk.
    for start in range(0, len(u_eq), _CHUNK):
        at = slice(start, start + _CHUNK)
        _reach_doses(x[at], y[at], sd[at], u_eq[at], weights[_W_EFF, at])
    weights[_W_U_EQ] = u_eq
    weights[_W_COUNT] = 1.0
    weights[_W_USUAL] = no_x | no_y
    # Geometry value (``_point_tables``): y - y0, or for a DAO point its commissure distance.
    dy = np.subtract(y, consts[_GEOMETRY_Y0])
    cx = np.abs(x)
    cx -= COMMISSURE_XY_MM[0]
    weights[_W_GEOMETRY] = np.where(consts[_IS_DAO], np.hypot(cx, dy), dy)

    offset = plan.treatment * N_COLUMNS
    flat = np.empty(weights.shape, dtype=np.int64)
    np.add(_EFF_COLUMNS, offset, out=flat[_W_EFF])
    np.add(_POINT_COLUMNS.take(kind, axis=1), offset, out=flat[_W_EFF.stop :])
    # float64 already, except without any point, when np.bincount gives int zeros.
    matrix = np.bincount(flat.ravel(), weights.ravel(), minlength=n * N_COLUMNS).astype(
        np.float64, copy=False
    )
    out = matrix.reshape(n, N_COLUMNS)
    out[:, _GEOMETRY] = np.nan  # no such point: NaN
    np.fmin.at(matrix, flat[_W_GEOMETRY], weights[_W_GEOMETRY])
    return out


def placement_block(inp: FeatureInput, matrix: FloatArray) -> None:
    """Fill the placement columns that derive from the sums of ``point_block``.

    Args:
        inp: Contract data of n treatments.
        matrix: The (n, ``N_COLUMNS``) matrix from ``point_block``.
    """
    gathered = matrix[:, _EFF][:, _GATHER]
    left, right = gathered[:, :_N_PAIRED], gathered[:, _N_PAIRED : 2 * _N_PAIRED]
    diff = np.subtract(left, right, out=matrix[:, _DIFF])
    total = left + right
    # Where there is (almost) no dose the ratio stays 0, as bincount left it.
    np.divide(
        diff[:, :_N_RATIO],
        total[:, :_N_RATIO],
        out=matrix[:, _RATIO],
        where=total[:, :_N_RATIO] > 1e-9,
    )

    # Nominal paralysis of the targets in the change terms.
    terms = gathered[:, 2 * _N_PAIRED :] * _TERM_RATE
    np.exp(terms, out=terms)
    np.subtract(1.0, terms, out=terms)
    terms = terms.reshape(len(terms), *_TERMS_SHAPE)
    # Keep this reduction as it is, (n, differences, 4) over the last axis: numpy's summation
    # order, hence every bit of the change, depends on the shape it reduces.
    change = np.add.reduce((terms[:, 0] - terms[:, 1]) * TERM_MM, axis=2, out=matrix[:, _CHANGE])
    post = np.add(inp.baseline, change, out=matrix[:, _POST])
    np.abs(post, out=post)
    np.subtract(np.abs(inp.baseline), post, out=matrix[:, _CORRECTION])

    regions = matrix[:, _REGION_U_EQ]
    np.divide(regions, LABEL_HIGH, out=matrix[:, _LABEL_RATIO])
    # Doses are positive (contract), so sign() is 1 for a treated region and 0 otherwise.
    np.matmul(np.sign(regions), _AREA_COUNT, out=matrix[:, _AREAS])
