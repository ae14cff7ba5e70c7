"""Path contributions: equal to TreeSHAP where the two coincide (trees of one split)."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest
from onnx import TensorProto, helper

from training.contributions import contributions_node, path_contributions
from training.onnx_graph import Converted, merge, run


def test_stump_contributions_equal_lightgbm_treeshap() -> None:
    # With one split per tree, a path attribution and TreeSHAP give each tree's
    # leaf - mean to its split feature: LightGBM's pred_contrib is an independent reference.
    rng = np.random.default_rng(4)
    x = rng.normal(size=(3000, 4)).astype(np.float32)
    x[rng.random(x.shape) < 0.15] = np.nan
    y = np.nan_to_num(x[:, 0]) + 2 * (np.nan_to_num(x[:, 1]) > 0.5) + rng.normal(size=len(x))
    booster = lgb.train(
        {"objective": "regression", "num_leaves": 2, "verbose": -1, "num_threads": 1},
        lgb.Dataset(x, y),
        num_boost_round=40,
    )
    paths = path_contributions(booster)
    node = contributions_node(booster, paths, "x", 4, "risk_contributions")
    value = helper.make_tensor_value_info("risk_contributions", TensorProto.FLOAT, ["N", 4])
    head = Converted(booster, "margin", "the booster")
    model = merge([head], "x", 4, [(node, value)])
    got = run(model.SerializeToString(), "x", x)["risk_contributions"]
    shap = booster.predict(x, pred_contrib=True)
    np.testing.assert_allclose(got, shap[:, :-1], atol=1e-5)  # float32 sums of 40 trees
    assert paths.base == pytest.approx(shap[0, -1], abs=1e-12)
