"""Model-string surgery, pinned on the installed LightGBM: each edit does what it claims."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import onnxmltools
import onnxruntime as ort
from onnxmltools.convert.common.data_types import FloatTensorType

from training.model_string import as_regression, float32_thresholds
from training.models import FittedModels
from training.onnx_graph import convert


def test_threshold_between_adjacent_float32_values_converts_exactly() -> None:
    # Two adjacent float32 values: LightGBM splits at their midpoint (a double), which rounds up
    # to the larger value in float32. Converted as is, ONNX sends that value the other way.
    lo = np.float32(1.5)
    hi = np.nextafter(lo, np.float32(2))
    x = np.array([[lo]] * 50 + [[hi]] * 50, dtype=np.float32)
    y = np.array([0.0] * 50 + [10.0] * 50)
    booster = lgb.train(
        {"objective": "regression", "min_data_in_leaf": 1, "verbose": -1, "num_threads": 1},
        lgb.Dataset(x, y),
        num_boost_round=1,
    )
    expected = booster.predict(x)
    assert expected[0] != expected[-1]

    def onnx_predict(model: object) -> np.ndarray:
        session = ort.InferenceSession(
            model.SerializeToString(), providers=["CPUExecutionProvider"]
        )
        return session.run(None, {"x": x})[0][:, 0]

    naive = onnxmltools.convert_lightgbm(
        booster, initial_types=[("x", FloatTensorType([None, 1]))], target_opset=15
    )
    assert np.abs(onnx_predict(naive) - expected).max() >= 1  # the converter's own rounding
    fixed = onnx_predict(convert(booster, "x", 1))
    np.testing.assert_allclose(fixed, expected, rtol=1e-6)
    # Rounding thresholds down to float32 leaves LightGBM's own answers unchanged.
    assert np.array_equal(float32_thresholds(booster).predict(x), expected)


def test_a_binary_booster_as_regression_predicts_its_raw_margin(models: FittedModels) -> None:
    booster = models.longevity.booster
    x = np.random.default_rng(0).normal(size=(200, booster.num_feature())).astype(np.float32)
    copy = as_regression(booster)
    np.testing.assert_array_equal(copy.predict(x), booster.predict(x, raw_score=True))
    assert booster.predict(x).min() >= 0  # the original is untouched: still probabilities
