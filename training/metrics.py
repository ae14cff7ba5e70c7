"""Performance measures shared by every model, overall and by subgroup.

Discrimination, probability scores and regression error are scikit-learn's; this module gives
them the one calling convention the reports use (``fn(y, p) -> float``, as ``by_group`` calls
them) and adds what scikit-learn lacks: calibration-in-the-large and interval coverage. Binary
outcomes ``y`` are 0/1 (or bool) and ``p`` are predicted probabilities of the event.
Calibration follows Van Calster et al. (BMC Med 2019;17:230); see domain-facts.md section 9.
The decision curve is ``training.decision_curve``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from scipy.optimize import brentq
from scipy.special import expit
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, mean_absolute_error, roc_auc_score
from sklearn.metrics import log_loss as sk_log_loss

FloatArray = npt.NDArray[np.float64]

EPS: Final = 1e-12
"""Probabilities are clipped to [EPS, 1 - EPS] before a logit."""
MIN_GROUP_N: Final = 100
"""Smallest subgroup reported by ``by_group``: below it a subgroup metric is mostly noise."""


def _outcomes(y: npt.ArrayLike) -> FloatArray:
    """``y`` as 0/1 floats; scikit-learn would take any two labels (and 0/2 as 0/1)."""
    out = np.asarray(y, dtype=np.float64)
    if out.ndim != 1 or not np.isin(out, (0.0, 1.0)).all():
        raise ValueError("y must be a 1-D array of 0/1 outcomes")
    return out


def logit(p: npt.ArrayLike) -> FloatArray:
    """log(p / (1 - p)), with p clipped to [EPS, 1 - EPS] so that 0 and 1 stay finite."""
    q = np.clip(np.asarray(p, dtype=np.float64), EPS, 1.0 - EPS)
    out: FloatArray = np.log(q / (1.0 - q))
    return out


def auc(y: npt.ArrayLike, p: npt.ArrayLike) -> float:
    """Area under the ROC curve (``sklearn.metrics.roc_auc_score``; tied scores count one half).

    Raises:
        ValueError: ``y`` not 0/1, or only one class in it (scikit-learn would warn and answer
            NaN).
    """
    yy = _outcomes(y)
    if len(np.unique(yy)) < 2:
        raise ValueError("AUC needs both classes in y")
    return float(roc_auc_score(yy, p))


def brier(y: npt.ArrayLike, p: npt.ArrayLike) -> float:
    """Brier score: mean squared difference between p and the 0/1 outcome (lower is better)."""
    return float(brier_score_loss(_outcomes(y), p, labels=[0, 1]))


def log_loss(y: npt.ArrayLike, p: npt.ArrayLike) -> float:
    """Mean negative log-likelihood of the 0/1 outcomes (scikit-learn clips p at float eps)."""
    return float(sk_log_loss(_outcomes(y), p, labels=[0, 1]))


def mae(y: npt.ArrayLike, pred: npt.ArrayLike) -> float:
    """Mean absolute error of ``pred`` against ``y``."""
    return float(mean_absolute_error(y, pred))


def platt(y: npt.ArrayLike, p: npt.ArrayLike) -> tuple[float, float]:
    """Logistic recalibration: fit y ~ sigmoid(slope * logit(p) + intercept) by maximum likelihood.

    This is Platt scaling when fitted on held-out data; its ``slope`` is the calibration slope.

    Args:
        y: 0/1 outcomes.
        p: Predicted probabilities.

    Returns:
        (slope, intercept) of the joint fit.
    """
    # C=inf is the unpenalised fit (scikit-learn 1.8 deprecated penalty=None for it); the tight
    # tolerance keeps the coefficients at the maximum-likelihood values to ~1e-6.
    fit = LogisticRegression(C=np.inf, tol=1e-10, max_iter=1000)
    fit.fit(logit(p)[:, None], np.asarray(y, dtype=np.float64))
    return float(fit.coef_[0, 0]), float(fit.intercept_[0])


def calibration_slope_interval(
    y: npt.ArrayLike, p: npt.ArrayLike, z: float = 1.959964
) -> tuple[float, float]:
    """Wald interval of the calibration slope: slope +- z standard errors (95% by default).

    The standard error is that of the maximum-likelihood fit of ``platt``: the inverse of the
    Fisher information X'WX, X = [1, logit(p)], W = diag(q (1 - q)) at the fitted q. One fit,
    where a bootstrap of the slope would refit it hundreds of times.

    Args:
        y: 0/1 outcomes; both must occur.
        p: Predicted probabilities.
        z: Normal quantile of the interval.

    Returns:
        (low, high).
    """
    slope, intercept = platt(y, p)
    x = np.column_stack([np.ones(len(np.asarray(p))), logit(p)])
    q = 1.0 / (1.0 + np.exp(-(x @ [intercept, slope])))
    covariance = np.linalg.inv(x.T @ (x * (q * (1.0 - q))[:, None]))
    half = z * float(np.sqrt(covariance[1, 1]))
    return slope - half, slope + half


def calibration_in_the_large(y: npt.ArrayLike, p: npt.ArrayLike) -> float:
    """Intercept a of y ~ sigmoid(a + logit(p)): logit(p) an offset, the slope fixed at 1.

    scikit-learn has no offset term, so the one-parameter score equation
    sum(y - sigmoid(a + logit p)) = 0, monotone in a, is solved by bracketing (scipy's brentq).
    0 is ideal; positive means risks are underestimated on average.
    """
    yy = np.asarray(y, dtype=np.float64)
    offset = logit(p)

    def score(a: float) -> float:
        return float(np.sum(yy - expit(a + offset)))

    # logit(EPS) is about -27.6: a shift of 60 moves every clipped p across the whole range.
    return float(brentq(score, -60.0, 60.0, xtol=1e-12))


def calibration(y: npt.ArrayLike, p: npt.ArrayLike) -> tuple[float, float]:
    """Calibration slope and calibration-in-the-large (Van Calster et al. 2019).

    The slope is the coefficient of logit(p) in a logistic regression of y on logit(p): 1 is
    ideal, below 1 means predictions too extreme (overfitting), above 1 too moderate. The
    intercept is fitted with logit(p) as an offset (``calibration_in_the_large``): 0 is ideal.

    Args:
        y: 0/1 outcomes; both must occur.
        p: Predicted probabilities.

    Returns:
        (slope, intercept).
    """
    slope, _ = platt(y, p)
    return slope, calibration_in_the_large(y, p)


def binary_figures(y: npt.ArrayLike, p: npt.ArrayLike, prefix: str = "") -> dict[str, float]:
    """The headline figures of a probability, named ``<prefix><figure>``.

    Brier and log loss always; AUC, calibration slope and intercept (``calibration``) only when
    both outcomes occur, which they need.

    Args:
        y: 0/1 outcomes.
        p: Predicted probabilities.
        prefix: Prefix of every name (``risk_``, ``plain_risk_``, ...).

    Returns:
        The figures by name.
    """
    yy, pp = _outcomes(y), np.asarray(p, np.float64)
    out = {f"{prefix}brier": brier(yy, pp), f"{prefix}log_loss": log_loss(yy, pp)}
    if 0 < yy.sum() < len(yy):
        slope, intercept = calibration(yy, pp)
        out |= {
            f"{prefix}auc": auc(yy, pp),
            f"{prefix}calibration_slope": slope,
            f"{prefix}calibration_intercept": intercept,
        }
    return out


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
