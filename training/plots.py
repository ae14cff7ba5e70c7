"""Evaluation plots of a training run, written as PNG files for MLflow.

Built on matplotlib's object-oriented ``Figure`` (no pyplot, no global backend state), from plain
arrays, so the plots do not depend on how a report object is laid out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
from matplotlib.figure import Figure
from sklearn.calibration import calibration_curve
from sklearn.metrics import roc_curve

FloatArray = npt.NDArray[np.float64]


def _save(fig: Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def calibration_plot(
    y: npt.NDArray[np.bool_], p: FloatArray, p_oracle: FloatArray | None, path: Path
) -> Path:
    """Observed rate against mean predicted risk in deciles of predicted risk."""
    fig = Figure(figsize=(5, 5))
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label="perfect")
    for label, q in (("model", p), ("oracle", p_oracle)):
        if q is None:
            continue
        rate, mean_p = calibration_curve(y, q, n_bins=10, strategy="quantile")
        ax.plot(mean_p, rate, marker="o", label=label)
    ax.set(xlabel="predicted risk (decile mean)", ylabel="observed rate", title="Calibration")
    ax.legend()
    return _save(fig, path)


def roc_plot(
    y: npt.NDArray[np.bool_], p: FloatArray, p_oracle: FloatArray | None, path: Path
) -> Path:
    """ROC curve of the model, and of the oracle when known."""
    fig = Figure(figsize=(5, 5))
    ax = fig.subplots()
    for label, q in (("model", p), ("oracle", p_oracle)):
        if q is not None:
            fpr, tpr, _ = roc_curve(y, q)
            ax.plot(fpr, tpr, label=label)
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC")
    ax.legend()
    return _save(fig, path)


def decision_curve_plot(
    thresholds: FloatArray, curves: Mapping[str, FloatArray], path: Path
) -> Path:
    """Net benefit against threshold probability (Vickers & Elkin), with treat-all/none."""
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    for label, nb in curves.items():
        ax.plot(thresholds, nb, label=label)
    ax.axhline(0.0, color="grey", lw=1, label="treat none")
    top = max(float(np.nanmax(v)) for v in curves.values())
    ax.set(
        xlabel="threshold probability",
        ylabel="net benefit",
        title="Decision curve",
        ylim=(-0.05, top * 1.1 + 0.01),
    )
    ax.legend()
    return _save(fig, path)


def importance_plot(names: Sequence[str], gain: FloatArray, path: Path, top: int = 25) -> Path:
    """The features with the largest total split gain."""
    order = np.argsort(gain)[::-1][:top][::-1]
    fig = Figure(figsize=(7, 0.25 * len(order) + 1.2))
    ax = fig.subplots()
    ax.barh([names[i] for i in order], gain[order] / max(gain.sum(), 1e-12))
    ax.set(xlabel="share of total gain", title="Feature importance (asymmetry risk)")
    return _save(fig, path)


def survival_plot(
    days: FloatArray,
    predicted: Mapping[str, FloatArray],
    observed: Mapping[str, FloatArray],
    path: Path,
) -> Path:
    """Mean predicted survival (activity not yet returned) against Kaplan-Meier, per region."""
    regions = list(predicted)
    cols = 4
    rows = (len(regions) + cols - 1) // cols
    fig = Figure(figsize=(3.2 * cols, 2.6 * rows))
    axes = np.atleast_1d(fig.subplots(rows, cols, sharex=True, sharey=True)).ravel()
    for ax, region in zip(axes, regions, strict=False):
        ax.plot(days, predicted[region], label="predicted")
        if region in observed:
            ax.step(days, observed[region], where="post", label="Kaplan-Meier")
        ax.set_title(region, fontsize=9)
        ax.set_ylim(0, 1.02)
    for ax in axes[len(regions) :]:
        ax.set_visible(False)
    axes[0].legend(fontsize=7)
    fig.supxlabel("days after treatment")
    fig.supylabel("share not yet returned")
    return _save(fig, path)
