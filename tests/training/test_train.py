"""`train` end to end on the embedded default store: run, metrics, provenance, plots, registry."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient

from training.dataset import load_training_data
from training.settings import training_settings
from training.train import train


@pytest.fixture(scope="module")
def trained(small_registry: Path, tmp_path_factory: pytest.TempPathFactory):
    work = tmp_path_factory.mktemp("work")
    settings = training_settings(
        registry=small_registry,
        out=work / "bundle",
        tracking_uri=f"sqlite:///{work / 'mlflow.db'}",
        experiment="test",
        model_name="asym-test",
    )
    lines: list[str] = []
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(work)  # the SQLite store keeps artifacts in ./mlruns: keep them in tmp
        result = train(settings, echo=lines.append)
    return settings, result, lines


def test_run_records_metrics_provenance_and_plots(trained, small_registry: Path) -> None:
    settings, result, lines = trained
    client = MlflowClient(settings.tracking_uri)
    run = client.get_run(result.run_id)
    assert run.info.status == "FINISHED"
    assert "3,000 treatments" in run.info.run_name
    m = run.data.metrics
    # A 3k registry has a few hundred held-out reviews: the model must still be informative.
    assert 0.7 < m["risk_auc"] <= 1.0
    assert m["risk_auc"] <= m["oracle_risk_auc"] + 0.05
    assert 0.5 < m["longevity_c_index"] <= 1.0
    assert m["parity_asymmetry_risk"] <= 1e-5
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
    assert run.data.tags["simulator_seed"] == "5"
    assert run.data.tags["simulator_scenario"] == "literature"
    assert len(run.data.tags["git_commit"]) in (40, len("unknown"))
    plots = {a.path for a in client.list_artifacts(result.run_id, "plots")}
    assert {"plots/calibration.png", "plots/roc.png", "plots/decision_curve.png"} <= plots
    # Progress: every stage reported with its time.
    assert sum(line.startswith("[") for line in lines) == 7
    assert all(s > 0 for s in result.seconds.values())


def test_first_version_becomes_champion_with_its_bundle(trained) -> None:
    settings, result, _ = trained
    client = MlflowClient(settings.tracking_uri)
    champion = client.get_model_version_by_alias("asym-test", "champion")
    assert str(champion.version) == result.registered.version == "1"
    assert result.registered.champion
    manifest = json.loads((settings.out / "manifest.json").read_text())
    assert manifest["model_name"] == "asym-test"
    # The registry's version number, not the run id: what the UI and asym promote call it.
    assert manifest["model_version"] == "1"
    assert manifest["run_id"] == result.run_id


def test_train_refuses_a_used_bundle_folder_before_fitting(tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    out.mkdir()
    (out / "manifest.json").write_text("{}")  # an earlier bundle: never overwritten
    asym = Path(sys.executable).with_name("asym")
    result = subprocess.run(
        [
            str(asym),
            "train",
            "--registry",
            str(tmp_path / "none"),
            "--out",
            str(out),
            "--tracking-uri",
            f"sqlite:///{tmp_path / 'mlflow.db'}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert f"error: {out}: exists and is not an empty folder" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert [p.name for p in out.iterdir()] == ["manifest.json"]
    assert not (tmp_path / "mlflow.db").exists()  # refused before any run was started
