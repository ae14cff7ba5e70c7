"""History features: what the patient's earlier treatments showed, as known on this one's date.

Point in time: a previous review counts only if its review day had passed, and a previous
duration only as far as it had been observed by today: activity that returned after today is,
today, "not yet returned" at the number of days elapsed.
"""

from __future__ import annotations

import numpy as np

from features.inputs import REVIEW_FIELDS, FeatureInput, FloatArray

_LEFT, _RIGHT = 0, 1  # side axis of previous_days: contract SIDES order (left, right, midline)
_DAY = REVIEW_FIELDS.index("review_day")
# Review columns in spec order: visible, eyelid, brow ptosis, then the three differences.
_REVIEW_COLUMNS = [REVIEW_FIELDS.index(c) for c in REVIEW_FIELDS[4:] + REVIEW_FIELDS[1:4]]


def history_block(inp: FeatureInput) -> list[FloatArray]:
    """History features of n treatments: 2-D blocks whose columns follow ``features.spec``."""
    gap = inp.days_since_previous
    review = inp.previous_review
    known = review[:, _DAY] <= gap  # NaN compares False: no review, or not yet happened
    head = np.array([inp.prior_treatments, gap, known * 1.0]).T
    seen = np.where(known[:, None], review[:, _REVIEW_COLUMNS], np.nan)

    g = gap[:, None, None]
    had = ~np.isnan(inp.previous_days)
    days = np.minimum(inp.previous_days, g)  # NaN where there was no row
    returned = (inp.previous_returned == 1.0) & (inp.previous_days <= g)
    any_row = had.any(axis=2)
    shortest = np.where(had, days, np.inf).min(axis=2)
    shortest[~any_row] = np.nan
    any_returned = np.where(any_row, returned.any(axis=2) * 1.0, np.nan)
    lr = days[:, :, _LEFT] - days[:, :, _RIGHT]
    return [head, seen, inp.previous_region_u_eq, shortest, any_returned, lr]
