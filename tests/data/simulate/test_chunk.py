"""Chunking: files written chunk by chunk equal the in-memory frames (``data.simulate.chunk``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from data.contract import (
    TABLES,
)
from data.simulate import simulate, simulate_frames
from data.simulate.tables import ALL_TABLES, schema, to_frame


def _read_back(folder: Path, fmt: str) -> dict[str, pd.DataFrame]:
    out = {}
    for stem, table in ALL_TABLES.items():
        path = folder / f"{stem}.{fmt}"
        if fmt == "parquet":
            data = pq.read_table(path)
        else:
            options = pacsv.ConvertOptions(column_types=schema(table), strings_can_be_null=True)
            data = pacsv.read_csv(path, convert_options=options)
        out[stem] = to_frame(table, data)
    return out


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_chunked_files_equal_the_in_memory_frames(tmp_path: Path, fmt: str) -> None:
    # 600 patients per chunk: 5000 treatments take several chunks (~1900 patients).
    report = simulate(5000, tmp_path, seed=2, fmt=fmt, chunk_patients=600)  # type: ignore[arg-type]
    assert report.n_patients > 3 * 600
    sim = simulate_frames(5000, seed=2, chunk_patients=600)
    files = _read_back(tmp_path, fmt)
    for name in TABLES:
        pd.testing.assert_frame_equal(files[name], sim.tables[name], check_index_type=False)
    for name, frame in sim.oracle.items():
        pd.testing.assert_frame_equal(files[f"oracle/{name}"], frame, check_index_type=False)
    assert report.n_treatments == 5000 == len(sim.tables["treatments"])
    assert report.n_injections == len(sim.tables["injections"])
    assert report.n_patients == sim.tables["treatments"]["patient_id"].nunique()
    # The same patients continue across chunk boundaries with consecutive ids.
    ids = sim.tables["treatments"]["patient_id"].str[1:].astype(int)
    assert (np.diff(ids.to_numpy()) >= 0).all() and ids.iloc[0] == 1
