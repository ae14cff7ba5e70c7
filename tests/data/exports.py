"""A tiny, hand-made, valid registry export for the reader's tests (no simulator).

`valid_tables()` returns the four tables as all-text frames, exactly as a CSV would hold them
(null: an empty cell). `write_export()` writes them into a folder as CSV or as Parquet with string
columns; `native_table()` gives the Parquet form a tool with native types would write.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from data.contract import TABLES, Kind

Format = Literal["csv", "parquet"]
FORMATS: tuple[Format, ...] = ("csv", "parquet")

_: None = None  # a null cell, to keep the rows below readable

TREATMENTS = pd.DataFrame(
    [
        # id, patient, clinic, date, product, dilution, age, sex, hand, ancestry, chrna1,
        # exercise, bruxism, smoker, brow, fissure, commissure, front L, front R, mass L, mass R
        ("T1", "P1", "C1", "2024-01-05", "onabotulinumtoxinA", "2.5", "34", "female",
         "right", "european", "non_carrier", "3", "false", "false",
         "0.8", "-0.3", "0.1", "2.1", "2.4", "11.5", "12.25"),
        ("T2", "P2", "C1", "2024-02-10", "abobotulinumtoxinA", "5", "52", "male",
         _, _, _, _, _, _, _, _, _, _, _, _, _),
        ("T3", "P1", "C2", "2024-05-05", "incobotulinumtoxinA", "1.25", "34", "female",
         "left", "east_asian", "carrier", "0", "true", "false",
         "-1.5", "0", "2", "1.9", "2.2", "10", "10.4"),
        ("T4", "P3", "C2", "2024-06-30", "daxibotulinumtoxinA", "0.5", "100", "female",
         "ambidextrous", "other", _, "21", "true", "true",
         "15", "-10", "-15", "0.5", "10", "3", "30"),
    ],
    columns=list(TABLES["treatments"].names),
)  # fmt: skip

INJECTIONS = pd.DataFrame(
    [
        ("T1", "frontalis", "left", "2", "-20", "45", "intramuscular"),
        ("T1", "frontalis", "right", "2", "20", "45", "intramuscular"),
        ("T1", "corrugator", "left", "4", "-12", "12", _),
        ("T1", "corrugator", "right", "4", "12", "12", _),
        ("T1", "procerus", "midline", "4", "0", "5", "intramuscular"),
        ("T2", "masseter", "left", "25", "-55", "-80", "intramuscular"),
        ("T2", "masseter", "right", "25", _, _, _),
        ("T3", "orbicularis_oculi", "left", "3.5", "-45", "0", "intradermal"),
        ("T3", "orbicularis_oculi", "right", "3.5", "45", "0", "subcutaneous"),
        ("T3", "mentalis", "midline", "2", "0", "-100", "supraperiosteal"),
        ("T4", "depressor_anguli_oris", "left", "1.5", "-30", "-70", _),
        ("T4", "depressor_anguli_oris", "right", "100", "30", "-70", _),
        ("T4", "platysma", "left", "0.25", "-100", "-160", "intramuscular"),
        ("T4", "levator_labii_alaeque_nasi", "right", "1", "100", "100", _),
    ],
    columns=list(TABLES["injections"].names),
)

FOLLOWUPS = pd.DataFrame(
    [
        ("T1", "14", "0.4", "-0.2", "0.1", "false", "false", "false"),
        ("T2", "7", _, _, _, "true", "false", "true"),
        ("T3", "42", "-2.5", "1", "0", "true", "true", "false"),
    ],
    columns=list(TABLES["followups"].names),
)

DURATIONS = pd.DataFrame(
    [
        ("T1", "forehead", "left", "95", "true"),
        ("T1", "forehead", "right", "101.5", "true"),
        ("T1", "glabella", "left", "110", "true"),
        ("T1", "glabella", "right", "108", "true"),
        ("T1", "glabella", "midline", "112", "true"),
        ("T2", "jaw", "left", "150", "false"),  # censored: last seen without return
        ("T2", "jaw", "right", "180", "true"),
        ("T3", "crows_feet", "left", "80", "true"),
        ("T3", "crows_feet", "right", "84", "true"),
        ("T3", "chin", "midline", "90.25", "false"),
        ("T4", "mouth_corners", "left", "70", "true"),
        ("T4", "neck", "left", "0.5", "true"),
    ],
    columns=list(TABLES["durations"].names),
)


def valid_tables() -> dict[str, pd.DataFrame]:
    """Fresh copies of the four valid tables, all cells text or None, canonical column order."""
    frames = {"treatments": TREATMENTS, "injections": INJECTIONS}
    frames |= {"followups": FOLLOWUPS, "durations": DURATIONS}
    return {name: frame.astype("str") for name, frame in frames.items()}


def native_table(frame: pd.DataFrame, table_name: str) -> pa.Table:
    """Convert an all-text table to the native Arrow types another tool would write.

    Booleans as bool, dates as date32, ints as int64, floats as float64, enums as dictionaries.
    """
    table = TABLES[table_name]
    arrays: dict[str, pa.Array] = {}
    for column in table.columns:
        text = frame[column.name]
        match column.kind:
            case Kind.BOOL:
                arrays[column.name] = pa.array(
                    text.map({"true": True, "false": False}).astype("boolean")
                )
            case Kind.DATE:
                dates = pd.to_datetime(text, format="%Y-%m-%d")
                arrays[column.name] = pa.array(dates).cast(pa.date32())
            case Kind.INT:
                arrays[column.name] = pa.array(pd.to_numeric(text).astype("Int64"))
            case Kind.FLOAT:
                arrays[column.name] = pa.array(pd.to_numeric(text).astype("float64"))
            case Kind.ENUM:
                arrays[column.name] = pa.array(text).cast(pa.string()).dictionary_encode()
            case Kind.STRING:
                arrays[column.name] = pa.array(text).cast(pa.string())
    return pa.table(arrays)


def write_table(frame: pd.DataFrame | pa.Table, path: Path) -> None:
    """Write one table: all-text frame or Arrow table, CSV or Parquet by suffix."""
    if isinstance(frame, pa.Table):
        pq.write_table(frame, path)
    elif path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)


def write_export(folder: Path, fmt: Format, tables: dict[str, pd.DataFrame] | None = None) -> Path:
    """Write an export (the valid one by default) into ``folder`` and return the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in (valid_tables() if tables is None else tables).items():
        write_table(frame, folder / f"{name}.{fmt}")
    return folder
