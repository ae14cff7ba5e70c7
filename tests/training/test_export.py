"""export_bundle: files and manifest, ONNX vs LightGBM parity, and refusal to publish a bad one."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import lightgbm as lgb
import numpy as np
import onnxmltools
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper
from onnxmltools.convert.common.data_types import FloatTensorType

from bundle import postprocess
from bundle.manifest import MANIFEST_FILE, load_manifest, sha256_bytes
from features.longevity import LONGEVITY_INDEX, LONGEVITY_NAMES
from features.spec import FEATURE_DTYPE, FEATURE_NAMES
from tests.fixtures import CALIBRATION
from training import export
from training.dataset import TrainingData
from training.longevity import duration_rows
from training.models import DIFF_TARGETS, QUANTILES, FittedModels

OUTPUTS = [f"{t}_{q}" for t in DIFF_TARGETS for q, _ in QUANTILES]


@pytest.fixture(scope="module")
def bundle(
    models: FittedModels, data: TrainingData, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    out = tmp_path_factory.mktemp("bundles") / "bundle"
    export.export_bundle(models, data, out, model_name="asym-test", model_version="7", run_id="r1")
    return out


def _session(path: Path) -> ort.InferenceSession:
    return ort.InferenceSession(path.read_bytes(), providers=["CPUExecutionProvider"])


def test_bundle_has_files_and_documented_manifest(
    bundle: Path, data: TrainingData, models: FittedModels
) -> None:
    assert sorted(p.name for p in bundle.iterdir()) == [
        "longevity.onnx",
        "manifest.json",
        "treatment.onnx",
    ]
    raw = json.loads((bundle / MANIFEST_FILE).read_text())
    for field in (
        "format_version", "model_name", "model_version", "run_id", "created", "feature_names",
        "feature_dtype", "longevity_features", "files", "calibration", "risk_contribution_base",
        "bin_days", "n_bins",
        "hazard_baseline", "libraries", "data_fingerprint", "parity",
    ):  # fmt: skip
        assert field in raw
    m = load_manifest(bundle)
    assert (m.model_name, m.model_version, m.run_id) == ("asym-test", "7", "r1")
    assert datetime.fromisoformat(m.created).utcoffset() is not None
    assert m.feature_names == FEATURE_NAMES and m.feature_dtype == FEATURE_DTYPE
    assert m.longevity_features == LONGEVITY_NAMES
    assert (m.calibration.slope, m.calibration.intercept) == CALIBRATION
    assert (m.bin_days, m.n_bins) == (models.longevity.bin_days, models.longevity.n_bins)
    np.testing.assert_array_equal(np.array(m.hazard_baseline), models.longevity.baseline)
    assert m.data_fingerprint == data.fingerprint
    assert {"lightgbm", "onnx", "onnxmltools", "onnxruntime", "numpy", "asym"} <= set(m.libraries)
    treatment, longevity = m.files["treatment"], m.files["longevity"]
    assert [o.name for o in treatment.outputs] == [*OUTPUTS, "risk_contributions"]
    assert treatment.input.name == "features" and treatment.input.shape == (
        None,
        len(FEATURE_NAMES),
    )
    assert longevity.input.shape == (None, len(LONGEVITY_NAMES))
    assert [o.name for o in longevity.outputs] == ["hazard_margin"]
    for spec in (treatment, longevity):
        assert spec.sha256 == sha256_bytes((bundle / spec.file).read_bytes())
        # The graph's own input and outputs are the ones the manifest names.
        session = _session(bundle / spec.file)
        assert [i.name for i in session.get_inputs()] == [spec.input.name]
        assert [o.name for o in session.get_outputs()] == [o.name for o in spec.outputs]
    assert set(m.parity.max_abs_deviation) == {
        *OUTPUTS,
        "risk_contributions",
        "risk",
        "hazard_margin",
        "hazard",
    }
    assert m.parity.rows["treatment"] == int(data.test.sum())
    assert m.parity.rows["longevity"] == len(duration_rows(data, data.test).x)


def test_onnx_equals_lightgbm_on_held_out_rows(
    bundle: Path, data: TrainingData, models: FittedModels
) -> None:
    x = data.features[data.test]
    names = [*OUTPUTS, "risk_contributions"]
    got = dict(
        zip(names, _session(bundle / "treatment.onnx").run(names, {"features": x}), strict=True)
    )
    # The risk (before calibration) is its contributions' sum with the base, through a sigmoid.
    base = load_manifest(bundle).risk_contribution_base
    risk = 1 / (1 + np.exp(-(base + got["risk_contributions"].sum(axis=1, dtype=np.float64))))
    np.testing.assert_allclose(risk, models.risk.booster.predict(x), rtol=0, atol=1e-5)
    for target in DIFF_TARGETS:
        for q, _ in QUANTILES:
            expected = models.differences.boosters[target][q].predict(x)
            np.testing.assert_allclose(got[f"{target}_{q}"], expected, rtol=1e-4, atol=1e-4)
    rows = duration_rows(data, data.test).x
    lon = models.longevity
    (margin,) = _session(bundle / "longevity.onnx").run(["hazard_margin"], {"longevity": rows})
    # The graph gives the booster's raw margin (not its probability), one per row.
    assert margin.shape == (len(rows),)
    np.testing.assert_allclose(margin, lon.margin(rows), rtol=1e-5, atol=1e-5)
    region = rows[:, LONGEVITY_INDEX["region"]].astype(np.int64)
    hazards = postprocess.hazards_from_margin(margin, lon.baseline, region)
    np.testing.assert_allclose(hazards, lon.hazards(rows), rtol=0, atol=1e-5)
    # The manifest records what was measured, within the documented tolerances.
    m = load_manifest(bundle)
    assert max(m.parity.max_abs_deviation.values()) < 1e-4


def test_risk_contributions_split_the_margin(
    bundle: Path, data: TrainingData, models: FittedModels
) -> None:
    x = data.features[data.test].astype(np.float32)
    x[::3, :60] = np.nan  # missing values follow the trees' default branches, as the margin does
    (got,) = _session(bundle / "treatment.onnx").run(["risk_contributions"], {"features": x})
    booster = models.risk.booster
    assert got.shape == x.shape
    base = load_manifest(bundle).risk_contribution_base
    # float32 sums over the trees of a margin of a few units: 1e-4 is ~100 float32 ulps.
    margin = booster.predict(x, raw_score=True)
    np.testing.assert_allclose(base + got.sum(axis=1, dtype=np.float64), margin, atol=1e-4)
    # The base is what LightGBM's TreeSHAP takes as the expected margin.
    assert base == pytest.approx(booster.predict(x[:1], pred_contrib=True)[0, -1], abs=1e-9)
    # A feature the trees never split on gets nothing; the ones they use, something.
    used = booster.feature_importance("split") > 0
    assert not got[:, ~used].any() and np.abs(got[:, used]).sum(axis=0).min() > 0


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
    paths = export.path_contributions(booster)
    node = export._contributions_node(booster, paths, "x", 4)
    value = helper.make_tensor_value_info("risk_contributions", TensorProto.FLOAT, ["N", 4])
    head = export._Head(booster, "margin", "the booster")
    model = export._merge([head], "x", 4, [(node, value)])
    got = export._run(model.SerializeToString(), "x", x)["risk_contributions"]
    shap = booster.predict(x, pred_contrib=True)
    np.testing.assert_allclose(got, shap[:, :-1], atol=1e-5)  # float32 sums of 40 trees
    assert paths.base == pytest.approx(shap[0, -1], abs=1e-12)


def _shift_output(monkeypatch: pytest.MonkeyPatch, name: str, change: float) -> None:
    """Make the export's ONNX runs return every value of output ``name`` moved by ``change``."""
    run = export._run

    def shifted(model: bytes, input_name: str, x: np.ndarray) -> dict[str, np.ndarray]:
        out = run(model, input_name, x)
        if name in out:
            out[name] = out[name] + change
        return out

    monkeypatch.setattr(export, "_run", shifted)


def test_contribution_parity_failure_raises(
    models: FittedModels, data: TrainingData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _shift_output(monkeypatch, "risk_contributions", 1e-3)
    out = tmp_path / "bundle"
    with pytest.raises(
        export.ParityError, match=r"'risk_contributions' deviates .* by up to 0\.001 "
    ):
        export.export_bundle(models, data, out, model_name="m", model_version="1")
    assert list(tmp_path.iterdir()) == []


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
    fixed = onnx_predict(export._convert(booster, "x", 1))
    np.testing.assert_allclose(fixed, expected, rtol=1e-6)
    # Rounding thresholds down to float32 leaves LightGBM's own answers unchanged.
    assert np.array_equal(export._float32_thresholds(booster).predict(x), expected)


def test_a_binary_booster_as_regression_predicts_its_raw_margin(models: FittedModels) -> None:
    booster = models.longevity.booster
    x = np.random.default_rng(0).normal(size=(200, booster.num_feature())).astype(np.float32)
    copy = export._as_regression(booster)
    np.testing.assert_array_equal(copy.predict(x), booster.predict(x, raw_score=True))
    assert booster.predict(x).min() >= 0  # the original is untouched: still probabilities


def test_hazard_parity_failure_raises(
    models: FittedModels, data: TrainingData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A margin within the regression tolerance can still move the hazards too far: checked too.
    _shift_output(monkeypatch, "hazard_margin", 5e-5)
    monkeypatch.setattr(export, "PROBABILITY_ATOL", 1e-6)
    monkeypatch.setattr(export, "_compare", lambda heads, out, x: {})
    out = tmp_path / "bundle"
    with pytest.raises(export.ParityError, match=r"hazards from the ONNX output 'hazard_margin'"):
        export.export_bundle(models, data, out, model_name="m", model_version="1")
    assert list(tmp_path.iterdir()) == []


def test_parity_failure_raises_and_publishes_nothing(
    models: FittedModels, data: TrainingData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export, "PROBABILITY_ATOL", 0.0)
    out = tmp_path / "bundle"
    with pytest.raises(
        export.ParityError,
        match=r"risk from ONNX output 'risk_contributions' deviates .*tolerance 0 ",
    ):
        export.export_bundle(models, data, out, model_name="m", model_version="1")
    assert list(tmp_path.iterdir()) == []


def test_export_refuses_a_folder_that_is_not_empty(
    models: FittedModels, data: TrainingData, tmp_path: Path
) -> None:
    (tmp_path / "keep.txt").write_text("x")
    with pytest.raises(FileExistsError):
        export.export_bundle(models, data, tmp_path, model_name="m", model_version="1")
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
