"""resolve_model: a registered MLflow model (pyfunc with the bundle as artifact) to its bundle."""

from __future__ import annotations

from pathlib import Path

import pytest

from bundle.manifest import BundleError, load_manifest
from bundle.resolve import resolve_model


def test_registered_model_resolves_to_its_bundle(bundle: Path, tmp_path: Path) -> None:
    mlflow = pytest.importorskip("mlflow")
    from mlflow import MlflowClient

    class Model(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
        def predict(self, context: object, model_input: object) -> object:
            return model_input

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    try:
        mlflow.set_experiment("resolve")
        with mlflow.start_run():
            info = mlflow.pyfunc.log_model(
                name="model",
                python_model=Model(),
                artifacts={"bundle": str(bundle)},
                registered_model_name="asym-resolve",
                pip_requirements=[],  # no environment inference: seconds saved, nothing lost here
            )
        MlflowClient().set_registered_model_alias(
            "asym-resolve", "champion", str(info.registered_model_version)
        )
    finally:
        mlflow.set_tracking_uri(None)
    for ref in ("models:/asym-resolve@champion", "models:/asym-resolve/1"):
        found = resolve_model(
            ref, uri, dst_path=tmp_path / ref.rsplit("/", 1)[-1].replace("@", "_")
        )
        assert load_manifest(found) == load_manifest(bundle)
    # Registered again, the same bundle is version 2: resolved, it says so (its manifest was
    # written before registration, and the registry's number is the one clinics see).
    mlflow.set_tracking_uri(uri)
    try:
        with mlflow.start_run():
            mlflow.pyfunc.log_model(
                name="model",
                python_model=Model(),
                artifacts={"bundle": str(bundle)},
                registered_model_name="asym-resolve",
                pip_requirements=[],
            )
    finally:
        mlflow.set_tracking_uri(None)
    second = resolve_model("models:/asym-resolve/2", uri, dst_path=tmp_path / "v2")
    assert load_manifest(second).model_version == "2"
    assert load_manifest(bundle).model_version == "1"  # the original is untouched
    with pytest.raises(BundleError, match="models:/asym-resolve@nope"):
        resolve_model("models:/asym-resolve@nope", uri, dst_path=tmp_path / "x")
