"""A registry export in parts: each table a folder of part files, read and validated part by part.

Layout: ``DIR/treatments/part-00000.parquet``, ``DIR/injections/part-00000.parquet``, ... (Parquet
or CSV), the same part names in every table's folder (``asym simulate --partitions K`` writes
it). Part k of every table holds whole patients: a patient's treatments and their injections,
follow-ups and durations are all in part k of their tables. That is what lets each part be
validated and featurised alone, and what a database export gives when it writes rows by a hash
of ``patient_id``. A plain export (one file per table) is one part.

The parts read together give what ``data.registry.read_registry`` gives on each table's parts
concatenated in part order, rejects included (their ``row`` counts across a table's parts in
part order). The cross-table rules, across parts:

- **duplicated keys**: a key that rows of two parts hold is *shared*; each part rejects its rows
  with it as duplicated (``read_tables(shared_keys=...)``). Treatment ids are compared across
  every part (``scan_part``); a child row's key can only be held in another part too when its
  treatment is not in its own part (an orphan) or its treatment id is shared, so only those
  child keys are compared (``child_keys``).
- **orphans**: a child row whose treatment is in no part is an orphan in its own part, as in one
  file. One whose treatment is in another part breaks the layout: :class:`ExportError`, naming
  both files.
- **children of rejected treatments**: a child row and its treatment are in the same part, so
  the part sees the rejection (a treatment rejected for a shared id included).
- **history**: a patient with treatments in two parts breaks the layout (their history would be
  cut in two): :class:`ExportError`.

Everything here is plain pandas on one part at a time; ``map_parts`` says how the parts are
visited (in this process, or on a Dask cluster: ``data.cluster``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Protocol, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from data.contract import TABLES, TREATMENTS, Table
from data.registry import (
    SUFFIXES,
    ExportError,
    Registry,
    fingerprint,
    locate_tables,
    read_keys,
    read_tables,
    rejects_table,
)

T = TypeVar("T")

PART_PREFIX: Final = "part-"
"""Part files are named ``part-NNNNN.parquet`` (or ``.csv``)."""
_ID: Final = TREATMENTS.key[0]
_PATIENT: Final = "patient_id"
_SHOWN: Final = 3
"""Examples named in a layout error."""


def part_name(k: int) -> str:
    """The file stem of part ``k``: ``part-00007``."""
    return f"{PART_PREFIX}{k:05d}"


@dataclass(frozen=True)
class Part:
    """One part of an export: the file of each table holding it.

    Attributes:
        name: The part's file stem (``part-00003``), or the export folder's name for a plain
            export.
        files: The file of each contract table.
    """

    name: str
    files: Mapping[str, Path]


def find_parts(path: Path) -> list[Part]:
    """The parts of an export folder, in part order (a plain export is one part).

    Args:
        path: A plain export (``NAME.parquet`` or ``NAME.csv`` per table) or a partitioned one
            (a folder per table of ``part-*.parquet`` or ``.csv`` files).

    Returns:
        The parts.

    Raises:
        ExportError: Neither layout, or the table folders do not hold the same parts.
    """
    path = Path(path)
    folders = {name: path / name for name in TABLES if (path / name).is_dir()}
    if not folders:
        return [Part(path.name, locate_tables(path))]
    if len(folders) < len(TABLES):
        missing = [str(path / name) for name in TABLES if name not in folders]
        raise ExportError(
            f"{', '.join(missing)}: not found; a partitioned export has a folder of parts for "
            f"every table ({', '.join(TABLES)})"
        )
    by_table = {name: _part_files(folder) for name, folder in folders.items()}
    names = sorted(set().union(*by_table.values()))
    if not names:
        raise ExportError(f"{folders[TREATMENTS.name]}: no part files ({PART_PREFIX}*.parquet)")
    for table, files in by_table.items():
        if lacking := [n for n in names if n not in files]:
            raise ExportError(
                f"{folders[table]}: no {', '.join(lacking[:_SHOWN])} (of {len(lacking)}); every "
                f"table's folder must hold the same parts, part k of each with the same patients"
            )
    return [Part(n, {table: by_table[table][n] for table in TABLES}) for n in names]


def _part_files(folder: Path) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for file in sorted(folder.glob(f"{PART_PREFIX}*")):
        if file.suffix not in SUFFIXES or not file.is_file():
            continue
        if file.stem in found:
            raise ExportError(f"{found[file.stem]} and {file}: both present; keep one")
        found[file.stem] = file
    return found


class MapParts(Protocol):
    """How a function is run on every part (here, or on a cluster); results in part order."""

    def __call__(self, fn: Callable[[Part], T], parts: Sequence[Part], /) -> list[T]:
        """``[fn(p) for p in parts]``, wherever it runs."""
        ...


def in_order(fn: Callable[[Part], T], parts: Sequence[Part], /) -> list[T]:
    """Run ``fn`` on every part, one after the other in this process."""
    return [fn(p) for p in parts]


def export_fingerprint(parts: Sequence[Part]) -> str:
    """SHA-256 over every file of every part (``data.registry.fingerprint``).

    A plain export gives the same value as ``Registry.fingerprint``.
    """
    if len(parts) == 1:
        return fingerprint(parts[0].files)
    return fingerprint({f"{t}/{f.name}": f for p in parts for t, f in p.files.items()})


# --- Pass 1: the keys of each part ----------------------------------------------------------------


def _key_columns(table: Table) -> list[str]:
    return list(table.key) if table.key else [_ID]


@dataclass(frozen=True)
class PartScan:
    """The keys of one part that the cross-part rules need.

    Attributes:
        treatment_ids: Distinct treatment ids of its treatments rows (raw text).
        patients: Distinct patient ids of its treatments rows.
        rows: Data rows per table.
        orphans: Per child table, key columns (text) and 0-based ``row`` of the rows whose
            treatment is not in this part's treatments.
    """

    treatment_ids: pd.Index
    patients: pd.Index
    rows: Mapping[str, int]
    orphans: Mapping[str, pd.DataFrame]


def scan_part(part: Part) -> PartScan:
    """Read a part's key columns: its treatment and patient ids, and its orphan child rows."""
    treatments = read_keys(part.files[TREATMENTS.name], TREATMENTS, [_ID, _PATIENT])
    ids = pd.Index(treatments[_ID].dropna().unique())
    id_set = pa.array(ids, type=pa.large_string())
    rows = {TREATMENTS.name: len(treatments)}
    orphans: dict[str, pd.DataFrame] = {}
    for name, table in TABLES.items():
        if table.parent is None:
            continue
        keys = read_keys(part.files[name], table, _key_columns(table))
        rows[name] = len(keys)
        # In Arrow: a child table has ten times the treatments' rows, and pandas' hash lookup
        # of Arrow-backed strings first copies them into Python objects.
        known = pc.is_in(pa.array(keys[_ID], type=pa.large_string()), value_set=id_set)
        lost = keys[_ID].notna().to_numpy() & ~known.to_numpy(zero_copy_only=False)
        orphans[name] = keys[lost].rename_axis("row").reset_index()
    patients = pd.Index(treatments[_PATIENT].dropna().unique())
    return PartScan(treatment_ids=ids, patients=patients, rows=rows, orphans=orphans)


def child_keys(part: Part, treatment_ids: frozenset[str]) -> dict[str, pd.DataFrame]:
    """Key columns of the part's child rows whose treatment id is one of ``treatment_ids``."""
    out: dict[str, pd.DataFrame] = {}
    for name, table in TABLES.items():
        if table.parent is not None and table.key:
            keys = read_keys(part.files[name], table, list(table.key))
            out[name] = keys[keys[_ID].isin(list(treatment_ids))]
    return out


# --- The cross-part rules -----------------------------------------------------------------------


@dataclass(frozen=True)
class CrossPart:
    """What each part must know of the others to read as if all were one file.

    Attributes:
        shared_keys: Per table, keys held by rows of more than one part.
        first_row: Per part, per table, the data rows of the parts before it.
    """

    shared_keys: Mapping[str, frozenset[tuple[str, ...]]]
    first_row: tuple[Mapping[str, int], ...]


def _in_several(frames: Sequence[pd.DataFrame], columns: list[str]) -> frozenset[tuple[str, ...]]:
    """Keys (rows of ``columns``, no nulls) found in more than one of ``frames``."""
    parts = [f[columns].dropna().drop_duplicates().assign(_part=k) for k, f in enumerate(frames)]
    if not parts:
        return frozenset()
    keys = pd.concat(parts, ignore_index=True)
    several = keys[keys.duplicated(columns, keep=False)][columns].drop_duplicates()
    return frozenset(tuple(str(v) for v in row) for row in several.itertuples(index=False))


def _check_layout(parts: Sequence[Part], scans: Sequence[PartScan]) -> None:
    """Refuse an export whose parts split a patient, or part a child row from its treatment."""
    owner = pd.concat([pd.Series(k, index=s.treatment_ids) for k, s in enumerate(scans)])
    owner = owner[~owner.index.duplicated(keep="first")]
    for k, scan in enumerate(scans):
        for name, lost in scan.orphans.items():
            elsewhere = owner.reindex(lost[_ID]).to_numpy()
            found = np.flatnonzero(~np.isnan(elsewhere))
            if len(found):
                i = found[0]
                row, treatment = int(lost["row"].iloc[i]) + 1, lost[_ID].iloc[i]
                other = parts[int(elsewhere[i])].files[TREATMENTS.name]
                raise ExportError(
                    f"{parts[k].files[name]} row {row}: treatment {treatment} is in {other} "
                    f"({len(found):,} such rows in this file); a partitioned export keeps a "
                    f"treatment's rows and its patient's other treatments in one part"
                )
    patients = pd.concat([pd.Series(k, index=s.patients) for k, s in enumerate(scans)])
    split = patients[patients.index.duplicated(keep=False)]
    if len(split):
        first = split.index[0]
        where = [str(parts[int(k)].files[TREATMENTS.name]) for k in split[first]]
        raise ExportError(
            f"patient {first} has treatments in {' and '.join(where)} "
            f"({split.index.nunique():,} patients are split); a partitioned export keeps each "
            f"patient's treatments in one part, or their history would be cut in two"
        )


def cross_part_rules(parts: Sequence[Part], map_parts: MapParts = in_order) -> CrossPart:
    """Scan every part's keys and work out the cross-part rules (see the module docstring).

    Args:
        parts: The export's parts (``find_parts``).
        map_parts: How to run a function on every part.

    Returns:
        The shared keys and row offsets each part is read with (``read_part``).

    Raises:
        ExportError: A part cannot be read, or the parts break the layout.
    """
    scans = map_parts(scan_part, parts)
    _check_layout(parts, scans)
    shared: dict[str, frozenset[tuple[str, ...]]] = {
        TREATMENTS.name: _in_several([pd.DataFrame({_ID: s.treatment_ids}) for s in scans], [_ID])
    }
    shared_ids = frozenset(k[0] for k in shared[TREATMENTS.name])
    children: list[dict[str, pd.DataFrame]] = []
    if shared_ids:  # rare: only then are the child keys of those treatments read again
        children = map_parts(functools.partial(child_keys, treatment_ids=shared_ids), parts)
    for name, table in TABLES.items():
        if table.parent is None or not table.key:
            continue
        columns = list(table.key)
        frames = [
            pd.concat([s.orphans[name][columns], *([children[k][name]] if children else [])])
            for k, s in enumerate(scans)
        ]
        shared[name] = _in_several(frames, columns)
    totals = {name: np.cumsum([0, *(s.rows[name] for s in scans)]) for name in TABLES}
    first_row = tuple({name: int(totals[name][k]) for name in TABLES} for k in range(len(scans)))
    return CrossPart(shared_keys=shared, first_row=first_row)


def read_part(part: Part, cross: CrossPart, k: int) -> Registry:
    """Read and validate part ``k`` as if every part were one file (``read_tables``).

    A part may hold no valid treatment; the caller checks that some part does.
    """
    return read_tables(
        part.files,
        shared_keys=cross.shared_keys,
        first_row=cross.first_row[k],
        require_treatment=False,
    )


def merge_rejects(parts: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """The parts' rejects (``read_part``, in part order) as the whole export's rejects table.

    Tables in contract order, each one's rows in row order, as ``read_registry`` orders them.
    """
    frame = rejects_table(parts)
    order = pd.Categorical(frame["table"], categories=list(TABLES), ordered=True)
    return frame.iloc[np.argsort(order.codes, kind="stable")].reset_index(drop=True)
