"""Simulated registries shared by the simulator tests (simulated once per session)."""

import pytest

from data.simulate import Simulated, simulate_frames
from tests.data.simulate.helpers import N_STATS


@pytest.fixture(scope="session")
def lit() -> Simulated:
    return simulate_frames(N_STATS, seed=11)


@pytest.fixture(scope="session")
def claims() -> Simulated:
    return simulate_frames(N_STATS, seed=11, scenario="seed-claims")
