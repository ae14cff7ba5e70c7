"""Prediction log: rows really written to SQLite and PostgreSQL, never at the caller's expense.

The PostgreSQL cases run against a real throwaway server (``initdb`` + ``pg_ctl`` in a temporary
folder) when the server binaries are installed, and are skipped, saying why, when they are not.
"""

from __future__ import annotations

import contextlib
import dataclasses
import glob
import json
import logging
import os
import pwd
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa

from serving.log import TABLE, LogEntry, PredictionLog, predictions

# --- a throwaway PostgreSQL server --------------------------------------------------------------


def _pg_bindir() -> Path | None:
    """A folder holding initdb, pg_ctl and postgres: PATH first, then Debian's layout."""
    candidates = []
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).parent)

    def version(d: str) -> float:
        try:
            return float(Path(d).parent.name)
        except ValueError:
            return 0.0

    candidates += [
        Path(d) for d in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)
    ]
    for d in candidates:
        if all(os.access(d / exe, os.X_OK) for exe in ("initdb", "pg_ctl", "postgres")):
            return d
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _as_server_user(argv: list[str], user: str | None) -> list[str]:
    # PostgreSQL refuses to run as root; as root, run it as an unprivileged user.
    if user is None:
        return argv
    if shutil.which("runuser"):
        return ["runuser", "-u", user, "--", *argv]
    return ["su", user, "-s", "/bin/sh", "-c", " ".join(f"'{a}'" for a in argv)]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    bindir = _pg_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries not installed (initdb, pg_ctl, postgres)")
    user: str | None = None
    if os.geteuid() == 0:
        for name in ("postgres", "nobody"):
            with contextlib.suppress(KeyError):
                pwd.getpwnam(name)
                user = name
                break
        if user is None:
            pytest.skip("running as root and no unprivileged user to run PostgreSQL as")
    # Not pytest's tmp_path: its folders are private to root, the server user must write here.
    root = Path(tempfile.mkdtemp(prefix="asym-pg-"))
    if user is not None:
        shutil.chown(root, user)
    data, port = root / "data", _free_port()

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            _as_server_user([str(bindir / argv[0]), *argv[1:]], user),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    init = run(
        "initdb", "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"
    )
    started = None
    if init.returncode == 0:
        options = f"-h 127.0.0.1 -p {port} -k {root} -F -c fsync=off"
        started = run(
            "pg_ctl", "-D", str(data), "-l", str(root / "log"), "-w", "-o", options, "start"
        )
    if started is None or started.returncode != 0:
        why = (init if started is None else started).stderr.strip()[-300:]
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(
            f"PostgreSQL server binaries found in {bindir} but the server did not start: {why}"
        )
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


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


def _entry(i: int, **outputs: object) -> LogEntry:
    return LogEntry(
        request_id=f"req-{i}",
        clinic="north",
        time=T0 + timedelta(seconds=i),
        model_name="asym",
        model_version="3",
        input_sha256=f"{i:064x}",
        outputs=outputs or {"asymmetry_risk": 0.125, "median_days": {"forehead/left": 101.5}},
    )


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


def test_entries_are_written_as_rows(url: str) -> None:
    log = PredictionLog(url, batch_size=7)
    log.start()
    entries = [_entry(i) for i in range(20)]
    entries.append(_entry(20, risk=np.float64(0.5), days=np.array([90.0, 120.0]), n=np.int64(3)))
    # JSON text serialised by the caller is stored as it is.
    entries.append(dataclasses.replace(_entry(21), outputs=b'{"risk":0.25,"band":"moderate"}'))
    for e in entries:
        log.record(e)
    log.close()
    assert (log.written, log.failures) == (22, 0)

    rows = _rows(url)
    assert len(rows) == 22
    # Exactly these columns: nothing that identifies a patient (no patient id, birth date,
    # inputs), only the clinic, the model and a hash of the inputs.
    assert set(rows[0]._mapping) == {
        "id",
        "request_id",
        "clinic",
        "time",
        "model_name",
        "model_version",
        "input_sha256",
        "outputs",
    }
    by_id = {r.request_id: r for r in rows}
    first = by_id["req-0"]
    assert (first.clinic, first.model_name, first.model_version) == ("north", "asym", "3")
    assert first.input_sha256 == f"{0:064x}"
    stamp = first.time if isinstance(first.time, datetime) else datetime.fromisoformat(first.time)
    assert stamp.replace(tzinfo=stamp.tzinfo or UTC) == T0
    # Stored as JSON, read back as JSON (numpy values made plain on the way in).
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        raw = conn.execute(sa.text(f"SELECT outputs FROM {TABLE} WHERE request_id = 'req-0'"))
        stored = raw.scalar_one()
    engine.dispose()
    assert (json.loads(stored) if isinstance(stored, str) else stored) == first.outputs
    assert first.outputs == {"asymmetry_risk": 0.125, "median_days": {"forehead/left": 101.5}}
    assert by_id["req-20"].outputs == {"risk": 0.5, "days": [90.0, 120.0], "n": 3}
    assert by_id["req-21"].outputs == {"risk": 0.25, "band": "moderate"}


def test_close_flushes_what_is_queued(url: str) -> None:
    log = PredictionLog(url, batch_size=50)
    log.start()
    for i in range(600):
        log.record(_entry(i))
    log.close()  # at once: the queue is still full of entries
    assert (log.written, log.failures) == (600, 0)
    assert len(_rows(url)) == 600


def test_record_does_not_wait_for_a_slow_database(url: str) -> None:
    log = PredictionLog(url)
    log.start()
    log.record(_entry(0))
    _wait(lambda: log.written == 1)  # the table exists and the writer is idle
    with _locked(url):
        t = time.perf_counter()
        for i in range(1, 201):
            log.record(_entry(i))
        elapsed = time.perf_counter() - t
        time.sleep(0.3)
        assert log.written == 1  # the writer is indeed stuck on the lock
    assert elapsed < 0.25  # 200 puts take about a millisecond; the lock is held far longer
    log.close()
    assert (log.written, log.failures) == (201, 0)


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
    url = dead.format(tmp=tmp_path, port=_free_port())
    log = PredictionLog(url)
    with caplog.at_level(logging.ERROR, logger="serving.log"):
        log.start()  # the service must start even though its log cannot
        t = time.perf_counter()
        for i in range(5):
            log.record(_entry(i))
        assert time.perf_counter() - t < 0.5
        log.close()
    assert (log.written, log.failures) == (0, 5)
    text = caplog.text
    assert "prediction log" in text
    # What is logged names the problem, never the requests' data.
    assert "req-" not in text and f"{1:064x}" not in text and "north" not in text


def test_the_log_catches_up_when_the_database_comes_back(tmp_path: Path) -> None:
    folder = tmp_path / "later"
    log = PredictionLog(f"sqlite:///{folder / 'predictions.db'}")
    log.start()
    log.record(_entry(0))
    _wait(lambda: log.failures == 1)
    folder.mkdir()
    log.record(_entry(1))
    log.close()
    assert (log.written, log.failures) == (1, 1)


def test_full_queue_drops_and_counts(url: str) -> None:
    log = PredictionLog(url, queue_size=5)
    t = time.perf_counter()
    for i in range(8):  # before start: nothing drains the queue, so exactly 3 do not fit
        log.record(_entry(i))
    assert time.perf_counter() - t < 0.5
    assert log.failures == 3
    log.start()
    log.close()
    assert (log.written, log.failures) == (5, 3)
    assert [r.request_id for r in _rows(url)] == [f"req-{i}" for i in range(5)]


def test_an_entry_that_is_not_json_costs_only_itself(url: str) -> None:
    log = PredictionLog(url)
    log.start()
    log.record(_entry(0))
    log.record(_entry(1, risk=float("nan")))  # NaN is not JSON
    log.record(_entry(2, thing=object()))
    log.record(_entry(3))
    log.close()
    assert (log.written, log.failures) == (2, 2)
    assert [r.request_id for r in _rows(url)] == ["req-0", "req-3"]


def test_record_after_close_is_counted(tmp_path: Path) -> None:
    log = PredictionLog(f"sqlite:///{tmp_path / 'p.db'}")
    log.start()
    log.close()
    log.record(_entry(0))
    assert (log.written, log.failures) == (0, 1)


def test_concurrent_recorders(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'p.db'}"
    log = PredictionLog(url)
    log.start()

    def work(k: int) -> None:
        for i in range(100):
            log.record(_entry(k * 1000 + i))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    log.close()
    assert (log.written, log.failures) == (400, 0)
    assert len(_rows(url)) == 400


def test_malformed_url_is_refused_at_once() -> None:
    with pytest.raises(ValueError, match="prediction log URL"):
        PredictionLog("not a url")
    with pytest.raises(ValueError, match="prediction log URL"):
        PredictionLog("nosuchdb://host/db")


def test_password_is_masked_in_the_url() -> None:
    log = PredictionLog("postgresql+psycopg://asym:secret@db.example:5432/asym")
    assert "secret" not in log.url
    log.close()
