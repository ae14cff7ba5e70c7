"""export_bundle: files and manifest, ONNX vs LightGBM parity, and refusal to publish a bad one."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from bundle import postprocess
from bundle.heads import OUTCOMES
from bundle.manifest import MANIFEST_FILE, load_manifest, sha256_bytes
from features.longevity import LONGEVITY_INDEX, LONGEVITY_NAMES
from features.spec import FEATURE_DTYPE, FEATURE_NAMES
from tests.fixtures import CALIBRATION
from training import export, parity
from training.dataset import TrainingData
from training.duration_rows import duration_rows
from training.models import DIFF_TARGETS, QUANTILES, FittedModels
from training.support import SUPPORT_QUANTILES

OUTPUTS = [f"{t}_{q}" for t in DIFF_TARGETS for q, _ in QUANTILES]
CONTRIBUTIONS = "asymmetry_risk_contributions"


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
        "feature_dtype", "longevity_features", "heads", "files", "bin_days", "n_bins",
        "hazard_baseline", "libraries", "data_fingerprint", "parity",
    ):  # fmt: skip
        assert field in raw
    m = load_manifest(bundle)
    assert (m.model_name, m.model_version, m.run_id) == ("asym-test", "7", "r1")
    assert datetime.fromisoformat(m.created).utcoffset() is not None
    assert m.feature_names == FEATURE_NAMES and m.feature_dtype == FEATURE_DTYPE
    assert m.longevity_features == LONGEVITY_NAMES
    heads = {h.name: h for h in m.heads}
    assert list(heads) == [*(o.name for o in OUTCOMES), *DIFF_TARGETS, "longevity"]
    for o in OUTCOMES[1:]:  # the ptosis risks: a calibrated margin of their own
        assert heads[o.name].kind == "binary" and heads[o.name].outputs == (f"{o.name}_margin",)
    risk = heads["asymmetry_risk"]
    assert risk.kind == "contributions" and risk.outputs == (CONTRIBUTIONS,)
    assert risk.calibration is not None
    assert (risk.calibration.slope, risk.calibration.intercept) == CALIBRATION
    for target in DIFF_TARGETS:
        assert heads[target].kind == "quantiles" and heads[target].quantiles == (
            "q10",
            "q50",
            "q90",
        )
        assert heads[target].outputs == tuple(f"{target}_{q}" for q, _ in QUANTILES)
    assert heads["longevity"].kind == "hazard" and heads["longevity"].outputs == ("hazard_margin",)
    assert (m.bin_days, m.n_bins) == (models.longevity.bin_days, models.longevity.n_bins)
    np.testing.assert_array_equal(np.array(m.hazard_baseline), models.longevity.baseline)
    assert m.data_fingerprint == data.fingerprint
    assert {"lightgbm", "onnx", "onnxmltools", "onnxruntime", "numpy", "asym"} <= set(m.libraries)
    treatment, longevity = m.files["treatment"], m.files["longevity"]
    margins = [f"{o.name}_margin" for o in OUTCOMES[1:]]
    assert [o.name for o in treatment.outputs] == [*margins, *OUTPUTS, CONTRIBUTIONS]
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
        *margins,
        *(o.name for o in OUTCOMES),
        *OUTPUTS,
        CONTRIBUTIONS,
        "hazard_margin",
        "hazard",
    }
    assert m.parity.rows["treatment"] == int(data.test.sum())
    assert m.parity.rows["longevity"] == len(duration_rows(data, data.test).x)


def test_onnx_equals_lightgbm_on_held_out_rows(
    bundle: Path, data: TrainingData, models: FittedModels
) -> None:
    x = data.features[data.test]
    names = [*OUTPUTS, CONTRIBUTIONS]
    got = dict(
        zip(names, _session(bundle / "treatment.onnx").run(names, {"features": x}), strict=True)
    )
    # The risk (before calibration) is its contributions' sum with the base, through a sigmoid.
    base = load_manifest(bundle).heads[0].contribution_base
    assert base is not None
    risk = 1 / (1 + np.exp(-(base + got[CONTRIBUTIONS].sum(axis=1, dtype=np.float64))))
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
    (got,) = _session(bundle / "treatment.onnx").run([CONTRIBUTIONS], {"features": x})
    booster = models.risk.booster
    assert got.shape == x.shape
    base = load_manifest(bundle).heads[0].contribution_base
    assert base is not None
    # float32 sums over the trees of a margin of a few units: 1e-4 is ~100 float32 ulps.
    margin = booster.predict(x, raw_score=True)
    np.testing.assert_allclose(base + got.sum(axis=1, dtype=np.float64), margin, atol=1e-4)
    # The base is what LightGBM's TreeSHAP takes as the expected margin.
    assert base == pytest.approx(booster.predict(x[:1], pred_contrib=True)[0, -1], abs=1e-9)
    # A feature the trees never split on gets nothing; the ones they use, something.
    used = booster.feature_importance("split") > 0
    assert not got[:, ~used].any() and np.abs(got[:, used]).sum(axis=0).min() > 0


def _shift_output(monkeypatch: pytest.MonkeyPatch, name: str, change: float) -> None:
    """Make the export's ONNX runs return every value of output ``name`` moved by ``change``."""
    run = export.run

    def shifted(model: bytes, input_name: str, x: np.ndarray) -> dict[str, np.ndarray]:
        out = run(model, input_name, x)
        if name in out:
            out[name] = out[name] + change
        return out

    monkeypatch.setattr(export, "run", shifted)


def test_contribution_parity_failure_raises(
    models: FittedModels, data: TrainingData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _shift_output(monkeypatch, CONTRIBUTIONS, 1e-3)
    out = tmp_path / "bundle"
    with pytest.raises(
        export.ParityError, match=rf"'{CONTRIBUTIONS}' deviates .* by up to 0\.001 "
    ):
        export.export_bundle(models, data, out, model_name="m", model_version="1")
    assert list(tmp_path.iterdir()) == []


def test_hazard_parity_failure_raises(
    models: FittedModels, data: TrainingData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A margin within the regression tolerance can still move the hazards too far: checked too.
    _shift_output(monkeypatch, "hazard_margin", 5e-5)
    monkeypatch.setattr(parity, "PROBABILITY_ATOL", 1e-6)
    monkeypatch.setattr(parity, "boosters", lambda converted, out, x: {})
    out = tmp_path / "bundle"
    with pytest.raises(export.ParityError, match=r"hazards from the ONNX output 'hazard_margin'"):
        export.export_bundle(models, data, out, model_name="m", model_version="1")
    assert list(tmp_path.iterdir()) == []


def test_parity_failure_raises_and_publishes_nothing(
    models: FittedModels, data: TrainingData, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(parity, "PROBABILITY_ATOL", 0.0)
    out = tmp_path / "bundle"
    with pytest.raises(
        export.ParityError,
        match=rf"asymmetry_risk from ONNX output '{CONTRIBUTIONS}' deviates .*tolerance 0 ",
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


def test_the_manifest_carries_the_training_rows_feature_ranges(
    bundle: Path, data: TrainingData
) -> None:
    support = load_manifest(bundle).support
    assert support is not None
    assert support.quantiles == SUPPORT_QUANTILES
    assert support.rows == int(data.train.sum())
    x = data.features[data.train].astype(np.float64)
    level = support.quantiles[0]
    assert support.quantiles[1] == 1 - level
    assert len(support.low) == len(support.high) == x.shape[1]
    for f, (low, high) in enumerate(zip(support.low, support.high, strict=True)):
        values = x[:, f][~np.isnan(x[:, f])]
        if not len(values):
            assert low is None and high is None, FEATURE_NAMES[f]
            continue
        assert low is not None and high is not None
        assert values.min() <= low <= high <= values.max(), FEATURE_NAMES[f]
        # At most the quantile level of the rows (+1 for ties at the quantile) each side.
        assert (values < low).sum() <= level * len(values) + 1, FEATURE_NAMES[f]
        assert (values > high).sum() <= level * len(values) + 1, FEATURE_NAMES[f]
