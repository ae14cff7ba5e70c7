"""What a run records about its data (``training.tracking.log_provenance``)."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pytest
from mlflow import MlflowClient

from data.simulate import simulate
from training.dataset import load_training_data
from training.tracking import log_provenance, use_store


def test_a_world_variant_is_recorded_with_its_overrides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    simulate(400, tmp_path / "reg", seed=3, world="spread", chunk_patients=200)
    data = load_training_data(tmp_path / "reg")
    monkeypatch.chdir(tmp_path)  # the SQLite store keeps artifacts in ./mlruns
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    use_store(uri, "provenance")
    with mlflow.start_run() as run:
        log_provenance(data)
    client = MlflowClient(uri)
    tags = client.get_run(run.info.run_id).data.tags
    assert (tags["simulator_world"], tags["simulator_seed"]) == ("spread", "3")
    path = client.download_artifacts(
        run.info.run_id, "simulation/world_overrides.json", str(tmp_path)
    )
    assert json.loads(Path(path).read_text()) == {
        "spread_scale": 1.5,
        "spread_tail": [0.25, 2.5],
    }
