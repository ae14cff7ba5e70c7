"""Settings of a training run (pydantic-settings; environment variables ``ASYM_TRAIN_*``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from bundle.registry import DEFAULT_TRACKING_URI

TEST_FRACTION = 0.2
"""Share of treatments, latest by date, held out for evaluation (no patient on both sides)."""


class TrainingSettings(BaseSettings):
    """What ``asym train`` trains on and where it records the run."""

    model_config = SettingsConfigDict(env_prefix="ASYM_TRAIN_", frozen=True, extra="forbid")

    registry: Path
    """Registry export folder (the four contract tables; a simulated one also has oracle/)."""
    out: Path = Path("artifacts/bundle")
    """Folder the ONNX bundle and its manifest are written to."""
    tracking_uri: str = DEFAULT_TRACKING_URI
    """MLflow tracking URI: the SQLite default, an MLflow server, or a database URL."""
    experiment: str = "asym"
    """MLflow experiment the run is logged in."""
    model_name: str = "asym"
    """Registered model name in the MLflow Model Registry."""
    seed: int = Field(default=0, ge=0)
    """Seed of every model fit."""
    test_fraction: float = Field(default=TEST_FRACTION, gt=0.0, lt=1.0)
    """Share of treatments, latest by date, held out for evaluation."""


def training_settings(**values: Any) -> TrainingSettings:
    """Build the settings from explicit values over ``ASYM_TRAIN_*`` environment variables.

    Values given as None are left to the environment or the defaults.
    """
    return TrainingSettings(**{k: v for k, v in values.items() if v is not None})
