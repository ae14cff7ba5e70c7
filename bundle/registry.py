"""Names of the MLflow model registry that training writes to and serving reads from."""

from __future__ import annotations

from typing import Final

DEFAULT_TRACKING_URI: Final = "sqlite:///mlflow.db"
"""MLflow store used when none is given: an SQLite file in the working directory."""

CHAMPION: Final = "champion"
"""Registry alias of the model that serves."""

MODELS_SCHEME: Final = "models:/"
"""Prefix of a registry model URI, ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION``."""
