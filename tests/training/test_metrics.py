"""Metric functions against hand-computed cases and closed forms."""

import numpy as np
import pytest

from training import metrics


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _bernoulli(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Outcomes drawn from their own probabilities: a perfectly calibrated p."""
    rng = np.random.default_rng(seed)
    p = _sigmoid(rng.normal(-1.0, 1.5, n))
    return (rng.random(n) < p).astype(float), p


def test_auc_hand_case_and_ties() -> None:
    # Pairs (pos, neg): (0.35, 0.1) win, (0.35, 0.4) lose, (0.8, *) win: 3 of 4.
    assert metrics.auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
    # A tie between a positive and a negative counts one half (the convention of the AUC
    # figures before scikit-learn computed them).
    assert metrics.auc([0, 1], [0.5, 0.5]) == 0.5
    assert metrics.auc([0, 0, 1], [0.2, 0.5, 0.5]) == 0.75


def test_auc_is_the_mann_whitney_pair_share_with_many_ties() -> None:
    rng = np.random.default_rng(0)
    y = rng.random(500) < 0.3
    p = np.round(rng.random(500) * 0.5 + 0.3 * y, 1)  # rounded: many ties
    pos, neg = p[y], p[~y]
    want = ((pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])).mean()
    assert metrics.auc(y, p) == pytest.approx(want, abs=1e-12)


def test_auc_needs_both_classes() -> None:
    with pytest.raises(ValueError, match="both classes"):
        metrics.auc([1, 1, 1], [0.2, 0.3, 0.4])


def test_brier_and_log_loss() -> None:
    y, p = [0, 1, 1], [0.2, 0.6, 1.0]
    assert metrics.brier(y, p) == pytest.approx((0.04 + 0.16 + 0.0) / 3)
    assert metrics.log_loss(y, p) == pytest.approx(-(np.log(0.8) + np.log(0.6) + np.log(1.0)) / 3)
    # One outcome only is still a score (labels given), and p = 0 for an event stays finite.
    assert metrics.brier([1, 1], [0.5, 1.0]) == pytest.approx(0.125)
    assert np.isfinite(metrics.log_loss([1], [0.0]))
    assert metrics.log_loss([1], [0.0]) > 30.0


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="0/1"):
        metrics.brier([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="0/1"):
        metrics.log_loss([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="greater than 1"):
        metrics.brier([0, 1], [0.1, 1.2])
    with pytest.raises(ValueError, match="inconsistent numbers"):
        metrics.brier([0, 1], [0.1])


def test_platt_recovers_a_known_recalibration() -> None:
    # Outcomes drawn from sigmoid(0.6 * logit(p) + 0.4): the maximum-likelihood fit on 50,000
    # rows finds (0.6, 0.4) within a few standard errors (about 0.01 each).
    rng = np.random.default_rng(2)
    p = _sigmoid(rng.normal(-1.0, 1.5, 50_000))
    y = (rng.random(50_000) < _sigmoid(0.6 * metrics.logit(p) + 0.4)).astype(float)
    slope, intercept = metrics.platt(y, p)
    assert slope == pytest.approx(0.6, abs=0.04)
    assert intercept == pytest.approx(0.4, abs=0.04)


def test_calibration_of_a_calibrated_model() -> None:
    # n = 20,000 with logit(p) ~ N(-1, 1.5): the slope's standard error is about 0.02 and the
    # intercept's about 0.02 (Fisher information), so 0.07 is more than three of them.
    y, p = _bernoulli(20_000, 3)
    slope, intercept = metrics.calibration(y, p)
    assert slope == pytest.approx(1.0, abs=0.07)
    assert intercept == pytest.approx(0.0, abs=0.07)


def test_calibration_of_sharpened_and_shifted_predictions() -> None:
    y, p = _bernoulli(20_000, 4)
    lp = metrics.logit(p)
    # Logits doubled: the true model is y ~ sigmoid(0.5 * logit(p2)), so the slope is 0.5
    # (standard error about 0.01).
    slope, _ = metrics.calibration(y, _sigmoid(2.0 * lp))
    assert slope == pytest.approx(0.5, abs=0.035)
    # Logits shifted by -1: risks underestimated, the intercept is +1 and the slope stays 1.
    slope, intercept = metrics.calibration(y, _sigmoid(lp - 1.0))
    assert slope == pytest.approx(1.0, abs=0.07)
    assert intercept == pytest.approx(1.0, abs=0.07)


def test_calibration_in_the_large_closed_form() -> None:
    # A constant prediction of 0.2 where 30% have the event: with logit(0.2) as offset the
    # intercept solves mean(y) = sigmoid(a + logit(0.2)), so a = logit(0.3) - logit(0.2).
    y = np.r_[np.ones(30), np.zeros(70)]
    _, intercept = metrics.calibration(y, np.full(100, 0.2))
    assert intercept == pytest.approx(np.log(0.3 / 0.7) - np.log(0.2 / 0.8), abs=1e-9)


def test_mae_and_interval_coverage() -> None:
    assert metrics.mae([1.0, -2.0, 0.5], [0.0, 0.0, 0.5]) == pytest.approx(1.0)
    # Closed interval: the bounds count as inside.
    assert metrics.interval_coverage([0.0, 1.0, 2.0, 3.0], [0.0] * 4, [2.0] * 4) == 0.75


def test_by_group_skips_small_single_class_and_missing_groups() -> None:
    y = np.r_[np.tile([0, 1], 60), np.zeros(150), np.tile([0, 1], 10), np.tile([1, 0], 60)]
    p = np.r_[np.tile([0.2, 0.8], 60), np.full(150, 0.3), np.full(20, 0.5), np.tile([0.4, 0.6], 60)]
    groups = np.array(["a"] * 120 + ["b"] * 150 + ["c"] * 20 + [None] * 60 + [np.nan] * 60, object)
    out = metrics.by_group({"y": y, "p": p}, groups, metrics.auc, min_n=100)
    # b has one class, c 20 rows, and None/NaN rows belong to no group.
    assert out == {"a": 1.0}
    assert metrics.by_group({"y": y, "p": p}, groups, metrics.brier, min_n=10).keys() == {"a", "c"}
    with pytest.raises(ValueError, match="same length"):
        metrics.by_group({"y": y[:5], "p": p[:5]}, groups, metrics.auc)


def test_calibration_slope_interval_covers_the_truth_and_narrows_as_root_n() -> None:
    # Outcomes drawn from the predictions themselves: the true slope is 1. Seeded; with 95%
    # intervals a fixed draw covers 1 (checked for this seed), and the Wald width falls as
    # 1/sqrt(n): four times the rows, half the width (within 10%: the design differs by draw).
    rng = np.random.default_rng(11)
    p = 1.0 / (1.0 + np.exp(-rng.normal(-1.0, 1.2, 40_000)))
    y = (rng.random(len(p)) < p).astype(float)
    low, high = metrics.calibration_slope_interval(y, p)
    slope, _ = metrics.calibration(y, p)
    assert low < slope < high and low < 1.0 < high
    small_low, small_high = metrics.calibration_slope_interval(y[:10_000], p[:10_000])
    assert (high - low) / (small_high - small_low) == pytest.approx(0.5, rel=0.1)


def test_binary_figures_name_every_figure_and_skip_what_one_outcome_cannot_give() -> None:
    y = np.array([0, 0, 1, 1, 0, 1, 0, 0], dtype=np.float64)
    p = np.array([0.1, 0.3, 0.7, 0.6, 0.2, 0.4, 0.5, 0.1])
    got = metrics.binary_figures(y, p, "x_")
    assert set(got) == {
        "x_brier",
        "x_log_loss",
        "x_auc",
        "x_calibration_slope",
        "x_calibration_intercept",
    }
    assert got["x_brier"] == pytest.approx(np.mean((p - y) ** 2))
    assert got["x_auc"] == pytest.approx(metrics.auc(y, p))
    # One outcome only: no AUC and no calibration line can be fitted.
    assert set(metrics.binary_figures(np.zeros(4), np.full(4, 0.2))) == {"brier", "log_loss"}
