"""The feature stage: one function from contract data to the feature matrix.

``build_features`` is the only code that computes features. A whole registry reaches it through
``features.tables.registry_inputs`` and one clinic request through
``features.request.request_inputs``; both give the same ``FeatureInput``, so a treatment's row is
the same, bit for bit, whichever way it came.
"""

from __future__ import annotations

import numpy as np

from features.history import history_block
from features.inputs import FeatureInput, FloatArray
from features.patient import patient_block
from features.placement import placement_block
from features.spec import FEATURE_NAMES


def build_features(inp: FeatureInput) -> FloatArray:
    """Compute the feature matrix of n treatments.

    Args:
        inp: Contract data of the treatments as arrays.

    Returns:
        An (n, len(FEATURE_NAMES)) float64 matrix, columns in ``FEATURE_NAMES`` order.
    """
    blocks = patient_block(inp) + placement_block(inp) + history_block(inp)
    matrix = np.concatenate(blocks, axis=1)
    if matrix.shape[1] != len(FEATURE_NAMES):  # a block and the spec disagree: a bug
        raise AssertionError(
            f"{matrix.shape[1]} feature columns, the spec names {len(FEATURE_NAMES)}"
        )
    return matrix
