"""A small simulated registry shared by the training tests (written once per session), and one
training run on it."""

import warnings
from pathlib import Path
from typing import Any

import pytest

from data.simulate import simulate
from training.settings import training_settings
from training.train import train


@pytest.fixture(scope="session")
def small_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # 3,000 treatments: enough reviewed treatments and durations rows in the held-out period
    # for every model to fit and be evaluated, small enough to train in seconds.
    out = tmp_path_factory.mktemp("registry")
    simulate(3_000, out, seed=5)
    return out


@pytest.fixture(scope="session")
def trained(small_registry: Path, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """`train` on the small registry: (settings, result, progress lines, warnings)."""
    work = tmp_path_factory.mktemp("work")
    settings = training_settings(
        registry=small_registry,
        out=work / "bundle",
        tracking_uri=f"sqlite:///{work / 'mlflow.db'}",
        experiment="test",
        model_name="asym-test",
    )
    lines: list[str] = []
    with pytest.MonkeyPatch.context() as mp, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mp.chdir(work)  # the SQLite store keeps artifacts in ./mlruns: keep them in tmp
        result = train(settings, echo=lines.append)
    return settings, result, lines, [str(w.message) for w in caught]
