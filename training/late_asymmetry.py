"""Late-stage asymmetry in training: the two sides' dependence fitted, and the risk judged.

The served risk joins each side's survival curve by a Frank copula (``bundle.late_asymmetry``);
its one parameter per region, theta, is fitted here by maximum likelihood on pairs of sides whose
curves the hazard booster did not see (the patients it held back for early stopping), with
censoring handled: each side is an interval of U = F(T), a side seen to return at ``days`` in
(F(days - k), F(days)] (a return on the registry's visit lattice of step k happened since the
visit before: ``training.visit_lattice``; any other return is taken to its day), a censored side
in (F(last seen), 1]. A pair's likelihood is the
copula's probability of its rectangle, in closed form; theta maximising it is found by scipy's
bounded scalar search on log theta, per region with at least ``MIN_PAIRS`` pairs, pooled
elsewhere.

``evaluate_late_asymmetry`` judges the risk on held-out pairs: a pair is late when one side
returned at least 21 days before the other was last seen (returned or not), not late when both
returned less than 21 days apart, and unknown otherwise; and, on a simulated registry, against
the oracle's probability of the late event as the registry records it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
from scipy.optimize import minimize_scalar

from bundle.late_asymmetry import LATE_GAP_DAYS, MAX_THETA, MIN_THETA, late_asymmetry
from bundle.postprocess import SurvivalCurves
from data.contract import REGIONS
from features.inputs import LEFT, REGION_CODE, RIGHT
from training import metrics
from training.dataset import TrainingData
from training.duration_rows import DurationRows, enum_codes
from training.survival import kaplan_meier
from training.visit_lattice import VisitLattice, lattice_returns

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

MIN_PAIRS: Final = 200
"""Pairs a region needs for a theta of its own; fewer use the pooled one."""
MIN_FOLLOWED: Final = 0.05
"""Floor of a known pair's chance of follow-up (weights at most 20: a few pairs seen at the end
of follow-up must not carry the figure)."""
_BEFORE: Final = 1e-6


def side_pairs(rows: DurationRows) -> tuple[IntArray, IntArray]:
    """Indices (left row, right row) of the (treatment, region)s with both sides among ``rows``."""
    pair = rows.treatment * len(REGIONS) + rows.region
    left = np.flatnonzero(rows.side == LEFT)
    right = np.flatnonzero(rows.side == RIGHT)
    if len(left) == 0 or len(right) == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    order = np.argsort(pair[right])
    sorted_right = pair[right][order]
    at = np.minimum(np.searchsorted(sorted_right, pair[left]), len(right) - 1)
    match = sorted_right[at] == pair[left]
    return left[match], right[order][at[match]]


def _u_interval(
    curves: SurvivalCurves, rows: IntArray, days: FloatArray, returned: BoolArray, step: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Each side's interval (low, high] of U = F(T): returned in (days - step, days], or later."""
    seen = np.stack([np.where(returned, days - step, days), days])
    f = -np.expm1(curves.log_survival(seen, rows))  # (2, p)
    return f[0], np.where(returned, f[1], 1.0)


def _frank_cdf(u: FloatArray, v: FloatArray, theta: float) -> FloatArray:
    """Frank's copula C(u, v) (``bundle.late_asymmetry``), computed where it does not cancel.

    Near u = v = 1 the formula takes the log of almost 0; Frank's copula is radially symmetric,
    C(u, v) = u + v - 1 + C(1 - u, 1 - v), so there it is evaluated at the small 1 - u, 1 - v.
    """
    flip = u + v > 1.0
    a, b = np.where(flip, 1.0 - u, u), np.where(flip, 1.0 - v, v)
    c = -np.log1p(np.expm1(-theta * a) * np.expm1(-theta * b) / np.expm1(-theta)) / theta
    out: FloatArray = np.where(flip, u + v - 1.0 + c, c)
    return out


def _log_likelihood(
    low: tuple[FloatArray, FloatArray], high: tuple[FloatArray, FloatArray], theta: float
) -> float:
    """Log-likelihood of the pairs: the sum of log P(U, V in their rectangle)."""
    (u1, v1), (u2, v2) = low, high
    p = (
        _frank_cdf(u2, v2, theta)
        - _frank_cdf(u1, v2, theta)
        - _frank_cdf(u2, v1, theta)
        + _frank_cdf(u1, v1, theta)
    )
    # A rectangle the curves give (next to) no chance must not make the likelihood -inf.
    return float(np.log(np.maximum(p, 1e-300)).sum())


def fit_side_dependence(
    curves: SurvivalCurves, rows: DurationRows, lattice: VisitLattice
) -> FloatArray:
    """Per region, Frank's theta of its two sides (maximum likelihood, censoring handled).

    Args:
        curves: The hazard model's survival curves of ``rows`` (rows the booster did not see).
        rows: Durations rows, their recorded days; pairs of sides are found among them.
        lattice: The registry's visit lattice (``training.visit_lattice``).

    Returns:
        (len(REGIONS),) theta per region code, in [``MIN_THETA``, ``MAX_THETA``]; ``MIN_THETA``
        (independence) where no pair at all was seen.
    """
    left, right = side_pairs(rows)
    out = np.full(len(REGIONS), MIN_THETA)
    if len(left) == 0:
        return out
    # A return on the lattice happened since the visit before; any other within its day.
    step = np.where(lattice_returns(rows.days, rows.returned, lattice), lattice.step_days, 1.0)
    u1, u2 = _u_interval(curves, left, rows.days[left], rows.returned[left], step[left])
    v1, v2 = _u_interval(curves, right, rows.days[right], rows.returned[right], step[right])
    region = rows.region[left]

    def best(mask: BoolArray) -> float:
        low, high = (u1[mask], v1[mask]), (u2[mask], v2[mask])
        found = minimize_scalar(
            lambda log_theta: -_log_likelihood(low, high, float(np.exp(log_theta))),
            bounds=(np.log(MIN_THETA), np.log(MAX_THETA)),
            method="bounded",
            options={"xatol": 1e-3},
        )
        return float(np.exp(found.x))

    pooled = best(np.ones(len(left), dtype=bool))
    for code in range(len(REGIONS)):
        mask = region == code
        out[code] = best(mask) if mask.sum() >= MIN_PAIRS else pooled
    return out


@dataclass(frozen=True)
class LateAsymmetryReport:
    """Held-out late-stage asymmetry of pairs of sides.

    Attributes:
        metrics: Named figures (see ``evaluate_late_asymmetry``).
        risk: Predicted risk per held-out pair (both sides recorded).
        observed: Per pair 1 (late), 0 (not late) or NaN (unknown: censored too soon).
        oracle: The oracle's probability per pair (as the registry records it), NaN without.
    """

    metrics: dict[str, float]
    risk: FloatArray
    observed: FloatArray
    oracle: FloatArray


def observed_late(
    days: tuple[FloatArray, FloatArray],
    returned: tuple[BoolArray, BoolArray],
    gap_days: float = LATE_GAP_DAYS,
) -> FloatArray:
    """Per pair: 1 late, 0 not late, NaN unknown.

    Late: one side returned at least ``gap_days`` before the other was last seen (returned or
    not); not late: both returned less than ``gap_days`` apart; otherwise censoring hides it.
    """
    (d1, d2), (e1, e2) = days, returned
    late = (e1 & (d2 - d1 >= gap_days)) | (e2 & (d1 - d2 >= gap_days))
    close = e1 & e2 & (np.abs(d1 - d2) < gap_days)
    return np.where(late, 1.0, np.where(close, 0.0, np.nan))


def known_weights(
    days: tuple[FloatArray, FloatArray],
    returned: tuple[BoolArray, BoolArray],
    observed: FloatArray,
    gap_days: float = LATE_GAP_DAYS,
) -> FloatArray:
    """Per pair whose outcome is known, 1 / P(followed up long enough to know it); NaN elsewhere.

    A pair that is not late is known once both sides have returned, less than ``gap_days``
    apart; a late pair only once the other side is seen ``gap_days`` after the first one's return,
    which takes longer. So among the pairs whose outcome a registry shows, late ones are too few,
    and a calibrated risk reads high against them. Weighting each known pair by the inverse of
    the chance that follow-up lasted until its outcome showed (inverse probability of censoring
    weighting: Robins & Finkbeiner 2000; the chance from the Kaplan-Meier of the pairs' last
    contact, a pair with both sides returned still followed then) undoes that, as far as
    follow-up does not hang on the outcome.

    Args:
        days: Recorded days of the left and the right side of each pair.
        returned: Whether each side returned.
        observed: Per pair 1, 0 or NaN (``observed_late``).
        gap_days: The gap.

    Returns:
        (p,) weights, NaN where the outcome is unknown.
    """
    (d1, d2), (e1, e2) = days, returned
    lost = ~(e1 & e2)
    # Last contact: a censored side's day; with both sides returned, at least the later return.
    censored_day = np.maximum(np.where(e1, 0.0, d1), np.where(e2, 0.0, d2))
    contact = np.where(lost, censored_day, np.maximum(d1, d2))
    first = np.where(e1 & e2, np.minimum(d1, d2), np.where(e1, d1, d2))
    shown = np.where(observed == 1.0, first + gap_days, np.maximum(d1, d2))
    known = np.isfinite(observed)
    out = np.full(len(observed), np.nan)
    if known.any():
        # P(last contact >= t) is the Kaplan-Meier of last contact just before t.
        followed = kaplan_meier(contact, lost, shown[known] - _BEFORE)
        out[known] = 1.0 / np.maximum(followed, MIN_FOLLOWED)
    return out


def _oracle_late(data: TrainingData, treatment: IntArray, region: IntArray) -> FloatArray:
    """The oracle's recorded-event probability of each (treatment row, region), NaN if none."""
    if data.oracle is None:
        return np.full(len(treatment), np.nan)
    o = data.oracle.late_asymmetry
    o = o[o["treatment_id"].isin(data.row_of.keys())]
    keys = data.rows(o["treatment_id"].to_numpy(dtype=object)) * len(REGIONS) + enum_codes(
        o["region"], REGION_CODE
    )
    values = o["p_late_asymmetry_recorded"].to_numpy(dtype=np.float64)
    order = np.argsort(keys)
    keys, values = keys[order], values[order]
    query = treatment * len(REGIONS) + region
    if len(keys) == 0:
        return np.full(len(query), np.nan)
    at = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
    out: FloatArray = np.where(keys[at] == query, values[at], np.nan)
    return out


def evaluate_late_asymmetry(
    curves: SurvivalCurves, theta: FloatArray, rows: DurationRows, data: TrainingData
) -> LateAsymmetryReport:
    """Judge the late-stage asymmetry risk (21 days) on held-out pairs of sides.

    Metrics, among pairs whose outcome is known (``observed_late``):
    ``late_asymmetry_pairs`` (held-out pairs), ``late_asymmetry_known_pairs``,
    ``late_asymmetry_observed_rate``, ``late_asymmetry_predicted_mean`` (on the known pairs),
    ``late_asymmetry_predicted_minus_observed`` (calibration-in-the-large on the probability
    scale), ``late_asymmetry_observed_rate_ipcw`` and
    ``late_asymmetry_predicted_minus_observed_ipcw`` (the same with each known pair weighted by
    ``known_weights``: what the late-asymmetry goal is judged on),
    ``late_asymmetry_calibration_slope`` / ``_intercept`` (logistic, Van Calster et
    al. 2019), ``late_asymmetry_brier``, ``late_asymmetry_auc``; per treatment whose pairs are all
    known, the same for "some region late" as ``late_asymmetry_treatment_*``; with an oracle,
    ``oracle_late_asymmetry_brier`` and ``oracle_late_asymmetry_predicted_minus_observed`` (the
    oracle on the same known pairs) and its ``_ipcw`` twin,
    ``late_asymmetry_brier_ratio_to_oracle``,
    ``late_asymmetry_predicted_minus_oracle`` and ``late_asymmetry_mae_vs_oracle`` (every
    held-out pair) and ``late_asymmetry_slope_vs_oracle`` (logit of the oracle's probability
    regressed on the logit of the prediction: 1 ideal).

    Args:
        curves: Survival curves of ``rows`` from the model.
        theta: The model's Frank theta per region code.
        rows: Held-out durations rows.
        data: Training data (for the oracle).

    Returns:
        The report.
    """
    left, right = side_pairs(rows)
    gap = np.full(len(left), LATE_GAP_DAYS)
    risk = late_asymmetry(curves, left, right, theta[rows.region[left]], gap)
    observed = observed_late(
        (rows.days[left], rows.days[right]), (rows.returned[left], rows.returned[right])
    )
    oracle = _oracle_late(data, rows.treatment[left], rows.region[left])
    known = np.isfinite(observed)
    m: dict[str, float] = {
        "late_asymmetry_pairs": float(len(left)),
        "late_asymmetry_known_pairs": float(known.sum()),
    }
    m |= _binary_figures("late_asymmetry_", observed[known], risk[known])
    weight = known_weights(
        (rows.days[left], rows.days[right]), (rows.returned[left], rows.returned[right]), observed
    )[known]
    if known.any():
        seen = float(np.average(observed[known], weights=weight))
        m["late_asymmetry_observed_rate_ipcw"] = seen
        m["late_asymmetry_predicted_minus_observed_ipcw"] = (
            float(np.average(risk[known], weights=weight)) - seen
        )
    # Per treatment: some region late, where every pair of the treatment is known.
    treatment = rows.treatment[left]
    ids, inverse = np.unique(treatment, return_inverse=True)
    all_known = np.bincount(inverse, weights=~known, minlength=len(ids)) == 0
    log_none = np.bincount(inverse, weights=np.log1p(-np.minimum(risk, 1 - 1e-12)))
    any_late = np.bincount(inverse, weights=np.nan_to_num(observed)) > 0
    m |= _binary_figures(
        "late_asymmetry_treatment_", any_late[all_known] * 1.0, -np.expm1(log_none[all_known])
    )
    if np.isfinite(oracle).all() and len(oracle):
        o_known = oracle[known]
        m["oracle_late_asymmetry_brier"] = metrics.brier(observed[known], o_known)
        m["oracle_late_asymmetry_predicted_minus_observed"] = float(
            o_known.mean() - observed[known].mean()
        )
        m["oracle_late_asymmetry_predicted_minus_observed_ipcw"] = (
            float(np.average(o_known, weights=weight)) - m["late_asymmetry_observed_rate_ipcw"]
        )
        m["late_asymmetry_brier_ratio_to_oracle"] = (
            m["late_asymmetry_brier"] / m["oracle_late_asymmetry_brier"]
        )
        m["late_asymmetry_predicted_minus_oracle"] = float(np.mean(risk - oracle))
        m["late_asymmetry_mae_vs_oracle"] = float(np.mean(np.abs(risk - oracle)))
        x, y = metrics.logit(risk), metrics.logit(oracle)
        m["late_asymmetry_slope_vs_oracle"] = float(np.polyfit(x, y, 1)[0])
    return LateAsymmetryReport(metrics=m, risk=risk, observed=observed, oracle=oracle)


def _binary_figures(prefix: str, y: FloatArray, p: FloatArray) -> dict[str, float]:
    """Rate, mean prediction, their difference and ``metrics.binary_figures``."""
    if len(y) == 0:
        return {}
    return {
        f"{prefix}observed_rate": float(y.mean()),
        f"{prefix}predicted_mean": float(p.mean()),
        f"{prefix}predicted_minus_observed": float(p.mean() - y.mean()),
        **metrics.binary_figures(y, p, prefix),
    }
