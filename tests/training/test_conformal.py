"""The CQR margin: the finite-sample conformity quantile, and the coverage it buys."""

import numpy as np
import pytest

from training.conformal import conformal_margin


def test_conformal_margin_is_the_finite_sample_quantile() -> None:
    y = np.arange(10.0)
    zero = np.zeros(10)
    # Scores |y| = 0..9; the ceil(11 * 0.8) = 9th smallest is 8.
    assert conformal_margin(y, zero, zero, 0.8) == 8.0
    # Intervals already too wide get narrowed: scores are negative.
    assert conformal_margin(zero, zero - 2.0, zero + 3.0, 0.8) == -2.0
    # A level past the largest score is capped there: ceil(11 * 0.95) = 11 > 10 rows.
    assert conformal_margin(y, zero, zero, 0.95) == 9.0


def test_widened_intervals_cover_new_rows_at_the_target() -> None:
    # Intervals that are too narrow ([-0.5, 0.5] for standard normal noise cover ~38%): widened
    # by the margin from 2,000 calibration rows they cover 80% of 200,000 new rows (the
    # margin's own sampling error moves coverage by about 0.01).
    rng = np.random.default_rng(0)
    calib = rng.normal(size=2000)
    half = np.full(2000, 0.5)
    margin = conformal_margin(calib, -half, half, 0.8)
    assert margin == pytest.approx(1.2816 - 0.5, abs=0.06)  # the normal's 90% point less 0.5
    new = rng.normal(size=200_000)
    assert np.mean(np.abs(new) <= 0.5 + margin) == pytest.approx(0.8, abs=0.02)
