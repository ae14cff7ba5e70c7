"""The promotion stage: a candidate version takes the champion alias only if it is better.

Champion and candidate are scored by the bundles themselves (onnxruntime, exactly what would
serve) on the same held-out treatments of one registry export: the latest period, patients
disjoint from the rest, as in training.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import mlflow
import numpy as np
import pandas as pd
from mlflow import MlflowClient

from bundle.manifest import BundleMismatch, Manifest
from bundle.predictor import Predictor
from bundle.registry import CHAMPION
from bundle.resolve import resolve_model
from data.contract import TREATMENTS
from training import metrics
from training.dataset import TrainingData, load_training_data
from training.duration_rows import duration_rows
from training.survival import c_index
from training.tracking import champion_version, use_store

LARGEST_DIFF_MM: Final = max(
    abs(TREATMENTS.column(c).maximum or 0.0)
    for c in ("brow_height_diff_mm", "commissure_height_diff_mm")
)
"""Largest left-minus-right difference the contract allows, mm: bounds the relative tolerance."""

PRIMARY: Final = (("risk_brier", "lower"), ("risk_auc", "higher"), ("longevity_c_index", "higher"))
"""The metrics a candidate must not lose on, and must win at least one of."""


@dataclass(frozen=True)
class Promotion:
    """The outcome of comparing a candidate with the champion.

    Attributes:
        model_name: Registered model.
        champion: Version that was champion before (None: there was none).
        candidate: The candidate version.
        table: One row per metric: champion, candidate, which is better.
        promoted: Whether the alias moved to the candidate.
        reason: Why, in words.
        run_id: The MLflow run that records the comparison.
    """

    model_name: str
    champion: str | None
    candidate: str
    table: pd.DataFrame
    promoted: bool
    reason: str
    run_id: str


def _parity_ok(manifest: Manifest) -> bool:
    """Whether the bundle records a passed ONNX-vs-LightGBM parity check.

    The export checks every output row by row and writes no bundle on failure, and loading the
    bundle verifies each ONNX file's hash; here the manifest must show the check ran on rows of
    every output and no deviation beyond the loosest tolerance a contract value allows.
    """
    p = manifest.parity
    loosest = p.regression_atol + p.regression_rtol * LARGEST_DIFF_MM + p.probability_atol
    ran = bool(p.rows) and all(n > 0 for n in p.rows.values())
    return ran and all(np.isfinite(v) and v <= loosest for v in p.max_abs_deviation.values())


def _score(bundle: Path, data: TrainingData) -> dict[str, float]:
    """Primary metrics of one bundle on the held-out treatments."""
    predictor = Predictor.load(bundle)  # refuses a bundle that disagrees with features/
    rows = duration_rows(data, data.test)
    answer = predictor.predict(data.features, rows.treatment, rows.region, rows.side)
    fol = data.registry.followups
    at = data.rows(fol["treatment_id"].to_numpy())
    held = data.test[at]
    y = fol["visible_asymmetry"].to_numpy(dtype=bool)[held]
    p = answer.asymmetry_risk[at[held]]
    return {
        "risk_brier": metrics.brier(y, p),
        "risk_auc": metrics.auc(y, p),
        "longevity_c_index": c_index(rows.days, rows.returned, answer.median_days),
    }


def promote(
    model_name: str,
    candidate: str,
    registry: Path,
    *,
    tracking_uri: str,
    experiment: str = "asym",
    echo: Callable[[str], None] = print,
) -> Promotion:
    """Compare a candidate version with the champion and move the alias if it is better.

    Args:
        model_name: Registered model name.
        candidate: Version to consider.
        registry: Registry export to evaluate on (its held-out period).
        tracking_uri: MLflow tracking URI.
        experiment: Experiment to log the comparison run in.
        echo: Receives progress lines.

    Returns:
        The comparison and the decision.
    """
    use_store(tracking_uri, experiment)
    current = champion_version(model_name)
    echo(f"evaluating on the held-out period of {registry} …")
    data = load_training_data(registry)
    cand_bundle = resolve_model(f"models:/{model_name}/{candidate}", tracking_uri)
    cand_manifest = Predictor.load(cand_bundle).manifest
    cand = _score(cand_bundle, data)
    champ: dict[str, float] = {}
    unusable = None  # why this install cannot use the champion's bundle, if it cannot
    if current is not None:
        try:
            champ = _score(resolve_model(f"models:/{model_name}@{CHAMPION}", tracking_uri), data)
        except BundleMismatch as err:
            # Made by another version of asym (bundle format, features): no server of this
            # install would serve it, so it cannot be compared, and it cannot stay champion.
            unusable = str(err)
            echo(f"the champion, version {current}, does not fit this install: {unusable}")

    records = []
    comparable = current is not None and unusable is None
    for name, direction in PRIMARY:
        c, k = champ.get(name, np.nan), cand[name]
        better = not comparable or (k < c if direction == "lower" else k > c)
        worse = comparable and (k > c if direction == "lower" else k < c)
        records.append(
            {"metric": name, "champion": c, "candidate": k, "better": better, "worse": worse}
        )
    table = pd.DataFrame(records)
    parity = _parity_ok(cand_manifest)
    if current == candidate:
        promoted, reason = False, f"version {candidate} is already the champion"
    elif not parity:
        promoted, reason = False, "the candidate's ONNX parity check is outside its tolerances"
    elif current is None:
        promoted, reason = True, "there was no champion"
    elif unusable is not None:
        promoted = True
        reason = f"the champion (version {current}) cannot be used by this install"
    elif table["worse"].any():
        lost = ", ".join(table.loc[table["worse"], "metric"])
        promoted, reason = False, f"the candidate is worse on {lost}"
    elif not table["better"].any():
        promoted, reason = False, "the candidate is no better on any primary metric"
    else:
        won = ", ".join(table.loc[table["better"], "metric"])
        promoted, reason = True, f"the candidate is better on {won} and worse on none"

    name = f"promote · {model_name} v{candidate} vs " + (f"v{current}" if current else "none")
    with mlflow.start_run(run_name=name) as run:
        mlflow.log_params(
            {
                "model_name": model_name,
                "candidate_version": candidate,
                "champion_version": current or "none",
                "registry": str(registry),
                "data_fingerprint": data.fingerprint,
            }
        )
        mlflow.log_metrics({f"candidate_{k}": v for k, v in cand.items()})
        mlflow.log_metrics({f"champion_{k}": v for k, v in champ.items()})
        mlflow.set_tags({"promoted": str(promoted).lower(), "reason": reason})
    if promoted:
        MlflowClient().set_registered_model_alias(model_name, CHAMPION, candidate)
    return Promotion(
        model_name=model_name,
        champion=current,
        candidate=candidate,
        table=table.drop(columns="worse"),
        promoted=promoted,
        reason=reason,
        run_id=run.info.run_id,
    )
