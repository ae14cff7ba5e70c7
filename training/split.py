"""Validation split: the most recent period is held out, and no patient is on both sides."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

from training.settings import TEST_FRACTION

BoolArray = npt.NDArray[np.bool_]


def split_by_patient_and_time(
    treatments: pd.DataFrame, test_fraction: float = TEST_FRACTION
) -> tuple[BoolArray, BoolArray]:
    """Hold out the latest treatments, and drop their patients' earlier ones from training.

    New registry data arrive over time, so the test set is the most recent ``test_fraction`` of
    treatments by date; a patient seen there never trains the model (their earlier treatments are
    in neither set), which keeps patient-level information from leaking across.

    Args:
        treatments: The ``treatments`` table (canonical dtypes).
        test_fraction: Share of treatments, by date, to hold out.

    Returns:
        Boolean masks (train, test) over the rows of ``treatments``.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    dates = treatments["treatment_date"]
    cutoff = dates.quantile(1.0 - test_fraction)
    test = (dates > cutoff).to_numpy()
    test_patients = treatments.loc[test, "patient_id"].unique()
    train = ~treatments["patient_id"].isin(test_patients).to_numpy()
    return train, test


def hold_back_patients(patients: npt.ArrayLike, share: float, seed: int) -> BoolArray:
    """Mark a random ``share`` of the distinct patients, with all their rows, as held back.

    Used inside the training set to keep early stopping and calibration on patients the trees
    were not grown on.

    Args:
        patients: patient_id per row.
        share: Chance that a patient is held back, in (0, 1).
        seed: Random seed.

    Returns:
        True for the rows of held-back patients.
    """
    if not 0.0 < share < 1.0:
        raise ValueError(f"share must be in (0, 1), got {share}")
    codes, uniques = pd.factorize(pd.Series(np.asarray(patients, dtype=object)))
    held = np.random.default_rng(seed).random(len(uniques)) < share
    out: BoolArray = held[codes]
    return out
