"""Patient features: demographics, baseline asymmetry, muscle thickness and what is missing."""

from __future__ import annotations

import numpy as np

from features.inputs import UNIT_FACTOR_BY_CODE, FeatureInput, FloatArray


def patient_block(inp: FeatureInput) -> list[FloatArray]:
    """Patient features of n treatments: 2-D blocks whose columns follow ``features.spec``."""
    p = inp.patient
    # Contract enum codes: sex (female, male) -> 1 for male; chrna1 (carrier, non_carrier).
    demographics = np.array(
        [
            p["age_years"],
            p["sex"],
            p["ancestry"],
            p["dominant_hand"],
            1.0 - p["chrna1_variant"],
            p["exercise_sessions_per_week"],
            p["bruxism"],
            p["smoker"],
            inp.product.astype(np.float64),
            inp.dilution,
            UNIT_FACTOR_BY_CODE[inp.product],
        ]
    ).T
    base = inp.baseline
    blocks = [demographics, base, np.abs(base), np.isnan(base).sum(axis=1, keepdims=True) * 1.0]
    th = inp.thickness
    with np.errstate(divide="ignore", invalid="ignore"):
        for j in (0, 2):  # frontalis, masseter: (left, right) columns in THICKNESS_FIELDS order
            left, right = th[:, j], th[:, j + 1]
            missing = np.isnan(left) | np.isnan(right)
            blocks.append(np.array([left, right, left - right, left / right, missing * 1.0]).T)
    return blocks
