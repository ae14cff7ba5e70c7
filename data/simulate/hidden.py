"""What the truth of a new plan needs and the registry never shows, written beside the oracle.

Per treatment (``oracle/hidden``): the patient's hidden state as the session saw it (anatomy
offsets, strength, sensitivity, true baseline differences, exact age, the longevity factors,
antibodies formed by then) and the injector's placement error sd, with the key of the session's
placement draws. Per injection point (``oracle/points``, in ``injections`` order): where the
injector planned it, recorded or not. ``data.simulate.truth`` reads both.

The pre-treatment oracle's placement draws are common random numbers: point ``j`` of a treatment
takes column ``(key + j) mod POOL_COLUMNS`` of one fixed pool of standard normals
(``placement_normals``), so the truth of another plan of the same treatment (same points, other
units or places) sees the same draws as the oracle of the plan given. Two plans are then compared
without Monte-Carlo noise between them, and the oracle of the actual plan is the truth of it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Final, TypeVar

import numpy as np
import numpy.typing as npt

from data.contract import SIDES, Column, Kind, Table
from data.simulate import params as p
from data.simulate.longevity import DurationFactors
from data.simulate.physics import PARALYSED, TARGETS, Anatomy
from data.simulate.types import LEFT, RIGHT, FloatArray, IntArray

POOL_COLUMNS: Final = 1 << 14
"""Columns of the pool of placement normals. A treatment's points take consecutive columns from
a random key, so two treatments share a column with probability ~ points / POOL_COLUMNS
(about 0.1%): their Monte-Carlo errors stay all but independent."""
_POOL_SEED: Final = 20_260_412  # any fixed number: the pool is part of the simulator's version
_PAIRED: Final = (LEFT, RIGHT)
_XY: Final = ("x", "y")
_BASELINE: Final = ("brow", "palpebral", "commissure")
_DURATION: Final = {
    "male": np.bool_,
    "beta": np.float64,
    "duration_factor": np.float64,
    "masseter_factor": np.float64,
    "mouth_corner_shift": np.float64,
    "nab": np.bool_,
    "nab_factor": np.float64,
    "product": np.int64,
}
"""``DurationFactors`` fields written as they are (sensitivity is the anatomy's; masseter_mm is
written per side)."""
_Arrays = TypeVar("_Arrays", Anatomy, DurationFactors)


@cache
def _pool(draws: int) -> npt.NDArray[np.float32]:
    rng = np.random.default_rng(_POOL_SEED)
    return rng.standard_normal((draws, POOL_COLUMNS, 2), dtype=np.float32)


def placement_normals(
    key: IntArray, position: IntArray, draws: int = p.ORACLE_PLACEMENT_DRAWS
) -> npt.NDArray[np.float32]:
    """The standard normal placement draws of points, keyed by their treatment and position.

    Args:
        key: Per point, its treatment's ``placement_draw``.
        position: Per point, its index among its treatment's points (``injections`` order).
        draws: Number of draws.

    Returns:
        (draws, point, xy) float32 standard normals.
    """
    return _pool(draws)[:, (key + position) % POOL_COLUMNS]


def _side(code: int) -> str:
    return SIDES[code]


def _float(name: str, description: str) -> Column:
    return Column(name, Kind.FLOAT, description)


_STRENGTH: Final = tuple(
    (f"strength_{target}_{_side(s)}", k, s) for k, target in enumerate(PARALYSED) for s in _PAIRED
)
_OFFSET: Final = tuple(
    (f"offset_{target}_{_side(s)}_{axis}_mm", k, s, a)
    for k, target in enumerate(TARGETS)
    for s in _PAIRED
    for a, axis in enumerate(_XY)
)

HIDDEN_TABLE: Final = Table(
    name="hidden",
    description="Per treatment, the hidden state the truth of another plan needs.",
    key=("treatment_id",),
    columns=(
        Column("treatment_id", Kind.STRING, "Treatment."),
        _float("age", "Exact age at treatment, years."),
        _float("placement_sd_mm", "Placement error sd of the session's injector, per axis."),
        Column("placement_draw", Kind.INT, "Key of the session's placement draws (pool column)."),
        _float("sensitivity", "Toxin sensitivity multiplier."),
        *(_float(f"baseline_{d}_mm", f"True baseline {d} difference.") for d in _BASELINE),
        *(_float(name, "Relative strength of a paralysed target.") for name, _, _ in _STRENGTH),
        *(_float(name, "Offset of a target from the atlas.") for name, *_ in _OFFSET),
        Column("male", Kind.BOOL, "Sex (the longevity factor)."),
        _float("beta", "Dose-duration elasticity."),
        _float("duration_factor", "Activity (and seed-claims CHRNA1) duration factor."),
        _float("masseter_factor", "Seed claims: exercisers' masseter duration factor."),
        _float("mouth_corner_shift", "Seed claims: days the mouth corners return earlier."),
        Column("nab", Kind.BOOL, "Neutralising antibodies formed before this session."),
        _float("nab_factor", "Duration factor once antibodies have formed."),
        Column("product", Kind.INT, "The session's product code (data.contract.PRODUCTS)."),
        _float("masseter_left_mm", "True masseter thickness, left."),
        _float("masseter_right_mm", "True masseter thickness, right."),
    ),
)
"""``oracle/hidden``: one row per treatment."""

POINTS_TABLE: Final = Table(
    name="points",
    description="Where each injection point was planned, in injections order.",
    key=(),
    columns=(
        Column("treatment_id", Kind.STRING, "Treatment."),
        _float("x_mm", "Planned x (recorded in injections only where the clinic records it)."),
        _float("y_mm", "Planned y."),
    ),
)
"""``oracle/points``: one row per injection point."""


@dataclass(frozen=True, slots=True)
class Hidden:
    """The hidden state of n treatments (one entry or row per treatment).

    Attributes:
        anatomy: What the review physics reads (``physics.Anatomy``).
        duration: What the longevity medians read (``longevity.DurationFactors``), with the
            session's product and the antibodies formed before it.
        age: Exact age at treatment.
        placement_sd_mm: Placement error sd of the session's injector.
        placement_draw: Key of the session's placement draws (``placement_normals``).
    """

    anatomy: Anatomy
    duration: DurationFactors
    age: FloatArray
    placement_sd_mm: FloatArray
    placement_draw: IntArray

    def take(self, rows: IntArray) -> Hidden:
        """The hidden state of the treatments ``rows``, in that order."""
        return Hidden(
            anatomy=_take(self.anatomy, rows),
            duration=_take(self.duration, rows),
            age=self.age[rows],
            placement_sd_mm=self.placement_sd_mm[rows],
            placement_draw=self.placement_draw[rows],
        )

    def columns(self) -> dict[str, np.ndarray]:
        """The ``HIDDEN_TABLE`` columns (treatment_id excepted)."""
        a, d = self.anatomy, self.duration
        out: dict[str, np.ndarray] = {
            "age": self.age,
            "placement_sd_mm": self.placement_sd_mm,
            "placement_draw": self.placement_draw,
            "sensitivity": a.sensitivity,
        }
        out |= {f"baseline_{b}_mm": a.baseline[:, i] for i, b in enumerate(_BASELINE)}
        out |= {name: a.strength[:, k, s] for name, k, s in _STRENGTH}
        out |= {name: a.offset_mm[:, k, s, xy] for name, k, s, xy in _OFFSET}
        out |= {name: getattr(d, name) for name in _DURATION}
        return out | {
            "masseter_left_mm": d.masseter_mm[:, LEFT],
            "masseter_right_mm": d.masseter_mm[:, RIGHT],
        }

    @classmethod
    def from_columns(cls, columns: Mapping[str, np.ndarray]) -> Hidden:
        """The inverse of ``columns``."""

        def f(name: str) -> FloatArray:
            return np.asarray(columns[name], dtype=np.float64)

        n = len(f("age"))
        strength = np.empty((n, len(PARALYSED), 2))
        for name, k, s in _STRENGTH:
            strength[:, k, s] = f(name)
        offset = np.empty((n, len(TARGETS), 2, 2))
        for name, k, s, xy in _OFFSET:
            offset[:, k, s, xy] = f(name)
        sensitivity = f("sensitivity")
        return cls(
            anatomy=Anatomy(
                offset_mm=offset,
                strength=strength,
                sensitivity=sensitivity,
                baseline=np.stack([f(f"baseline_{b}_mm") for b in _BASELINE], axis=1),
            ),
            duration=DurationFactors(
                sensitivity=sensitivity,
                masseter_mm=np.stack([f("masseter_left_mm"), f("masseter_right_mm")], axis=1),
                **{name: np.asarray(columns[name], dtype=kind) for name, kind in _DURATION.items()},
            ),
            age=f("age"),
            placement_sd_mm=f("placement_sd_mm"),
            placement_draw=np.asarray(columns["placement_draw"], dtype=np.int64),
        )


def _take(arrays: _Arrays, rows: IntArray) -> _Arrays:
    """A dataclass of per-treatment arrays, at ``rows``."""
    return dataclasses.replace(
        arrays, **{f.name: getattr(arrays, f.name)[rows] for f in dataclasses.fields(arrays)}
    )
