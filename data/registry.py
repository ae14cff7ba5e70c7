# Over 400 lines: every contract rule of the reader and validator in one place, as the rejects say.
"""Read a registry export and quarantine every row that breaks the contract.

A registry export is a folder holding each contract table (``data.contract.TABLES``) as
``NAME.parquet`` or ``NAME.csv``. :func:`read_registry` reads it, checks every value against the
contract and splits each table into good rows (returned in the canonical dtypes of
``data.frames``) and a rejects table with one row per violation. Nothing is silently dropped:
a row either goes on unchanged or is named in the rejects with its reason. An export that cannot
be used at all raises :class:`ExportError`.

Every column, whatever its file format or native type, is first normalised to text and then goes
through the same vectorised checks, so a CSV and a Parquet file holding the same logical data
give the same result.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, NamedTuple

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from data.contract import (
    DURATIONS,
    FOLLOWUPS,
    INJECTIONS,
    MIDLINE,
    MIDLINE_MUSCLES,
    MIDLINE_REGIONS,
    TABLES,
    TREATMENTS,
    Column,
    Kind,
    Table,
)
from data.frames import conform, dtype

REJECT_COLUMNS: Final = ("table", "row", "key", "column", "value", "reason")
"""Columns of :attr:`Registry.rejects`, in order."""

SUFFIXES: Final = (".parquet", ".csv")
"""File formats a table may come in."""

_ID: Final = TREATMENTS.key[0]
"""Every table names its treatment in this column; child tables link to their parent by it."""


# Full-string patterns: pyarrow's string -> float cast is fast and exact but raises on any bad
# value, so only values that look like a decimal number reach it.
_NUMBER: Final = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_DATE: Final = r"\d{4}-\d{2}-\d{2}"
_DATE_FORMAT: Final = "%Y-%m-%d"
_TRUE: Final = ("true", "1")
_FALSE: Final = ("false", "0")

Mask = npt.NDArray[np.bool_]


class ExportError(Exception):
    """The export cannot be used at all; the message names the file and what is wrong."""


@dataclass(frozen=True)
class Registry:
    """A read registry export: good rows per table, and every rejected row with its reason.

    Attributes:
        treatments: Good treatment rows, canonical dtypes and column order, fresh RangeIndex.
        injections: Good injection rows, likewise.
        followups: Good follow-up rows, likewise.
        durations: Good duration rows, likewise.
        rejects: One row per violation, columns :data:`REJECT_COLUMNS`: the table, the 1-based
            data row in its file, the row's raw treatment_id, the column (null for row-level
            reasons), the raw offending value as text and the reason.
        extra_columns: Per table, columns present in the file but not in the contract (ignored).
        absent_columns: Per table, optional contract columns the file lacks (read as all null).
        files: The file each table was read from.
    """

    treatments: pd.DataFrame
    injections: pd.DataFrame
    followups: pd.DataFrame
    durations: pd.DataFrame
    rejects: pd.DataFrame
    extra_columns: Mapping[str, tuple[str, ...]]
    absent_columns: Mapping[str, tuple[str, ...]]
    files: Mapping[str, Path]

    @property
    def tables(self) -> Mapping[str, pd.DataFrame]:
        """Good rows of each table by name, in contract order."""
        return MappingProxyType({name: getattr(self, name) for name in TABLES})

    def fingerprint(self) -> str:
        """SHA-256 over the table files as they are now (:func:`fingerprint` of ``files``).

        Recorded with every model (run parameters, bundle manifest) so a model names the exact
        data it was trained or compared on.
        """
        return fingerprint(self.files)


def fingerprint(files: Mapping[str, Path]) -> str:
    """SHA-256 over files as they are now: each one's name, then its bytes, in name order.

    Args:
        files: The files by name (a table name, or a part's ``table/part`` name).

    Returns:
        The hex digest.
    """
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode())
        with files[name].open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


class _Problem(NamedTuple):
    """One rule broken by the rows in ``mask`` (one reject row each)."""

    mask: Mask
    column: str | None
    reason: str
    value: pd.Series | None = None  # raw text per row; None: the column's own text


@dataclass(frozen=True)
class _Checked:
    """One table after its own checks: raw text, parsed values and the problems found."""

    file: Path
    text: pd.DataFrame
    parsed: dict[str, pd.Series]
    problems: list[_Problem]


def read_registry(path: Path) -> Registry:
    """Read a registry export, validate it against the contract and quarantine bad rows.

    Args:
        path: Folder holding each contract table as ``NAME.parquet`` or ``NAME.csv``; other files
            and folders in it are ignored.

    Returns:
        The good rows of each table in canonical dtypes, the rejects (one row per violation),
        the extra columns found and the file each table came from.

    Raises:
        ExportError: The export cannot be used at all: a table is missing, present in both
            formats, unreadable, lacks a required column, or no treatment is valid.
    """
    return read_tables(locate_tables(Path(path)))


def read_tables(
    files: Mapping[str, Path],
    *,
    shared_keys: Mapping[str, frozenset[tuple[str, ...]]] | None = None,
    first_row: Mapping[str, int] | None = None,
    require_treatment: bool = True,
) -> Registry:
    """Read and validate one file per contract table: :func:`read_registry` past finding them.

    The seam for a registry held in several parts (``data.partitioned``): each part is read
    alone, told which of its keys rows of other parts hold too, and numbers its rejected rows
    after the rows of the parts before it.

    Args:
        files: The file of each contract table.
        shared_keys: Per table, keys (as text tuples in ``Table.key`` order) that rows outside
            ``files`` hold too: rows with them are rejected as duplicated keys, as if every part
            were one file.
        first_row: Per table, data rows before this file's first (its rejects' ``row`` counts
            on from there).
        require_treatment: Raise :class:`ExportError` when no treatment is valid (one part of
            several may have none).

    Returns:
        The registry read from ``files``.

    Raises:
        ExportError: A file cannot be used at all, or (``require_treatment``) no treatment is
            valid.
    """
    checked: dict[str, _Checked] = {}
    extra: dict[str, tuple[str, ...]] = {}
    absent: dict[str, tuple[str, ...]] = {}
    for name, table in TABLES.items():
        text, extra[name], absent[name] = _load(files[name], table)
        shared = (shared_keys or {}).get(name, frozenset())
        checked[name] = _check_table(files[name], text, table, shared)
        if table.parent is not None:
            checked[name].problems.extend(_parent_problems(text, checked[table.parent], table))
        if require_treatment and name == TREATMENTS.name and not _good(checked[name]).any():
            raise ExportError(_no_treatment_message(checked[name]))
    good = {name: _good_rows(checked[name], table) for name, table in TABLES.items()}
    return Registry(
        treatments=good[TREATMENTS.name],
        injections=good[INJECTIONS.name],
        followups=good[FOLLOWUPS.name],
        durations=good[DURATIONS.name],
        rejects=_rejects(checked, first_row or {}),
        extra_columns=MappingProxyType(extra),
        absent_columns=MappingProxyType(absent),
        files=MappingProxyType(files),
    )


def write_rejects(rejects: pd.DataFrame, path: Path) -> None:
    """Write a rejects table: CSV if ``path`` ends in ``.csv``, else Parquet.

    Args:
        rejects: :attr:`Registry.rejects`.
        path: Output file; its folder is created if needed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".csv":
        rejects.to_csv(path, index=False)
    else:
        rejects.to_parquet(path, index=False)


# --- Reading ------------------------------------------------------------------------------------


def locate_tables(folder: Path) -> dict[str, Path]:
    """Find each table's file in an export folder.

    Raises:
        ExportError: It is not a folder, or a table's file is missing or there in both formats.
    """
    if not folder.is_dir():
        raise ExportError(f"{folder}: not a folder; a registry export is a folder of tables")
    files: dict[str, Path] = {}
    for name in TABLES:
        found = [folder / f"{name}{s}" for s in SUFFIXES if (folder / f"{name}{s}").is_file()]
        if not found:
            expected = " or ".join(str(folder / f"{name}{s}") for s in SUFFIXES)
            raise ExportError(f"{expected}: not found; the export has no {name} table")
        if len(found) > 1:
            raise ExportError(
                f"{' and '.join(map(str, found))}: both present; keep one, it is ambiguous "
                f"which holds the {name} table"
            )
        files[name] = found[0]
    return files


def read_keys(file: Path, table: Table, columns: Sequence[str]) -> pd.DataFrame:
    """Read only some columns of one table's file, as text (as :func:`read_registry` sees them).

    Args:
        file: The table's file.
        table: Its contract table.
        columns: The columns to read (each must be in the file).

    Returns:
        The columns as text, null where missing.

    Raises:
        ExportError: The file cannot be read, or lacks one of ``columns``.
    """
    try:
        if file.suffix == ".csv":
            data = _read_csv(file, columns)
        else:
            data = pq.read_table(file, columns=list(columns))
    except (pa.ArrowException, OSError, ValueError, csv.Error, KeyError) as err:
        raise ExportError(
            f"{file}: cannot read columns {', '.join(columns)} of the {table.name} table: {err}"
        ) from None
    return pd.DataFrame(
        {c: _as_text(data.column(c), file, table.column(c)) for c in columns},
        index=pd.RangeIndex(data.num_rows),
    )


def _load(file: Path, table: Table) -> tuple[pd.DataFrame, tuple[str, ...], tuple[str, ...]]:
    """Read one table's file as text columns in canonical order; also its extra and absent ones."""
    try:
        data = _read_csv(file) if file.suffix == ".csv" else pq.read_table(file)
    except (pa.ArrowException, OSError, ValueError, csv.Error) as err:
        raise ExportError(f"{file}: cannot be read as the {table.name} table: {err}") from None
    names: list[str] = list(data.column_names)
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ExportError(f"{file}: column(s) {', '.join(repeated)} appear more than once")
    missing = [c.name for c in table.columns if not c.nullable and c.name not in names]
    if missing:
        raise ExportError(
            f"{file}: missing required column(s) {', '.join(missing)} of the {table.name} table"
        )
    columns: dict[str, pd.Series] = {}
    for c in table.columns:
        if c.name in names:
            columns[c.name] = _as_text(data.column(c.name), file, c)
        else:  # an absent nullable column is read as all missing
            columns[c.name] = pd.Series([None] * data.num_rows, dtype="str")
    extra = tuple(n for n in names if n not in table.names)
    absent = tuple(n for n in table.names if n not in names)
    return pd.DataFrame(columns, index=pd.RangeIndex(data.num_rows)), extra, absent


def _read_csv(file: Path, columns: Sequence[str] | None = None) -> Any:
    """Read a CSV file (only ``columns``, if given) with every column as text; empty is null."""
    with file.open(newline="", encoding="utf-8-sig") as handle:
        header = next(csv.reader(handle), [])
    if columns is not None and (lacking := [c for c in columns if c not in header]):
        raise KeyError(f"no column {', '.join(lacking)}")
    convert = pacsv.ConvertOptions(
        column_types={name: pa.string() for name in header},
        null_values=[""],
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
        include_columns=None if columns is None else list(columns),
    )
    # Quoted cells may hold line breaks (free-text extra columns, say).
    parse = pacsv.ParseOptions(newlines_in_values=True)
    return pacsv.read_csv(file, parse_options=parse, convert_options=convert)


def _as_text(array: Any, file: Path, column: Column) -> pd.Series:
    """Normalise one Parquet or CSV column (any Arrow type) to text, as a CSV would hold it.

    Booleans become true/false, numbers their shortest exact decimal form, dates YYYY-MM-DD and
    midnight timestamps their date; blank strings and float NaN become null.
    """
    kind = array.type
    try:
        if pa.types.is_dictionary(kind):  # categoricals written by pandas and others
            array = array.cast(kind.value_type)
            kind = kind.value_type
        if pa.types.is_floating(kind):
            array = pc.if_else(pc.is_nan(array), pa.scalar(None, kind), array)
        if pa.types.is_timestamp(kind):
            day = pc.cast(array, pa.date32())
            midnight = pc.equal(pc.cast(day, kind), array)
            array = pc.if_else(midnight, pc.cast(day, pa.string()), pc.cast(array, pa.string()))
        elif not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
            array = pc.cast(array, pa.string())
    except pa.ArrowException as err:
        raise ExportError(
            f"{file}: column {column.name} has type {kind}, which cannot be read as "
            f"{column.allowed()}: {err}"
        ) from None
    blank = pc.equal(pc.utf8_trim_whitespace(array), "")
    array = pc.if_else(blank, pa.scalar(None, array.type), array)
    return pd.Series(array.to_pandas(), dtype="str")


# --- Checks -------------------------------------------------------------------------------------


def _check_table(
    file: Path, text: pd.DataFrame, table: Table, shared: frozenset[tuple[str, ...]]
) -> _Checked:
    """Check every column of one table, its key (``shared``: held elsewhere too), its midline."""
    parsed: dict[str, pd.Series] = {}
    problems: list[_Problem] = []
    for column in table.columns:
        parsed[column.name], found = _check_column(text[column.name], column)
        problems.extend(_Problem(mask, column.name, reason) for mask, reason in found)
    problems.extend(_key_problems(text, table, shared))
    problems.extend(_midline_problems(text, table))
    return _Checked(file, text, parsed, problems)


def _check_column(text: pd.Series, column: Column) -> tuple[pd.Series, list[tuple[Mask, str]]]:
    """Parse one text column; return its values and (rows, reason) for each rule broken.

    Each bad cell gets exactly one reason: the first of missing, malformed, out of range.
    """
    missing = text.isna().to_numpy()
    found: list[tuple[Mask, str]] = []
    if not column.nullable:
        found.append((missing, "missing value"))
    values: pd.Series = text
    match column.kind:
        case Kind.ENUM:
            codes = _index_in(text, column.values)
            # Built from codes: cheaper than casting the text to the categorical later. The
            # stubs type from_codes' dtype as CategoricalDtype[int]; dtype() gives the right one.
            categorical = pd.Categorical.from_codes(codes, dtype=dtype(column))  # type: ignore[arg-type]
            values = pd.Series(categorical, index=text.index)
            found.append((~missing & (codes < 0), "unknown value"))
        case Kind.FLOAT | Kind.INT:
            values, number_found = _check_number(text, missing, column)
            found.extend(number_found)
        case Kind.DATE:
            values, date_found = _check_date(text, missing)
            found.extend(date_found)
        case Kind.BOOL:
            lower = text.str.lower()
            true, false = _index_in(lower, _TRUE) >= 0, _index_in(lower, _FALSE) >= 0
            values = pd.Series(pd.arrays.BooleanArray(true, ~(true | false)), index=text.index)
            found.append((~missing & ~(true | false), "not a boolean"))
        case Kind.STRING:
            pass
    # Every reason names what was expected, in the contract's own words.
    return values, [(mask, f"{reason}; expected {column.allowed()}") for mask, reason in found]


def _check_number(
    text: pd.Series, missing: Mask, column: Column
) -> tuple[pd.Series, list[tuple[Mask, str]]]:
    """Parse a number column and check it is numeric, integral if need be, and in range."""
    numeric = text.str.fullmatch(_NUMBER).fillna(False).to_numpy(dtype=bool)
    cast = pc.cast(pa.array(text.where(numeric), type=pa.large_string()), pa.float64())
    values = np.asarray(cast.to_numpy(zero_copy_only=False), dtype=np.float64)
    found = [(~missing & ~numeric, "not a number")]
    ok = numeric.copy()
    if column.kind is Kind.INT:
        fraction = numeric & np.isfinite(values) & (values != np.floor(values))
        found.append((fraction, "not an integer"))
        ok &= ~fraction
    with np.errstate(invalid="ignore"):
        outside = ~np.isfinite(values)
        if column.minimum is not None:
            low = values <= column.minimum if column.exclusive_minimum else values < column.minimum
            outside |= low
        if column.maximum is not None:
            outside |= values > column.maximum
    found.append((ok & outside, "out of range"))
    return pd.Series(values, index=text.index), found


def _check_date(text: pd.Series, missing: Mask) -> tuple[pd.Series, list[tuple[Mask, str]]]:
    """Parse ISO YYYY-MM-DD dates and check pandas can hold them."""
    iso = text.str.fullmatch(_DATE).fillna(False).to_numpy(dtype=bool)
    dates = pd.to_datetime(text.where(iso), format=_DATE_FORMAT, errors="coerce")
    parsed = dates.notna().to_numpy()
    # The canonical dtype is datetime64[ns]: a date outside its span could not be stored.
    first, last = pd.Timestamp.min.ceil("D"), pd.Timestamp.max.floor("D")
    inside = ((dates >= first) & (dates <= last)).to_numpy()
    span = f"out of range (only {first:%Y-%m-%d} to {last:%Y-%m-%d} can be held)"
    found = [(~missing & ~parsed, "not a valid date"), (parsed & ~inside, span)]
    return dates.where(inside), found


def _key_problems(
    text: pd.DataFrame, table: Table, elsewhere: frozenset[tuple[str, ...]]
) -> list[_Problem]:
    """Reject every row whose key another row shares: which one is right is unknowable.

    ``elsewhere`` holds the keys that rows outside this file hold too.
    """
    if not table.key:
        return []
    keys = text[list(table.key)]
    mask = (keys.duplicated(keep=False) & keys.notna().all(axis=1)).to_numpy()
    if elsewhere:
        mask = mask | pd.MultiIndex.from_frame(keys).isin(list(elsewhere))
    if not mask.any():
        return []
    shared = keys[mask]
    value = shared[table.key[0]]
    for name in table.key[1:]:
        value = value + "/" + shared[name]
    reason = f"duplicated key ({', '.join(table.key)}): every row sharing it is rejected"
    return [_Problem(mask, None, reason, value.reindex(keys.index))]


def _midline_problems(text: pd.DataFrame, table: Table) -> list[_Problem]:
    """Reject side midline where the row's muscle (or region) is not a midline one."""
    enums = [c for c in table.columns if c.kind is Kind.ENUM]
    sides = [c.name for c in enums if MIDLINE in c.values]
    problems: list[_Problem] = []
    for allowed in (MIDLINE_MUSCLES, MIDLINE_REGIONS):
        # The column that says which muscle (or region) the row is about.
        for anchor in (c for c in enums if allowed <= set(c.values)):
            lateral = [v for v in anchor.values if v not in allowed]
            reason = (
                f"side {MIDLINE} is only allowed where {anchor.name} is one of "
                f"{', '.join(sorted(allowed))}"
            )
            for side in sides:
                midline = (text[side] == MIDLINE).to_numpy(dtype=bool)
                bad = midline & (_index_in(text[anchor.name], lateral) >= 0)
                problems.append(_Problem(bad, side, reason))
    return problems


def _parent_problems(text: pd.DataFrame, parent: _Checked, table: Table) -> list[_Problem]:
    """Reject child rows whose treatment is not in the parent file, or was rejected there."""
    ids = text[_ID]
    parent_ids = parent.text[_ID]
    known = _index_in(ids, parent_ids.dropna()) >= 0
    rejected = _index_in(ids, parent_ids[~_good(parent)].dropna()) >= 0
    name = table.parent
    return [
        _Problem(ids.notna().to_numpy() & ~known, _ID, f"{_ID} not found in the {name} file"),
        _Problem(rejected, _ID, f"its {name} row was rejected (see the {name} rejects)"),
    ]


def _index_in(text: pd.Series, values: Sequence[str] | pd.Series) -> npt.NDArray[np.intp]:
    """Position of each text value in ``values``; -1 where absent or missing.

    Done in Arrow: pandas' isin on Arrow-backed strings loops in Python over ``values``, which is
    slow for the parent table's ids.
    """
    value_set = pa.array(values, type=pa.large_string())
    found = pc.index_in(pa.array(text, type=pa.large_string()), value_set=value_set)
    return np.asarray(found.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.intp)


def _good(checked: _Checked) -> Mask:
    """Rows that broke no rule."""
    bad = np.zeros(len(checked.text), dtype=bool)
    for problem in checked.problems:
        bad |= problem.mask
    return ~bad


# --- Results ------------------------------------------------------------------------------------


def _good_rows(checked: _Checked, table: Table) -> pd.DataFrame:
    """The good rows of one table in canonical dtypes, with a fresh RangeIndex."""
    frame = pd.DataFrame(checked.parsed)[_good(checked)].reset_index(drop=True)
    return conform(frame, table)


def _rejects(checked: Mapping[str, _Checked], first_row: Mapping[str, int]) -> pd.DataFrame:
    """One row per violation, tables in contract order, rows in file order."""
    tables = [_table_rejects(name, c, first_row.get(name, 0)) for name, c in checked.items()]
    return rejects_table(tables)


def rejects_table(parts: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Rejects frames, in their order, as one rejects table (``REJECT_COLUMNS``; none: empty).

    ``row`` is int64 and every other column str, whatever the parts held.
    """
    frame = pd.concat([pd.DataFrame({c: [] for c in REJECT_COLUMNS}), *parts], ignore_index=True)
    return frame.astype({c: "int64" if c == "row" else "str" for c in REJECT_COLUMNS})


def _table_rejects(name: str, checked: _Checked, first_row: int) -> pd.DataFrame:
    """The rejects of one table, in row order (a row's violations in the order checked)."""
    parts: list[pd.DataFrame] = []
    for problem in checked.problems:
        rows = np.flatnonzero(problem.mask)
        value = problem.value if problem.value is not None else checked.text[problem.column]
        cells = (
            [name] * len(rows),
            rows + 1 + first_row,  # 1-based data row: what a person sees counting rows
            checked.text[_ID].iloc[rows].to_numpy(),
            [problem.column] * len(rows),
            value.iloc[rows].to_numpy(),
            [problem.reason] * len(rows),
        )
        parts.append(pd.DataFrame(dict(zip(REJECT_COLUMNS, cells, strict=True))))
    if not parts:
        return pd.DataFrame({c: [] for c in REJECT_COLUMNS})
    return pd.concat(parts).sort_values("row", kind="stable")


def _no_treatment_message(checked: _Checked) -> str:
    """Say why no treatment is valid, naming the file and the commonest reason."""
    n = len(checked.text)
    if n == 0:
        return f"{checked.file}: no treatment rows; nothing can be used"
    common = max(checked.problems, key=lambda p: int(p.mask.sum()))
    where = f"column {common.column}: " if common.column else ""
    return (
        f"{checked.file}: no valid treatment; all {n:,} rows were rejected "
        f"(most often {where}{common.reason})"
    )
