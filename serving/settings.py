"""Settings of the prediction server (pydantic-settings; environment variables ``ASYM_SERVE_*``).

``asym serve`` passes its options to the server processes through these variables, so that every
uvicorn worker (a separate process importing ``serving.app:app_from_env``) builds the same settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from bundle.registry import DEFAULT_TRACKING_URI

ENV_PREFIX: Final = "ASYM_SERVE_"
DEFAULT_MODEL: Final = "models:/asym@champion"
DEFAULT_LOG_URL: Final = "sqlite:///predictions.db"


class ServingSettings(BaseSettings):
    """What the server serves, who may call it and where it logs."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="forbid")

    model: str = DEFAULT_MODEL
    """Bundle folder, or ``models:/NAME@ALIAS`` / ``models:/NAME/VERSION`` (MLflow registry)."""
    tracking_uri: str = DEFAULT_TRACKING_URI
    """MLflow tracking (and registry) URI used to resolve a ``models:/`` model."""
    keys_file: Path | None = None
    """API keys file (``asym keys create``); required unless ``no_auth``."""
    no_auth: bool = False
    """Accept requests without an API key (loopback development only)."""
    log_url: str = DEFAULT_LOG_URL
    """Prediction log: a SQLAlchemy URL (SQLite file by default, or PostgreSQL)."""
    max_body_bytes: int = Field(default=1_000_000, ge=1)
    """Largest request body accepted; larger ones get 413 before they are parsed."""
    max_batch: int = Field(default=1000, ge=1)
    """Most treatments in one ``/v1/predict/batch`` request."""
    max_batch_body_bytes: int = Field(default=16_000_000, ge=1)
    """Largest ``/v1/predict/batch`` body: 1000 treatments of 12 points are ~1.3 MB, with
    histories several times that, so the batch route has its own limit."""
    intra_op_threads: int = Field(default=1, ge=0)
    """onnxruntime threads per session call; 1 suits a request of a few rows (0: every core)."""
    replicas_dir: Path | None = None
    """Folder the workers of one server reload together and sum their metrics through
    (``serving.replicas``); set by ``asym serve --workers N`` for N > 1, else none."""
    reload_timeout: float = Field(default=120.0, gt=0)
    """Seconds a reload shared by several workers waits for each to load and check the model;
    a worker not ready by then counts as refusing it, and none swaps."""


def serving_settings(**values: Any) -> ServingSettings:
    """Build the settings from explicit values over ``ASYM_SERVE_*`` environment variables.

    Values given as None are left to the environment or the defaults.
    """
    return ServingSettings(**{k: v for k, v in values.items() if v is not None})
