"""Soak: `asym serve --workers 2` under 32 kept-alive connections for five minutes, then SIGTERM.

Bounded in every loop. Passes when:

* no error: every answer is HTTP 200, no connection is lost;
* resident memory flat after warm-up: each worker's RSS at the end within ``--flat`` (5%) of
  its RSS when the warm-up ended (start, peak and end are printed per worker);
* every answer in the log: after SIGTERM (the workers close their logs, writing what waits),
  the log database holds one row per answer.

    .venv/bin/python benchmarks/soak.py --model BUNDLE_DIR [--seconds 300] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import loopback_client as client  # benchmarks/loopback_client.py (run from its folder)
import numpy as np
import psutil
from bench_serve import plan_request

from serving.log_sql import TABLE


@dataclass
class Load:
    """What the connections saw."""

    answered: int = 0
    errors: list[str] = field(default_factory=list)


async def _connection(port: int, requests: list[bytes], deadline: float, load: Load) -> None:
    """One kept-alive connection sending requests one after the other until the deadline."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for request in itertools.cycle(requests):
            if time.monotonic() >= deadline:
                return
            writer.write(request)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
            status = int(head[9:12])
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            body = await asyncio.wait_for(reader.readexactly(length), 30)
            if status != 200:
                load.errors.append(f"HTTP {status}: {body[:200]!r}")
            else:
                load.answered += 1
    except (OSError, asyncio.IncompleteReadError, TimeoutError) as err:
        load.errors.append(f"connection: {err!r}")
    finally:
        writer.close()


async def _load(port: int, requests: list[bytes], seconds: float, concurrency: int) -> Load:
    load = Load()
    deadline = time.monotonic() + seconds
    await asyncio.gather(
        *(_connection(port, requests[k::concurrency], deadline, load) for k in range(concurrency))
    )
    return load


def _workers(server: psutil.Process) -> list[psutil.Process]:
    return [p for p in server.children(recursive=True) if "spawn_main" in " ".join(p.cmdline())]


class _Sampler(threading.Thread):
    """Resident memory of each worker every ``every`` seconds, until stopped."""

    def __init__(self, workers: list[psutil.Process], every: float) -> None:
        super().__init__(daemon=True)
        self.workers, self.every = workers, every
        self.samples: list[tuple[float, dict[int, int]]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        t0 = time.monotonic()
        while not self.stop.wait(self.every):
            with contextlib.suppress(psutil.NoSuchProcess):
                rss = {p.pid: p.memory_info().rss for p in self.workers}
                self.samples.append((time.monotonic() - t0, rss))


@contextlib.contextmanager
def _server(cmd: list[str], port: int, workers: int) -> Iterator[subprocess.Popen[bytes]]:
    """``asym serve`` until every worker answers; killed at the end if still running."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                            start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, "asym serve exited"
            with contextlib.suppress(httpx.TransportError):
                text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
                if text.count("asym_model_info{") >= workers:
                    break
            assert time.monotonic() < deadline, "asym serve did not start"
            time.sleep(0.5)
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="Bundle folder or models:/NAME@ALIAS.")
    parser.add_argument("--tracking-uri", default="sqlite:///mlflow.db")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--warmup", type=float, default=30.0)
    parser.add_argument("--flat", type=float, default=0.05, help="RSS growth allowed after warm-up")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    bodies = [json.dumps(plan_request(rng)).encode() for _ in range(512)]  # each answer logged
    requests = [client.request_bytes("POST", "/v1/predict", b) for b in bodies]
    tmp = Path(tempfile.mkdtemp(prefix="asym-soak-"))
    log = tmp / "predictions.db"
    port = _free_port()
    cmd = [sys.executable, "-c", "from asym_cli import app; app()", "serve", "--no-auth",
           "--model", args.model, "--tracking-uri", args.tracking_uri, "--port", str(port),
           "--workers", str(args.workers), "--log-url", f"sqlite:///{log}"]  # fmt: skip
    with _server(cmd, port, args.workers) as proc:
        workers = _workers(psutil.Process(proc.pid))
        print(f"{len(workers)} workers up; warm-up {args.warmup:.0f} s ...", flush=True)
        warm = asyncio.run(_load(port, requests, args.warmup, args.concurrency))
        sampler = _Sampler(workers, every=2.0)
        sampler.start()
        print(f"soak {args.seconds:.0f} s at concurrency {args.concurrency} ...", flush=True)
        t0 = time.monotonic()
        load = asyncio.run(_load(port, requests, args.seconds, args.concurrency))
        elapsed = time.monotonic() - t0
        sampler.stop.set()
        sampler.join()
        os.kill(proc.pid, signal.SIGTERM)  # the supervisor: its workers close their logs
        proc.wait(60)
    with sqlite3.connect(log) as db:
        rows = db.execute(f"SELECT COUNT(*) FROM {TABLE}").fetchone()[0]
    answered = warm.answered + load.answered
    errors = warm.errors + load.errors
    print(f"\nrequests answered {answered:,} ({load.answered / elapsed:,.0f}/s in the soak), "
          f"errors {len(errors)}{': ' + errors[0] if errors else ''}")  # fmt: skip
    flat = True
    print(f"{'worker':>8} {'start MiB':>10} {'peak MiB':>9} {'end MiB':>8} {'end/start':>9}")
    for worker in workers:
        series = [s[1][worker.pid] for s in sampler.samples if worker.pid in s[1]]
        start, peak, end = series[0], max(series), series[-1]
        flat &= end <= start * (1 + args.flat)
        print(f"{worker.pid:>8} {start / 2**20:>10.1f} {peak / 2**20:>9.1f} {end / 2**20:>8.1f} "
              f"{end / start:>9.3f}")  # fmt: skip
    print(f"log rows after SIGTERM {rows:,} for {answered:,} answers")
    verdicts = {
        "zero errors": not errors,
        f"memory flat after warm-up (end <= start x {1 + args.flat:.2f})": flat,
        "every answer in the log": rows == answered,
    }
    for what, ok in verdicts.items():
        print(f"{'PASS' if ok else 'FAIL'}  {what}")
    sys.exit(0 if all(verdicts.values()) else 1)


if __name__ == "__main__":
    main()
