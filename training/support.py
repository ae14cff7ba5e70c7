"""The training rows' feature ranges a bundle carries: the plan advisor's support reference.

``training.export`` writes them into the manifest (``bundle.manifest.FeatureSupport``); the
advisor reads them to say whether a suggested plan lies where the training plans were
(``serving.recommend_checks.support``).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from bundle.manifest import FeatureSupport

FloatArray = npt.NDArray[np.float64]
Float32Array = npt.NDArray[np.float32]

SUPPORT_QUANTILES: Final = (0.001, 0.999)
"""Levels of the training rows' feature ranges in the manifest (``FeatureSupport``): all but
the 0.1% most extreme rows each side, so that a handful of extreme registry rows do not stretch
what counts as covered (the central 99% left a quarter of ordinary plans outside somewhere)."""


def feature_support(x: Float32Array) -> FeatureSupport:
    """The ``SUPPORT_QUANTILES`` range of each feature over the training rows ``x``.

    Args:
        x: (n, F) training feature rows (NaN = missing).

    Returns:
        The ranges; None for a feature no row has.
    """
    bounds = np.full((2, x.shape[1]), np.nan)
    has = ~np.isnan(x).all(axis=0)
    if has.any():
        bounds[:, has] = np.nanquantile(x[:, has].astype(np.float64), SUPPORT_QUANTILES, axis=0)

    def values(row: FloatArray) -> tuple[float | None, ...]:
        return tuple(None if np.isnan(v) else float(v) for v in row)

    return FeatureSupport(
        quantiles=SUPPORT_QUANTILES, low=values(bounds[0]), high=values(bounds[1]), rows=len(x)
    )
