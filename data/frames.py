"""Canonical in-memory form of contract tables: one pandas dtype per contract column kind.

The reader returns, and the simulator builds, frames in exactly these dtypes, so that everything
downstream (features, training) sees one representation whatever the export's file format.
"""

from __future__ import annotations

import pandas as pd

from data.contract import Column, Kind, Table


def dtype(column: Column) -> str | pd.CategoricalDtype:
    """Return the pandas dtype of a contract column.

    Enums are categoricals whose categories are the contract's values in contract order, so their
    codes are stable across exports. Nullable ints and bools use pandas' masked dtypes.
    """
    match column.kind:
        case Kind.ENUM:
            return pd.CategoricalDtype(list(column.values), ordered=False)
        case Kind.STRING:
            return "str"
        case Kind.DATE:
            return "datetime64[ns]"
        case Kind.FLOAT:
            return "float64"
        case Kind.INT:
            return "Int64" if column.nullable else "int64"
        case Kind.BOOL:
            return "boolean" if column.nullable else "bool"
    raise AssertionError(column.kind)  # pragma: no cover - the match is exhaustive


def empty_frame(table: Table) -> pd.DataFrame:
    """Return a frame with no rows and the table's columns in canonical order and dtypes."""
    return pd.DataFrame({c.name: pd.Series([], dtype=dtype(c)) for c in table.columns})


def conform(frame: pd.DataFrame, table: Table) -> pd.DataFrame:
    """Return ``frame`` with the table's columns in canonical order and dtypes.

    Only for frames whose values are already valid (the simulator's, or the reader's good rows);
    invalid values raise rather than being coerced.
    """
    columns: dict[str, pd.Series] = {}
    for c in table.columns:
        # pandas-stubs types astype() per overload; one dtype variable fits none of them.
        columns[c.name] = frame[c.name].astype(dtype(c))  # type: ignore[arg-type]
    return pd.DataFrame(columns, index=frame.index)
