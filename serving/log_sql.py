"""The prediction log's SQL sink: the ``predictions`` table and ``SqlSink`` (SQLite, PostgreSQL).

``SqlSink.write`` inserts many rows a statement: Core compiles ``insert(predictions).values([...])``
of the driver's rows a statement (``_DRIVERS``; and of each smaller power of two, for the rest of a
write: a handful of statements compiled once each), and the driver's cursor runs it with the rows'
values flattened, the full statements in one ``executemany``. The values are bound as the driver
takes them, converted once per batch where they are shared (the time stamp, by its column type's
own conversion), so no per-value Python runs between the writer's tuples and the driver.

Measured (``benchmarks/bench_log.py --inserts``: SQLite, writes of 500 rows of ~1.9 kB, CPU per
1,000 rows, three runs on this 2-core machine): this way 14.1-15.5 ms, Core's ``executemany``
22.2-24.1 (on SQLite a statement per row, each a hand-over of the GIL to the request threads),
Core's ``insertmanyvalues`` 27.1-28.7 (many rows a statement, but SQLite takes it only with
``RETURNING``, and Core processes each parameter); Core executing ``insert().values(rows)`` itself
cost some 100 ms in a first try (a bound parameter object per value, the statement compiled again
each call).

SQLite connections ask for a write-ahead log and, on a new file, 16 KiB pages
(``_SQLITE_PRAGMAS`` says why), and keep full synchronous commits: a committed row survives a power
cut. On PostgreSQL (``postgresql+psycopg://``) the outputs are JSONB, cast from the JSON text in
the server.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import chain, repeat
from typing import Any, Final, NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

from serving.log_record import LogBatch

logger = logging.getLogger(__name__)

TABLE: Final = "predictions"

_metadata = sa.MetaData()
predictions = sa.Table(
    TABLE,
    _metadata,
    # A surrogate key: a client-chosen request id repeated must not fail a whole batch.
    sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
    sa.Column("request_id", sa.String(128), nullable=False, index=True),
    sa.Column("clinic", sa.String(200), nullable=False),
    sa.Column("time", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("model_name", sa.String(200), nullable=False),
    sa.Column("model_version", sa.String(200), nullable=False),
    sa.Column("input_sha256", sa.String(64), nullable=False),
    sa.Column("outputs", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=False),
)
"""The log's table (created by the sink's first write when missing)."""

_COLUMNS: Final = tuple(c for c in predictions.columns if c.name != "id")
"""The columns a row gives, in the order of the row tuples ``SqlSink`` builds."""


class _Driver(NamedTuple):
    """How the sink binds rows for one database's driver."""

    paramstyle: str
    """Its positional parameter style: a statement's values go as one flat tuple."""
    rows: int
    """Rows per statement (the rest of a write in smaller ones, powers of two)."""


_DRIVERS: Final = {
    # 896 parameters, under the 999 of SQLite builds before 3.32. More rows a statement measured
    # no cheaper (500: the same CPU per row); fewer mean more hand-overs of the GIL (the driver
    # releases it around each statement it steps).
    "sqlite": _Driver("qmark", 128),
    # 49 parameters: psycopg turns a query's placeholders into PostgreSQL's in Python, and keeps
    # that only for queries of at most 50 (and 4 kB); a 128-row insert parsed again each time cost
    # more client CPU than one row a statement (measured: 38 against 32 ms per 1,000 answers).
    # Its executemany sends the statements down one pipeline.
    "postgresql": _Driver("format", 7),
}
"""The databases the sink writes to (the URL's backend), and how it binds rows for each."""

_SQLITE_PRAGMAS: Final = (
    # Rows are ~2 kB (mostly the outputs) and SQLite's default 4 KiB pages hold only two. Measured
    # with 4, 8, 16 and 32 KiB: 16 KiB pages cost 40% less CPU per row than 4 KiB on a small
    # file, and a fifth of theirs on a large one (300k rows: 5 against 26 ms per 1,000); 32 KiB
    # gained nothing more, and did worse for single requests, whose rows land all over the
    # request_id index. A file takes it only while it is still empty: an existing log keeps
    # its page size.
    "PRAGMA page_size = 16384",
    # Appends to one write-ahead file instead of creating, syncing and deleting a rollback
    # journal per transaction, and an auditor's query never blocks the writer (nor the reverse).
    # Stored in the file; needs a local file system (the -wal and -shm files lie beside it).
    "PRAGMA journal_mode = WAL",
    # SQLite's default, said so the write-ahead log cannot weaken it: every commit is synced, a
    # committed row survives a power cut. NORMAL would sync only at checkpoints: a few per cent
    # less of the log's CPU (measured), for losing the rows committed since the last checkpoint
    # to a power cut or an OS crash, a loss the log's docs do not accept.
    "PRAGMA synchronous = FULL",
)


def _sqlite_settings(dbapi_connection: Any, _record: object) -> None:
    """Connect hook of SQLite engines: ``_SQLITE_PRAGMAS`` on every new connection."""
    cursor = dbapi_connection.cursor()
    try:
        for pragma in _SQLITE_PRAGMAS:
            try:
                cursor.execute(pragma).fetchall()
            except Exception as err:  # e.g. WAL refused on a file another process holds
                # Only speed is lost: the log works in SQLite's defaults.
                logger.debug("prediction log: %s refused: %s", pragma, type(err).__name__)
    finally:
        cursor.close()


def _powers_of_two(n: int) -> list[int]:
    """``n`` as a sum of powers of two, largest first: statements for the rest of a write."""
    return [1 << b for b in reversed(range(n.bit_length())) if n >> b & 1]


def _utc(t: datetime) -> datetime:
    # UTC always: SQLite keeps no offset, so a local time would be ambiguous once stored.
    return t.astimezone(UTC) if t.tzinfo else t.replace(tzinfo=UTC)


class SqlSink:
    """Writes the log's batches to a SQL database as rows of ``predictions``, many a statement."""

    def __init__(self, url: str) -> None:
        """Make the engine; connects only on the first write.

        Args:
            url: SQLAlchemy URL of SQLite or PostgreSQL, e.g. ``sqlite:///predictions.db`` or
                ``postgresql+psycopg://user:password@host:5432/db``.

        Raises:
            ValueError: The URL is malformed, names another database, or a driver not installed.
        """
        try:
            backend = sa.make_url(url).get_backend_name()
            if backend not in _DRIVERS:
                raise ArgumentError(f"no SQL sink for {backend!r} (only {', '.join(_DRIVERS)})")
            self._driver = _DRIVERS[backend]
            # hide_parameters: an error message must not carry the outputs or hashes logged.
            self._engine = sa.create_engine(
                url, hide_parameters=True, pool_pre_ping=True, paramstyle=self._driver.paramstyle
            )
        except (ArgumentError, NoSuchModuleError, ImportError) as err:
            raise ValueError(f"prediction log URL: {err}") from None
        dialect = self._engine.dialect
        if dialect.name == "sqlite":
            sa.event.listen(self._engine, "connect", _sqlite_settings)
        for c in _COLUMNS:
            # The rows go to the driver as they are: only the time (shared by a batch, converted
            # once) and the outputs (JSON text already; the JSON type would encode it again) may
            # need what Core's parameter processing does. A driver needing more is refused here.
            if c.name not in ("time", "outputs") and c.type.dialect_impl(dialect).bind_processor(
                dialect
            ):
                raise ValueError(f"prediction log: {dialect.name} converts {c.name} values")
        time_type = predictions.c.time.type.dialect_impl(dialect)
        self._time = time_type.bind_processor(dialect)
        self._sql: dict[int, str] = {}
        self._table_ready = False
        self.name = self._engine.url.render_as_string(hide_password=True)
        """The database URL, password masked (fit for a log line)."""

    def write(self, batches: Sequence[LogBatch]) -> int:
        """Insert the batches' answers in one transaction; create the table first if missing.

        Args:
            batches: The answers; none only creates the table.

        Returns:
            Rows written: all answers but those whose outputs are not UTF-8.

        Raises:
            sqlalchemy.exc.SQLAlchemyError: The database failed; nothing of these was written.
        """
        if not self._table_ready:
            _metadata.create_all(self._engine, checkfirst=True)
            self._table_ready = True
        rows = self._rows(batches)
        if not rows:
            return 0
        k = self._driver.rows
        full = len(rows) - len(rows) % k
        with self._engine.begin() as conn:
            if full:  # one executemany of the full statements
                flat = [tuple(chain.from_iterable(rows[i : i + k])) for i in range(0, full, k)]
                conn.exec_driver_sql(self._insert(k), flat)
            start = full
            for size in _powers_of_two(len(rows) - full):
                conn.exec_driver_sql(
                    self._insert(size), tuple(chain.from_iterable(rows[start : start + size]))
                )
                start += size
        return len(rows)

    def close(self) -> None:
        """Release the database connections."""
        self._engine.dispose()

    def _insert(self, rows: int) -> str:
        """The insert of ``rows`` rows, compiled by Core for this database once."""
        sql = self._sql.get(rows)
        if sql is None:
            stmt = sa.insert(predictions).values(
                [
                    {c.name: sa.bindparam(f"{c.name}_{k}", type_=c.type) for c in _COLUMNS}
                    for k in range(rows)
                ]
            )
            compiled = stmt.compile(dialect=self._engine.dialect)
            order = [f"{c.name}_{k}" for k in range(rows) for c in _COLUMNS]
            if compiled.positiontup != order:  # a SQLAlchemy that compiles otherwise
                raise RuntimeError(f"the {rows}-row insert takes its parameters out of order")
            sql = self._sql[rows] = str(compiled)
        return sql

    def _rows(self, batches: Sequence[LogBatch]) -> list[tuple[Any, ...]]:
        """The rows of the batches, in ``_COLUMNS`` order, as the driver takes them."""
        rows: list[tuple[Any, ...]] = []
        for batch in batches:
            try:
                texts = [o.decode() for o in batch.outputs]
            except UnicodeDecodeError:  # rare: keep the others
                texts, keep = [], []
                for k, o in enumerate(batch.outputs):
                    with contextlib.suppress(UnicodeDecodeError):
                        texts.append(o.decode())
                        keep.append(k)
                batch = batch.take(keep)
            time = _utc(batch.time)
            # Built by zip, with what the answers share repeated: no per-row Python code.
            rows += zip(
                batch.request_ids,
                repeat(batch.clinic),
                repeat(self._time(time) if self._time else time),
                repeat(batch.model_name),
                repeat(batch.model_version),
                batch.input_sha256,
                texts,
                strict=False,  # the repeats are endless; the columns are checked equal
            )
        return rows
