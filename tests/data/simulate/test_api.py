"""The simulator's entry points refuse bad arguments (``data.simulate.api``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from data.simulate import simulate, simulate_frames


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="n_treatments"):
        simulate_frames(0)
    with pytest.raises(ValueError, match="scenario"):
        simulate_frames(10, scenario="other")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="fmt"):
        simulate(10, tmp_path, fmt="xlsx")  # type: ignore[arg-type]
