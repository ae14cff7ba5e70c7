"""Validation split: the most recent period is held out, and no patient is on both sides."""

from __future__ import annotations

import hashlib
from typing import cast

import numpy as np
import numpy.typing as npt
import pandas as pd

from training.settings import TEST_FRACTION

BoolArray = npt.NDArray[np.bool_]
FloatArray = npt.NDArray[np.float64]


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
    return split_at(treatments, test_cutoff(treatments["treatment_date"], test_fraction))


def test_cutoff(dates: pd.Series, test_fraction: float = TEST_FRACTION) -> pd.Timestamp:
    """The date after which treatments are held out: the ``1 - test_fraction`` quantile.

    Args:
        dates: ``treatment_date`` of every treatment (of a whole registry, even one read in
            parts).
        test_fraction: Share of treatments, by date, to hold out.

    Returns:
        The cutoff date.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    # The stubs type a quantile as a float; of datetimes it is a Timestamp.
    return cast(pd.Timestamp, dates.quantile(1.0 - test_fraction))


def split_at(treatments: pd.DataFrame, cutoff: pd.Timestamp) -> tuple[BoolArray, BoolArray]:
    """Hold out the treatments after ``cutoff``; their patients' earlier ones train nothing.

    Args:
        treatments: The ``treatments`` table, or a part of it holding whole patients.
        cutoff: ``test_cutoff`` of the whole registry.

    Returns:
        Boolean masks (train, test) over the rows of ``treatments``.
    """
    dates = treatments["treatment_date"]
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


def patient_draws(patients: npt.ArrayLike, seed: int) -> FloatArray:
    """A uniform draw in [0, 1) per row, the same for every row of a patient, whatever the order.

    A hash of the patient id and the seed, so that the parts of a registry read apart
    (``training.dask_train``) choose the same patients as the registry read whole would.

    Args:
        patients: patient_id per row.
        seed: Seed of the draws.

    Returns:
        The draws.
    """
    ids = np.asarray(patients, dtype=object)
    key = hashlib.sha256(f"asym-split-{seed}".encode()).hexdigest()[:16]  # pandas wants 16
    hashed = pd.util.hash_array(ids, hash_key=key, categorize=True)
    out: FloatArray = (hashed >> np.uint64(11)).astype(np.float64) / float(1 << 53)
    return out
