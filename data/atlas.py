"""Anatomical atlas of the face frame: muscles, structures at risk, unit conversion, label doses.

The frame is design.md's: millimetres, origin at the midpoint between the inner eye corners, x
positive toward the patient's left, y positive upward. Every structure is stored for the patient's
left side (x >= 0) and mirrored for the right. Each number names its row in
``domain-facts.md`` (``DF s8`` = section 8) or says "assumption".

A muscle is modelled as an axis-aligned 2-D Gaussian density (centre, sd along x and y). The toxin
spread of one point is an isotropic Gaussian kernel, so the share of a point's dose that reaches a
muscle has a closed form (the two Gaussians convolve); the simulator and the features use the same
formula, the simulator with each patient's own hidden anatomy and the features with the atlas.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Blob:
    """A muscle or structure at risk, as a 2-D Gaussian on the patient's left side.

    Attributes:
        x_mm: Centre, lateral distance from the midline (mirror for the right side).
        y_mm: Centre height.
        sd_x_mm: Spread along x.
        sd_y_mm: Spread along y.
        source: Where the numbers come from.
    """

    x_mm: float
    y_mm: float
    sd_x_mm: float
    sd_y_mm: float
    source: str


MUSCLE_BLOBS: Final = MappingProxyType(
    {
        "frontalis": Blob(27.0, 45.0, 12.0, 15.0, "DF s8 frontalis (27, +45), brow to hairline"),
        "corrugator": Blob(17.0, 23.0, 8.0, 5.0, "DF s8 corrugator centroid (17, +23), cadaver"),
        # One midline muscle; sd_x covers both medial brows.
        "procerus": Blob(0.0, 10.0, 5.0, 8.0, "DF s8 procerus (0, +10), assumption for extent"),
        "orbicularis_oculi": Blob(60.0, 0.0, 6.0, 10.0, "DF s8 lateral orbicularis (60, 0)"),
        "levator_labii_alaeque_nasi": Blob(17.0, -20.0, 4.0, 10.0, "DF s8 LLSAN (17, -20)"),
        "depressor_anguli_oris": Blob(33.0, -85.0, 5.0, 10.0, "DF s8 DAO (33, -85)"),
        "mentalis": Blob(7.0, -97.0, 5.0, 6.0, "DF s8 mentalis (7, -97), paired near midline"),
        "masseter": Blob(55.0, -70.0, 8.0, 18.0, "DF s8 masseter (55, -70), arch to angle"),
        "platysma": Blob(25.0, -120.0, 12.0, 12.0, "DF s8 platysma bands x 10-30, y < -115"),
    }
)
"""Muscle densities; procerus is the one unpaired muscle (centred on the midline)."""

UNPAIRED_MUSCLES: Final = frozenset({"procerus"})
"""Muscles that are one structure on the midline rather than a left and a right one."""

USUAL_SITES: Final = MappingProxyType(
    {
        "frontalis": (25.0, 45.0),  # DF s8: mid-forehead, above the safe lower limit y >= 35-45
        "corrugator": (17.0, 23.0),  # DF s8 corrugator centroid
        "procerus": (0.0, 17.0),  # DF s8: label point between the brows, y +15..+20
        "orbicularis_oculi": (62.0, 0.0),  # DF s8: 1-2 cm lateral to the lateral canthus (48, 0)
        "levator_labii_alaeque_nasi": (24.0, -35.0),  # DF s8: Yonsei point lateral to the ala
        "depressor_anguli_oris": (32.0, -94.0),  # DF s8: 12-15 mm above the mandibular border
        "mentalis": (7.5, -97.0),  # DF s8: 7-8 mm lateral to the midline at the chin prominence
        "masseter": (55.0, -80.0),  # DF s8: lower half, >= 1 cm behind the anterior border
        "platysma": (22.0, -118.0),  # DF s8: anterior bands, assumption within x 10-30
    }
)
"""Where a point of each muscle sits when the export gives no coordinates (left side)."""

RISK_BLOBS: Final = MappingProxyType(
    {
        # Reached through the orbital septum -> eyelid ptosis (DF s3 lid ptosis mechanism).
        "levator_palpebrae": Blob(30.0, 8.0, 7.5, 3.0, "DF s8 levator (30, +8), ellipse 15x6 mm"),
        # Smile muscles near the lower-face and crow's-feet points (DF s3 off-target rows).
        "zygomaticus_major": Blob(45.0, -38.0, 5.0, 12.0, "assumption: zygoma to modiolus"),
        "risorius": Blob(40.0, -65.0, 6.0, 4.0, "DF s8 risorius (40, -65), assumption"),
        "oral_commissure": Blob(27.0, -63.0, 4.0, 4.0, "DF s8 cheilion (27, -63)"),
    }
)
"""Structures that must not be reached (left side; mirrored for the right)."""

BROW_LINE_Y_MM: Final = 20.0
"""Upper brow / lower frontalis border at mid-pupil (DF s8: frontalis from brow y ~ +20)."""

ORBITAL_RIM_Y_MM: Final = 13.0
"""Supraorbital rim at mid-pupil (DF s8: y +12..+15)."""

COMMISSURE_XY_MM: Final = (27.0, -63.0)
"""Oral commissure, left side (DF s8 cheilion)."""

SAFE_FRONTALIS_ABOVE_BROW_MM: Final = 15.0
"""Lowest frontalis point at least this far above the brow line (DF s8 safe limit, 15-20 mm)."""

SAFE_GLABELLA_ABOVE_RIM_MM: Final = 10.0
"""Lateral corrugator point at least this far above the orbital rim (DF s3 / s11 eyelid ptosis)."""

UNIT_FACTOR: Final = MappingProxyType(
    {
        "onabotulinumtoxinA": 1.0,  # reference (DF s7)
        "incobotulinumtoxinA": 1.0,  # DF s7: 1:1
        "prabotulinumtoxinA": 1.0,  # DF s7: ~1:1
        "letibotulinumtoxinA": 1.0,  # DF s7: ~1:1
        "abobotulinumtoxinA": 1.0 / 2.5,  # DF s7 / s11: 2.5:1 aesthetic labels
        "daxibotulinumtoxinA": 0.5,  # DF s11: 40 U label ~ standard 20 U GL dose (assumption)
    }
)
"""Multiply labelled units by this to get onabotulinumtoxinA-equivalent units (U_eq)."""

LABEL_RANGE_U_EQ: Final = MappingProxyType(
    {
        "forehead": (10.0, 20.0),  # DF s1/s11: 10-20 U_eq over 4-10 points
        "glabella": (10.0, 40.0),  # DF s1: East Asian 8-10 U to men >= 40 U; label 20 U
        "crows_feet": (12.0, 24.0),  # DF s1: label 12 U/side, 24 U total
        "nose": (2.0, 5.0),  # DF s1: LLSAN ~2-5 U total (assumption per point)
        "mouth_corners": (4.0, 10.0),  # DF s1: DAO 2-5 U/side
        "chin": (2.0, 8.0),  # DF s1: mentalis 2-8 U total
        "jaw": (40.0, 80.0),  # DF s1/s11: masseter 20-40 U_eq/side
        "neck": (10.0, 40.0),  # DF s1: consensus 10-40 U; label 26-36 U; <= 40 U/session
    }
)
"""Usual total dose per region, both sides together, in U_eq; beyond it a warning is due."""

LOWER_FACE_REGIONS: Final = frozenset({"nose", "mouth_corners", "chin", "jaw", "neck"})
"""Regions counted for the "treat 1-2 lower-face areas per session" rule (DF s3, Hexsel)."""

SPREAD_SD_REF_MM: Final = 5.0
"""Kernel sd for 4 U at 0.1 mL: ~1 cm spread diameter (DF s11 spread kernel)."""


def spread_sd_mm(units_eq: FloatArray, volume_ml: FloatArray) -> FloatArray:
    """Spread of one point's dose as the sd of a Gaussian kernel.

    DF s11: sigma = 5 mm x (U/4)^(1/3) x (vol/0.1 mL)^0.1 (dose-dominant diffusion, weak volume
    effect; exponents an assumption).

    Args:
        units_eq: Dose at each point, U_eq.
        volume_ml: Injected volume at each point, mL.

    Returns:
        Kernel sd per point, mm.
    """
    u = np.maximum(units_eq, 1e-6)
    v = np.maximum(volume_ml, 1e-6)
    return SPREAD_SD_REF_MM * np.cbrt(u / 4.0) * (v / 0.1) ** 0.1


def reach(
    px: FloatArray,
    py: FloatArray,
    sd_point: FloatArray,
    cx: FloatArray,
    cy: FloatArray,
    sd_x: FloatArray,
    sd_y: FloatArray,
) -> FloatArray:
    """Share of a point's dose that reaches a Gaussian structure (1 at its centre, peak-normalised).

    The point kernel N(p, sd_point^2 I) convolved with the structure's density
    N(c, diag(sd_x^2, sd_y^2)) and normalised so that a tight point at the centre gives 1.
    Arguments broadcast.

    Returns:
        Reach in [0, 1].
    """
    # sd_x sd_y / sqrt(vx vy) * exp(-(dx^2 / vx + dy^2 / vy) / 2), with vx = sd_x^2 + s^2 and
    # vy likewise: the same operations in the same order as written so, hence the same bits,
    # but in four arrays of the arguments' broadcast shape instead of a dozen (a batch has
    # 12,000 points by 25 targets; a third less time).
    shape = np.broadcast_shapes(*(np.shape(a) for a in (px, py, sd_point, cx, cy, sd_x, sd_y)))
    s2 = sd_point * sd_point
    vx = np.add(sd_x * sd_x, s2, out=np.empty(shape))
    vy = np.add(sd_y * sd_y, s2, out=np.empty(shape))
    dx = np.subtract(px, cx, out=np.empty(shape))
    dy = np.subtract(py, cy, out=np.empty(shape))
    return reach_in_place(dx, dy, vx, vy, sd_x * sd_y)


def reach_in_place(
    dx: FloatArray, dy: FloatArray, vx: FloatArray, vy: FloatArray, sd_xy: FloatArray
) -> FloatArray:
    """``reach`` from its parts, computed in the arrays given (``dx``, ``dy``, ``vx`` are spent).

    ``features.placement`` computes the parts for both sides of a structure at once; sharing
    this keeps its reach bit for bit ``reach``.

    Args:
        dx: Point x minus structure centre x, mm, in the result's shape; overwritten with it.
        dy: Point y minus centre y, mm; overwritten. Broadcasts to ``dx``'s shape.
        vx: sd_x^2 + sd_point^2; overwritten. Broadcasts to ``dx``'s shape.
        vy: sd_y^2 + sd_point^2. Broadcasts to ``dx``'s shape.
        sd_xy: sd_x * sd_y. Broadcasts to ``dx``'s shape.

    Returns:
        ``dx``, now holding the reach.
    """
    np.multiply(dx, dx, out=dx)
    np.divide(dx, vx, out=dx)
    np.multiply(dy, dy, out=dy)
    np.divide(dy, vy, out=dy)
    np.add(dx, dy, out=dx)
    np.multiply(-0.5, dx, out=dx)
    np.exp(dx, out=dx)
    np.multiply(vx, vy, out=vx)
    np.sqrt(vx, out=vx)
    np.divide(sd_xy, vx, out=vx)
    out: FloatArray = np.multiply(vx, dx, out=dx)
    return out
