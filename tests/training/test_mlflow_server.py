"""Two trainings against a real MLflow tracking server on loopback, checked through its client."""

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow import MlflowClient

from training.settings import training_settings
from training.train import train


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work = tmp_path_factory.mktemp("server")
    port = _free_port()
    mlflow_exe = str(Path(sys.executable).with_name("mlflow"))
    proc = subprocess.Popen(
        [
            mlflow_exe,
            "server",
            "--backend-store-uri",
            f"sqlite:///{work / 'store.db'}",
            "--artifacts-destination",
            str(work / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90  # a cold start migrates the store: tens of seconds
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the MLflow server did not start")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_two_runs_and_the_champion_through_the_server(
    server: str, small_registry: Path, tmp_path: Path
) -> None:
    runs = []
    for i in range(2):
        settings = training_settings(
            registry=small_registry,
            out=tmp_path / f"bundle{i}",
            tracking_uri=server,
            experiment="compare",
            model_name="asym-server",
            seed=i,
        )
        runs.append(train(settings, echo=lambda _: None))
    client = MlflowClient(server)
    experiment = client.get_experiment_by_name("compare")
    found = client.search_runs([experiment.experiment_id])
    assert {r.info.run_id for r in found} == {r.run_id for r in runs}
    for r in found:  # the same metric names in both runs, so the compare view lines them up
        assert {"risk_auc", "risk_brier", "longevity_c_index"} <= set(r.data.metrics)
    versions = client.search_model_versions("name='asym-server'")
    assert sorted(str(v.version) for v in versions) == ["1", "2"]
    # The first version became champion; the second waits for `asym promote`.
    assert str(client.get_model_version_by_alias("asym-server", "champion").version) == "1"
    assert runs[1].registered.champion is False
