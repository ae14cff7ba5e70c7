"""The prediction log: one row per answered request, written off the request path.

Rows go to an embedded SQLite file by default or to PostgreSQL given its URL (any SQLAlchemy
URL works; ``postgresql+psycopg://`` is the driver installed). A row holds no direct
identifier of the patient: the clinic, the model that answered, a SHA-256 of the request's
inputs (to find repeated requests without keeping them) and the outputs as JSON.

``PredictionLog.record_many`` queues the answers of one call as one ``LogBatch`` (columns: a
thousand answers are one queue item with one time stamp, not a thousand), their outputs already
JSON text. It does not write: one background thread takes batches off a queue bounded in entries
(answers, not batches) and inserts up to ``BATCH_SIZE`` rows in one transaction. The writer
lingers a moment after the first entry of a batch (``LINGER_SECONDS``), unless a batch's worth is
already waiting, so that a steady stream of single requests costs a few transactions a second,
not one each: the writer shares the server's CPU (and GIL). A slow or unreachable database
therefore never slows a prediction: the queue fills, further entries are dropped and counted in
``failures``, and the service keeps answering. The log is an audit trail, not the source of truth
of any answer, so losing entries under overload is the right trade. Entries still queued when the
process dies are lost too (in normal running the last ``LINGER_SECONDS`` of answers); committed
rows are not.

The insert is the one SQLAlchemy compiles from ``predictions``, run through the driver's own
``executemany`` (``exec_driver_sql``) on SQLite (its values repeated for ``ROWS_PER_STATEMENT``
rows a statement, the rows' plain tuples flattened, the time stamp put in SQLAlchemy's storage
format once per batch) and on PostgreSQL with psycopg (a dict per row, the JSON text cast to JSONB
by the statement): Core's per-row parameter processing costs about as much as SQLite's own work
(``benchmarks/bench_log.py``). Other databases take Core's ``insert``, the
JSON text passed on as it is (``_json_as_is``). Each SQLite connection asks for a write-ahead log
and, on a new file, 16 KiB pages (``_SQLITE_PRAGMAS`` says why), and keeps full synchronous
commits: a committed row survives a power cut.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import chain, repeat
from typing import Any, Final, NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

logger = logging.getLogger(__name__)

TABLE: Final = "predictions"
QUEUE_SIZE: Final = 10_000
"""Entries waiting at most; at a couple of kB each, some 20 MB of memory."""
BATCH_SIZE: Final = 500
"""Entries per insert at most: large enough to keep up, small enough for one transaction."""
LINGER_SECONDS: Final = 0.2
"""How long the writer waits for more entries after the first of a batch: how late a row lands."""
_LOG_EVERY_SECONDS: Final = 60.0
"""Repeated failures are logged at most this often, so a dead database cannot flood the log."""

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

_COLUMNS: Final = (
    "request_id",
    "clinic",
    "time",
    "model_name",
    "model_version",
    "input_sha256",
    "outputs",
)
"""The columns a row gives, in the order of the row tuples the writer builds."""
_SQLITE_MAX_PARAMETERS: Final = 999
"""Parameters one SQLite statement may have, in builds older than 3.32 (newer: 32,766)."""
ROWS_PER_STATEMENT: Final = _SQLITE_MAX_PARAMETERS // len(_COLUMNS)
"""Rows per multi-row insert on SQLite (142 of 7 columns). The driver releases the GIL around each
statement it steps: one statement per row meant a thousand hand-overs of the GIL per batch call to
threads busy with requests, each costing both sides a wake-up (``benchmarks/bench_log.py
--busy``)."""

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
"""The log's table (created by ``PredictionLog.start`` when missing)."""


@dataclass(frozen=True, slots=True)
class LogBatch:
    """The answers of one call, as columns: one row each, one queue item for them all.

    What the answers share (clinic, time, model) is given once; the rest one item per answer,
    in the same order.

    Attributes:
        request_ids: Identifier of each answer's request.
        clinic: The clinic whose key made the call.
        time: When they were answered (timezone-aware; stored in UTC, a naive time taken
            as UTC).
        model_name: The model that answered.
        model_version: Its version.
        input_sha256: Hex SHA-256 of each request's canonical inputs; never the inputs.
        outputs: Each answer as JSON text (bytes, UTF-8, e.g. from ``orjson.dumps``), stored as
            it is.

    Raises:
        ValueError: The per-answer columns differ in length.
    """

    request_ids: Sequence[str]
    clinic: str
    time: datetime
    model_name: str
    model_version: str
    input_sha256: Sequence[str]
    outputs: Sequence[bytes]

    def __post_init__(self) -> None:
        lengths = {len(self.request_ids), len(self.input_sha256), len(self.outputs)}
        if len(lengths) != 1:
            raise ValueError(f"LogBatch columns differ in length: {sorted(lengths)}")

    def __len__(self) -> int:
        return len(self.request_ids)

    def _take(self, at: slice | list[int]) -> LogBatch:
        """The answers at ``at`` (a slice or positions), the shared fields as they are."""
        if isinstance(at, slice):
            return dataclasses.replace(
                self,
                request_ids=self.request_ids[at],
                input_sha256=self.input_sha256[at],
                outputs=self.outputs[at],
            )
        return dataclasses.replace(
            self,
            request_ids=[self.request_ids[k] for k in at],
            input_sha256=[self.input_sha256[k] for k in at],
            outputs=[self.outputs[k] for k in at],
        )

    def _split(self, n: int) -> tuple[LogBatch, LogBatch]:
        """The first ``n`` answers and the rest (for one insert, or the room left in the queue)."""
        return self._take(slice(None, n)), self._take(slice(n, None))


_Row = tuple[str, str, Any, str, str, str, str]
"""A row as the writer inserts it, in ``_COLUMNS`` order; the time already as the database takes
it, the outputs as JSON text."""


def _json_as_is(text: str) -> str:
    """The engine's JSON serialiser: the writer binds outputs already as JSON text.

    Only Core's insert (databases without the driver path) calls it, through the ``outputs``
    column's JSON type, which would otherwise serialise the text again, into a JSON string of it.
    The engine binds nothing else to a JSON column.
    """
    return text


def _utc(t: datetime) -> datetime:
    # UTC always: SQLite keeps no offset, so a local time would be ambiguous once stored.
    return t.astimezone(UTC) if t.tzinfo else t.replace(tzinfo=UTC)


def _describe(err: BaseException) -> str:
    """An error in a few words, without statement parameters (they hold request data)."""
    orig = getattr(err, "orig", None)  # the driver's own error inside SQLAlchemy's
    inner = orig if isinstance(orig, BaseException) else err
    text = str(inner).strip().splitlines()
    return f"{type(inner).__name__}: {text[0] if text else ''}"


def _decodable(batch: LogBatch) -> tuple[LogBatch, list[str]]:
    """The answers of a batch whose outputs are UTF-8, and those outputs as text."""
    keep: list[int] = []
    texts: list[str] = []
    for k, o in enumerate(batch.outputs):
        with contextlib.suppress(UnicodeDecodeError):
            texts.append(o.decode())
            keep.append(k)
    return batch._take(keep), texts


class _DriverInsert(NamedTuple):
    """The insert for the driver's own ``executemany`` (see ``_driver_insert``)."""

    sql: str
    """The insert of one row."""
    named: bool
    """Parameters by name (a dict per row), else by position (row tuples, ``rows`` a statement)."""
    rows: int
    """Rows per statement: by position, ``sql`` made to insert several (``_rows_sql``)."""
    time: Callable[[datetime], Any] | None
    """The time column type's own conversion, applied once per batch; None: none needed."""


@functools.cache
def _rows_sql(sql: str, rows: int) -> str:
    """A one-row ``INSERT ... VALUES (...)`` made to insert ``rows`` rows: its tuple repeated."""
    if rows == 1:
        return sql
    head, values_kw, values = sql.partition(" VALUES ")
    if not values_kw or not values.startswith("(") or not values.endswith(")"):
        raise ValueError(f"not a one-row insert: {sql}")  # a SQLAlchemy that compiles otherwise
    return head + values_kw + ", ".join([values] * rows)


def _driver_insert(dialect: sa.Dialect) -> _DriverInsert | None:
    """The insert of ``predictions`` compiled for the driver's ``executemany``, where it is known.

    The statement is still SQLAlchemy's (compiled from the table); what the driver path skips is
    Core's per-row parameter processing, so it is taken only where the rows the writer builds are
    exactly what that processing would hand the driver. None: Core's insert.
    """
    # inline: no RETURNING of the new ids, which an executemany would not want anyway.
    compiled = predictions.insert().inline().compile(dialect=dialect, column_keys=list(_COLUMNS))
    sql = str(compiled)
    time_type = predictions.c.time.type.dialect_impl(dialect)
    to_db = time_type.bind_processor(dialect)
    sqlite = dialect.name == "sqlite" and compiled.positiontup == list(_COLUMNS)
    if sqlite and to_db is not None:
        # pysqlite: ? placeholders in column order; JSON is text there, and a time stamp is text
        # in the type's storage format. Several rows per statement (ROWS_PER_STATEMENT), if the
        # statement is the one-row VALUES insert that ``_rows_sql`` can repeat; else one a row.
        try:
            _rows_sql(sql, ROWS_PER_STATEMENT)
        except ValueError:
            return _DriverInsert(sql, named=False, time=to_db, rows=1)
        return _DriverInsert(sql, named=False, time=to_db, rows=ROWS_PER_STATEMENT)
    psycopg = dialect.name == "postgresql" and dialect.driver == "psycopg"
    if psycopg and "%(outputs)s::JSONB" in sql and to_db is None:
        # psycopg: named placeholders, each cast to its column's type, so the JSON text turns
        # into JSONB in the server (measured: 16 against 11 ms per 1,000 rows of client CPU).
        return _DriverInsert(sql, named=True, time=None, rows=1)
    return None


def _sqlite_settings(dbapi_connection: Any, _record: object) -> None:
    """Connect hook of SQLite engines: ``_SQLITE_PRAGMAS`` on every new connection."""
    cursor = dbapi_connection.cursor()
    try:
        for pragma in _SQLITE_PRAGMAS:
            try:
                cursor.execute(pragma).fetchall()
            except Exception as err:  # e.g. WAL refused on a file another process holds
                # Only speed is lost: the log works in SQLite's defaults as it did before.
                logger.debug("prediction log: %s refused: %s", pragma, _describe(err))
    finally:
        cursor.close()


class PredictionLog:
    """Prediction log writer: a bounded queue and one background thread.

    Use::

        log = PredictionLog("sqlite:///predictions.db")
        log.start()
        log.record_many(batch)  # from any thread, never blocks
        log.close()
    """

    def __init__(
        self, url: str, *, queue_size: int = QUEUE_SIZE, batch_size: int = BATCH_SIZE
    ) -> None:
        """Make the engine; connects only in ``start``.

        Args:
            url: SQLAlchemy URL, e.g. ``sqlite:///predictions.db`` or
                ``postgresql+psycopg://user:password@host:5432/db``.
            queue_size: Entries waiting at most; more are dropped and counted.
            batch_size: Entries per insert at most.

        Raises:
            ValueError: The URL is malformed or names a database with no installed driver.
        """
        try:
            # hide_parameters: an error message must not carry the outputs or hashes logged.
            self._engine = sa.create_engine(
                url, hide_parameters=True, pool_pre_ping=True, json_serializer=_json_as_is
            )
        except (ArgumentError, NoSuchModuleError, ImportError) as err:
            raise ValueError(f"prediction log URL: {err}") from None
        if self._engine.dialect.name == "sqlite":
            sa.event.listen(self._engine, "connect", _sqlite_settings)
        self._driver = _driver_insert(self._engine.dialect)
        self._capacity = queue_size
        self._batch_size = batch_size
        # The queue: batches, the entries they hold, and whether it still takes any. One lock for
        # all three; the writer waits on it for work, woken only when the queue stops being
        # empty, fills a batch, or closes (a wake-up per entry would take the GIL from requests).
        self._items: deque[LogBatch] = deque()
        self._pending = 0
        self._closed = False
        self._queue = threading.Condition(threading.Lock())
        self._lock = threading.Lock()  # the counters below
        self._written = 0
        self._failures = 0
        self._last_logged = -float("inf")
        self._table_ready = False
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The database URL, password masked (fit for a log line)."""
        return self._engine.url.render_as_string(hide_password=True)

    @property
    def written(self) -> int:
        """Entries written so far."""
        with self._lock:
            return self._written

    @property
    def failures(self) -> int:
        """Entries lost so far: dropped on a full queue or after close, or not written."""
        with self._lock:
            return self._failures

    @property
    def pending(self) -> int:
        """Entries waiting in the queue (approximate: read without the lock)."""
        return self._pending

    def start(self) -> None:
        """Create the table if needed and start the writer thread.

        A database that cannot be reached now is logged, not raised: the writer tries again
        before each batch, so the service starts and the log catches up once it is back.
        Calling it again does nothing.
        """
        if self._thread is not None:
            return
        self._ensure_table()
        self._thread = threading.Thread(target=self._run, name="prediction-log-writer", daemon=True)
        self._thread.start()

    def record_many(self, batch: LogBatch) -> None:
        """Queue the answers of one call for writing, as one item; never blocks, never raises.

        What does not fit in the queue is dropped and counted; the answers that fit (the first
        ones) are kept. An empty batch does nothing.

        Args:
            batch: The answers, as columns.
        """
        n = len(batch)
        if n == 0:
            return
        with self._queue:
            room = 0 if self._closed else self._capacity - self._pending
            kept = min(n, max(room, 0))
            if kept:
                before = self._pending
                self._items.append(batch if kept == n else batch._split(kept)[0])
                self._pending = before + kept
                # Wake the writer only when it has something new to do: the first entry (it
                # lingers, then writes) or a full batch (it stops lingering).
                if before == 0 or before < self._batch_size <= self._pending:
                    self._queue.notify()
            closed = self._closed
        if kept < n:
            why = "is closed" if closed else "queue is full"
            self._count_failures(
                n - kept, f"the prediction log {why}; {n - kept} entries were dropped"
            )

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued, stop the writer and release the database connections.

        Args:
            timeout: Seconds to wait for the writer; entries still queued after it are
                counted as failures.
        """
        with self._queue:
            self._closed = True  # from now on entries are refused and counted
            self._queue.notify_all()  # ends the writer's wait or linger at once
        with_thread = self._thread is not None
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.warning(
                    "prediction log: writer still busy after %.1f s; giving up on it", timeout
                )
                return  # it still owns the engine; disposing would pull connections from it
        with self._queue:
            left = self._pending
            self._items.clear()
            self._pending = 0
        if left:
            what = "never started" if not with_thread else "closed"
            self._count_failures(left, f"prediction log {what}: {left} entries not written")
        self._engine.dispose()

    # --- writer thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._queue:
                while not self._items and not self._closed:
                    self._queue.wait()
                if not self._items:
                    return  # closed, and all is written
                if self._pending < self._batch_size and not self._closed:
                    # Gather more: woken early by a full batch or close. A wait on the lock
                    # rather than a sleep, yet no put wakes it but those.
                    self._queue.wait(LINGER_SECONDS)
                items = self._take(self._batch_size)
            try:
                self._write(items)
            except Exception as err:  # the writer must outlive any error
                n = sum(map(len, items))
                self._count_failures(n, f"prediction log: write failed: {_describe(err)}")

    def _take(self, limit: int) -> list[LogBatch]:
        """Up to ``limit`` entries off the queue, splitting a batch that would overfill them.

        Called with the queue's lock held.
        """
        items: list[LogBatch] = []
        n = 0
        while self._items and n < limit:
            item = self._items.popleft()
            size = len(item)
            if n + size > limit:
                item, rest = item._split(limit - n)
                self._items.appendleft(rest)
                size = limit - n
            items.append(item)
            n += size
        self._pending -= n
        return items

    def _ensure_table(self) -> bool:
        if self._table_ready:
            return True
        try:
            _metadata.create_all(self._engine, checkfirst=True)
        except Exception as err:
            self._log_problem(
                f"prediction log: cannot create table {TABLE} at {self.url}: {_describe(err)}"
            )
            return False
        self._table_ready = True
        return True

    def _db_time(self, t: datetime) -> Any:
        """A time stamp as the insert takes it: SQLite's text on the fast path, else a datetime."""
        utc = _utc(t)
        if self._driver is None or self._driver.time is None:
            return utc
        return self._driver.time(utc)

    def _rows(self, batches: Sequence[LogBatch]) -> tuple[list[_Row], int]:
        """The rows of queued batches, and how many entries had outputs that are not UTF-8."""
        rows: list[_Row] = []
        bad = 0
        for batch in batches:
            try:
                texts = [o.decode() for o in batch.outputs]
            except UnicodeDecodeError:  # rare: keep the others
                kept, texts = _decodable(batch)
                bad += len(batch) - len(kept)
                batch = kept
            # Built by zip, with what the answers share repeated: no per-row Python code.
            rows += zip(
                batch.request_ids,
                repeat(batch.clinic),
                repeat(self._db_time(batch.time)),
                repeat(batch.model_name),
                repeat(batch.model_version),
                batch.input_sha256,
                texts,
                strict=False,  # the repeats are endless; the columns are checked equal
            )
        return rows, bad

    def _write(self, batches: Sequence[LogBatch]) -> None:
        rows, bad = self._rows(batches)
        if bad:
            self._count_failures(bad, f"prediction log: {bad} entries with outputs not UTF-8")
        if not rows:
            return
        if not self._ensure_table():
            self._count_failures(len(rows), None)
            return
        try:
            with self._engine.begin() as conn:
                if self._driver is not None and not self._driver.named:
                    self._insert_rows(conn, self._driver, rows)
                else:
                    params = [dict(zip(_COLUMNS, r, strict=True)) for r in rows]
                    if self._driver is None:  # Core's: the JSON text through _json_as_is
                        conn.execute(predictions.insert(), params)
                    else:
                        conn.exec_driver_sql(self._driver.sql, params)
        except Exception as err:
            self._count_failures(
                len(rows),
                f"prediction log: {len(rows)} entries not written to {self.url}: {_describe(err)}",
            )
            return
        with self._lock:
            self._written += len(rows)

    @staticmethod
    def _insert_rows(conn: sa.Connection, driver: _DriverInsert, rows: list[_Row]) -> None:
        """Insert by position, ``driver.rows`` rows per statement, then the rest in one."""
        k = driver.rows
        full = len(rows) - len(rows) % k
        if full:
            flat = [tuple(chain.from_iterable(rows[i : i + k])) for i in range(0, full, k)]
            conn.exec_driver_sql(_rows_sql(driver.sql, k), flat)
        if full < len(rows):
            rest = rows[full:]
            conn.exec_driver_sql(_rows_sql(driver.sql, len(rest)), tuple(chain.from_iterable(rest)))

    def _count_failures(self, n: int, message: str | None) -> None:
        with self._lock:
            self._failures += n
        if message is not None:
            self._log_problem(message)

    def _log_problem(self, message: str) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last_logged < _LOG_EVERY_SECONDS:
                return
            self._last_logged = now
            total = self._failures
        logger.error("%s (%d entries lost so far)", message, total)
