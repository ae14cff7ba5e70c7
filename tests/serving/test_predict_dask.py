"""`asym predict --dask` on two-worker LocalClusters: local predict's rows and values, and a
worker lost mid-run either costs nothing or fails the run without leaving output."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import dask
import numpy as np
import pandas as pd
import pytest
from distributed import Client, LocalCluster, WorkerPlugin
from distributed.scheduler import KilledWorker
from typer.testing import CliRunner

from asym_cli import app
from data.cluster import environment_kept
from data.simulate import simulate
from serving.predict import predict_registry
from serving.predict_dask import PLUGIN, SUCCESS, predict_on_dask
from training.dataset import TrainingData

KEYS = {
    "risk": ["treatment_id"],
    "longevity": ["treatment_id", "region", "side"],
    "schedule": ["treatment_id", "region", "side"],
}


@pytest.fixture(scope="module")
def parts(data: TrainingData, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared test registry's rows, in three parts (the simulator's same seed and size)."""
    folder = tmp_path_factory.mktemp("parts") / "registry"
    simulate(len(data.registry.treatments), folder, seed=5, partitions=3)
    return folder


def _cluster(**config: object) -> Iterator[Client]:
    with (
        environment_kept(),  # the nannies' settings for their workers leave with them
        dask.config.set(config),
        LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0") as cluster,
        Client(cluster) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    yield from _cluster()


def _read(folder: Path, name: str, one_file: bool) -> pd.DataFrame:
    frame = pd.read_parquet(folder / (f"{name}.parquet" if one_file else name))
    return frame.sort_values(KEYS[name]).reset_index(drop=True)


def _assert_same(dask_out: Path, local_out: Path, rtol: float) -> None:
    for name in KEYS:
        got, expected = _read(dask_out, name, False), _read(local_out, name, True)
        assert list(got.columns) == list(expected.columns)
        assert got[KEYS[name]].equals(expected[KEYS[name]])  # the same rows
        for column in got.columns:
            if got[column].dtype.kind == "f":
                np.testing.assert_allclose(got[column], expected[column], rtol=rtol, atol=rtol)
            else:
                assert got[column].astype(str).equals(expected[column].astype(str)), column


def test_dask_predict_is_local_predict(
    bundle: Path, data: TrainingData, parts: Path, client: Client, tmp_path: Path
) -> None:
    address = client.scheduler.address
    out = tmp_path / "dask"
    result = CliRunner().invoke(
        app, ["predict", "--model", str(bundle), "--registry", str(parts), "--out", str(out),
              "--dask", address],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"{len(data.registry.treatments):,} treatments" in result.output
    assert sorted(p.name for p in out.iterdir()) == [SUCCESS, "longevity", "risk", "schedule"]
    assert sorted(p.name for p in (out / "risk").iterdir()) == [
        "part-00000.parquet", "part-00001.parquet", "part-00002.parquet",
    ]  # fmt: skip
    # asym predict on the registry in one file: the same rows and, at float32, the same values
    # (its sessions use every core, so their sums may end in other last bits).
    local = tmp_path / "local"
    args = ["predict", "--model", str(bundle), "--registry", str(data.source), "--out", str(local)]
    assert CliRunner().invoke(app, args).exit_code == 0
    _assert_same(out, local, rtol=float(np.finfo(np.float32).eps) * 8)
    # With one thread a session call, as on the workers, the models' outputs are the very same;
    # the post-processing in float64 (the late-stage asymmetry's quadrature over a part's rows
    # rather than the whole registry's) may differ in the last bit: the house's float64 rtol.
    predict_registry(bundle, data.source, tmp_path / "one-thread", intra_op_threads=1)
    _assert_same(out, tmp_path / "one-thread", rtol=1e-12)
    # Each worker opened the bundle's sessions once, when the bundle plugin was set up.
    loaded = client.run(lambda dask_worker: dask_worker.plugins[PLUGIN].predictor.model_version)
    assert set(loaded.values()) == {"1"} and len(loaded) == 2


class _KillOnStart(WorkerPlugin):
    """Kills the worker process as it starts a part's task (once, if given a marker file)."""

    def __init__(self, key: str, marker: Path | None) -> None:
        self.key, self.marker = key, marker

    def transition(self, key: object, start: str, finish: str, **kwargs: object) -> None:
        if finish != "executing" or not str(key).startswith(self.key):
            return
        if self.marker is not None:
            if self.marker.exists():
                return
            self.marker.write_text(str(os.getpid()))
        os._exit(1)


def test_a_worker_lost_mid_run_costs_nothing(
    bundle: Path, data: TrainingData, parts: Path, client: Client, tmp_path: Path
) -> None:
    marker = tmp_path / "killed"
    client.register_plugin(_KillOnStart("score-part-00001", marker), name="kill")
    try:
        before = set(client.nthreads())
        out = tmp_path / "dask"
        predict_on_dask(bundle, parts, out, client.scheduler.address)
    finally:
        client.unregister_worker_plugin("kill")
    assert marker.exists()  # a worker really died scoring part 1
    assert set(client.nthreads()) != before  # and the nanny started another
    assert (out / SUCCESS).is_file()
    predict_registry(bundle, data.source, tmp_path / "local", intra_op_threads=1)
    _assert_same(out, tmp_path / "local", rtol=1e-12)  # as in the test above


def test_workers_lost_beyond_retries_leave_no_output(
    bundle: Path, parts: Path, tmp_path: Path
) -> None:
    out = tmp_path / "dask"
    for strict in _cluster(**{"distributed.scheduler.allowed-failures": 0}):
        strict.register_plugin(_KillOnStart("score-part-00002", None), name="kill")
        # The dead worker's queued parts die with it: any of them may be the one named.
        with pytest.raises(KilledWorker, match="score-part-0000"):
            predict_on_dask(bundle, parts, out, strict.scheduler.address)
        assert list(tmp_path.iterdir()) == []  # no output, nor the hidden folder it grew in
        # The command says so in one line and exits 2.
        result = CliRunner().invoke(
            app, ["predict", "--model", str(bundle), "--registry", str(parts), "--out", str(out),
                  "--dask", strict.scheduler.address],
        )  # fmt: skip
        assert result.exit_code == 2
        assert "error: Dask workers died running score-part-0000" in result.output
        assert f"nothing was written to {out}" in result.output
        assert "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []
