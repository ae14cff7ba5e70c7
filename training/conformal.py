"""Split-conformal widening of a quantile interval (conformalized quantile regression, CQR).

Reference: Romano Y, Patterson E, Candès E. Conformalized quantile regression. Advances in Neural
Information Processing Systems 32 (NeurIPS 2019). On calibration rows held out from the fit, the
conformity score of a row is max(lo - y, y - hi), how far y falls outside [lo, hi] (negative
inside); widening every interval by the score's finite-sample (1 - alpha) quantile gives
coverage of at least 1 - alpha on exchangeable new rows. No library in our stack does this for a
LightGBM quantile pair (MAPIE is not a dependency), and it is three lines.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def conformal_margin(y: FloatArray, lo: FloatArray, hi: FloatArray, coverage: float) -> float:
    """CQR margin: widen [lo, hi] by it (narrow if negative) to cover ``coverage`` of such rows.

    Args:
        y: Held-out values.
        lo: Their lower quantile predictions.
        hi: Their upper quantile predictions.
        coverage: Target share inside the interval.

    Returns:
        The finite-sample conformity quantile of max(lo - y, y - hi): the
        ceil((n + 1) coverage) / n empirical quantile (capped at the largest score).
    """
    score = np.maximum(lo - y, y - hi)
    level = min(1.0, np.ceil((len(y) + 1) * coverage) / len(y))
    return float(np.quantile(score, level, method="inverted_cdf"))
