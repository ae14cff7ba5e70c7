"""Performance measures shared by every model, overall and by subgroup.

Discrimination, calibration, clinical utility, regression error and interval coverage, in numpy
alone (the tests check them against scikit-learn). Binary outcomes ``y`` are 0/1 (or bool) and
``p`` are predicted probabilities of the event. Calibration follows Van Calster et al. (BMC Med
2019;17:230) and decision curves Vickers & Elkin (Med Decis Making 2006); see domain-facts.md
section 9.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

EPS: Final = 1e-12
"""Probabilities are clipped to [EPS, 1 - EPS] before a logit or a log."""
MIN_GROUP_N: Final = 100
"""Smallest subgroup reported by ``by_group``: below it a subgroup metric is mostly noise."""


def _binary(y: npt.ArrayLike) -> FloatArray:
    out = np.asarray(y, dtype=np.float64)
    if out.ndim != 1 or not np.isin(out, (0.0, 1.0)).all():
        raise ValueError("y must be a 1-D array of 0/1 outcomes")
    return out


def _probabilities(p: npt.ArrayLike, n: int) -> FloatArray:
    out = np.asarray(p, dtype=np.float64)
    if out.shape != (n,):
        raise ValueError(f"p must have shape ({n},), got {out.shape}")
    if not np.isfinite(out).all() or (out < 0.0).any() or (out > 1.0).any():
        raise ValueError("p must hold probabilities in [0, 1]")
    return out


def logit(p: npt.ArrayLike) -> FloatArray:
    """log(p / (1 - p)), with p clipped to [EPS, 1 - EPS] so that 0 and 1 stay finite."""
    q = np.clip(np.asarray(p, dtype=np.float64), EPS, 1.0 - EPS)
    out: FloatArray = np.log(q / (1.0 - q))
    return out


def auc(y: npt.ArrayLike, p: npt.ArrayLike) -> float:
    """Area under the ROC curve (concordance of p with y).

    Args:
        y: 0/1 outcomes; both classes must occur.
        p: Scores, higher meaning more likely an event.

    Returns:
        The AUC in [0, 1]; ties count one half.

    Raises:
        ValueError: Only one class in ``y``.
    """
    yy = _binary(y)
    score = np.asarray(p, dtype=np.float64)
    n_pos = int(yy.sum())
    n_neg = len(yy) - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("AUC needs both classes in y")
    # Mann-Whitney U from mid-ranks: tied scores share their average rank (count one half).
    order = np.argsort(score, kind="mergesort")
    sorted_score = score[order]
    starts = np.flatnonzero(np.r_[True, sorted_score[1:] != sorted_score[:-1]])
    ends = np.r_[starts[1:], len(score)]
    mid = (starts + ends + 1) / 2.0  # 1-based average rank of each run of ties
    ranks = np.empty(len(score))
    ranks[order] = np.repeat(mid, ends - starts)
    u = ranks[yy == 1.0].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def brier(y: npt.ArrayLike, p: npt.ArrayLike) -> float:
    """Brier score: mean squared difference between p and the 0/1 outcome (lower is better)."""
    yy = _binary(y)
    pp = _probabilities(p, len(yy))
    return float(np.mean((pp - yy) ** 2))


def log_loss(y: npt.ArrayLike, p: npt.ArrayLike) -> float:
    """Mean negative log-likelihood of the outcomes, p clipped to [EPS, 1 - EPS]."""
    yy = _binary(y)
    pp = np.clip(_probabilities(p, len(yy)), EPS, 1.0 - EPS)
    return float(-np.mean(yy * np.log(pp) + (1.0 - yy) * np.log1p(-pp)))


def _logistic_fit(
    y: FloatArray, x: FloatArray | None, offset: FloatArray, iterations: int = 100
) -> FloatArray:
    """Unpenalised maximum-likelihood logistic regression of y on [1, x] with an offset (Newton).

    Returns the coefficients (intercept, slope) or (intercept,) when ``x`` is None.
    """
    n = len(y)
    design = np.ones((n, 1)) if x is None else np.column_stack([np.ones(n), x])
    beta = np.zeros(design.shape[1])
    for _ in range(iterations):
        eta = design @ beta + offset
        mu = 1.0 / (1.0 + np.exp(-eta))
        w = np.maximum(mu * (1.0 - mu), 1e-12)
        grad = design.T @ (y - mu)
        hess = design.T @ (design * w[:, None])
        # lstsq rather than solve: a constant x (all p equal) makes the Hessian singular.
        step = np.linalg.lstsq(hess, grad, rcond=None)[0]
        # Halve steps that would overshoot: with separable data the optimum is at infinity.
        step = step / max(1.0, float(np.abs(step).max()) / 10.0)
        beta = beta + step
        if np.abs(step).max() < 1e-10:
            break
    return beta


def platt(y: npt.ArrayLike, p: npt.ArrayLike) -> tuple[float, float]:
    """Logistic recalibration: fit y ~ sigmoid(slope * logit(p) + intercept) by maximum likelihood.

    This is Platt scaling when fitted on held-out data; its ``slope`` is the calibration slope.

    Args:
        y: 0/1 outcomes.
        p: Predicted probabilities.

    Returns:
        (slope, intercept) of the joint fit.
    """
    yy = _binary(y)
    lp = logit(_probabilities(p, len(yy)))
    intercept, slope = _logistic_fit(yy, lp, np.zeros(len(yy)))
    return float(slope), float(intercept)


def calibration(y: npt.ArrayLike, p: npt.ArrayLike) -> tuple[float, float]:
    """Calibration slope and calibration-in-the-large (Van Calster et al. 2019).

    The slope is the coefficient of logit(p) in a logistic regression of y on logit(p): 1 is
    ideal, below 1 means predictions too extreme (overfitting), above 1 too moderate. The
    intercept is fitted with logit(p) as an offset (slope fixed at 1): 0 is ideal, positive means
    risks are underestimated on average.

    Args:
        y: 0/1 outcomes.
        p: Predicted probabilities.

    Returns:
        (slope, intercept).
    """
    yy = _binary(y)
    pp = _probabilities(p, len(yy))
    slope, _ = platt(yy, pp)
    (intercept,) = _logistic_fit(yy, None, logit(pp))
    return slope, float(intercept)


@dataclass(frozen=True)
class DecisionCurve:
    """Net benefit across threshold probabilities (Vickers & Elkin 2006).

    Attributes:
        thresholds: Threshold probabilities pt, each in (0, 1).
        model: Net benefit of acting when p >= pt.
        treat_all: Net benefit of acting for everyone; "treat none" is 0 everywhere.
    """

    thresholds: FloatArray
    model: FloatArray
    treat_all: FloatArray


def net_benefit(y: npt.ArrayLike, p: npt.ArrayLike, thresholds: Sequence[float]) -> DecisionCurve:
    """Decision curve: net benefit = TP/n - FP/n * pt / (1 - pt) at each threshold pt.

    Args:
        y: 0/1 outcomes.
        p: Predicted probabilities; a case counts as positive when p >= pt.
        thresholds: Threshold probabilities, each strictly between 0 and 1.

    Returns:
        The model's and treat-all's net benefit at each threshold.
    """
    yy = _binary(y)
    pp = _probabilities(p, len(yy))
    pt = np.asarray(thresholds, dtype=np.float64)
    if ((pt <= 0.0) | (pt >= 1.0)).any():
        raise ValueError("thresholds must lie strictly between 0 and 1")
    n = len(yy)
    odds = pt / (1.0 - pt)
    positive = pp[None, :] >= pt[:, None]
    tp = (positive & (yy[None, :] == 1.0)).sum(axis=1) / n
    fp = (positive & (yy[None, :] == 0.0)).sum(axis=1) / n
    prevalence = float(yy.mean())
    return DecisionCurve(
        thresholds=pt,
        model=tp - fp * odds,
        treat_all=prevalence - (1.0 - prevalence) * odds,
    )


def mae(y: npt.ArrayLike, pred: npt.ArrayLike) -> float:
    """Mean absolute error of ``pred`` against ``y``."""
    return float(np.mean(np.abs(np.asarray(y, np.float64) - np.asarray(pred, np.float64))))


def interval_coverage(y: npt.ArrayLike, lo: npt.ArrayLike, hi: npt.ArrayLike) -> float:
    """Share of ``y`` inside its closed interval [lo, hi]."""
    yy = np.asarray(y, np.float64)
    return float(np.mean((np.asarray(lo, np.float64) <= yy) & (yy <= np.asarray(hi, np.float64))))


def _missing(label: Any) -> bool:
    return label is None or (isinstance(label, float) and label != label)


def by_group(
    values: Mapping[str, npt.ArrayLike],
    groups: npt.ArrayLike,
    fn: Callable[..., float],
    min_n: int = MIN_GROUP_N,
) -> dict[str, float]:
    """A metric per subgroup, for fairness and subgroup reporting.

    Args:
        values: Arrays of equal length passed to ``fn`` by keyword, row-subset per group (for
            example ``{"y": y, "p": p}`` with ``fn=auc``). The first is the outcome.
        groups: Group label per row; missing labels (None, NaN) belong to no group.
        fn: The metric.
        min_n: Smallest group reported.

    Returns:
        The metric per group label (as ``str``), sorted by label. Groups with fewer than
        ``min_n`` rows, or whose outcome takes a single value (AUC and calibration are undefined
        there and a Brier score says nothing), are left out rather than reported as NaN.
    """
    arrays = {k: np.asarray(v) for k, v in values.items()}
    labels = np.asarray(groups, dtype=object)
    if any(len(a) != len(labels) for a in arrays.values()):
        raise ValueError("values and groups must have the same length")
    outcome = next(iter(arrays.values()))
    present = np.array([not _missing(g) for g in labels], dtype=bool)
    names = np.array([str(g) for g in labels], dtype=object)
    out: dict[str, float] = {}
    for name in sorted(set(names[present])):
        mask = present & (names == name)
        if mask.sum() < min_n or len(np.unique(outcome[mask])) < 2:
            continue
        out[name] = fn(**{k: a[mask] for k, a in arrays.items()})
    return out
