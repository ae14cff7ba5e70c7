"""Patient features: demographics, baseline asymmetry, muscle thickness and what is missing."""

from __future__ import annotations

import numpy as np

from features.inputs import UNIT_FACTOR_BY_CODE, FeatureInput, FloatArray


def patient_block(inp: FeatureInput) -> list[FloatArray]:
    """Patient features of n treatments: 2-D blocks whose columns follow ``features.spec``."""
    p = inp.patient  # PATIENT_FIELDS order: age, sex, ancestry, hand, chrna1, exercise, ...
    # Contract enum codes: sex (female, male) is already 1 for male; chrna1_variant is
    # (carrier, non_carrier), so 1 - code is 1 for a carrier.
    session = np.array([inp.product, inp.dilution, UNIT_FACTOR_BY_CODE[inp.product]]).T
    base = inp.baseline
    blocks = [
        p[:, :4],
        1.0 - p[:, 4:5],
        p[:, 5:],
        session,
        base,
        np.abs(base),
        np.isnan(base).sum(axis=1, keepdims=True) * 1.0,
    ]
    th = inp.thickness
    with np.errstate(divide="ignore", invalid="ignore"):
        for j in (0, 2):  # frontalis, masseter: (left, right) columns in THICKNESS_FIELDS order
            left, right = th[:, j], th[:, j + 1]
            missing = np.isnan(left) | np.isnan(right)
            blocks.append(np.array([left, right, left - right, left / right, missing * 1.0]).T)
    return blocks
