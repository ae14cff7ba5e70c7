"""MLflow: where runs go, what a run records about its data, and the model registry.

The embedded default is a SQLite store (``sqlite:///mlflow.db``) with artifacts under ``./mlruns``
in the working directory; any other tracking URI (an MLflow server, PostgreSQL) works the same.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import numpy.typing as npt
import pandas as pd
from mlflow import MlflowClient

from bundle import pyfunc
from bundle.manifest import load_manifest
from bundle.registry import CHAMPION
from features.spec import FEATURE_NAMES
from training.dataset import TrainingData


@dataclass(frozen=True)
class Registered:
    """A bundle registered as a model version.

    Attributes:
        name: Registered model name.
        version: The new version.
        champion: Whether it became the champion (it does when there was none).
        model_uri: URI of the logged MLflow model.
    """

    name: str
    version: str
    champion: bool
    model_uri: str


def use_store(tracking_uri: str, experiment: str) -> str:
    """Point MLflow at a tracking store and an experiment (created if new); return its id."""
    mlflow.set_tracking_uri(tracking_uri)
    return str(mlflow.set_experiment(experiment).experiment_id)


def git_commit(folder: Path | None = None) -> str:
    """The git commit of the code, or "unknown" outside a git checkout."""
    here = folder or Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 else "unknown"


def log_provenance(data: TrainingData) -> None:
    """Record in the active run what data it was trained on (no patient identifiers)."""
    reg = data.registry
    mlflow.log_params(
        {"registry": str(data.source), "data_fingerprint": data.fingerprint, **data.counts()}
    )
    commit = git_commit()
    mlflow.set_tags({"mlflow.source.git.commit": commit, "git_commit": commit})
    if data.oracle is not None:
        sim = data.oracle.simulation
        mlflow.set_tags(
            {
                "simulated": "true",
                "simulator_seed": str(sim.get("seed", "unknown")),
                "simulator_scenario": str(sim.get("scenario", "unknown")),
                "simulator_version": str(sim.get("simulator_version", "unknown")),
                # Exports simulated before worlds existed are of the default world.
                "simulator_world": str(sim.get("world", "default")),
            }
        )
        overrides = sim.get("world_overrides")
        if overrides:
            mlflow.log_dict(overrides, "simulation/world_overrides.json")
    if len(reg.rejects):
        by_reason = reg.rejects.groupby(["table", "column", "reason"], dropna=False).size()
        mlflow.log_text(by_reason.reset_index(name="rows").to_csv(index=False), "rejects.csv")


def champion_version(name: str) -> str | None:
    """The version the champion alias points at, or None when there is none."""
    client = MlflowClient()
    try:
        return str(client.get_model_version_by_alias(name, CHAMPION).version)
    except mlflow.exceptions.MlflowException:
        return None


def register_bundle(bundle: Path, name: str, example: npt.NDArray[np.float32]) -> Registered:
    """Log a bundle as an MLflow pyfunc model in the active run and register a new version.

    The version becomes the champion only when the model has no champion yet; otherwise
    ``asym promote`` decides.

    Args:
        bundle: The exported bundle folder.
        name: Registered model name.
        example: A few feature rows (``features.spec.FEATURE_NAMES`` columns): logged as the
            model's input example, which MLflow checks against the signature by predicting it
            (and without which it warns on every log).
    """
    # Model from code (a file MLflow executes), not a pickled object; importing that file would
    # register the model as a side effect, so only its path is taken here.
    code = Path(pyfunc.__file__).with_name("mlflow_model.py")
    info = mlflow.pyfunc.log_model(
        name="model",
        python_model=str(code),
        artifacts={"bundle": str(bundle)},
        signature=pyfunc.signature(load_manifest(bundle)),
        input_example=pd.DataFrame(example, columns=list(FEATURE_NAMES)),
        registered_model_name=name,
    )
    version = str(info.registered_model_version)
    became = champion_version(name) is None
    if became:
        MlflowClient().set_registered_model_alias(name, CHAMPION, version)
    return Registered(name=name, version=version, champion=became, model_uri=info.model_uri)
