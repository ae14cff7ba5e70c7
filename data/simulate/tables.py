"""Arrow tables of the simulated registry and oracle, typed from the contract.

Columns arrive as numpy arrays in a few raw forms: NaN for a missing float, ``-1`` for a missing
enum code or nullable bool (``0``/``1`` otherwise), days since 1970-01-01 for dates. Enums are
written as their contract strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

import numpy as np
import pandas as pd
import pyarrow as pa

from data.contract import REGIONS, SIDES, TABLES, Column, Kind, Table
from data.frames import conform, dtype
from data.simulate.hidden import HIDDEN_TABLE, POINTS_TABLE
from data.simulate.types import IntArray

_ARROW: Final = MappingProxyType(
    {
        Kind.STRING: pa.string(),
        Kind.ENUM: pa.string(),
        Kind.DATE: pa.date32(),
        Kind.FLOAT: pa.float64(),
        Kind.INT: pa.int64(),
        Kind.BOOL: pa.bool_(),
    }
)

ORACLE_TABLES: Final = MappingProxyType(
    {
        "asymmetry": Table(
            name="asymmetry",
            description="True review probabilities and expected differences per treatment.",
            key=("treatment_id",),
            columns=(
                Column("treatment_id", Kind.STRING, "Treatment."),
                Column(
                    "p_visible_asymmetry",
                    Kind.FLOAT,
                    "True P(visible asymmetry) given hidden state and plan (pre-treatment).",
                ),
                Column(
                    "p_visible_asymmetry_at_needle",
                    Kind.FLOAT,
                    "True P(visible asymmetry) given hidden state and where the points landed.",
                ),
                Column("p_eyelid_ptosis", Kind.FLOAT, "True P(eyelid ptosis), pre-treatment."),
                Column("p_eyelid_ptosis_at_needle", Kind.FLOAT, "Same, at the needle."),
                Column("p_brow_ptosis", Kind.FLOAT, "True P(brow ptosis), pre-treatment."),
                Column("p_brow_ptosis_at_needle", Kind.FLOAT, "Same, at the needle."),
                Column("expected_brow_height_diff_mm", Kind.FLOAT, "E[post diff | landing]."),
                Column("expected_palpebral_fissure_diff_mm", Kind.FLOAT, "E[post diff | landing]."),
                Column("expected_commissure_height_diff_mm", Kind.FLOAT, "E[post diff | landing]."),
            ),
        ),
        "longevity": Table(
            name="longevity",
            description="True median days per treated (region, side), recorded or not.",
            key=("treatment_id", "region", "side"),
            columns=(
                Column("treatment_id", Kind.STRING, "Treatment."),
                Column("region", Kind.ENUM, "Region.", values=REGIONS),
                Column("side", Kind.ENUM, "Side.", values=SIDES),
                Column("median_days", Kind.FLOAT, "Weibull median of the return time."),
            ),
        ),
        "late_asymmetry": Table(
            name="late_asymmetry",
            description="True late-stage asymmetry per region treated on both sides.",
            key=("treatment_id", "region"),
            columns=(
                Column("treatment_id", Kind.STRING, "Treatment."),
                Column("region", Kind.ENUM, "Region.", values=REGIONS),
                Column(
                    "p_late_asymmetry",
                    Kind.FLOAT,
                    "True P(one side returns >= 21 days before the other), pre-treatment.",
                ),
                Column(
                    "p_late_asymmetry_recorded",
                    Kind.FLOAT,
                    "The same as the registry records it: each return on the weekly visit "
                    "after it, the recorded days 21+ apart.",
                ),
            ),
        ),
        "hidden": HIDDEN_TABLE,
        "points": POINTS_TABLE,
    }
)
"""The oracle's tables, beside the registry (not part of the contract); ``hidden`` and
``points`` are what the truth of another plan needs (``data.simulate.hidden``)."""

ALL_TABLES: Final = MappingProxyType(
    {**TABLES, **{f"oracle/{k}": v for k, v in ORACLE_TABLES.items()}}
)
"""Every file the simulator writes, by path stem relative to the output folder."""


def schema(table: Table) -> pa.Schema:
    """Arrow schema of a table: contract order, nullability from the contract."""
    return pa.schema([pa.field(c.name, _ARROW[c.kind], nullable=c.nullable) for c in table.columns])


def ids(prefix: str, numbers: IntArray, width: int) -> pa.Array:
    """Pseudonymous identifiers such as ``T0000001``."""
    digits = np.strings.zfill(numbers.astype(np.str_), width)
    return pa.array(np.strings.add(prefix, digits))


def _array(column: Column, values: object) -> pa.Array:
    if isinstance(values, pa.Array):
        return values
    v = np.asarray(values)
    match column.kind:
        case Kind.ENUM:
            codes = pa.array(v.astype(np.int32), mask=v < 0)
            return pa.DictionaryArray.from_arrays(codes, pa.array(column.values)).cast(pa.string())
        case Kind.DATE:
            return pa.array(v.astype(np.int32), type=pa.date32())
        case Kind.FLOAT:
            # + 0.0 turns a rounded -0.0 into 0.0, so files never show "-0".
            return pa.array(v.astype(np.float64) + 0.0, from_pandas=True)
        case Kind.INT:
            return pa.array(v.astype(np.int64))
        case Kind.BOOL:
            if v.dtype == np.bool_:
                return pa.array(v)
            return pa.array(v == 1, mask=v < 0)
        case Kind.STRING:
            return pa.array(v.astype(np.str_))
    raise AssertionError(column.kind)  # pragma: no cover


def arrow_table(table: Table, columns: Mapping[str, object]) -> pa.Table:
    """Build an arrow table from raw columns (see the module docstring)."""
    return pa.Table.from_arrays(
        [_array(c, columns[c.name]) for c in table.columns], schema=schema(table)
    )


def to_frame(table: Table, data: pa.Table) -> pd.DataFrame:
    """Canonical pandas frame (``data.frames`` dtypes) of an arrow table of ``table``."""
    frame = data.to_pandas(date_as_object=False)
    if table.name in TABLES:
        return conform(frame, table)
    return pd.DataFrame({c.name: frame[c.name].astype(dtype(c)) for c in table.columns})
