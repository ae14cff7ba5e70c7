"""Writing simulated chunks to Parquet or CSV files, appending chunk by chunk.

With ``partitions``, each contract table is a folder of part files (``data.partitioned``): a
patient goes to part ``n % partitions``, n counting patients in the order they are simulated, and
their treatments' child rows with them; the oracle stays one file per table.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from data.contract import TABLES, TREATMENTS
from data.partitioned import part_name
from data.simulate.chunk import Chunk
from data.simulate.tables import ALL_TABLES, schema

Format = Literal["parquet", "csv"]


class _Sink:
    """One output file, opened with the table's schema, appended one chunk at a time."""

    def __init__(self, path: Path, stem: str, fmt: Format) -> None:
        self.path = path
        self.rows = 0
        s = schema(ALL_TABLES[stem])
        if fmt == "parquet":
            self._parquet: pq.ParquetWriter | None = pq.ParquetWriter(path, s, compression="zstd")
            self._csv: pacsv.CSVWriter | None = None
        else:
            self._parquet = None
            self._stream = pa.OSFile(str(path), "wb")
            # Arrow quotes a header's names; write a plain one, then unquoted values (ids and
            # enum strings never need quoting).
            self._stream.write((",".join(s.names) + "\n").encode())
            options = pacsv.WriteOptions(include_header=False, quoting_style="none")
            self._csv = pacsv.CSVWriter(self._stream, s, write_options=options)

    def write(self, table: pa.Table) -> None:
        self.rows += table.num_rows
        if self._parquet is not None:
            self._parquet.write_table(table)
        elif self._csv is not None:
            self._csv.write_table(table)

    def close(self) -> None:
        if self._parquet is not None:
            self._parquet.close()
        if self._csv is not None:
            self._csv.close()
            self._stream.close()


def _paths(out: Path, fmt: Format, partitions: int | None) -> dict[str, Path]:
    """The file of each table stem; a partitioned contract table's as ``STEM/part-NNNNN``."""
    paths: dict[str, Path] = {}
    for stem in ALL_TABLES:
        if partitions is None or stem not in TABLES:
            paths[stem] = out / f"{stem}.{fmt}"
        else:
            paths |= {
                f"{stem}/{part_name(k)}": out / stem / f"{part_name(k)}.{fmt}"
                for k in range(partitions)
            }
    return paths


def _split(chunk: Chunk, first_patient: int, partitions: int) -> dict[str, pa.Table]:
    """The chunk's contract tables cut into parts by patient (keys ``STEM/part-NNNNN``)."""
    treatments = chunk.tables[TREATMENTS.name]
    patient = pd.factorize(treatments.column("patient_id").to_numpy())[0]
    part_of = (first_patient + patient) % partitions
    ids = pd.Index(treatments.column(TREATMENTS.key[0]).to_numpy())
    out: dict[str, pa.Table] = {}
    for stem in TABLES:
        table = chunk.tables[stem]
        rows = part_of[ids.get_indexer(table.column(TREATMENTS.key[0]).to_numpy())]
        for k in range(partitions):
            out[f"{stem}/{part_name(k)}"] = table.filter(pa.array(rows == k))
    return out


def write_chunks(
    chunks: Iterable[Chunk], out: Path, fmt: Format, partitions: int | None = None
) -> tuple[dict[str, int], int, tuple[Path, ...]]:
    """Write every chunk's tables under ``out`` as ``STEM.fmt`` (oracle tables in ``oracle/``).

    Args:
        chunks: The simulated chunks.
        out: Output folder.
        fmt: File format.
        partitions: Write each contract table as this many part files, by patient (see the
            module docstring); None: one file per table.

    Returns:
        Rows written per table stem, the number of patients, and the files written.
    """
    paths = _paths(out, fmt, partitions)
    for path in paths.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    sinks: dict[str, _Sink] = {}
    patients = 0
    try:
        for key, path in paths.items():
            sinks[key] = _Sink(path, key.split("/part-")[0], fmt)
        for chunk in chunks:
            tables = dict(chunk.tables)
            if partitions is not None:
                tables = {k: v for k, v in tables.items() if k not in TABLES}
                tables |= _split(chunk, patients, partitions)
            patients += chunk.n_patients
            for key, table in tables.items():
                sinks[key].write(table)
    finally:
        for sink in sinks.values():
            sink.close()
    rows = {stem: 0 for stem in ALL_TABLES}
    for key, sink in sinks.items():
        rows[key.split("/part-")[0]] += sink.rows
    return rows, patients, tuple(paths.values())
