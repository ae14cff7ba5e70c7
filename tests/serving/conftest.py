"""A small simulated registry, tiny real models fitted on it and their exported bundle."""

from __future__ import annotations

from pathlib import Path

import pytest

from serving.bundle import MANIFEST_FILE
from tests.serving.tiny import fit_tiny, simulated_data
from training.dataset import TrainingData
from training.export import export_bundle
from training.models import FittedModels


@pytest.fixture(scope="session")
def data(tmp_path_factory: pytest.TempPathFactory) -> TrainingData:
    return simulated_data(tmp_path_factory.mktemp("registry"))


@pytest.fixture(scope="session")
def models(data: TrainingData) -> FittedModels:
    return fit_tiny(data)


@pytest.fixture(scope="session")
def bundle(
    models: FittedModels, data: TrainingData, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    out = tmp_path_factory.mktemp("bundles") / "bundle"
    export_bundle(models, data, out, model_name="asym-test", model_version="1", run_id="run-1")
    assert (out / MANIFEST_FILE).is_file()
    return out
