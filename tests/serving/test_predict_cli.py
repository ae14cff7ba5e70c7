"""``asym predict``: the two Parquet files, their columns and rows; user errors exit 2."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from bundle.heads import OUTCOMES
from bundle.predictor import Predictor
from features.longevity import treated_region_sides
from features.tables import registry_inputs
from serving.cli import predict_cmd
from training.dataset import TrainingData
from training.models import DIFF_TARGETS

RISK_COLUMNS = [
    "treatment_id",
    *(o.name for o in OUTCOMES),
    "late_asymmetry_risk",
    "first_to_wear_off_region",
    "first_to_wear_off_side",
    *(f"{t}_{q}" for t in DIFF_TARGETS for q in ("q10", "q50", "q90")),
    "model_name",
    "model_version",
    "model_run_id",
]
LONGEVITY_COLUMNS = [
    "treatment_id",
    "region",
    "side",
    "median_days",
    "region_late_asymmetry_risk",
    "p_not_returned_90",
    "p_not_returned_120",
    "p_not_returned_150",
]


def _app() -> typer.Typer:
    app = typer.Typer()
    app.command("predict")(predict_cmd)
    app.command("noop")(lambda: None)  # two commands: typer keeps "predict" as a subcommand
    return app


def _invoke(*args: str) -> object:
    return CliRunner().invoke(_app(), ["predict", *args])


def test_predict_writes_documented_files(bundle: Path, data: TrainingData, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = _invoke("--model", str(bundle), "--registry", str(data.source), "--out", str(out))
    assert result.exit_code == 0, result.output
    risk = pd.read_parquet(out / "risk.parquet")
    longevity = pd.read_parquet(out / "longevity.parquet")
    assert list(risk.columns) == RISK_COLUMNS
    assert list(longevity.columns) == LONGEVITY_COLUMNS
    assert risk["treatment_id"].tolist() == data.treatment_ids.tolist()

    inputs = registry_inputs(data.registry.tables)
    t, _, _ = treated_region_sides(inputs.plan)
    assert len(longevity) == len(t)  # one row per treated (region, side)
    assert not longevity.duplicated(["treatment_id", "region", "side"]).any()
    assert longevity["treatment_id"].tolist() == data.treatment_ids[t].tolist()

    expected = Predictor.load(bundle).predict_treatments(inputs)
    np.testing.assert_allclose(risk["asymmetry_risk"], expected.asymmetry_risk)
    np.testing.assert_allclose(
        risk["brow_height_diff_mm_q50"], expected.differences["brow_height_diff_mm"]["q50"]
    )
    np.testing.assert_allclose(longevity["median_days"], expected.median_days)
    np.testing.assert_allclose(longevity["p_not_returned_120"], expected.survival[120])
    assert risk["asymmetry_risk"].between(0, 1).all()
    assert (risk["brow_height_diff_mm_q10"] <= risk["brow_height_diff_mm_q90"]).all()
    # Which model answered: its name, registered version and run, on every row.
    model = risk[["model_name", "model_version", "model_run_id"]].astype(str).drop_duplicates()
    assert model.values.tolist() == [["asym-test", "1", "run-1"]]
    first = longevity.loc[longevity.groupby("treatment_id")["median_days"].idxmin()]
    merged = risk.merge(first, on="treatment_id")
    assert (merged["first_to_wear_off_region"].astype(str) == merged["region"].astype(str)).all()
    # Late-stage asymmetry: a region's risk on both of its sides, null for a side alone; the
    # treatment's combines its regions'.
    late = longevity["region_late_asymmetry_risk"]
    np.testing.assert_allclose(
        late.fillna(-1), np.nan_to_num(expected.region_late_asymmetry_risk, nan=-1)
    )
    paired = (
        longevity.groupby(["treatment_id", "region"], observed=True)["side"].transform("size") == 2
    )
    assert late[paired].notna().all() and late[~paired].isna().all()
    np.testing.assert_allclose(risk["late_asymmetry_risk"], expected.late_asymmetry_risk)


SCHEDULE_COLUMNS = [
    "treatment_id",
    "region",
    "side",
    "return_day_10",
    "return_day_50",
    "return_day_90",
    "first_side",
    "review_day",
    "review_date",
    "touch_up_day",
    "touch_up_date",
    "session",
]


def test_predict_writes_the_schedule_of_every_treatment(
    bundle: Path, data: TrainingData, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    assert (
        _invoke("--model", str(bundle), "--registry", str(data.source), "--out", str(out)).exit_code
        == 0
    )
    plan = pd.read_parquet(out / "schedule.parquet")
    longevity = pd.read_parquet(out / "longevity.parquet")
    assert list(plan.columns) == SCHEDULE_COLUMNS
    assert (
        plan[["treatment_id", "region", "side"]]
        .astype(str)
        .equals(longevity[["treatment_id", "region", "side"]].astype(str))
    )
    np.testing.assert_allclose(plan["return_day_50"], longevity["median_days"].round(1), atol=0.051)
    # One first side per region, whose median is its region's touch-up day.
    by_region = plan.groupby(["treatment_id", "region"], observed=True)
    assert (by_region["first_side"].sum() == 1).all()
    firsts = plan[plan["first_side"]]
    assert (firsts["touch_up_day"] == firsts["return_day_50"]).all()
    assert (by_region["touch_up_day"].nunique() == 1).all()
    # Dates count from the treatment's date.
    dates = data.registry.treatments.set_index("treatment_id")["treatment_date"]
    start = dates.reindex(plan["treatment_id"]).to_numpy()
    days = plan["touch_up_date"].to_numpy().astype("datetime64[D]") - start.astype("datetime64[D]")
    np.testing.assert_array_equal(days.astype(int), plan["touch_up_day"].round().astype(int))
    # Sessions: numbered from 1 in touch-up order; each opens more than 14 days after the one
    # before, and every region of a session within 14 days of its first.
    for _, regions in firsts.groupby("treatment_id"):
        regions = regions.sort_values("touch_up_day")
        assert regions["session"].is_monotonic_increasing and regions["session"].iloc[0] == 1
        opened = regions.groupby("session")["touch_up_day"].agg(["min", "max"])
        # The days are rounded to a tenth: 0.1 of slack.
        assert (opened["max"] - opened["min"] <= 14.1).all()
        assert (opened["min"].diff().dropna() > 13.9).all()


def test_predict_takes_the_late_asymmetry_gap(
    bundle: Path, data: TrainingData, tmp_path: Path
) -> None:
    args = ["--model", str(bundle), "--registry", str(data.source)]
    assert _invoke(*args, "--out", str(tmp_path / "a")).exit_code == 0
    longer = _invoke(*args, "--out", str(tmp_path / "b"), "--late-gap-days", "42")
    assert longer.exit_code == 0, longer.output
    a, b = (pd.read_parquet(tmp_path / x / "risk.parquet") for x in "ab")
    assert (b["late_asymmetry_risk"] <= a["late_asymmetry_risk"] + 1e-12).all()
    assert (b["late_asymmetry_risk"] < a["late_asymmetry_risk"] - 0.01).any()
    refused = _invoke(*args, "--out", str(tmp_path / "c"), "--late-gap-days", "-1")
    assert refused.exit_code == 2 and "late-gap-days" in refused.output


@pytest.mark.parametrize("what", ["registry", "bundle", "tampered"])
def test_user_errors_exit_2_without_traceback(
    what: str, bundle: Path, data: TrainingData, tmp_path: Path
) -> None:
    model, registry = bundle, data.source
    if what == "registry":
        registry = tmp_path / "no-registry"
    elif what == "bundle":
        model = tmp_path / "no-bundle"
    else:
        model = tmp_path / "bundle"
        shutil.copytree(bundle, model)
        (model / "longevity.onnx").write_bytes(b"not a model")
    result = _invoke(
        "--model", str(model), "--registry", str(registry), "--out", str(tmp_path / "o")
    )
    assert result.exit_code == 2
    assert "error:" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "o").exists()


def test_installed_command(bundle: Path, data: TrainingData, tmp_path: Path) -> None:
    asym = Path(sys.executable).with_name("asym")
    help_text = subprocess.run([asym, "--help"], capture_output=True, text=True).stdout
    assert " predict " in help_text  # wired into asym_cli.py
    out = tmp_path / "out"
    cmd = [
        asym,
        "predict",
        "--model",
        str(bundle),
        "--registry",
        str(data.source),
        "--out",
        str(out),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (out / "risk.parquet").is_file() and (out / "longevity.parquet").is_file()
