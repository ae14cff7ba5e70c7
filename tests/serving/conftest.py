"""The exported bundle of the tiny models (``data`` and ``models``: tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from serving.bundle import MANIFEST_FILE
from training.dataset import TrainingData
from training.export import export_bundle
from training.models import FittedModels


@pytest.fixture(scope="session")
def bundle(
    models: FittedModels, data: TrainingData, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    out = tmp_path_factory.mktemp("bundles") / "bundle"
    export_bundle(models, data, out, model_name="asym-test", model_version="1", run_id="run-1")
    assert (out / MANIFEST_FILE).is_file()
    return out
