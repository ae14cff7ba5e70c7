"""Patient features: demographics, baseline asymmetry, muscle thickness and what is missing."""

from __future__ import annotations

from typing import Final

import numpy as np

from features.inputs import UNIT_FACTOR_BY_CODE, FeatureInput, FloatArray, columns
from features.spec import DIFFS, SIDES2, THICKNESS_MUSCLES

# The columns of FeatureInput.patient (PATIENT_FIELDS order), as the spec names them.
_PATIENT = columns(
    [
        "age_years",
        "sex_male",
        "ancestry",
        "dominant_hand",
        "chrna1_carrier",
        "exercise_sessions_per_week",
        "bruxism",
        "smoker",
    ]
)
_CARRIER = columns(["chrna1_carrier"])
_SESSION = columns(["product", "dilution_ml_per_100u", "unit_factor"])
_BASELINE = columns([f"baseline_{d}_diff_mm" for d in DIFFS])
_BASELINE_ABS = columns([f"baseline_{d}_abs_mm" for d in DIFFS])
_BASELINE_MISSING = columns(["baseline_missing"])


def _thickness(stem: str) -> slice:
    """One thickness feature of each muscle (frontalis, masseter): a stride-5 slice."""
    return columns([f"{m}_thickness_{stem}" for m in THICKNESS_MUSCLES])


_TH_LEFT, _TH_RIGHT = (_thickness(f"{s}_mm") for s in SIDES2)
_TH_DIFF, _TH_RATIO, _TH_MISSING = (_thickness(s) for s in ("diff_mm", "ratio", "missing"))

WRITES: Final = (
    _PATIENT,
    _SESSION,
    _BASELINE,
    _BASELINE_ABS,
    _BASELINE_MISSING,
    _TH_LEFT,
    _TH_RIGHT,
    _TH_DIFF,
    _TH_RATIO,
    _TH_MISSING,
)
"""The matrix columns that ``patient_block`` fills."""


def patient_block(inp: FeatureInput, matrix: FloatArray) -> None:
    """Fill the patient columns of the (n, features) ``matrix``.

    Args:
        inp: Contract data of n treatments.
        matrix: The feature matrix.
    """
    p = inp.patient
    matrix[:, _PATIENT] = p
    # Contract enum codes: sex (female, male) is already 1 for male; chrna1_variant is
    # (carrier, non_carrier), so 1 - code is 1 for a carrier.
    matrix[:, _CARRIER] = 1.0 - p[:, 4:5]
    matrix[:, _SESSION] = np.array(
        [inp.product, inp.dilution, UNIT_FACTOR_BY_CODE[inp.product]], dtype=np.float64
    ).T
    base = inp.baseline
    matrix[:, _BASELINE] = base
    matrix[:, _BASELINE_ABS] = np.abs(base)
    matrix[:, _BASELINE_MISSING] = np.isnan(base).sum(axis=1, keepdims=True)

    # THICKNESS_FIELDS order: (left, right) of frontalis, then of masseter. Thicknesses are
    # validated (>= 0.5 mm, finite): no division by zero, and the difference is NaN exactly where
    # a side is missing.
    left, right = inp.thickness[:, 0::2], inp.thickness[:, 1::2]
    matrix[:, _TH_LEFT] = left
    matrix[:, _TH_RIGHT] = right
    matrix[:, _TH_DIFF] = left - right
    matrix[:, _TH_RATIO] = left / right
    matrix[:, _TH_MISSING] = np.isnan(left - right)
