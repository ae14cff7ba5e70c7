"""Test-wide settings; the tiny simulated registry, models and bundle the tests share."""

import os

# LightGBM's OpenMP threads busy-wait by default; on a shared 2-core machine that starves every
# other process (fits measured 15x slower). Must be set before lightgbm is first imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from collections.abc import Iterator
from pathlib import Path

import pytest

from bundle.manifest import MANIFEST_FILE
from tests.fixtures import fit_small_models, simulated_data
from tests.postgres import postgres_server
from training.dataset import TrainingData
from training.export import export_bundle
from training.models import FittedModels


@pytest.fixture(scope="session")
def data(tmp_path_factory: pytest.TempPathFactory) -> TrainingData:
    """A small simulated registry (modules fitting their own models define their own ``data``)."""
    return simulated_data(tmp_path_factory.mktemp("registry"))


@pytest.fixture(scope="session")
def models(data: TrainingData) -> FittedModels:
    """Small real models fitted on ``data``, fitted once for every test that exports or serves."""
    return fit_small_models(data)


@pytest.fixture(scope="session")
def bundle(
    models: FittedModels, data: TrainingData, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """``models`` exported as an ONNX bundle (the serving and bundle tests run it)."""
    out = tmp_path_factory.mktemp("bundles") / "bundle"
    export_bundle(models, data, out, model_name="asym-test", model_version="1", run_id="run-1")
    assert (out / MANIFEST_FILE).is_file()
    return out


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL server's URL (``tests.postgres``), shared by the session."""
    yield from postgres_server()
