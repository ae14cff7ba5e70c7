"""Test-wide settings; the tiny simulated registry and models the serving and export tests share."""

import os

# LightGBM's OpenMP threads busy-wait by default; on a shared 2-core machine that starves every
# other process (fits measured 15x slower). Must be set before lightgbm is first imported.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest

from tests.serving.tiny import fit_tiny, simulated_data
from training.dataset import TrainingData
from training.models import FittedModels


@pytest.fixture(scope="session")
def data(tmp_path_factory: pytest.TempPathFactory) -> TrainingData:
    """A small simulated registry (modules fitting their own models define their own ``data``)."""
    return simulated_data(tmp_path_factory.mktemp("registry"))


@pytest.fixture(scope="session")
def models(data: TrainingData) -> FittedModels:
    """Tiny real models fitted on ``data``, fitted once for every test that exports or serves."""
    return fit_tiny(data)
