"""Benchmark: read_registry on a ~100k-treatment export, CSV vs Parquet, vs a naive row loop.

The export is the tiny hand-made one of tests/data/exports.py tiled with fresh ids (no simulator):
per treatment 12 injection points and 9 (region, side) durations, a follow-up for 80% of
treatments, and a few bad rows seeded so the quarantine paths run too. The alternative compared
against is the obvious one: a per-row Python loop over csv.DictReader, timed on a 10k-treatment
subset and extrapolated by rows per second.

Run: .venv/bin/python benchmarks/bench_validate.py
"""

from __future__ import annotations

import csv
import functools
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from timing import median_seconds  # benchmarks/timing.py (scripts run from their folder)

from data.contract import MIDLINE_MUSCLES, MIDLINE_REGIONS, TABLES, Kind
from data.registry import read_registry
from tests.data.exports import valid_tables

N_TREATMENTS = 100_000
N_SUBSET = 10_000
INJECTIONS_PER_TREATMENT = 12
DURATIONS_PER_TREATMENT = 9
FOLLOWUP_SHARE = 0.8
REPEATS = 3


def build_export(n: int) -> dict[str, pd.DataFrame]:
    """Tile the tiny export to ``n`` treatments with fresh ids, and seed a few bad rows."""
    tiny = valid_tables()
    ids = np.array([f"T{i:07d}" for i in range(n)], dtype=object)

    def tile(frame: pd.DataFrame, per: int, owners: np.ndarray) -> pd.DataFrame:
        """``per`` rows of ``frame`` (cycling through it) for each owner treatment."""
        rows = np.resize(np.arange(per) % len(frame), len(owners) * per)
        out = frame.iloc[rows].reset_index(drop=True)
        out["treatment_id"] = np.repeat(owners, per)
        return out

    treatments = tile(tiny["treatments"], 1, ids)
    treatments["patient_id"] = [f"P{i // 3:07d}" for i in range(n)]
    # The 12 (region, side) pairs of the tiny durations are distinct: the first 9 keep keys unique.
    injections = tile(tiny["injections"], INJECTIONS_PER_TREATMENT, ids)
    durations = tile(tiny["durations"], DURATIONS_PER_TREATMENT, ids)
    followups = tile(tiny["followups"], 1, ids[: int(n * FOLLOWUP_SHARE)])

    # A few bad rows: out of range, non-numeric, duplicated key, orphan, midline, bad date.
    treatments.loc[10, "age_years"] = "17"
    treatments.loc[20, "treatment_date"] = "2024-02-30"
    treatments.at[30, "treatment_id"] = str(treatments.at[31, "treatment_id"])
    injections.loc[100, "units"] = "abc"
    injections.loc[200, "side"] = "midline"
    injections.loc[300, "treatment_id"] = "T_orphan"
    durations.loc[100, "days"] = "0"
    durations.loc[200:201, ["region", "side"]] = ["forehead", "left"]
    followups.loc[50, "visible_asymmetry"] = "yes"
    tables = {"treatments": treatments, "injections": injections}
    return tables | {"followups": followups, "durations": durations}


def write(tables: dict[str, pd.DataFrame], folder: Path, fmt: str) -> Path:
    folder.mkdir(parents=True)
    for name, frame in tables.items():
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if fmt == "csv":
            pacsv.write_csv(table, folder / f"{name}.csv")
        else:
            pq.write_table(table, folder / f"{name}.parquet")
    return folder


def naive_validate(folder: Path) -> int:
    """The per-row alternative: csv.DictReader and Python checks cell by cell. Returns rejects."""
    rejects = 0
    treatment_ids: dict[str, bool] = {}
    for name, table in TABLES.items():
        seen: dict[tuple[str, ...], int] = {}
        with (folder / f"{name}.csv").open(newline="") as handle:
            for row in csv.DictReader(handle):
                ok = True
                for column in table.columns:
                    value = row.get(column.name, "")
                    if value == "":
                        ok &= column.nullable
                        continue
                    try:
                        if column.kind is Kind.ENUM:
                            ok &= value in column.values
                        elif column.kind in (Kind.FLOAT, Kind.INT):
                            number = float(value)
                            ok &= column.kind is Kind.FLOAT or number.is_integer()
                            if column.minimum is not None:
                                ok &= number > column.minimum or (
                                    number == column.minimum and not column.exclusive_minimum
                                )
                            if column.maximum is not None:
                                ok &= number <= column.maximum
                        elif column.kind is Kind.DATE:
                            date.fromisoformat(value)
                        elif column.kind is Kind.BOOL:
                            ok &= value.lower() in ("true", "false", "1", "0")
                    except ValueError:
                        ok = False
                if row.get("side") == "midline":
                    ok &= row.get("muscle", "procerus") in MIDLINE_MUSCLES
                    ok &= row.get("region", "glabella") in MIDLINE_REGIONS
                if table.parent is not None:
                    ok &= treatment_ids.get(row["treatment_id"], False)
                if table.key:
                    key = tuple(row[k] for k in table.key)
                    seen[key] = seen.get(key, 0) + 1
                else:
                    rejects += not ok
                if name == "treatments":
                    treatment_ids[row["treatment_id"]] = ok
        rejects += sum(count for count in seen.values() if count > 1)
    return rejects


def main() -> None:
    start = time.perf_counter()
    tables = build_export(N_TREATMENTS)
    rows = sum(len(frame) for frame in tables.values())
    subset = build_export(N_SUBSET)
    subset_rows = sum(len(frame) for frame in subset.values())
    sizes = ", ".join(f"{len(frame):,} {name}" for name, frame in tables.items())
    print(f"export: {sizes} ({rows:,} rows); built in {time.perf_counter() - start:.1f} s")

    with tempfile.TemporaryDirectory() as tmp:
        folders = {fmt: write(tables, Path(tmp) / fmt, fmt) for fmt in ("csv", "parquet")}
        small = write(subset, Path(tmp) / "subset", "csv")
        reg = read_registry(folders["csv"])
        bad_rows = len(reg.rejects.drop_duplicates(["table", "row"]))
        print(f"rejects: {len(reg.rejects):,} violations on {bad_rows:,} rows")
        seconds = {
            fmt: median_seconds(functools.partial(read_registry, folder), REPEATS)
            for fmt, folder in folders.items()
        }
        naive = median_seconds(lambda: naive_validate(small), REPEATS)

    naive_rate = subset_rows / naive
    print(f"\nread_registry, median of {REPEATS} runs, {rows:,} rows, 2 cores:")
    print(f"{'':<34}{'seconds':>10}{'rows/s':>14}{'vs naive':>10}")
    for fmt, s in seconds.items():
        print(
            f"{'vectorised, ' + fmt:<34}{s:>10.2f}{rows / s:>14,.0f}{rows / s / naive_rate:>9.1f}x"
        )
    naive_label = f"naive row loop, csv ({subset_rows:,} rows)"
    print(f"{naive_label:<34}{naive:>10.2f}{naive_rate:>14,.0f}{1:>9.1f}x")
    print(f"{'naive row loop, extrapolated':<34}{rows / naive_rate:>10.2f}{naive_rate:>14,.0f}")
    print(f"\nParquet vs CSV: {seconds['csv'] / seconds['parquet']:.1f}x faster")
    print(f"total benchmark time {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
