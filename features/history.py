"""History features: what the patient's earlier treatments showed, as known on this one's date.

Point in time: a previous review counts only if its review day had passed, and a previous
duration only as far as it had been observed by today: activity that returned after today is,
today, "not yet returned" at the number of days elapsed.
"""

from __future__ import annotations

from typing import Final

import numpy as np

from data.contract import REGIONS, SIDES
from features.inputs import REVIEW_FIELDS, FeatureInput, FloatArray, columns
from features.spec import DIFFS

_LEFT, _RIGHT = SIDES.index("left"), SIDES.index("right")  # side axis of previous_days
_DAY = REVIEW_FIELDS.index("review_day")
_HEAD = columns(["prior_treatments", "days_since_previous", "previous_review_known"])
_REVIEW_FEATURES = (
    "visible_asymmetry",
    "eyelid_ptosis",
    "brow_ptosis",
    *(f"{d}_diff_mm" for d in DIFFS),
)
_SEEN = columns([f"previous_{c}" for c in _REVIEW_FEATURES])
_U_EQ = columns([f"previous_{r}_u_eq" for r in REGIONS])
_DAYS = columns([f"previous_{r}_days" for r in REGIONS])
_RETURNED = columns([f"previous_{r}_returned" for r in REGIONS])
_LR = columns([f"previous_{r}_lr_days_diff" for r in REGIONS])
# Where each of those is in previous_review.
_REVIEW_COLUMNS = np.array([REVIEW_FIELDS.index(c) for c in _REVIEW_FEATURES])

WRITES: Final = (_HEAD, _SEEN, _U_EQ, _DAYS, _RETURNED, _LR)
"""The matrix columns that ``history_block`` fills."""


def history_block(inp: FeatureInput, matrix: FloatArray) -> None:
    """Fill the history columns of the (n, features) ``matrix``.

    Args:
        inp: Contract data of n treatments.
        matrix: The feature matrix.
    """
    gap = inp.days_since_previous
    review = inp.previous_review
    known = review[:, _DAY] <= gap  # NaN compares False: no review, or not yet happened
    head = matrix[:, _HEAD]
    head[:, 0] = inp.prior_treatments
    head[:, 1] = gap
    head[:, 2] = known
    matrix[:, _SEEN] = np.where(known[:, None], review[:, _REVIEW_COLUMNS], np.nan)
    matrix[:, _U_EQ] = inp.previous_region_u_eq

    previous = inp.previous_days
    days = np.minimum(previous, gap[:, None, None])  # NaN where there was no row
    # A row has both its days and its returned flag, so previous_returned is NaN exactly where
    # there is no row: the product is NaN there, else 1 if it had returned by today (its days
    # not capped at the gap), else 0.
    returned = inp.previous_returned * (days == previous)
    # Per region over the sides, skipping NaN (no row): the shortest days seen and whether any
    # side had returned; NaN for a region without rows.
    matrix[:, _DAYS] = np.fmin.reduce(days, axis=2)
    matrix[:, _RETURNED] = np.fmax.reduce(returned, axis=2)
    matrix[:, _LR] = days[:, :, _LEFT] - days[:, :, _RIGHT]
