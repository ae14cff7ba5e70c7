"""The feature stage: one function from contract data to the feature matrix.

``build_features`` is the only code that computes features. A whole registry reaches it through
``features.tables.registry_inputs`` and one clinic request through
``features.request.requests_inputs``; both give the same ``FeatureInput``, and every block works
row by row (per-treatment sums add in point order), so a treatment's row is the same whichever
way it came. Each block writes its columns into the one matrix.
"""

from __future__ import annotations

import numpy as np

from features import history, patient, placement
from features.inputs import FeatureInput, FloatArray
from features.spec import FEATURE_NAMES


def _check_columns() -> None:
    """Fail at import if the blocks do not fill every column: a missed one would be garbage."""
    filled: set[int] = set()
    for block in (patient.WRITES, placement.WRITES, history.WRITES):
        for columns in block:
            filled.update(range(len(FEATURE_NAMES))[columns])
    if filled != set(range(len(FEATURE_NAMES))):  # a block and the spec disagree: a bug
        missing = [FEATURE_NAMES[i] for i in range(len(FEATURE_NAMES)) if i not in filled]
        raise AssertionError(f"no block fills the features {missing}")


_check_columns()


def build_features(inp: FeatureInput) -> FloatArray:
    """Compute the feature matrix of n treatments.

    Args:
        inp: Contract data of the treatments as arrays.

    Returns:
        An (n, len(FEATURE_NAMES)) C-contiguous float64 matrix, columns in ``FEATURE_NAMES``
        order.
    """
    matrix = np.empty((inp.n, len(FEATURE_NAMES)))
    patient.patient_block(inp, matrix)
    placement.placement_block(inp, matrix)
    history.history_block(inp, matrix)
    return matrix
