"""Array aliases and small shared helpers of the simulator."""

from __future__ import annotations

from typing import Final, Literal

import numpy as np
import numpy.typing as npt

from data.atlas import UNIT_FACTOR
from data.contract import MUSCLE_REGION, MUSCLES, PRODUCTS, REGIONS, SIDES

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

Scenario = Literal["literature", "seed-claims"]
"""``literature``: only effects with public support; ``seed-claims``: adds the seed document's
unsupported effects as a labelled stress test."""

SCENARIOS: tuple[Scenario, ...] = ("literature", "seed-claims")

LEFT: Final = SIDES.index("left")
RIGHT: Final = SIDES.index("right")
MIDLINE: Final = SIDES.index("midline")
UNIT_FACTOR_BY_CODE: Final = np.array([UNIT_FACTOR[x] for x in PRODUCTS])
"""The atlas' unit factor of each product code (``data.contract.PRODUCTS`` order)."""
REGION_OF_MUSCLE: Final = np.array([REGIONS.index(MUSCLE_REGION[m]) for m in MUSCLES])
"""The region code of each muscle code (``data.contract.MUSCLES`` order)."""
"""Side codes: positions in ``data.contract.SIDES``."""


def pick(rng: np.random.Generator, probs: FloatArray) -> IntArray:
    """Draw one category per row of ``probs`` (rows sum to 1)."""
    cum = np.cumsum(probs, axis=-1)
    u = rng.random(probs.shape[:-1])[..., None]
    return np.asarray(np.minimum((u >= cum).sum(axis=-1), probs.shape[-1] - 1), dtype=np.int64)


def rounded(values: FloatArray, decimals: int) -> FloatArray:
    """Round to ``decimals`` (what a file shows; also hides the oracle's full precision)."""
    return np.asarray(np.round(values, decimals), dtype=np.float64)


def segment_ids(counts: IntArray) -> tuple[IntArray, IntArray]:
    """For ragged groups of sizes ``counts``, return each element's group and position in it."""
    group = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
    starts = np.cumsum(counts) - counts
    position = np.arange(len(group), dtype=np.int64) - np.repeat(starts, counts)
    return group, position
