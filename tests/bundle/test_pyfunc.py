"""The MLflow pyfunc flavour: its signature and answers follow the bundle's heads."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

from bundle.manifest import load_manifest
from bundle.predictor import Predictor
from bundle.pyfunc import AsymModel, signature
from features.spec import FEATURE_NAMES
from training.dataset import TrainingData


def test_pyfunc_answers_every_binary_and_quantile_head(bundle: Path, data: TrainingData) -> None:
    manifest = load_manifest(bundle)
    outputs = signature(manifest).outputs.input_names()
    binary = [h.name for h in manifest.heads_of("binary", "contributions")]
    assert outputs[: len(binary)] == binary == ["asymmetry_risk", *binary[1:]]
    assert len(binary) == 3  # the asymmetry risk and the two ptosis risks
    assert "brow_height_diff_mm_q90" in outputs

    model = AsymModel()
    model.load_context(SimpleNamespace(artifacts={"bundle": str(bundle)}))
    x = data.features[:25].astype(np.float32)
    got = model.predict(None, pd.DataFrame(x, columns=list(FEATURE_NAMES)))
    assert got.columns.tolist() == outputs
    empty = np.zeros(0, dtype=np.int64)
    expected = Predictor.load(bundle).predict(x, empty, empty, empty)
    for name in binary:
        np.testing.assert_array_equal(got[name].to_numpy(), expected.risks[name])
    np.testing.assert_array_equal(
        got["brow_height_diff_mm_q10"].to_numpy(),
        expected.differences["brow_height_diff_mm"]["q10"],
    )
