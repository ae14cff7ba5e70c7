"""Two trainings against a real MLflow tracking server on loopback, checked through its client."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.mlflow_server import mlflow_server
from training.settings import training_settings
from training.train import train


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work = tmp_path_factory.mktemp("server")
    with mlflow_server(f"sqlite:///{work / 'store.db'}", work / "artifacts") as url:
        yield url


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
