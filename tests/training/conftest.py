"""A small simulated registry shared by the training tests (written once per session)."""

from pathlib import Path

import pytest

from data.simulate import simulate


@pytest.fixture(scope="session")
def small_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # 3,000 treatments: enough reviewed treatments and durations rows in the held-out period
    # for every model to fit and be evaluated, small enough to train in seconds.
    out = tmp_path_factory.mktemp("registry")
    simulate(3_000, out, seed=5)
    return out
