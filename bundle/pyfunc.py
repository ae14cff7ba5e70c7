"""The asym bundle as an MLflow pyfunc model, so the Model Registry holds what serving runs.

``mlflow.pyfunc.load_model("models:/asym@champion")`` gives a model whose ``predict`` takes a
DataFrame of treatment features (``features.spec.FEATURE_NAMES`` columns) and answers with the
same onnxruntime sessions and post-processing as the asym service.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.models.signature import ModelSignature
from mlflow.pyfunc.model import PythonModel
from mlflow.types.schema import ColSpec, Schema, TensorSpec

from bundle.manifest import Manifest
from bundle.predictor import Predictor
from features.spec import FEATURE_NAMES


def signature(manifest: Manifest) -> ModelSignature:
    """Input: one float column per treatment feature; output: risk and differences."""
    outputs: list[ColSpec | TensorSpec] = [ColSpec("double", "asymmetry_risk")]
    for target in manifest.diff_targets:
        outputs += [ColSpec("double", f"{target}{s}") for s in ("", "_q10", "_q90")]
    return ModelSignature(
        inputs=Schema([ColSpec("float", n) for n in FEATURE_NAMES]),
        outputs=Schema(outputs),
    )


class AsymModel(PythonModel):
    """Treatment-level answers (asymmetry risk, differences with their interval) of a bundle."""

    def load_context(self, context: Any) -> None:
        """Open the bundle's onnxruntime sessions once."""
        self._predictor = Predictor.load(Path(context.artifacts["bundle"]))

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """Risk and differences for each row of treatment features."""
        x = model_input[list(FEATURE_NAMES)].to_numpy(dtype=np.float32)
        none = np.empty(0, dtype=np.int64)  # treatment-level answers only: no longevity rows
        answer = self._predictor.predict(x, none, none, none)
        out: dict[str, Any] = {"asymmetry_risk": answer.asymmetry_risk}
        for target, q in answer.differences.items():
            out[target] = q["q50"]
            out[f"{target}_q10"] = q["q10"]
            out[f"{target}_q90"] = q["q90"]
        return pd.DataFrame(out)
