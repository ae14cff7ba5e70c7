"""`train` end to end on the embedded default store: run, metrics, provenance, plots, registry;
and `asym train` on an export whose oracle is incomplete."""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient

from data.simulate.params import SIMULATOR_VERSION
from training.dataset import load_training_data
from training.train import INPUT_EXAMPLE_ROWS

# Metrics whose range a 3k registry must meet (every one is logged and finite).
RANGES = {
    "risk_auc": (0.7, 1.0),
    "risk_brier": (0.05, 0.2),
    "risk_log_loss": (0.15, 0.6),
    "risk_calibration_slope": (0.6, 1.5),
    "oracle_risk_auc": (0.7, 1.0),
    "risk_auc_ratio_to_oracle": (0.85, 1.05),
    "longevity_c_index": (0.55, 0.8),
    "oracle_longevity_c_index": (0.55, 0.85),
    "longevity_s90_abs_gap": (0.0, 0.08),
    "diff_brow_height_diff_mm_coverage_10_90": (0.6, 0.95),
    "parity_asymmetry_risk": (0.0, 1e-5),
    "plain_risk_auc": (0.7, 1.0),
    "plain_risk_brier": (0.05, 0.2),
    "longevity_c_index_ci_low": (0.5, 0.8),
}


def test_run_records_metrics_provenance_and_plots(trained, small_registry: Path) -> None:
    settings, result, _, _ = trained
    client = MlflowClient(settings.tracking_uri)
    run = client.get_run(result.run_id)
    assert run.info.status == "FINISHED"
    assert "3,000 treatments" in run.info.run_name
    m = run.data.metrics
    # What the run logged is what train returned, every figure finite.
    assert m.keys() == result.metrics.keys()
    for name, value in result.metrics.items():
        assert m[name] == pytest.approx(value, nan_ok=True), name
    for name, (lo, hi) in RANGES.items():
        assert lo <= m[name] <= hi, (name, m[name])
    assert m["risk_auc"] <= m["oracle_risk_auc"] + 0.05
    # The plain baseline beside it, and the run says in words whether the model beat it.
    assert m["risk_auc_minus_plain"] == pytest.approx(m["risk_auc"] - m["plain_risk_auc"])
    said = run.data.tags["risk_vs_plain_baseline"]
    beaten = "the risk model beats the plain baseline"
    assert said.startswith(beaten if m["risk_beats_plain"] == 1.0 else "the risk model does NOT")
    low, high = m["longevity_c_index_ci_low"], m["longevity_c_index_ci_high"]
    assert low < m["longevity_c_index"] < high and high - low < 0.1
    # The ptosis risks, evaluated like the asymmetry risk: rare (about 1% of reviews), so their
    # figures come with the events they rest on and bootstrap intervals around them.
    for p in ("eyelid_ptosis", "brow_ptosis"):
        assert 0 < m[f"{p}_events_test"] < 0.05 * m[f"{p}_n_test"]
        assert m[f"{p}_brier_ci_low"] <= m[f"{p}_brier"] <= m[f"{p}_brier_ci_high"]
        assert m[f"{p}_observed_expected_ci_low"] < m[f"{p}_observed_expected_ci_high"]
        assert m[f"parity_{p}_risk"] <= 1e-5
    params = run.data.params
    assert params["data_fingerprint"] == load_training_data(small_registry).fingerprint
    assert int(params["n_treatments"]) == 3000
    # The simulator's weekly visits, found and recorded in the run and in the bundle's manifest.
    assert float(params["longevity_visit_lattice_days"]) == 7.0
    assert 0.9 < float(params["longevity_visit_lattice_share"]) < 1.0
    manifest = json.loads((settings.out / "manifest.json").read_text())
    assert manifest["visit_lattice_days"] == 7.0
    assert manifest["visit_lattice_share"] == pytest.approx(
        float(params["longevity_visit_lattice_share"]), abs=1e-4
    )
    assert run.data.tags["simulator_seed"] == "5"
    assert run.data.tags["simulator_scenario"] == "literature"
    assert run.data.tags["simulator_world"] == "default"
    assert run.data.tags["simulator_version"] == SIMULATOR_VERSION
    # CI runs in a git clone: the commit is always known.
    assert re.fullmatch(r"[0-9a-f]{40}", run.data.tags["git_commit"])
    assert run.data.tags["mlflow.source.git.commit"] == run.data.tags["git_commit"]
    plots = {a.path for a in client.list_artifacts(result.run_id, "plots")}
    assert {
        "plots/calibration.png",
        "plots/roc.png",
        "plots/decision_curve.png",
        "plots/feature_importance.png",
        "plots/survival_by_region.png",
        "plots/late_asymmetry_calibration.png",
    } <= plots


def test_first_version_becomes_champion_with_its_bundle(trained) -> None:
    settings, result, _, _ = trained
    client = MlflowClient(settings.tracking_uri)
    champion = client.get_model_version_by_alias("asym-test", "champion")
    assert str(champion.version) == result.registered.version == "1"
    assert champion.run_id == result.run_id
    assert result.registered.champion
    manifest = json.loads((settings.out / "manifest.json").read_text())
    assert manifest["model_name"] == "asym-test"
    # The registry's version number, not the run id: what the UI and asym promote call it.
    assert manifest["model_version"] == "1"
    assert manifest["run_id"] == result.run_id
    assert (
        manifest["data_fingerprint"]
        == client.get_run(result.run_id).data.params["data_fingerprint"]
    )


def test_the_registered_model_carries_an_input_example_and_logs_no_warning(trained) -> None:
    settings, result, _, caught = trained
    # The warning every `asym demo` printed before the example was logged.
    assert not [w for w in caught if "input example was not provided" in w]
    mlflow.set_tracking_uri(settings.tracking_uri)
    info = mlflow.models.get_model_info(result.registered.model_uri)
    assert info.saved_input_example_info is not None
    model = mlflow.pyfunc.load_model(result.registered.model_uri)
    example = model.input_example
    assert example.shape == (INPUT_EXAMPLE_ROWS, len(info.signature.inputs.input_names()))
    answer = model.predict(example)
    assert len(answer) == INPUT_EXAMPLE_ROWS
    assert np.all((answer["asymmetry_risk"] > 0) & (answer["asymmetry_risk"] < 1))


def _asym(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    asym = Path(sys.executable).with_name("asym")
    return subprocess.run([str(asym), *args], capture_output=True, text=True, timeout=600, cwd=cwd)


def test_train_refuses_a_used_bundle_folder_before_fitting(tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    out.mkdir()
    (out / "manifest.json").write_text("{}")  # an earlier bundle: never overwritten
    result = _asym(
        "train",
        "--registry",
        str(tmp_path / "none"),
        "--out",
        str(out),
        "--tracking-uri",
        f"sqlite:///{tmp_path / 'mlflow.db'}",
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert f"error: {out}: exists and is not an empty folder" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert [p.name for p in out.iterdir()] == ["manifest.json"]
    assert not (tmp_path / "mlflow.db").exists()  # refused before any run was started


def test_train_goes_on_without_an_incomplete_oracle(small_registry: Path, tmp_path: Path) -> None:
    export = tmp_path / "export"
    shutil.copytree(small_registry, export)
    (export / "oracle" / "asymmetry.parquet").unlink()
    result = _asym(
        "train",
        "--registry",
        str(export),
        "--out",
        str(tmp_path / "bundle"),
        "--tracking-uri",
        f"sqlite:///{tmp_path / 'mlflow.db'}",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    missing = f"{export / 'oracle' / 'asymmetry'}.parquet (or .csv) is missing"
    said = [line for line in result.stdout.splitlines() if missing in line]
    # One line as the data are read, and the summary says there are no oracle figures.
    assert said[0].strip() == f"oracle: {missing}; going on without oracle figures"
    assert said[1] == f"vs oracle: none ({missing})"
    assert "risk      AUC 0." in result.stdout
    plain = [line for line in result.stdout.splitlines() if line.startswith("plain     AUC 0.")]
    assert len(plain) == 1 and "the risk model" in plain[0] and "plain baseline" in plain[0]
