"""The model report (``training.report``, ``training.report_data``) of a real training run."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from mlflow import MlflowClient

from training.dataset import load_training_data
from training.report import REPORT_FILE, ReportError, run_of, write_report
from training.report_data import data_summary
from training.report_items import ITEMS


def _logged(trained: Any, tmp_path: Path) -> str:
    settings, result, _, _ = trained
    client = MlflowClient(settings.tracking_uri)
    return Path(client.download_artifacts(result.run_id, REPORT_FILE, str(tmp_path))).read_text()


def test_every_run_logs_a_standalone_report_keyed_to_tripod(trained: Any, tmp_path: Path) -> None:
    _, result, lines, _ = trained
    html = _logged(trained, tmp_path)
    m = result.metrics
    # Stands alone: no external script, style or image; the plots inside as data URIs.
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", html)
    assert "<script" not in html and "<link" not in html
    # The run's six plots: calibration, ROC, decision curve, feature importance, survival by
    # region and the late-stage asymmetry's calibration.
    assert len(re.findall(r'src="data:image/png;base64,', html)) == 6
    # Every item, each filled by software or marked for a person.
    assert html.count("<tr><td>") >= len(ITEMS)
    person = sum(1 for it in ITEMS if it.who == "person")
    assert html.count('<td class="person">a person must write</td>') == person
    for it in ITEMS:
        assert f"<td>{it.item}</td><td>{it.topic}</td>" in html, it
    assert "SIMULATED registry" in html and "world &#39;default&#39;" in html
    # The figures are the run's: AUC with its interval, the baseline and its verdict.
    assert f"{m['risk_auc']:.4f}" in html
    assert f"{m['risk_auc_ci_low']:.4f} – {m['risk_auc_ci_high']:.4f}" in html
    assert f"{m['plain_risk_auc']:.4f}" in html and "the risk model" in html
    assert f"{m['longevity_c_index_ci_low']:.4f} – {m['longevity_c_index_ci_high']:.4f}" in html
    assert any("write the model report" in line for line in lines)


def test_summary_counts_add_up(small_registry: Path) -> None:
    data = load_training_data(small_registry)
    s = data_summary(data)
    flow = s["flow"]
    parts = (
        flow["development treatments"]
        + flow["evaluation treatments (latest period)"]
        + flow["earlier treatments of evaluation patients (in neither)"]
    )
    assert parts == flow["valid treatments"] == len(data.registry.treatments)
    fol = data.registry.followups.set_index("treatment_id")
    test_ids = data.treatment_ids[data.test]
    assert (
        s["events"]["visible_asymmetry"]["evaluation"]
        == fol.loc[fol.index.intersection(test_ids), "visible_asymmetry"].sum()
    )
    treatments = data.registry.treatments[data.train]
    assert s["missing"]["treatments.ancestry"]["development"] == pytest.approx(
        treatments["ancestry"].isna().mean()
    )
    assert s["source"]["simulation"]["seed"] == 5
    assert s["dates"]["evaluation"][0] > s["dates"]["development"][0]


def test_asym_report_writes_the_runs_report_again(trained: Any, tmp_path: Path) -> None:
    settings, result, _, _ = trained
    asym = str(Path(sys.executable).with_name("asym"))
    out = tmp_path / "again.html"
    uri = ["--tracking-uri", settings.tracking_uri]
    done = subprocess.run(
        [asym, "report", str(settings.out), "--out", str(out), *uri],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert result.run_id in done.stdout
    # The bundle leads to its training run; the run's data give the same bytes as at training.
    assert out.read_text() == _logged(trained, tmp_path / "logged")
    missing = subprocess.run(
        [asym, "report", "no-such-run", "--out", str(tmp_path / "x.html"), *uri],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert missing.returncode == 2
    assert "error: no MLflow run 'no-such-run'" in missing.stderr
    assert "Traceback" not in missing.stderr + missing.stdout
    assert not (tmp_path / "x.html").exists()


def test_a_folder_that_is_no_bundle_is_named(trained: Any, tmp_path: Path) -> None:
    settings, result, _, _ = trained
    assert run_of(str(settings.out)) == result.run_id
    assert run_of(result.run_id) == result.run_id
    with pytest.raises(ReportError, match=f"{tmp_path}: not a bundle"):
        run_of(str(tmp_path))
    with pytest.raises(ReportError, match="no MLflow run 'nope'"):
        write_report("nope", tmp_path / "r.html", settings.tracking_uri)
