"""What the clinic page needs to know that is not in the OpenAPI schema: the atlas and the bands.

The page draws its face chart from the same atlas the features use (``data.atlas``) and reads
the risk bands and contribution groups from here, so no number is copied into its JavaScript.
The request's fields, ranges and enums it reads from ``/openapi.json``.
"""

from __future__ import annotations

from typing import Any

from data.atlas import (
    BROW_LINE_Y_MM,
    COMMISSURE_XY_MM,
    LABEL_RANGE_U_EQ,
    MUSCLE_ATLAS,
    ORBITAL_RIM_Y_MM,
    RISK_STRUCTURES,
    SAFE_FRONTALIS_ABOVE_BROW_MM,
    SAFE_GLABELLA_ABOVE_RIM_MM,
    UNIT_FACTOR,
    Blob,
)
from data.contract import MIDLINE_MUSCLES
from serving.contributions import FEATURE_GROUPS
from serving.schemas import HIGH_RISK, MODERATE_RISK

_GROUP_WORDS = {
    "placement:off_target_structures": "Toxin reaching structures nearby (lid lifter, smile "
    "muscles, mouth corner)",
    "placement:expected_changes": "How much the plan is expected to move brow, lid and mouth",
    "placement:session_totals": "Total dose per region and number of points",
    "baseline_differences": "The face's own left/right differences before treatment",
    "product_dilution": "Product and dilution",
    "thickness": "Muscle thickness on ultrasound",
    "demographics": "Age, sex, ancestry and habits",
    "history": "Earlier treatments and how they went",
}
"""Plain words for the contribution groups that are not one muscle's placement."""


def _words(group: str) -> str:
    if group in _GROUP_WORDS:
        return _GROUP_WORDS[group]
    muscle = group.removeprefix("placement:").replace("_", " ")
    return f"Dose and placement of the {muscle} points"


def _blob(b: Blob) -> dict[str, float]:
    return {"x": b.x_mm, "y": b.y_mm, "sd_x": b.sd_x_mm, "sd_y": b.sd_y_mm}


def page_config() -> dict[str, Any]:
    """The atlas, landmarks, label ranges, unit factors, risk bands and group words, as JSON.

    Coordinates are the atlas frame's: mm, x toward the patient's left, y upward; every
    structure is given for the left side (the page mirrors paired ones for the right).
    """
    return {
        "muscles": [
            {
                "name": m.name,
                "region": m.region,
                "paired": m.paired,
                "midline_allowed": m.name in MIDLINE_MUSCLES,
                "blob": _blob(m.blob),
                "usual_site": list(m.usual_site),
                "reference_dose_u_eq": m.reference_dose_u_eq,
            }
            for m in MUSCLE_ATLAS.values()
        ],
        "risk_structures": [
            {"name": s.name, "blob": _blob(s.blob)} for s in RISK_STRUCTURES.values()
        ],
        "landmarks": {
            "brow_line_y_mm": BROW_LINE_Y_MM,
            "orbital_rim_y_mm": ORBITAL_RIM_Y_MM,
            "commissure_xy_mm": list(COMMISSURE_XY_MM),
            "safe_frontalis_above_brow_mm": SAFE_FRONTALIS_ABOVE_BROW_MM,
            "safe_glabella_above_rim_mm": SAFE_GLABELLA_ABOVE_RIM_MM,
        },
        "label_range_u_eq": {r: list(v) for r, v in LABEL_RANGE_U_EQ.items()},
        "unit_factor": dict(UNIT_FACTOR),
        "risk_bands": {"moderate": MODERATE_RISK, "high": HIGH_RISK},
        "contribution_groups": {g: _words(g) for g in FEATURE_GROUPS},
    }
