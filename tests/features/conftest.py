"""A small simulated registry shared by the feature tests (simulated once per session)."""

from collections.abc import Mapping

import pandas as pd
import pytest

from data.simulate import simulate_frames


@pytest.fixture(scope="session")
def tables() -> Mapping[str, pd.DataFrame]:
    # 1,500 treatments: enough patients with several earlier treatments (history) and every
    # muscle of the atlas, small enough to featurise every row one request at a time.
    return simulate_frames(1_500, seed=11).tables
