"""Decision curves: the net benefit of acting on a risk model across threshold probabilities.

Reference: Vickers AJ, Elkin EB. Decision curve analysis: a novel method for evaluating
prediction models. Med Decis Making 2006;26(6):565-574. Net benefit at threshold pt is
TP/n - FP/n * pt / (1 - pt): true positives, less false positives weighted by the odds at which
a clinician is indifferent between acting and not. No library in our stack computes it
(scikit-learn has none); see domain-facts.md section 9.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class DecisionCurve:
    """Net benefit across threshold probabilities.

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

    Raises:
        ValueError: A threshold outside (0, 1), or ``y`` and ``p`` of different lengths.
    """
    yy = np.asarray(y, dtype=np.float64)
    pp = np.asarray(p, dtype=np.float64)
    if yy.shape != pp.shape or yy.ndim != 1:
        raise ValueError("y and p must be 1-D arrays of the same length")
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
