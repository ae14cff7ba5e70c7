"""Find a model bundle on disk: a folder as is, or a registered MLflow model downloaded."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Final

from bundle.manifest import MANIFEST_FILE, BundleError, write_model_version
from bundle.registry import MODELS_SCHEME

ARTIFACT_KEY: Final = "bundle"
"""Key of the bundle in the registered pyfunc model's ``artifacts``."""
DEFAULT_ARTIFACT_PATH: Final = "artifacts/bundle"
"""Where pyfunc puts an artifact named ``bundle`` when MLmodel does not say."""


def _bundle_path(model_dir: Path) -> Path:
    """The bundle inside a downloaded pyfunc model folder, as its MLmodel file records it."""
    from mlflow.models import Model

    relative = DEFAULT_ARTIFACT_PATH
    if (model_dir / "MLmodel").is_file():
        flavors: dict[str, Any] = Model.load(str(model_dir)).flavors
        artifacts = flavors.get("python_function", {}).get("artifacts") or {}
        entry = artifacts.get(ARTIFACT_KEY)
        if isinstance(entry, dict) and isinstance(entry.get("path"), str):
            relative = entry["path"]
    return model_dir / relative


def resolve_model(
    uri: str, tracking_uri: str | None = None, *, dst_path: Path | None = None
) -> Path:
    """Turn a model reference into a local bundle folder.

    Args:
        uri: A bundle folder, or ``models:/NAME@ALIAS`` / ``models:/NAME/VERSION`` of a model
            registered in MLflow as a pyfunc model with the bundle as artifact ``bundle``.
        tracking_uri: MLflow tracking (and registry) URI; None: MLflow's default
            (``MLFLOW_TRACKING_URI``).
        dst_path: Folder to download a registered model into; None: a new temporary folder.

    Returns:
        The bundle folder (holding ``manifest.json``); not yet checked against this install.

    Raises:
        BundleError: No such folder, or the registered model cannot be found or downloaded, or
            it holds no bundle.
    """
    if not uri.startswith(MODELS_SCHEME):
        path = Path(uri)
        if not path.is_dir():
            raise BundleError(
                f"{uri}: no such bundle folder (a model is a bundle folder, "
                "models:/NAME@ALIAS or models:/NAME/VERSION)"
            )
        return path
    # Imported here only: mlflow takes seconds to import and a server given a folder never needs it.
    import mlflow.artifacts
    from mlflow.exceptions import MlflowException
    from mlflow.tracking._tracking_service.utils import _use_tracking_uri

    # MLflow 3.17 resolves a models:/ URI with the *global* registry URI (which defaults to the
    # tracking URI), whatever download_artifacts is given, so the URI is set for the call only.
    scope = _use_tracking_uri(tracking_uri) if tracking_uri else contextlib.nullcontext()
    try:
        with scope:
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=uri,
                dst_path=None if dst_path is None else str(dst_path),
                tracking_uri=tracking_uri,
            )
            version = _registered_version(uri, tracking_uri)
    except MlflowException as err:
        where = tracking_uri or "the default MLflow tracking URI"
        raise BundleError(f"{uri}: cannot be downloaded from {where}: {err.message}") from None
    bundle = _bundle_path(Path(local))
    if not (bundle / MANIFEST_FILE).is_file():
        raise BundleError(f"{uri}: the registered model holds no bundle ({bundle} has no manifest)")
    # The bundle was exported before it was registered: its number is the registry's.
    write_model_version(bundle, version)
    return bundle


def _registered_version(uri: str, tracking_uri: str | None) -> str:
    """The version number a ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION`` URI names."""
    from mlflow import MlflowClient

    name, _, ref = uri.removeprefix(MODELS_SCHEME).partition("@")
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    if ref:
        return str(client.get_model_version_by_alias(name, ref).version)
    return uri.removeprefix(MODELS_SCHEME).rsplit("/", 1)[-1]
