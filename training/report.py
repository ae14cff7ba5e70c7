"""The model report of a training run: one HTML file keyed to TRIPOD+AI, logged with the run.

``write_report`` renders it from what the MLflow run holds (metrics, parameters, tags, the plots
and ``report/summary.json``), so ``asym report RUN_ID|BUNDLE`` writes the same file again any
time later. The items software can fill are filled; those a person must write are marked
(Collins et al., BMJ 2024;385:e078378; the item list as summarised in
``../shared/research/wave2-anchors.md`` section 6). The images are embedded as data URIs, so the
file stands alone.
"""

from __future__ import annotations

import base64
import json
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import jinja2
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from bundle.heads import OUTCOMES
from bundle.manifest import MANIFEST_FILE, load_manifest
from training.baseline import verdict
from training.differences import INTERVAL_COVERAGE
from training.models import DIFF_TARGETS
from training.report_data import SUMMARY_ARTIFACT
from training.report_items import ITEMS
from training.report_template import TEMPLATE
from training.risk import (
    CALIBRATION_FOLDS,
    CALIBRATION_SHARE,
    EARLY_STOPPING_ROUNDS,
    REFIT_GROWTH,
    SUBGROUPS,
)

REPORT_FILE: Final = "report.html"
"""Name of the report among the run's artifacts."""

DISCLAIMER: Final = (
    "Trained and evaluated on a SIMULATED registry: nothing here is fit for clinical use. "
    "Sudden facial drooping is a medical emergency, not a cosmetic prediction."
)


class ReportError(Exception):
    """The run or bundle cannot be found; the message says which."""


def _fmt(value: float | None, digits: int = 4) -> str:
    if value is None or value != value:
        return ""
    if abs(value) >= 1000 or float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def _interval(m: Mapping[str, float], key: str, digits: int = 4) -> str:
    low, high = m.get(f"{key}_ci_low"), m.get(f"{key}_ci_high")
    return "" if low is None or high is None else f"{_fmt(low, digits)} – {_fmt(high, digits)}"


def _performance(m: Mapping[str, float]) -> list[dict[str, str]]:
    rows = []
    measures = (
        ("AUC", "auc"),
        ("Brier", "brier"),
        ("log loss", "log_loss"),
        ("calibration slope", "calibration_slope"),
        ("calibration intercept", "calibration_intercept"),
        ("observed / expected", "observed_expected"),
    )
    for o in OUTCOMES:
        for label, name in measures:
            key = f"{o.metric_prefix}_{name}"
            if key in m:
                rows.append(
                    {
                        "model": o.name,
                        "measure": label,
                        "value": _fmt(m[key]),
                        "interval": _interval(m, key),
                        "oracle": _fmt(m.get(f"oracle_{key}")),
                    }
                )
    for label, key, oracle in (
        ("C-index", "longevity_c_index", "oracle_longevity_c_index"),
        ("C-index, naive baseline", "longevity_naive_c_index", "oracle_longevity_c_index"),
        ("median days MAE vs truth", "longevity_median_days_mae_vs_oracle", ""),
    ):
        if key in m:
            rows.append(
                {
                    "model": "longevity",
                    "measure": label,
                    "value": _fmt(m[key]),
                    "interval": _interval(m, key),
                    "oracle": _fmt(m.get(oracle)),
                }
            )
    for target in DIFF_TARGETS:
        for label, name in (("MAE (mm)", "mae"), ("10-90% coverage", "coverage_10_90")):
            key = f"diff_{target}_{name}"
            if key in m:
                rows.append(
                    {
                        "model": target,
                        "measure": label,
                        "value": _fmt(m[key], 3),
                        "interval": "",
                        "oracle": _fmt(m.get(f"oracle_diff_{target}_mae")) if name == "mae" else "",
                    }
                )
    return rows


def _baseline(m: Mapping[str, float]) -> list[dict[str, str]]:
    return [
        {
            "measure": "AUC",
            "model": _fmt(m.get("risk_auc")),
            "plain": _fmt(m.get("plain_risk_auc")),
            "comparison": f"{m.get('risk_auc_minus_plain', float('nan')):+.4f}",
            "interval": _interval(m, "risk_auc_minus_plain"),
        },
        {
            "measure": "Brier",
            "model": _fmt(m.get("risk_brier")),
            "plain": _fmt(m.get("plain_risk_brier")),
            "comparison": f"x{m.get('risk_brier_ratio_to_plain', float('nan')):.3f}",
            "interval": _interval(m, "risk_brier_ratio_to_plain", 3),
        },
        {
            "measure": "calibration slope",
            "model": _fmt(m.get("risk_calibration_slope")),
            "plain": _fmt(m.get("plain_risk_calibration_slope")),
            "comparison": "",
            "interval": "",
        },
    ]


def _subgroups(m: Mapping[str, float]) -> list[dict[str, str]]:
    groups = ["clinic" if c == "clinic_id" else c for c in SUBGROUPS]
    rows: dict[tuple[str, str], dict[str, str]] = {}
    for key, value in m.items():
        if not key.startswith("risk_") or "__" not in key:
            continue
        metric, rest = key.removeprefix("risk_").split("__", 1)
        group = next((g for g in groups if rest.startswith(f"{g}_")), None)
        if group is None or metric not in ("auc", "brier", "n_test"):
            continue
        label = rest.removeprefix(f"{group}_")
        row = rows.setdefault((group, label), {"group": group, "label": label})
        row["n" if metric == "n_test" else metric] = _fmt(value)
    return [rows[k] for k in sorted(rows, key=lambda k: (groups.index(k[0]), k[1]))]


def _images(client: MlflowClient, run_id: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            folder = Path(client.download_artifacts(run_id, "plots", tmp))
        except (MlflowException, OSError):
            return out
        for png in sorted(folder.glob("*.png")):
            data = base64.b64encode(png.read_bytes()).decode("ascii")
            out.append((png.stem.replace("_", " "), f"data:image/png;base64,{data}"))
    return out


def _summary(client: MlflowClient, run_id: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = client.download_artifacts(run_id, SUMMARY_ARTIFACT, tmp)
        except (MlflowException, OSError):
            return {}
        loaded: dict[str, Any] = json.loads(Path(path).read_text())
        return loaded


def _methods(params: Mapping[str, str]) -> list[str]:
    return [
        f"Internal validation: the latest {float(params.get('test_fraction', 'nan')):.0%} of "
        "treatments by "
        "date held out; their patients' earlier treatments are in neither set (temporal, "
        "grouped by patient). Every figure below is on that evaluation period.",
        f"Asymmetry risk (outcome: followups.visible_asymmetry at the review): LightGBM, binary, "
        f"fixed tree settings (parameters below); the number of trees chosen per run by early "
        f"stopping on {CALIBRATION_SHARE:.0%} of the development patients held back "
        f"({EARLY_STOPPING_ROUNDS} rounds' patience); Platt scaling fitted on "
        f"{CALIBRATION_FOLDS}-fold out-of-fold predictions (folds by patient); the served model "
        f"refitted on every development patient with {REFIT_GROWTH}x the trees.",
        "Eyelid and brow ptosis (followups.eyelid_ptosis, brow_ptosis) and the plain baseline "
        "of visible asymmetry: the same procedure.",
        f"Post-treatment differences: LightGBM quantile regressors (10/50/90%), the interval "
        f"conformalised to {INTERVAL_COVERAGE:.0%} coverage on held-back patients.",
        "Longevity (durations, right-censored): a discrete-time hazard model (life-table "
        "baseline per region and 30-day bin plus a LightGBM margin); a naive regression on "
        "returned rows only as its baseline.",
        "Class imbalance: no resampling or weighting; the probabilities are calibrated and the "
        "rare ptosis outcomes are reported with the events they rest on.",
    ]


def _context(client: MlflowClient, run_id: str) -> dict[str, Any]:
    try:
        run = client.get_run(run_id)
    except MlflowException as err:
        raise ReportError(f"no MLflow run {run_id!r} in {client.tracking_uri}") from err
    m, params, tags = run.data.metrics, run.data.params, run.data.tags
    summary = _summary(client, run_id)
    sim = (summary.get("source") or {}).get("simulation")
    experiment = client.get_experiment(run.info.experiment_id).name
    versions = client.search_model_versions(f"run_id='{run_id}'")
    registered = ", ".join(f"{v.name} version {v.version}" for v in versions)
    sets = ["development", "evaluation"]
    source = [
        ("registry", params.get("registry", "")),
        ("data fingerprint (SHA-256)", params.get("data_fingerprint", "")),
    ]
    if sim:
        source += [
            (f"simulator: {k}", json.dumps(v) if isinstance(v, dict) else str(v))
            for k, v in sorted(sim.items())
        ]

    def table(section: str) -> list[tuple[str, Any]]:
        return [(k, v) for k, v in (summary.get(section) or {}).items()]

    def by_set(section: str) -> list[tuple[str, dict[str, str]]]:
        return [
            (name, {s: _fmt(v) for s, v in values.items()})
            for name, values in (summary.get(section) or {}).items()
        ]

    characteristics: dict[str, dict[str, str]] = {}
    for s, values in (summary.get("characteristics") or {}).items():
        for name, value in values.items():
            characteristics.setdefault(name, {})[s] = _fmt(value, 3)
    limitations = [
        "Internal, temporal validation only: the evaluation period is later treatments of "
        "other patients of the same registry; no external validation.",
        "Eyelid and brow ptosis are rare: their figures rest on the few events counted above; "
        "read the intervals, not the points.",
    ]
    if sim:
        limitations.insert(
            0,
            f"Trained on data simulated by {sim.get('simulator_version', '?')} (world "
            f"{sim.get('world', 'default')!r}, scenario {sim.get('scenario', '?')!r}, seed "
            f"{sim.get('seed', '?')}): the figures say what the model learns in that world, "
            "not in a clinic. Not fit for clinical use.",
        )
    what = "simulated" if sim else "registry"
    return {
        "title": f"asym model report: visible asymmetry, ptosis and longevity after "
        f"botulinum-toxin treatment of the face (LightGBM; {what} data)",
        "disclaimer": DISCLAIMER if sim else DISCLAIMER.replace("SIMULATED", "registry's"),
        "run_id": run_id,
        "experiment": experiment,
        "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(run.info.start_time / 1000)),
        "commit": tags.get("git_commit", "unknown"),
        "registered": registered,
        "items": ITEMS,
        "simulated": bool(sim),
        "source": source,
        "dates": sorted((summary.get("dates") or {}).items()),
        "sets": sets,
        "flow": [(k, _fmt(v)) for k, v in table("flow")],
        "events": by_set("events"),
        "characteristics": sorted(characteristics.items()),
        "missing": [
            (name, {s: f"{v:.1%}" if v == v else "" for s, v in values.items()})
            for name, values in (summary.get("missing") or {}).items()
        ],
        "missing_handling": "Rows that break the registry contract are quarantined (counted "
        "under flow), never dropped silently. Empty optional fields stay missing: the trees "
        "route them (LightGBM's missing-value branches); a point without coordinates sits at "
        "its muscle's usual site; nothing is imputed.",
        "predictors": table("predictors"),
        "predictors_text": "One row of features per treatment, computed from the registry as "
        "it stood on the treatment date (docs/features.md lists each with meaning and unit).",
        "methods": _methods(params),
        "tuning": sorted(
            (k, v)
            for k, v in params.items()
            if k.startswith(("risk_", "plain_", "eyelid_", "brow_", "longevity_n"))
        ),
        "performance": _performance(m),
        "verdict": tags.get("risk_vs_plain_baseline")
        or (verdict(m) if "risk_beats_plain" in m else ""),
        "baseline": _baseline(m),
        "images": _images(client, run_id),
        "subgroups": _subgroups(m),
        "output": [
            "Per binary outcome a calibrated probability; per post-treatment difference its "
            "10%, 50% and 90% quantiles; per treated (region, side) survival curves and median "
            "days. Risk bands are the service's (README).",
            f"The full model: the ONNX bundle with its manifest, logged with this run as the "
            f"model artifact{(' and registered as ' + registered) if registered else ''}.",
            "Updating: every training run registers a new version; asym promote moves the "
            "champion alias only when the candidate is no worse on the same evaluation period.",
            f"Input handling: the validator quarantines rows that break the contract "
            f"({params.get('n_rejected_rows', '?')} here), the service answers 422 naming the "
            "field and what is allowed.",
        ],
        "open_science": [
            ("git commit", tags.get("git_commit", "unknown")),
            ("run", run_id),
            ("data fingerprint", params.get("data_fingerprint", "")),
        ],
        "limitations": limitations,
    }


def write_report(run_id: str, out: Path, tracking_uri: str) -> Path:
    """Write the model report of an MLflow run as one standalone HTML file.

    Args:
        run_id: The training run.
        out: The HTML file to write (its folder is created).
        tracking_uri: Where the run is tracked.

    Returns:
        ``out``.

    Raises:
        ReportError: No such run.
    """
    html = (
        jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
        .from_string(TEMPLATE)
        .render(**_context(MlflowClient(tracking_uri), run_id))
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html)
    return out


def run_of(target: str) -> str:
    """The run a report is asked of: a run id as it is, or a bundle folder's training run.

    Raises:
        ReportError: A folder without a manifest, or a bundle without a run.
    """
    path = Path(target)
    if not path.exists():
        return target
    if not (path / MANIFEST_FILE).is_file():
        raise ReportError(f"{path}: not a bundle (no {MANIFEST_FILE}) and not a run id")
    run_id = load_manifest(path).run_id
    if not run_id:
        raise ReportError(f"{path / MANIFEST_FILE}: the bundle names no training run")
    return run_id
