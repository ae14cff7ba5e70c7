"""Writing simulated chunks to Parquet or CSV files, appending chunk by chunk."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

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


def write_chunks(chunks: Iterable[Chunk], out: Path, fmt: Format) -> tuple[dict[str, int], int]:
    """Write every chunk's tables under ``out`` as ``STEM.fmt`` (oracle tables in ``oracle/``).

    Returns:
        Rows written per table stem, and the number of patients.
    """
    (out / "oracle").mkdir(parents=True, exist_ok=True)
    sinks: dict[str, _Sink] = {}
    patients = 0
    try:
        for stem in ALL_TABLES:
            sinks[stem] = _Sink(out / f"{stem}.{fmt}", stem, fmt)
        for chunk in chunks:
            patients += chunk.n_patients
            for stem, table in chunk.tables.items():
                sinks[stem].write(table)
    finally:
        for sink in sinks.values():
            sink.close()
    return {stem: sink.rows for stem, sink in sinks.items()}, patients
