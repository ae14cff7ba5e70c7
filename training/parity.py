"""Parity of an exported bundle: its ONNX outputs against LightGBM on the same rows.

ONNX sums the trees in float32 and LightGBM in float64, so outputs agree to a tolerance, not to
the bit: a regression output within ``REGRESSION_ATOL`` + ``REGRESSION_RTOL`` x |value|, a
probability within ``PROBABILITY_ATOL``. A deviation beyond them raises ``ParityError`` naming
the worst cell; export then publishes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Final

import numpy as np
import numpy.typing as npt

from training.onnx_graph import Converted

Float32Array = npt.NDArray[np.float32]
FloatArray = npt.NDArray[np.float64]

PROBABILITY_ATOL: Final = 1e-5
"""Largest accepted |ONNX - LightGBM| of a probability (risk, hazard)."""
REGRESSION_RTOL: Final = 1e-4
"""Relative part of the accepted deviation of a difference quantile."""
REGRESSION_ATOL: Final = 1e-4
"""Absolute part (mm): ONNX sums the trees in float32, LightGBM in float64."""
_REGRESSION_TOLERANCE: Final = f"{REGRESSION_RTOL:g} relative + {REGRESSION_ATOL:g} absolute"


class ParityError(Exception):
    """An ONNX output deviates from LightGBM beyond tolerance; nothing was published."""


def refuse_beyond(
    what: str,
    got: FloatArray,
    expected: FloatArray,
    limit: FloatArray | float,
    tolerance: str,
    column: Callable[[int], str] | None = None,
) -> float:
    """Max |got - expected| of a (rows, columns) output; ParityError if one exceeds ``limit``.

    The error starts with ``what`` and names the worst cell (``column`` names its column, if
    there are several).
    """
    dev = np.abs(got - expected)
    worst = float(dev.max()) if dev.size else 0.0
    bad = dev > limit
    if bad.any() or not np.isfinite(got).all():
        i, k = np.unravel_index(int(np.argmax(dev)), dev.shape)
        where = f"row {i}" if column is None else f"row {i}, {column(int(k))}"
        raise ParityError(
            f"{what} by up to {worst:.3g} ({where}: ONNX {got[i, k]:.6g}, LightGBM "
            f"{expected[i, k]:.6g}; {int(bad.sum())} of {dev.size} beyond the tolerance "
            f"{tolerance})"
        )
    return worst


def _columns(a: FloatArray) -> FloatArray:
    out: FloatArray = a.reshape(len(a), -1)
    return out


def regression(
    what: str, got: FloatArray, expected: FloatArray, column: Callable[[int], str] | None = None
) -> float:
    """``refuse_beyond`` at the regression tolerance, for (rows,) or (rows, columns) outputs."""
    got, expected = _columns(got), _columns(expected)
    limit = REGRESSION_ATOL + REGRESSION_RTOL * np.abs(expected)
    return refuse_beyond(what, got, expected, limit, _REGRESSION_TOLERANCE, column)


def probability(
    what: str, got: FloatArray, expected: FloatArray, column: Callable[[int], str] | None = None
) -> float:
    """``refuse_beyond`` at ``PROBABILITY_ATOL``, for (rows,) or (rows, columns) outputs."""
    tolerance = f"{PROBABILITY_ATOL:g} absolute"
    return refuse_beyond(
        what, _columns(got), _columns(expected), PROBABILITY_ATOL, tolerance, column
    )


def boosters(
    converted: Sequence[Converted], onnx_out: Mapping[str, FloatArray], x: Float32Array
) -> dict[str, float]:
    """Max |ONNX - LightGBM| per converted booster; ParityError on the first beyond tolerance."""
    return {
        c.output: regression(
            f"ONNX output {c.output!r} deviates from LightGBM",
            onnx_out[c.output],
            np.asarray(c.booster.predict(x), dtype=np.float64),
        )
        for c in converted
    }
