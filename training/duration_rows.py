"""The registry's ``durations`` rows of some treatments, with their longevity inputs.

What the longevity stage fits on (``training.longevity``), the side-to-side dependence is
fitted on (``training.late_asymmetry``) and both are judged on (``training.longevity_eval``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from features.inputs import REGION_CODE, SIDE_CODE
from features.longevity import longevity_matrix
from training.dataset import TrainingData

FloatArray = npt.NDArray[np.float64]
Float32Array = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class DurationRows:
    """``durations`` rows of some treatments with their longevity inputs.

    Attributes:
        treatment: Row of each duration row's treatment in ``TrainingData.features``.
        region: Region code.
        side: Side code.
        days: Recorded days.
        returned: Whether activity returned at ``days`` (else censored).
        x: Longevity input rows (``features.longevity``).
        patient: patient_id of each row (for grouped splits).
    """

    treatment: IntArray
    region: IntArray
    side: IntArray
    days: FloatArray
    returned: BoolArray
    x: Float32Array
    patient: npt.NDArray[np.object_]

    def subset(self, mask: BoolArray) -> DurationRows:
        """The rows where ``mask`` is True."""
        return DurationRows(
            self.treatment[mask],
            self.region[mask],
            self.side[mask],
            self.days[mask],
            self.returned[mask],
            self.x[mask],
            self.patient[mask],
        )


def enum_codes(column: pd.Series, codes: Mapping[str, int]) -> IntArray:
    """Contract enum codes of a column of enum names (``features.inputs`` code tables)."""
    return np.asarray(column.astype(str).map(codes), dtype=np.int64)


def duration_rows(data: TrainingData, treatments: BoolArray) -> DurationRows:
    """The registry's ``durations`` rows of the treatments where ``treatments`` is True.

    Args:
        data: Training data.
        treatments: Mask over the rows of ``data.features``.

    Returns:
        The rows and their longevity inputs.
    """
    d = data.registry.tables["durations"]
    t = data.rows(d["treatment_id"].to_numpy(dtype=object))
    keep = treatments[t]
    t = t[keep]
    region = enum_codes(d["region"], REGION_CODE)[keep]
    side = enum_codes(d["side"], SIDE_CODE)[keep]
    patients = data.registry.treatments["patient_id"].to_numpy(dtype=object)
    return DurationRows(
        treatment=t,
        region=region,
        side=side,
        days=d["days"].to_numpy(dtype=np.float64)[keep],
        returned=d["returned"].to_numpy(dtype=bool)[keep],
        x=longevity_matrix(data.features, t, region, side),
        patient=patients[t],
    )
