"""The prediction log: one row per answered request, written off the request path.

Rows go to an embedded SQLite file by default or to PostgreSQL given its URL (any SQLAlchemy
URL works; ``postgresql+psycopg://`` is the driver installed). A row holds no direct
identifier of the patient: the clinic, the model that answered, a SHA-256 of the request's
inputs (to find repeated requests without keeping them) and the outputs as JSON.

``PredictionLog.record`` only puts the entry on a bounded queue; one background thread takes
entries off it in batches and inserts each batch in one transaction. The writer lingers a moment
after the first entry of a batch (``LINGER_SECONDS``) so that a steady stream of single requests
costs a few transactions a second, not one each: the writer shares the server's CPU (and GIL).
A slow or unreachable database therefore never slows a prediction: the queue fills, further
entries are dropped and counted in ``failures``, and the service keeps answering. The log is an
audit trail, not the source of truth of any answer, so losing entries under overload is the
right trade.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

logger = logging.getLogger(__name__)

TABLE: Final = "predictions"
QUEUE_SIZE: Final = 10_000
"""Entries waiting at most; at a few hundred bytes each, a few MB of memory."""
BATCH_SIZE: Final = 500
"""Entries per insert at most: large enough to keep up, small enough for one transaction."""
LINGER_SECONDS: Final = 0.2
"""How long the writer waits for more entries after the first of a batch: how late a row lands."""
_POLL_SECONDS: Final = 0.5
"""How long the writer waits for an entry before it looks whether it should stop."""
_LOG_EVERY_SECONDS: Final = 60.0
"""Repeated failures are logged at most this often, so a dead database cannot flood the log."""

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


@dataclass(frozen=True)
class LogEntry:
    """One answered request.

    Attributes:
        request_id: Identifier of the request (the one in the response and the server log).
        clinic: The clinic whose key made the request.
        time: When it was answered (timezone-aware; stored in UTC, a naive time taken as UTC).
        model_name: The model that answered.
        model_version: Its version.
        input_sha256: Hex SHA-256 of the request's canonical inputs; never the inputs.
        outputs: The answer as JSON-able values (numpy scalars and arrays are accepted), or
            already as JSON text (bytes, UTF-8), stored as it is.
    """

    request_id: str
    clinic: str
    time: datetime
    model_name: str
    model_version: str
    input_sha256: str
    outputs: dict[str, Any] | bytes


def _plain(value: object) -> object:
    """JSON fallback for numpy values (an answer is built from numpy arrays)."""
    if isinstance(value, np.ndarray | np.generic):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _to_json(value: object) -> str:
    # allow_nan=False: NaN is not JSON, and PostgreSQL would refuse the whole batch for it.
    return json.dumps(value, allow_nan=False, default=_plain, separators=(",", ":"))


class _Json(str):
    """Outputs already serialised by the writer (checked one by one), inserted as they are."""


def _serialise(value: object) -> str:
    """The engine's JSON serialiser: text made by ``_write`` passes through, once serialised."""
    return value if isinstance(value, _Json) else _to_json(value)


def _describe(err: BaseException) -> str:
    """An error in a few words, without statement parameters (they hold request data)."""
    orig = getattr(err, "orig", None)  # the driver's own error inside SQLAlchemy's
    inner = orig if isinstance(orig, BaseException) else err
    text = str(inner).strip().splitlines()
    return f"{type(inner).__name__}: {text[0] if text else ''}"


class PredictionLog:
    """Prediction log writer: a bounded queue and one background thread.

    Use::

        log = PredictionLog("sqlite:///predictions.db")
        log.start()
        log.record(entry)  # from any thread, never blocks
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
                url, hide_parameters=True, pool_pre_ping=True, json_serializer=_serialise
            )
        except (ArgumentError, NoSuchModuleError, ImportError) as err:
            raise ValueError(f"prediction log URL: {err}") from None
        self._queue: queue.Queue[LogEntry | None] = queue.Queue(maxsize=queue_size)
        self._batch_size = batch_size
        self._lock = threading.Lock()
        self._written = 0
        self._failures = 0
        self._table_ready = False
        self._last_logged = -float("inf")
        self._stop = threading.Event()
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
        """Entries waiting in the queue (approximate)."""
        return self._queue.qsize()

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

    def record(self, entry: LogEntry) -> None:
        """Queue an entry for writing; never blocks, never raises.

        Args:
            entry: The answered request.
        """
        if self._stop.is_set():
            self._count_failures(1, "the prediction log is closed; an entry was dropped")
            return
        try:
            self._queue.put_nowait(entry)
        except queue.Full:
            self._count_failures(1, "the prediction log queue is full; an entry was dropped")

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued, stop the writer and release the database connections.

        Args:
            timeout: Seconds to wait for the writer; entries still queued after it are
                counted as failures.
        """
        self._stop.set()
        with_thread = self._thread is not None
        if self._thread is not None:
            # Wakes the writer at once rather than at its next poll; a full queue means it is busy
            # writing and will find the queue empty soon enough.
            with contextlib.suppress(queue.Full):
                self._queue.put_nowait(None)
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.warning(
                    "prediction log: writer still busy after %.1f s; giving up on it", timeout
                )
                return  # it still owns the engine; disposing would pull connections from it
        left = sum(1 for e in self._drain() if e is not None)
        if left:
            what = "never started" if not with_thread else "closed"
            self._count_failures(left, f"prediction log {what}: {left} entries not written")
        self._engine.dispose()

    # --- writer thread ---------------------------------------------------------------------------

    def _drain(self) -> list[LogEntry | None]:
        items: list[LogEntry | None] = []
        while True:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                return items

    def _run(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                if self._stop.is_set():
                    return
                continue
            if first is not None and self._queue.qsize() < self._batch_size:
                # Sleep rather than wait on the queue: a waiting reader is woken by every put,
                # and each wake-up takes the GIL from a request. close() ends the sleep.
                self._stop.wait(LINGER_SECONDS)
            batch = [first]
            while len(batch) < self._batch_size:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            entries = [e for e in batch if e is not None]
            if entries:
                try:
                    self._write(entries)
                except Exception as err:  # the writer must outlive any database error
                    self._count_failures(
                        len(entries), f"prediction log: write failed: {_describe(err)}"
                    )
            if self._stop.is_set() and self._queue.empty():
                return  # closing, and all is written: no need to wait out a poll

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

    def _write(self, entries: Sequence[LogEntry]) -> None:
        rows = []
        bad = 0
        for e in entries:
            try:
                # One by one, so one unserialisable answer costs one entry, not a batch.
                if isinstance(e.outputs, bytes):
                    outputs = _Json(e.outputs.decode())
                else:
                    outputs = _Json(_to_json(e.outputs))
            except (TypeError, ValueError):
                bad += 1
                continue
            rows.append(_row(e, outputs))
        if bad:
            self._count_failures(bad, f"prediction log: {bad} entries with outputs not JSON")
        if not rows:
            return
        if not self._ensure_table():
            self._count_failures(len(rows), None)
            return
        try:
            with self._engine.begin() as conn:
                conn.execute(predictions.insert(), rows)
        except Exception as err:
            self._count_failures(
                len(rows),
                f"prediction log: {len(rows)} entries not written to {self.url}: {_describe(err)}",
            )
            return
        with self._lock:
            self._written += len(rows)

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


def _row(e: LogEntry, outputs: _Json) -> dict[str, Any]:
    return {
        "request_id": e.request_id,
        "clinic": e.clinic,
        # UTC always: SQLite keeps no offset, so a local time would be ambiguous once stored.
        "time": e.time.astimezone(UTC) if e.time.tzinfo else e.time.replace(tzinfo=UTC),
        "model_name": e.model_name,
        "model_version": e.model_version,
        "input_sha256": e.input_sha256,
        "outputs": outputs,
    }
