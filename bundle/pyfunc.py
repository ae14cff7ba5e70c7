"""The asym bundle as an MLflow pyfunc model, so the Model Registry holds what serving runs.

``mlflow.pyfunc.load_model("models:/asym@champion")`` gives a model whose ``predict`` takes a
DataFrame of treatment features (``features.spec.FEATURE_NAMES`` columns) and answers with the
same onnxruntime sessions and post-processing as the asym service.
"""

# No "from __future__ import annotations" here: MLflow reads predict's type hints as objects,
# and a string "pd.DataFrame" is "not supported" (a warning at every log_model).
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.models.signature import ModelSignature
from mlflow.pyfunc.model import PythonModel
from mlflow.types.schema import ColSpec, Schema

from bundle.manifest import Manifest
from bundle.predictor import Predictor
from features.spec import FEATURE_NAMES


def _columns(manifest: Manifest) -> list[str]:
    """Output columns: each binary head's probability, each quantile head's quantiles."""
    out = [h.name for h in manifest.heads_of("binary", "contributions")]
    out += [f"{h.name}_{q}" for h in manifest.heads_of("quantiles") for q in h.quantiles]
    return out


def signature(manifest: Manifest) -> ModelSignature:
    """Input: one float column per treatment feature; output: ``_columns`` of the manifest."""
    return ModelSignature(
        inputs=Schema([ColSpec("float", n) for n in FEATURE_NAMES]),
        outputs=Schema([ColSpec("double", c) for c in _columns(manifest)]),
    )


class AsymModel(PythonModel):
    """Treatment-level answers (outcome risks, differences with their interval) of a bundle."""

    def load_context(self, context: Any) -> None:
        """Open the bundle's onnxruntime sessions once."""
        self._predictor = Predictor.load(Path(context.artifacts["bundle"]))

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """Risks and differences for each row of treatment features."""
        x = model_input[list(FEATURE_NAMES)].to_numpy(dtype=np.float32)
        none = np.empty(0, dtype=np.int64)  # treatment-level answers only: no longevity rows
        answer = self._predictor.predict(x, none, none, none)
        out: dict[str, Any] = dict(answer.risks)
        for target, by_q in answer.differences.items():
            out |= {f"{target}_{q}": v for q, v in by_q.items()}
        return pd.DataFrame(out)[_columns(self._predictor.manifest)]
