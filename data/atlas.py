"""Anatomical atlas of the face frame: one record per muscle, structures at risk, unit factors.

The frame is design.md's: millimetres, origin at the midpoint between the inner eye corners, x
positive toward the patient's left, y positive upward. Every structure is stored for the patient's
left side (x >= 0) and mirrored for the right. Each number names its row in
``domain-facts.md`` (``DF s8`` = section 8) or says "assumption".

``MUSCLE_ATLAS`` holds one ``Muscle`` per contract muscle: its region (the contract's), pairing,
position and spread, usual site, reference dose and nominal displacements, and its region's label
range. The contract, the features, the simulator and serving's warnings read it; a new muscle is
the contract, a record here and the simulator's dose habits.

A muscle is modelled as an axis-aligned 2-D Gaussian density (centre, sd along x and y). The toxin
spread of one point is an isotropic Gaussian kernel, so the share of a point's dose that reaches a
muscle has a closed form (the two Gaussians convolve); the simulator and the features use the same
formula, the simulator with each patient's own hidden anatomy and the features with the atlas.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

import numpy as np
import numpy.typing as npt

from data.contract import MUSCLE_REGION, MUSCLES, REGIONS

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
LABEL_LOW: Final = np.array([LABEL_RANGE_U_EQ[r][0] for r in REGIONS])
"""The label range's low end per region code (contract ``REGIONS`` order), U_eq."""
LABEL_HIGH: Final = np.array([LABEL_RANGE_U_EQ[r][1] for r in REGIONS])
"""... and its high end."""


def label_excess(
    u_eq: npt.NDArray[np.float64], region: npt.NDArray[np.int64] | int | None = None
) -> npt.NDArray[np.float64]:
    """How far region doses lie outside their label ranges, in U_eq (0: inside).

    The one rule of "outside the label range" (the advisor's constraint, the checks of its
    suggestions). An untreated region (0 U_eq) counts as inside: nothing was given there.

    Args:
        u_eq: Region doses, U_eq (both sides together): (..., regions) in ``REGIONS`` order, or
            one per entry of ``region``.
        region: Region code of each dose; None: the last axis of ``u_eq`` is the regions.

    Returns:
        The excess, shaped like ``u_eq``.
    """
    at = slice(None) if region is None else region
    low, high = LABEL_LOW[at], LABEL_HIGH[at]
    out: npt.NDArray[np.float64] = np.maximum(low - u_eq, 0.0) * (u_eq > 0) + np.maximum(
        u_eq - high, 0.0
    )
    return out


@dataclass(frozen=True, slots=True)
class Muscle:
    """One muscle of the contract: everything the layers above know about it.

    The nominal paralysis (``reference_dose_u_eq``, ``shift_mm``) is what the features assume a
    dose does (P = 1 - exp(-ln 4 * dose / reference), 75% at the reference effective dose of one
    side of a usual label plan; assumption, from DF s1/s11 doses x typical atlas reach); the
    simulator has its own hidden physics.

    Attributes:
        name: Contract muscle name.
        paired: False for one structure on the midline rather than a left and a right one.
        blob: Position and spread (left side; an unpaired muscle sits on the midline).
        usual_site: (x, y) of a point without coordinates, left side (a midline point: x = 0).
        reference_dose_u_eq: Effective dose on one side that paralyses 75% (nominal).
        shift_mm: Nominal displacement of one side at full paralysis, per contract difference
            (``brow_height``, ``palpebral_fissure``, ``commissure_height``); none if absent.
    """

    name: str
    paired: bool
    blob: Blob
    usual_site: tuple[float, float]
    reference_dose_u_eq: float
    shift_mm: Mapping[str, float]

    @property
    def region(self) -> str:
        """The treated region the muscle belongs to (the contract's ``MUSCLE_REGION``)."""
        return MUSCLE_REGION[self.name]

    @property
    def label_range_u_eq(self) -> tuple[float, float]:
        """Usual total dose of the muscle's region, both sides, U_eq (a region fact)."""
        return LABEL_RANGE_U_EQ[self.region]


@dataclass(frozen=True, slots=True)
class RiskStructure:
    """A structure that must not be reached (paired, left side; mirrored for the right).

    Attributes:
        name: Structure name.
        blob: Position and spread.
        reference_dose_u_eq: Effective dose that paralyses 75% (nominal, as ``Muscle``'s).
        shift_mm: Nominal displacement at full paralysis, per contract difference.
    """

    name: str
    blob: Blob
    reference_dose_u_eq: float
    shift_mm: Mapping[str, float]


# Nominal displacements (assumption; DF s3 mechanisms: frontalis lifts the brow, corrugator/
# procerus and lateral orbicularis pull it down, the levator opens the lid, DAO pulls the
# commissure down, zygomaticus major and risorius pull it up and out).
_MUSCLES: Final = (
    Muscle(
        "frontalis",
        paired=True,
        blob=Blob(27.0, 45.0, 12.0, 15.0, "DF s8 frontalis (27, +45), brow to hairline"),
        # DF s8: mid-forehead, above the safe lower limit y >= 35-45
        usual_site=(25.0, 45.0),
        reference_dose_u_eq=6.0,
        shift_mm={"brow_height": -3.0},
    ),
    Muscle(
        "corrugator",
        paired=True,
        blob=Blob(17.0, 23.0, 8.0, 5.0, "DF s8 corrugator centroid (17, +23), cadaver"),
        usual_site=(17.0, 23.0),  # DF s8 corrugator centroid
        reference_dose_u_eq=5.0,
        shift_mm={"brow_height": 1.0},
    ),
    Muscle(
        "procerus",
        paired=False,
        # One midline muscle; sd_x covers both medial brows.
        blob=Blob(0.0, 10.0, 5.0, 8.0, "DF s8 procerus (0, +10), assumption for extent"),
        usual_site=(0.0, 17.0),  # DF s8: label point between the brows, y +15..+20
        reference_dose_u_eq=3.0,
        shift_mm={"brow_height": 0.5},
    ),
    Muscle(
        "orbicularis_oculi",
        paired=True,
        blob=Blob(60.0, 0.0, 6.0, 10.0, "DF s8 lateral orbicularis (60, 0)"),
        usual_site=(62.0, 0.0),  # DF s8: 1-2 cm lateral to the lateral canthus (48, 0)
        reference_dose_u_eq=6.0,
        shift_mm={"brow_height": 0.7, "palpebral_fissure": 0.3},
    ),
    Muscle(
        "levator_labii_alaeque_nasi",
        paired=True,
        blob=Blob(17.0, -20.0, 4.0, 10.0, "DF s8 LLSAN (17, -20)"),
        usual_site=(24.0, -35.0),  # DF s8: Yonsei point lateral to the ala
        reference_dose_u_eq=1.5,
        shift_mm={},
    ),
    Muscle(
        "depressor_anguli_oris",
        paired=True,
        blob=Blob(33.0, -85.0, 5.0, 10.0, "DF s8 DAO (33, -85)"),
        usual_site=(32.0, -94.0),  # DF s8: 12-15 mm above the mandibular border
        reference_dose_u_eq=2.0,
        shift_mm={"commissure_height": 1.5},
    ),
    Muscle(
        "mentalis",
        paired=True,
        blob=Blob(7.0, -97.0, 5.0, 6.0, "DF s8 mentalis (7, -97), paired near midline"),
        usual_site=(7.5, -97.0),  # DF s8: 7-8 mm lateral to the midline at the chin prominence
        reference_dose_u_eq=2.0,
        shift_mm={},
    ),
    Muscle(
        "masseter",
        paired=True,
        blob=Blob(55.0, -70.0, 8.0, 18.0, "DF s8 masseter (55, -70), arch to angle"),
        usual_site=(55.0, -80.0),  # DF s8: lower half, >= 1 cm behind the anterior border
        reference_dose_u_eq=20.0,
        shift_mm={},
    ),
    Muscle(
        "platysma",
        paired=True,
        blob=Blob(25.0, -120.0, 12.0, 12.0, "DF s8 platysma bands x 10-30, y < -115"),
        usual_site=(22.0, -118.0),  # DF s8: anterior bands, assumption within x 10-30
        reference_dose_u_eq=10.0,
        shift_mm={"commissure_height": 0.3},
    ),
)

MUSCLE_ATLAS: Final = MappingProxyType({m.name: m for m in _MUSCLES})
"""The record of each muscle, in contract ``MUSCLES`` order."""
if tuple(MUSCLE_ATLAS) != MUSCLES or set(LABEL_RANGE_U_EQ) != set(REGIONS):  # a bug
    raise AssertionError("the atlas must hold one record per contract muscle, in contract order")

RISK_STRUCTURES: Final = MappingProxyType(
    {
        s.name: s
        for s in (
            # Reached through the orbital septum -> eyelid ptosis (DF s3 lid ptosis mechanism).
            RiskStructure(
                "levator_palpebrae",
                Blob(30.0, 8.0, 7.5, 3.0, "DF s8 levator (30, +8), ellipse 15x6 mm"),
                reference_dose_u_eq=1.0,
                shift_mm={"palpebral_fissure": -2.5},
            ),
            # Smile muscles near the lower-face and crow's-feet points (DF s3 off-target rows).
            RiskStructure(
                "zygomaticus_major",
                Blob(45.0, -38.0, 5.0, 12.0, "assumption: zygoma to modiolus"),
                reference_dose_u_eq=2.0,
                shift_mm={"commissure_height": -2.0},
            ),
            RiskStructure(
                "risorius",
                Blob(40.0, -65.0, 6.0, 4.0, "DF s8 risorius (40, -65), assumption"),
                reference_dose_u_eq=2.0,
                shift_mm={"commissure_height": -1.5},
            ),
            RiskStructure(
                "oral_commissure",
                Blob(27.0, -63.0, 4.0, 4.0, "DF s8 cheilion (27, -63)"),
                reference_dose_u_eq=2.0,
                shift_mm={},
            ),
        )
    }
)
"""Structures that must not be reached (left side; mirrored for the right)."""

RISK_BLOBS: Final = MappingProxyType({name: s.blob for name, s in RISK_STRUCTURES.items()})
"""Position and spread of each structure at risk (``RISK_STRUCTURES``' blobs)."""

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
    spread = sd_point * sd_point
    vx = sd_x * sd_x + spread
    vy = sd_y * sd_y + spread
    dx, dy = px - cx, py - cy
    out: FloatArray = sd_x * sd_y / np.sqrt(vx * vy) * np.exp(-0.5 * (dx * dx / vx + dy * dy / vy))
    return out
