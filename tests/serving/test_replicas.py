"""`asym serve --workers 2`: metrics summed over the workers; every worker reloads, or none."""

from __future__ import annotations

import os
import re
import signal
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient

from bundle.registry import CHAMPION
from features.spec import FEATURE_NAMES
from serving.keys import create_key
from serving.reload import CANARY_REQUESTS
from serving.settings import ENV_PREFIX
from tests.serving.live import asym_serve
from training.tracking import register_bundle, use_store

NAME = "asym-test"  # the bundle fixture's manifest name: SIGHUP reloads its champion
RELOAD_TIMEOUT = 8.0
"""Seconds the supervisor waits for every worker's vote (short: one test stops a worker)."""


@dataclass(frozen=True)
class Server:
    pid: int  # the supervisor's
    url: str
    tracking_uri: str
    key: str
    admin: str


@pytest.fixture(scope="module")
def server(bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """Two registered versions of one bundle, served by two workers from the champion (v1)."""
    work = tmp_path_factory.mktemp("replicas")
    uri = f"sqlite:///{work / 'mlflow.db'}"
    keys = work / "keys.jsonl"
    clinic, admin = create_key(keys, "north"), create_key(keys, "ops", admin=True)
    example = np.zeros((1, len(FEATURE_NAMES)), dtype=np.float32)
    with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mp.chdir(work)  # the SQLite store keeps artifacts in ./mlruns
        use_store(uri, "replicas")
        for _ in range(2):
            with mlflow.start_run():
                register_bundle(bundle, NAME, example)
        mp.setenv(f"{ENV_PREFIX}RELOAD_TIMEOUT", str(RELOAD_TIMEOUT))
        args = ["--model", f"models:/{NAME}@{CHAMPION}", "--tracking-uri", uri,
                "--keys-file", str(keys), "--workers", "2",
                "--log-url", f"sqlite:///{work / 'log.db'}"]  # fmt: skip
        with asym_serve(args, timeout=120) as (process, url):
            _wait(lambda: len(_models(url)) == 2, "both workers up")
            yield Server(process.pid, url, uri, clinic, admin)


def _metrics(url: str) -> str:
    return httpx.get(f"{url}/metrics", timeout=10).text  # a new connection: any worker


def _models(url: str) -> dict[str, str]:
    """Version each live worker (pid) answers with, from ``asym_model_info``."""
    found = re.findall(r'asym_model_info\{name="[^"]*",pid="(\d+)",version="([^"]*)"\} 1\.0',
                       _metrics(url))  # fmt: skip
    return {pid: version for pid, version in found if _alive(int(pid))}


def _alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text()


def _wait(ready: object, what: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not ready():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def _answers(url: str, key: str, n: int) -> list[str]:
    """Model versions of ``n`` predictions, each on a new connection (any worker)."""
    out = []
    for _ in range(n):
        r = httpx.post(f"{url}/v1/predict", json=CANARY_REQUESTS[0],
                       headers={"X-API-Key": key}, timeout=30)  # fmt: skip
        assert r.status_code == 200, r.text
        out.append(r.json()["model"]["version"])
    return out


def _predictions_counted(text: str) -> float:
    pattern = r'asym_http_requests_total\{method="POST",route="/v1/predict",status="200"\} (\S+)'
    found = re.findall(pattern, text)
    return float(found[0]) if found else 0.0


def test_metrics_are_summed_over_the_workers(server: Server) -> None:
    url, key = server.url, server.key
    before = _predictions_counted(_metrics(url))
    assert _answers(url, key, 40) == ["1"] * 40
    # Whichever worker answers the scrape, it counts every worker's requests (each connection
    # lands on either; one worker's own count would fall short of 40 in some scrape).
    for _ in range(8):
        assert _predictions_counted(_metrics(url)) - before == 40
    text = _metrics(url)
    assert "asym_prediction_log_written_total" in text
    assert "asym_http_request_duration_seconds_bucket" in text


def test_every_worker_reloads_in_place_or_none_does(server: Server) -> None:
    pid, url, key, uri = server.pid, server.url, server.key, server.tracking_uri
    workers = set(_models(url))
    # 1. SIGHUP to the server: every worker loads the new champion, in place (same processes).
    MlflowClient(uri).set_registered_model_alias(NAME, CHAMPION, "2")
    os.kill(pid, signal.SIGHUP)
    _wait(lambda: set(_models(url).values()) == {"2"}, "every worker on version 2")
    assert set(_models(url)) == workers
    assert set(_answers(url, key, 12)) == {"2"}
    # 2. One worker cannot take part (stopped): the other has loaded the model, yet swaps none.
    MlflowClient(uri).set_registered_model_alias(NAME, CHAMPION, "1")
    stopped = int(sorted(workers)[0])
    os.kill(stopped, signal.SIGSTOP)
    try:
        os.kill(pid, signal.SIGHUP)
        time.sleep(RELOAD_TIMEOUT + 3)  # the supervisor waits that long for the stopped vote
    finally:
        if _alive(stopped):
            os.kill(stopped, signal.SIGCONT)
    # Whether the stopped worker went on or was replaced (a new one loads the last model all
    # swapped in, version 2, not the alias), every worker still answers with version 2.
    _wait(lambda: len(_models(url)) == 2, "two workers")
    assert set(_models(url).values()) == {"2"}
    assert set(_answers(url, key, 12)) == {"2"}
    # 3. POST /v1/admin/reload on one worker reloads them all (through the supervisor).
    r = httpx.post(f"{url}/v1/admin/reload", json={"model": f"models:/{NAME}/1"},
                   headers={"X-API-Key": server.admin}, timeout=60)  # fmt: skip
    assert r.status_code == 200, r.text
    assert (r.json()["previous"]["version"], r.json()["model"]["version"]) == ("2", "1")
    _wait(lambda: set(_models(url).values()) == {"1"}, "every worker on version 1")
    assert set(_answers(url, key, 12)) == {"1"}
