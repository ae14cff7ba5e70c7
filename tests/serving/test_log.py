"""Prediction log: rows really written to SQLite and PostgreSQL, never at the caller's expense.

The PostgreSQL cases run against a real throwaway server (``initdb`` + ``pg_ctl`` in a temporary
folder) when the server binaries are installed, and are skipped, saying why, when they are not;
with ``CI`` set in the environment they fail instead: the gate must run them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa

import serving.log
from data.contract import TABLES
from serving.log import LogBatch, PredictionLog
from serving.log_sql import TABLE, predictions
from tests.postgres import free_port


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'predictions.db'}"
    pg: str = request.getfixturevalue("postgres_url")
    engine = sa.create_engine(pg)
    with engine.begin() as conn:  # the server is shared by the session: start each test empty
        conn.execute(sa.text(f"DROP TABLE IF EXISTS {TABLE}"))
    engine.dispose()
    return pg


# --- helpers -------------------------------------------------------------------------------------

T0 = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
ANSWER = {"asymmetry_risk": 0.125, "median_days": {"forehead/left": 101.5}}


def _batch(start: int, n: int, time: datetime = T0) -> LogBatch:
    """Answers start .. start + n - 1 of one call, as ``PredictionService.predict`` logs them."""
    return LogBatch(
        request_ids=[f"req-{i}" for i in range(start, start + n)],
        clinic="south",
        time=time,
        model_name="asym",
        model_version="4",
        input_sha256=[f"{i:064x}" for i in range(start, start + n)],
        outputs=[orjson.dumps({**ANSWER, "i": i}) for i in range(start, start + n)],
    )


def _one(i: int, outputs: bytes | None = None) -> LogBatch:
    """A call of one answer (request ``i``), from another clinic and at a time of its own."""
    one = _batch(i, 1, time=T0 + timedelta(seconds=i))
    one = dataclasses.replace(one, clinic="north", model_version="3")
    return one if outputs is None else dataclasses.replace(one, outputs=[outputs])


def _rows(url: str) -> list[sa.Row[tuple[object, ...]]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.select(predictions).order_by(predictions.c.request_id)))
    finally:
        engine.dispose()


def _wait(condition: object, seconds: float = 10.0) -> None:
    end = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < end, "timed out"
        time.sleep(0.01)


@contextlib.contextmanager
def _locked(url: str) -> Iterator[None]:
    """Hold the log table locked from another connection: every write waits until release."""
    if url.startswith("sqlite"):
        raw = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        raw.execute("BEGIN EXCLUSIVE")
        try:
            yield
        finally:
            raw.execute("ROLLBACK")
            raw.close()
        return
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f"LOCK TABLE {TABLE} IN ACCESS EXCLUSIVE MODE"))
            try:
                yield
            finally:
                conn.rollback()
    finally:
        engine.dispose()


# --- tests ---------------------------------------------------------------------------------------

CALLERS_TEXT = b'{"risk":0.25,"band":"moderate"}'
"""Outputs as a caller's serialiser wrote them (compact): stored as they are."""


def _write_a_mix(log: PredictionLog) -> None:
    log.start()
    log.record_many(_one(0))
    log.record_many(_batch(1, 20))
    # Any time zone is stored as UTC; a naive time is taken as UTC.
    log.record_many(_batch(21, 3, time=T0.astimezone(timezone(timedelta(hours=2)))))
    log.record_many(_one(24, CALLERS_TEXT))
    log.record_many(_batch(25, 2, time=T0.replace(tzinfo=None)))
    log.record_many(_batch(27, 0))  # nothing to log: nothing happens
    log.close()
    assert (log.written, log.failures) == (27, 0)


def _check_the_mix(url: str) -> None:
    rows = _rows(url)
    assert len(rows) == 27
    # Nothing that identifies a patient: no column of the registry's (no patient id, dates, age,
    # sex, injection points...), the inputs only as a hash; the clinic and the model.
    columns = set(rows[0]._mapping)
    assert columns == {c.name for c in predictions.columns}
    assert columns.isdisjoint(c.name for t in TABLES.values() for c in t.columns)
    # Rows land in the order they were recorded (the surrogate key counts up).
    by_key = sorted(rows, key=lambda r: r.id)
    assert [r.request_id for r in by_key] == [f"req-{i}" for i in range(27)]
    for r in by_key:
        i = int(r.request_id.removeprefix("req-"))
        single = i in (0, 24)
        assert (r.clinic, r.model_name, r.model_version) == (
            ("north", "asym", "3") if single else ("south", "asym", "4")
        )
        assert r.input_sha256 == f"{i:064x}"
        stamp = r.time if isinstance(r.time, datetime) else datetime.fromisoformat(r.time)
        expected = T0 + timedelta(seconds=i) if single else T0
        assert stamp.replace(tzinfo=stamp.tzinfo or UTC) == expected
        assert r.outputs == (orjson.loads(CALLERS_TEXT) if i == 24 else {**ANSWER, "i": i})

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            if url.startswith("postgresql"):
                # Still JSONB there, and JSON objects, not JSON strings of their text.
                kind = conn.execute(
                    sa.text(f"SELECT DISTINCT jsonb_typeof(outputs) FROM {TABLE}")
                ).scalar_one()
                assert kind == "object"
                query = f"SELECT (outputs->>'i')::int FROM {TABLE} WHERE request_id = 'req-5'"
            else:
                # Text, not a blob: SQLite's JSON functions read it. The caller's text as it is.
                kind = conn.execute(
                    sa.text(f"SELECT DISTINCT typeof(outputs) FROM {TABLE}")
                ).scalar_one()
                assert kind == "text"
                text = f"SELECT outputs FROM {TABLE} WHERE request_id = 'req-24'"
                assert conn.execute(sa.text(text)).scalar_one() == CALLERS_TEXT.decode()
                query = (
                    f"SELECT json_extract(outputs, '$.i') FROM {TABLE} WHERE request_id = 'req-5'"
                )
            assert conn.execute(sa.text(query)).scalar_one() == 5
    finally:
        engine.dispose()


def test_answers_are_written_as_rows(url: str) -> None:
    _write_a_mix(PredictionLog(url))
    _check_the_mix(url)


def test_writes_of_many_rows_keep_every_value_in_its_place(url: str) -> None:
    # Rows go many a statement: a value shifted by one parameter would land in another row or
    # column. Calls of sizes around any statement's: one, a few, hundreds, and over a write's
    # worth (the writer gathers up to batch_size entries, a call whole).
    log = PredictionLog(url, batch_size=300)
    sizes = [1, 127, 128, 129, 3, 255, 1000, 2, 511]
    log.start()
    start = 0
    for n in sizes:
        log.record_many(_batch(start, n, time=T0 + timedelta(minutes=n)))
        start += n
    log.close()
    assert (log.written, log.failures) == (start, 0)
    rows = sorted(_rows(url), key=lambda r: r.id)
    assert [r.request_id for r in rows] == [f"req-{i}" for i in range(start)]
    assert [r.input_sha256 for r in rows] == [f"{i:064x}" for i in range(start)]
    assert [r.outputs for r in rows] == [{**ANSWER, "i": i} for i in range(start)]
    assert {(r.clinic, r.model_name, r.model_version) for r in rows} == {("south", "asym", "4")}
    stamps = [
        r.time if isinstance(r.time, datetime) else datetime.fromisoformat(r.time) for r in rows
    ]
    expected = [T0 + timedelta(minutes=n) for n in sizes for _ in range(n)]
    assert [t.replace(tzinfo=t.tzinfo or UTC) for t in stamps] == expected


def test_close_flushes_what_is_queued(url: str) -> None:
    log = PredictionLog(url, batch_size=50)
    log.start()
    for i in range(600):
        log.record_many(_one(i))
    log.close()  # at once: the queue is still full of entries
    assert (log.written, log.failures) == (600, 0)
    assert len(_rows(url)) == 600


def test_record_many_does_not_wait_for_a_slow_database(url: str) -> None:
    log = PredictionLog(url)
    log.start()
    log.record_many(_one(0))
    _wait(lambda: log.written == 1)  # the table exists and the writer is idle
    calls = [_one(i) for i in range(1, 201)] + [_batch(201 + 1000 * k, 1000) for k in range(5)]
    with _locked(url):
        puts = threading.Thread(target=lambda: [log.record_many(c) for c in calls])
        puts.start()
        puts.join(30)
        # Every call returned while the database could take no row: none waited for it.
        assert not puts.is_alive()
        assert log.written == 1
    log.close()
    assert (log.written, log.failures) == (5201, 0)


@pytest.mark.parametrize(
    "dead",
    [
        "sqlite:///{tmp}/no/such/folder/predictions.db",
        "postgresql+psycopg://postgres@127.0.0.1:{port}/postgres",
    ],
    ids=["sqlite-missing-folder", "postgresql-no-server"],
)
def test_unreachable_database_counts_failures_and_never_raises(
    dead: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = dead.format(tmp=tmp_path, port=free_port())
    log = PredictionLog(url)
    with caplog.at_level(logging.ERROR, logger="serving.log"):
        log.start()  # the service must start even though its log cannot
        for i in range(5):
            log.record_many(_one(i))
        log.record_many(_batch(5, 1000))
        log.close()
    assert (log.written, log.failures) == (0, 1005)
    text = caplog.text
    assert "prediction log" in text
    # What is logged names the problem, never the requests' data.
    assert "req-" not in text and f"{1:064x}" not in text
    assert "north" not in text and "south" not in text


def test_the_log_catches_up_when_the_database_comes_back(tmp_path: Path) -> None:
    folder = tmp_path / "later"
    log = PredictionLog(f"sqlite:///{folder / 'predictions.db'}")
    log.start()
    log.record_many(_one(0))
    _wait(lambda: log.failures == 1)
    folder.mkdir()
    log.record_many(_one(1))
    log.close()
    assert (log.written, log.failures) == (1, 1)


def test_full_queue_keeps_what_fits_and_counts_the_rest(url: str) -> None:
    log = PredictionLog(url, queue_size=5)
    # Before start: nothing drains the queue.
    log.record_many(_one(0))
    log.record_many(_batch(1, 6))  # the first 4 fit (req-1 .. req-4), the last 2 are dropped
    assert (log.pending, log.failures) == (5, 2)
    log.record_many(_batch(7, 2))  # the queue is full: both dropped
    log.record_many(_one(9))
    assert (log.pending, log.failures) == (5, 5)
    log.start()
    log.close()
    assert (log.written, log.failures) == (5, 5)
    assert [r.request_id for r in _rows(url)] == [f"req-{i}" for i in range(5)]


def test_outputs_not_utf8_cost_only_themselves(url: str) -> None:
    log = PredictionLog(url)
    log.start()
    bad = b'{"risk":"\xff"}'  # not UTF-8
    four = _batch(0, 4)
    log.record_many(dataclasses.replace(four, outputs=[four.outputs[0], bad, *four.outputs[2:]]))
    log.record_many(_one(4, bad))  # a call whose only answer is lost
    log.record_many(_one(5))
    log.close()
    assert (log.written, log.failures) == (4, 2)
    assert [r.request_id for r in _rows(url)] == ["req-0", "req-2", "req-3", "req-5"]


def test_record_after_close_is_counted(tmp_path: Path) -> None:
    log = PredictionLog(f"sqlite:///{tmp_path / 'p.db'}")
    log.start()
    log.close()
    log.record_many(_one(0))
    log.record_many(_batch(1, 10))
    assert (log.written, log.failures, log.pending) == (0, 11, 0)


def test_never_started_is_counted_at_close(tmp_path: Path) -> None:
    log = PredictionLog(f"sqlite:///{tmp_path / 'p.db'}")
    log.record_many(_batch(0, 10))
    log.close()
    assert (log.written, log.failures) == (0, 10)


def test_concurrent_recorders(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    log = PredictionLog(url, batch_size=64)

    def work(k: int) -> None:
        for j in range(10):
            log.record_many(_batch(k * 10_000 + j * 100, 37))
            log.record_many(_one(k * 10_000 + j * 100 + 50))

    log.start()
    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    log.close()
    assert (log.written, log.failures) == (4 * 10 * 38, 0)
    assert len({r.request_id for r in _rows(url)}) == 4 * 10 * 38


def test_a_full_batch_is_written_without_lingering(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(serving.log, "LINGER_SECONDS", 30.0)
    log = PredictionLog(f"sqlite:///{tmp_path / 'p.db'}", batch_size=100)
    log.start()
    log.record_many(_one(0))
    time.sleep(0.3)
    assert log.written == 0  # one entry: the writer lingers for more
    log.record_many(_batch(1, 199))  # two batches' worth waiting: no more lingering
    _wait(lambda: log.written == 200, seconds=10.0)
    log.record_many(_one(200))
    # Close ends the linger at once and writes what waits: within its 5 s wait for the writer,
    # far less than the 30 s linger (else the entry would be counted as a failure).
    log.close()
    assert (log.written, log.failures) == (201, 0)


class _ListSink:
    """A sink that is not SQL: keeps what it is given, and refuses a clinic's answers."""

    name = "a list"

    def __init__(self) -> None:
        self.writes: list[list[LogBatch]] = []
        self.closed = False

    def write(self, batches: Sequence[LogBatch]) -> int:
        if any(b.clinic == "down" for b in batches):
            raise ConnectionError("the list is down")
        self.writes.append(list(batches))
        return sum(map(len, batches)) - sum(b.clinic == "partial" for b in batches)

    def close(self) -> None:
        self.closed = True


def test_any_sink_takes_the_place_of_a_url(caplog: pytest.LogCaptureFixture) -> None:
    sink = _ListSink()
    log = PredictionLog(sink)
    assert log.url == "a list"
    calls = [_batch(0, 3), _one(3), dataclasses.replace(_batch(4, 2), clinic="partial")]
    for call in calls:
        log.record_many(call)
    log.start()
    with caplog.at_level(logging.ERROR, logger="serving.log"):
        _wait(lambda: log.written == 5)
        log.record_many(dataclasses.replace(_batch(6, 4), clinic="down"))  # a write that fails
        log.close()
    # Readied with nothing at start, then the queued calls in order, whole; closed at the end.
    assert sink.writes == [[], calls]
    assert sink.closed
    assert (log.written, log.failures) == (5, 5)  # one refused by the sink, four in a failure
    # The first problem is logged; the next ones within a minute only counted.
    assert "prediction log: a list refused 1 entries" in caplog.text
    assert "the list is down" not in caplog.text


def test_malformed_url_is_refused_at_once() -> None:
    with pytest.raises(ValueError, match="prediction log URL"):
        PredictionLog("not a url")
    with pytest.raises(ValueError, match="prediction log URL"):
        PredictionLog("nosuchdb://host/db")
    with pytest.raises(ValueError, match="prediction log URL"):
        PredictionLog("postgresql+nosuchdriver://host/db")


def test_password_is_masked_in_the_url() -> None:
    log = PredictionLog("postgresql+psycopg://asym:secret@db.example:5432/asym")
    assert "secret" not in log.url
    log.close()


def test_batch_columns_must_have_one_length() -> None:
    good = _batch(0, 3)
    with pytest.raises(ValueError, match="differ in length"):
        dataclasses.replace(good, input_sha256=good.input_sha256[:2])


def test_a_new_sqlite_file_gets_a_write_ahead_log_and_16k_pages(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    log = PredictionLog(f"sqlite:///{path}")
    log.start()
    log.record_many(_batch(0, 10))
    log.close()
    raw = sqlite3.connect(path)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert raw.execute("PRAGMA page_size").fetchone() == (16384,)
    finally:
        raw.close()


def test_an_existing_sqlite_file_keeps_its_pages_and_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    old = sa.create_engine(f"sqlite:///{path}")  # a log made before: SQLite's defaults
    predictions.metadata.create_all(old)
    with old.begin() as conn:
        conn.execute(
            predictions.insert(),
            [
                {
                    "request_id": "old-0",
                    "clinic": "north",
                    "time": T0,
                    "model_name": "asym",
                    "model_version": "2",
                    "input_sha256": "0" * 64,
                    "outputs": {"asymmetry_risk": 0.5},
                }
            ],
        )
    old.dispose()
    log = PredictionLog(f"sqlite:///{path}")
    log.start()
    log.record_many(_batch(0, 3))
    log.close()
    assert (log.written, log.failures) == (3, 0)
    rows = _rows(f"sqlite:///{path}")
    assert [r.request_id for r in rows] == ["old-0", "req-0", "req-1", "req-2"]
    assert rows[0].outputs == {"asymmetry_risk": 0.5}
    raw = sqlite3.connect(path)
    try:
        assert raw.execute("PRAGMA page_size").fetchone() == (4096,)
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        raw.close()
