"""The plain baseline: a LightGBM of visible asymmetry on raw aggregates, in every training run.

design.md ("Models"): the engineered risk model must beat a plain LightGBM that knows no
anatomy: the patient's fields and, per (muscle, side), the units (onabotulinumtoxinA-equivalent:
a product's potency, not anatomy), the number of points and their mean recorded coordinates.
These are columns of the feature matrix (``features.spec``), so the baseline reads them from
``TrainingData.features``; nothing spread-weighted, atlas-based or historical. It is fitted by
the same procedure as the risk model (``training.risk.fit_risk``: the same patient split,
early stopping and Platt scaling) on the same training rows and scored on the same
held-out reviews, so the comparison is one of features alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from bundle.heads import OUTCOMES
from features.spec import FEATURE_INDEX, FEATURES, INJECTION_UNITS
from training import metrics
from training.dataset import TrainingData
from training.models import RiskModel
from training.risk import BOOTSTRAP, RiskReport, fit_risk

FloatArray = npt.NDArray[np.float64]
Float32Array = npt.NDArray[np.float32]

PLAIN_NAMES: Final = tuple(f.name for f in FEATURES if f.group == "patient") + tuple(
    f"{what}_{muscle}_{side}"
    for what in ("u_eq", "points", "mean_x_mm", "mean_y_mm")
    for muscle, side in INJECTION_UNITS
)
"""The baseline's inputs: the patient block and the raw per-(muscle, side) plan aggregates."""
PLAIN_COLUMNS: Final = np.array([FEATURE_INDEX[name] for name in PLAIN_NAMES])

BEAT_AUC_MARGIN: Final = 0.005
"""The engineered model beats the baseline with an AUC at least this much higher ..."""
BEAT_BRIER_RATIO: Final = 0.99
"""... and a Brier score at most this times the baseline's (issue 14's goals)."""


@dataclass(frozen=True)
class PlainModel:
    """The plain baseline and the matrix it was fitted on.

    Attributes:
        model: The calibrated classifier of visible asymmetry.
        x: (n, ``PLAIN_NAMES``) inputs of every treatment, rows as ``TrainingData.features``.
    """

    model: RiskModel
    x: Float32Array


def fit_plain(data: TrainingData, seed: int = 0) -> PlainModel:
    """Fit the plain baseline of visible asymmetry as ``fit_risk`` fits the engineered model.

    Args:
        data: Training data; ``PLAIN_NAMES`` of its features are the inputs.
        seed: Seed of the patient split and of LightGBM.

    Returns:
        The baseline and its input matrix.
    """
    x = np.ascontiguousarray(data.features[:, PLAIN_COLUMNS])
    return PlainModel(model=fit_risk(data, seed, OUTCOMES[0], features=x), x=x)


def _paired_intervals(
    y: FloatArray, p: FloatArray, q: FloatArray
) -> dict[str, tuple[float, float]]:
    """95% bootstrap intervals (fixed seed) of AUC(p) - AUC(q) and Brier(p) / Brier(q)."""
    rng = np.random.default_rng(0)
    diff, ratio = [], []
    for _ in range(BOOTSTRAP):
        i = rng.integers(0, len(y), len(y))
        ratio.append(metrics.brier(y[i], p[i]) / max(metrics.brier(y[i], q[i]), 1e-12))
        if len(np.unique(y[i])) == 2:
            diff.append(metrics.auc(y[i], p[i]) - metrics.auc(y[i], q[i]))
    out = {"brier_ratio": tuple(np.percentile(ratio, [2.5, 97.5]))}
    if len(diff) >= BOOTSTRAP // 2:
        out["auc_diff"] = tuple(np.percentile(diff, [2.5, 97.5]))
    return {k: (float(v[0]), float(v[1])) for k, v in out.items()}


def evaluate_plain(plain: PlainModel, data: TrainingData, risk: RiskReport) -> dict[str, float]:
    """Score the baseline on the risk model's held-out reviews and compare the two.

    Metric names: ``plain_risk_{auc,brier,log_loss,calibration_slope,calibration_intercept}``;
    with an oracle ``plain_risk_{auc,brier}_ratio_to_oracle``; the comparison
    ``risk_auc_minus_plain`` and ``risk_brier_ratio_to_plain`` with their paired 95% bootstrap
    intervals (``*_ci_low``, ``*_ci_high``), and ``risk_beats_plain``: 1 when the engineered
    model's AUC is at least ``BEAT_AUC_MARGIN`` higher and its Brier at most
    ``BEAT_BRIER_RATIO`` times the baseline's, else 0.

    Args:
        plain: The fitted baseline.
        data: Training data.
        risk: The engineered risk model's held-out report (its rows, outcomes and predictions).

    Returns:
        The metrics by name.
    """
    rows = data.rows(risk.treatment_ids)
    y = risk.y.astype(np.float64)
    q = plain.model.predict(plain.x[rows])
    out = metrics.binary_figures(y, q, "plain_risk_")
    out["risk_brier_ratio_to_plain"] = metrics.brier(y, risk.p) / out["plain_risk_brier"]
    beats = out["risk_brier_ratio_to_plain"] <= BEAT_BRIER_RATIO
    if "plain_risk_auc" in out:  # both outcomes held out
        out["risk_auc_minus_plain"] = metrics.auc(y, risk.p) - out["plain_risk_auc"]
        beats &= out["risk_auc_minus_plain"] >= BEAT_AUC_MARGIN
    for name, (low, high) in _paired_intervals(y, risk.p, q).items():
        key = "risk_auc_minus_plain" if name == "auc_diff" else "risk_brier_ratio_to_plain"
        out[f"{key}_ci_low"], out[f"{key}_ci_high"] = low, high
    for name in ("auc", "brier"):
        if f"plain_risk_{name}" in out and f"oracle_risk_{name}" in risk.metrics:
            ratio = out[f"plain_risk_{name}"] / risk.metrics[f"oracle_risk_{name}"]
            out[f"plain_risk_{name}_ratio_to_oracle"] = ratio
    out["risk_beats_plain"] = float(beats)
    return out


def verdict(metrics: Mapping[str, float]) -> str:
    """One plain sentence: does the engineered risk model beat the plain baseline?

    Args:
        metrics: The run's metrics (``evaluate_plain``'s among them).
    """
    auc_gain = metrics.get("risk_auc_minus_plain", float("nan"))
    ratio = metrics["risk_brier_ratio_to_plain"]
    figures = f"AUC {auc_gain:+.4f}, Brier x{ratio:.3f} against the plain baseline"
    if metrics["risk_beats_plain"] == 1.0:
        return f"the risk model beats the plain baseline ({figures})"
    return (
        f"the risk model does NOT beat the plain baseline ({figures}; beating it takes AUC "
        f"+{BEAT_AUC_MARGIN} and Brier x{BEAT_BRIER_RATIO} or better)"
    )
