"""Prediction log cost per 1,000 answers: ``record_many`` beside the old one-by-one ``record``.

Over 400 lines: the old log's hot path is kept whole here as the comparison, and ``--inserts``.

The log's work for a batch call of 1,000 answers, measured both ways in the same process, the
repeats interleaved (old, new, old, new...) so a busy machine weighs on both alike:

* old: what ``PredictionService.predict`` did before ``record_many``: per answer an entry
  (``OldEntry``, outputs by ``orjson.dumps``) and one ``record`` (one queue put each); the writer
  takes the entries off a ``queue.Queue``, builds a dict per row and inserts through Core's
  ``insert`` (``executemany`` with SQLAlchemy's per-row parameter processing) into a SQLite file
  in SQLite's defaults (rollback journal, 4 KiB pages). That log (and its ``LogEntry``) is gone
  from ``serving/log.py``; ``OldLog`` and ``OldEntry`` below are its hot path, kept only as this
  comparison;
* new: ``serving.log`` as it is: the outputs by ``orjson.dumps``, one ``LogBatch`` and one
  ``record_many``; the writer's ``SqlSink`` inserts many rows a statement (Core's
  ``insert().values([...])``, compiled once, run by the driver), on a write-ahead log with
  16 KiB pages.

With ``--busy`` a thread runs Python code all along, as a server's request threads do: the driver
releases the GIL around each statement, and gets it back only after the busy thread's switch
interval. The busy thread's own CPU is left out of the totals.

Each repeat makes ``--calls`` calls of ``--batch`` answers (realistic ones: ~1.9 kB of JSON each,
shaped like the service's) and waits until the writer has written them all. Per 1,000 answers:

* request CPU: ``time.thread_time`` of the calling thread (what a request pays, GIL held);
* request wall: its wall time (the writer of earlier calls competes for the GIL meanwhile);
* total CPU: ``time.process_time`` from the first call until the last row is written, the
  writer thread included (all threads of the process: the whole cost on a 2-core machine);
* writer CPU: total minus request;
* written after (ms, not per 1,000): from the return of a repeat's last call until its last row
  is written: how long the rows wait.

Medians of ``--repeats``. The JSON serialisation of the outputs is in both (the log needs it);
its own cost is printed beside them, as the floor neither way goes under. With ``--url`` both
ways write to that database (e.g. a PostgreSQL server), whose own CPU, in another process, is not
counted.

With ``--inserts``, instead: the SQL sink's way of inserting (``SqlSink.write``) beside Core's
own two for a list of rows, all in writes of 500 rows to SQLite files with the sink's pragmas:
``executemany`` of ``insert(predictions)`` (a statement per row on SQLite) and
``insertmanyvalues`` (many rows a statement; SQLite takes it only with ``RETURNING``). CPU per
1,000 rows (``time.process_time``; with ``--busy``, the busy thread's left out).

    .venv/bin/python benchmarks/bench_log.py [--repeats 7] [--calls 5] [--batch 1000] [--busy]
    .venv/bin/python benchmarks/bench_log.py --inserts [--busy]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import queue
import random
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa

from serving.log import LogBatch, PredictionLog
from serving.log_sql import _SQLITE_PRAGMAS, SqlSink, predictions

# --- the old log, its hot path only ------------------------------------------------------------


@dataclass(frozen=True)
class OldEntry:
    """One answered request, as the old log queued it (its ``LogEntry``, outputs as bytes only)."""

    request_id: str
    clinic: str
    time: datetime
    model_name: str
    model_version: str
    input_sha256: str
    outputs: bytes


class _OldJson(str):
    """Outputs serialised by the writer, passed through by the engine's serialiser."""


def _old_serialise(value: object) -> str:
    return value if isinstance(value, _OldJson) else json.dumps(value)


class OldLog:
    """The log before ``record_many``: one queue item per entry, dict rows, Core's insert."""

    def __init__(self, url: str, batch_size: int = 500, linger: float = 0.2) -> None:
        self.engine = sa.create_engine(
            url, hide_parameters=True, pool_pre_ping=True, json_serializer=_old_serialise
        )
        predictions.metadata.create_all(self.engine)
        self.queue: queue.Queue[OldEntry | None] = queue.Queue(maxsize=10_000)
        self.batch_size, self.linger = batch_size, linger
        self.written = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def record(self, entry: OldEntry) -> None:
        with contextlib.suppress(queue.Full):  # dropped, as the old log did (it counted them)
            self.queue.put_nowait(entry)

    def close(self) -> None:
        self.stop.set()
        self.queue.put(None)
        self.thread.join()
        self.engine.dispose()

    def _run(self) -> None:
        while True:
            try:
                first = self.queue.get(timeout=0.5)
            except queue.Empty:
                if self.stop.is_set():
                    return
                continue
            if first is not None and self.queue.qsize() < self.batch_size:
                self.stop.wait(self.linger)
            batch = [first]
            while len(batch) < self.batch_size:
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            entries = [e for e in batch if e is not None]
            if entries:
                self._write(entries)
            if self.stop.is_set() and self.queue.empty():
                return

    def _write(self, entries: list[OldEntry]) -> None:
        rows = []
        for e in entries:
            rows.append(
                {
                    "request_id": e.request_id,
                    "clinic": e.clinic,
                    "time": e.time.astimezone(UTC),
                    "model_name": e.model_name,
                    "model_version": e.model_version,
                    "input_sha256": e.input_sha256,
                    "outputs": _OldJson(e.outputs.decode()),
                }
            )
        with self.engine.begin() as conn:
            conn.execute(predictions.insert(), rows)
        self.written += len(rows)


# --- the two request sides ---------------------------------------------------------------------


@dataclass
class Call:
    """What a predict call has to log: its answers and their hashes."""

    request_id: str
    outputs: list[dict[str, Any]]
    input_sha256: list[str]


NOW = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)


def old_side(log: OldLog, call: Call) -> None:
    """``PredictionService.predict``'s logging before: an entry and a ``record`` per answer."""
    for i, (outputs, sha) in enumerate(zip(call.outputs, call.input_sha256, strict=True)):
        log.record(
            OldEntry(
                request_id=f"{call.request_id}.{i}",
                clinic="north",
                time=NOW,
                model_name="asym",
                model_version="3",
                input_sha256=sha,
                outputs=orjson.dumps(outputs),
            )
        )


def new_side(log: PredictionLog, call: Call) -> None:
    """``PredictionService.predict``'s logging now: one ``LogBatch``, one ``record_many``."""
    log.record_many(
        LogBatch(
            request_ids=[f"{call.request_id}.{i}" for i in range(len(call.outputs))],
            clinic="north",
            time=NOW,
            model_name="asym",
            model_version="3",
            input_sha256=call.input_sha256,
            outputs=[orjson.dumps(o) for o in call.outputs],
        )
    )


# --- answers like the service's ------------------------------------------------------------------


def answer(rng: random.Random) -> dict[str, Any]:
    """An answer shaped like ``PredictResponse``: 3 differences, 5 longevity rows, 5 groups."""
    regions = [("forehead", "left"), ("forehead", "right"), ("glabella", "midline")]
    regions += [("crows_feet", "left"), ("crows_feet", "right")]
    return {
        "asymmetry_risk": rng.random() * 0.5,
        "risk_band": "low",
        "differences": {
            t: [
                {
                    "expected": rng.gauss(0, 1),
                    "low_10": rng.gauss(-1, 1),
                    "high_90": rng.gauss(1, 1),
                }
            ]
            for t in ("brow_height_diff_mm", "palpebral_fissure_diff_mm", "smile_width_diff_mm")
        },
        "longevity": [
            {
                "region": r,
                "side": s,
                "median_days": rng.uniform(80, 130),
                "p_active_not_returned_90d": rng.random(),
                "p_active_not_returned_120d": rng.random(),
                "p_active_not_returned_150d": rng.random(),
            }
            for r, s in regions
        ],
        "late_asymmetry": {"risk": rng.random(), "first_region": "forehead", "first_side": "left"},
        "contributions": [
            {"group": f"feature_group_{k}", "log_odds": rng.gauss(0, 0.3)} for k in range(5)
        ],
        "warnings": [],
    }


def calls(n_calls: int, batch: int, seed: int = 0) -> list[Call]:
    rng = random.Random(seed)
    return [
        Call(
            request_id=uuid.uuid4().hex,
            outputs=[answer(rng) for _ in range(batch)],
            input_sha256=[f"{rng.getrandbits(256):064x}" for _ in range(batch)],
        )
        for c in range(n_calls)
    ]


# --- measuring ---------------------------------------------------------------------------------


def _wait_written(written: Callable[[], int], target: int) -> None:
    end = time.monotonic() + 60
    while written() < target:
        if time.monotonic() > end:
            raise RuntimeError(f"the writer wrote {written()} of {target} rows in 60 s")
        time.sleep(0.002)


class Busy:
    """A thread running Python code until stopped, as a server's request threads do (``--busy``)."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        assert self._thread.ident is not None
        self._clock = time.pthread_getcpuclockid(self._thread.ident)

    def _run(self) -> None:
        x = 0
        while not self._stop.is_set():
            for i in range(1000):
                x += i

    def cpu(self) -> float:
        """CPU seconds the busy thread has used."""
        return time.clock_gettime(self._clock)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def measure(
    side: Callable[[Call], None],
    written: Callable[[], int],
    work: list[Call],
    busy: Busy | None = None,
) -> tuple[float, float, float, float]:
    """Request CPU, request wall, total CPU (the busy thread's left out) and the wall time from
    the last call's return until the last row is written (seconds) of logging ``work``."""
    target = written() + sum(len(c.outputs) for c in work)
    busy0 = busy.cpu() if busy else 0.0
    cpu0, thread0, wall0 = time.process_time(), time.thread_time(), time.perf_counter()
    for c in work:
        side(c)
    request_cpu, request_wall = time.thread_time() - thread0, time.perf_counter() - wall0
    _wait_written(written, target)
    done = time.perf_counter() - wall0 - request_wall
    total = time.process_time() - cpu0 - ((busy.cpu() - busy0) if busy else 0.0)
    return request_cpu, request_wall, total, done


def _core_engine(url: str) -> sa.Engine:
    """An engine for Core's own inserts: the sink's pragmas, the JSON text bound as it is."""
    engine = sa.create_engine(url, json_serializer=lambda text: text)

    @sa.event.listens_for(engine, "connect")
    def pragmas(dbapi_connection: Any, _record: object) -> None:
        for pragma in _SQLITE_PRAGMAS:
            dbapi_connection.execute(pragma).fetchall()

    predictions.metadata.create_all(engine)
    return engine


def compare_inserts(work: list[Call], repeats: int, busy: Busy | None) -> None:
    """Print CPU per 1,000 rows of the sink's insert and of Core's two (``--inserts``)."""
    batches = [
        LogBatch([f"{c.request_id}.{i}" for i in range(len(c.outputs))], "north", NOW, "asym",
                 "3", c.input_sha256, [orjson.dumps(o) for o in c.outputs])
        for c in work
    ]  # fmt: skip

    def core(engine: sa.Engine, statement: sa.Insert, b: LogBatch) -> None:
        shared = {"clinic": b.clinic, "time": b.time, "model_name": b.model_name}
        shared["model_version"] = b.model_version
        rows = [
            {**shared, "request_id": r, "input_sha256": h, "outputs": o.decode()}
            for r, h, o in zip(b.request_ids, b.input_sha256, b.outputs, strict=True)
        ]
        with engine.begin() as conn:
            conn.execute(statement, rows)

    with tempfile.TemporaryDirectory(prefix="bench-log-") as tmp:
        sink = SqlSink(f"sqlite:///{Path(tmp) / 'sink.db'}")
        many, imv = (_core_engine(f"sqlite:///{Path(tmp) / f}") for f in ("many.db", "imv.db"))
        ways: dict[str, Callable[[LogBatch], object]] = {
            "SqlSink.write": lambda b: sink.write([b]),
            "Core executemany": lambda b: core(many, predictions.insert(), b),
            "Core insertmanyvalues": lambda b: core(
                imv, predictions.insert().returning(predictions.c.id), b
            ),
        }
        cpu: dict[str, list[float]] = {name: [] for name in ways}
        for r in range(repeats + 1):  # the first round warms up
            for name, write in ways.items():
                busy0 = busy.cpu() if busy else 0.0
                t = time.process_time()
                for b in batches:
                    for k in range(0, len(b), 500):
                        write(b.take(slice(k, k + 500)))
                if r:
                    cpu[name].append(time.process_time() - t - (busy.cpu() - busy0 if busy else 0))
        sink.close()
    per = 1000 / sum(map(len, batches)) * 1e3
    print(f"insert, CPU ms per 1,000 rows (SQLite; median of {repeats}):")
    for name, seconds in cpu.items():
        print(f"{name:24} {statistics.median(seconds) * per:8.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--calls", type=int, default=5, help="calls per repeat")
    ap.add_argument("--batch", type=int, default=1000, help="answers per call")
    ap.add_argument(
        "--busy", action="store_true", help="a thread running Python code beside the log"
    )
    ap.add_argument(
        "--url",
        help="one database for both ways (e.g. a PostgreSQL URL); default: a fresh SQLite "
        "file for each",
    )
    ap.add_argument("--inserts", action="store_true", help="compare ways of inserting instead")
    args = ap.parse_args()
    if args.inserts:
        busy = Busy() if args.busy else None
        compare_inserts(calls(args.calls, args.batch), args.repeats, busy)
        if busy:
            busy.stop()
        return

    with tempfile.TemporaryDirectory(prefix="bench-log-") as tmp:
        old_url = args.url or f"sqlite:///{Path(tmp) / 'old.db'}"
        new_url = args.url or f"sqlite:///{Path(tmp) / 'new.db'}"
        old, new = OldLog(old_url), PredictionLog(new_url)
        ways: dict[str, tuple[Callable[[Call], None], Callable[[], int]]] = {
            "old: record x n": (lambda c: old_side(old, c), lambda: old.written),
            "new: record_many": (lambda c: new_side(new, c), lambda: new.written),
        }
        new.start()
        work = calls(args.calls, args.batch)
        busy = Busy() if args.busy else None
        results: dict[str, list[tuple[float, float, float, float]]] = {name: [] for name in ways}
        for r in range(args.repeats + 1):  # the first round warms up (tables, caches, pages)
            for name, (side, written) in ways.items():
                # Fresh request ids each round, random as the service's (uuid4): a batch's rows
                # land together in the request_id index, each call somewhere else.
                fresh = [Call(uuid.uuid4().hex, c.outputs, c.input_sha256) for c in work]
                m = measure(side, written, fresh, busy)
                if r:
                    results[name].append(m)
        dumps = []
        for _ in range(args.repeats):
            t = time.thread_time()
            for c in work:
                [orjson.dumps(o) for o in c.outputs]
            dumps.append(time.thread_time() - t)
        if busy:
            busy.stop()
        old.close()
        new.close()
        assert new.failures == 0, f"{new.failures} entries not written"

    per = 1000 / (args.calls * args.batch) * 1e3  # seconds per run -> ms per 1,000 answers
    size = statistics.mean(len(orjson.dumps(o)) for o in work[0].outputs)
    print(
        f"prediction log, ms per 1,000 answers (~{size:.0f} B of JSON each): median of "
        f"{args.repeats} repeats of {args.calls} calls x {args.batch}; "
        f"{sa.make_url(args.url).get_backend_name() if args.url else 'SQLite files'}"
        f"{'; a busy Python thread beside (its CPU left out)' if args.busy else ''}"
    )
    print(
        f"{'':24} {'request CPU':>12} {'request wall':>13} {'writer CPU':>11} {'total CPU':>10}"
        f" {'written after (ms)':>19}"
    )
    medians = {}
    for name, ms in results.items():
        req, wall, total = (statistics.median(m[k] for m in ms) * per for k in range(3))
        writer = statistics.median(m[2] - m[0] for m in ms) * per
        done = statistics.median(m[3] for m in ms) * 1e3
        medians[name] = (req, total)
        print(f"{name:24} {req:12.2f} {wall:13.2f} {writer:11.2f} {total:10.2f} {done:19.1f}")
    print(f"{'(orjson.dumps alone)':24} {statistics.median(dumps) * per:12.2f}")
    (old_req, old_total), (new_req, new_total) = medians.values()
    print(f"new / old: request CPU {new_req / old_req:.2f}, total CPU {new_total / old_total:.2f}")


if __name__ == "__main__":
    main()
