"""postprocess against closed forms: constant hazards are exponentials, whose survival, median
and late-asymmetry probability are known exactly."""

import numpy as np
import pytest

from bundle import postprocess

W = 30.0
N_BINS = 12


def _const(h: float, rows: int = 1) -> np.ndarray:
    return np.full((rows, N_BINS), h)


def _rate(h: float) -> float:
    return -np.log1p(-h) / W


@pytest.mark.parametrize("h", [0.05, 0.2, 0.5, 0.9])
def test_constant_hazard_median_and_survival(h: float) -> None:
    hz = _const(h)
    assert postprocess.median_days(hz, W)[0] == pytest.approx(W * np.log(0.5) / np.log(1 - h))
    assert postprocess.survival_at(hz, 90.0, W)[0] == pytest.approx((1 - h) ** 3)
    assert postprocess.survival_at(hz, 45.0, W)[0] == pytest.approx((1 - h) ** 1.5)
    assert postprocess.survival_at(hz, 0.0, W)[0] == pytest.approx(1.0)


def test_the_last_bins_hazard_goes_on_past_the_horizon() -> None:
    h = 0.01  # median 30 ln 0.5 / ln 0.99 = 2069 days, far past the 360 days of the bins
    hz = _const(h)
    assert postprocess.survival_at(hz, 500.0, W)[0] == pytest.approx((1 - h) ** (500 / W))
    assert postprocess.median_days(hz, W)[0] == pytest.approx(W * np.log(0.5) / np.log(1 - h))
    assert postprocess.median_days(_const(1e-5), W)[0] == postprocess.MAX_DAYS
    # Only the last bin's hazard continues.
    hz = _const(0.3)
    hz[0, -1] = 0.1
    s360 = postprocess.survival_at(hz, 360.0, W)[0]
    assert s360 == pytest.approx(0.7**11 * 0.9)
    assert postprocess.survival_at(hz, 420.0, W)[0] == pytest.approx(s360 * 0.9**2)


def test_a_piecewise_hazard_median_falls_inside_its_bin() -> None:
    hz = np.zeros((1, N_BINS))
    hz[0, :2] = (0.2, 0.5)  # S(30) = 0.8, S(60) = 0.4: the median is inside bin 1
    into = (np.log(0.5) - np.log(0.8)) / np.log(0.5)
    assert postprocess.median_days(hz, W)[0] == pytest.approx(W * (1 + into))
    assert postprocess.survival_at(hz, 60.0, W)[0] == pytest.approx(0.4)


def test_hazards_from_margin_add_the_margin_to_the_baseline_in_log_odds() -> None:
    baseline = np.log(np.array([[0.1, 0.2, 0.5]]) / (1 - np.array([[0.1, 0.2, 0.5]])))
    margin = np.array([0.0, np.log(3.0), -40.0, 800.0])
    h = postprocess.hazards_from_margin(margin, baseline, np.zeros(4, dtype=np.int64))
    assert h.shape == (4, 3)
    np.testing.assert_allclose(h[0], [0.1, 0.2, 0.5], rtol=1e-12)
    # Odds times 3 in every bin: proportional odds.
    np.testing.assert_allclose(h[1] / (1 - h[1]), 3 * np.array([0.1, 0.2, 0.5]) / [0.9, 0.8, 0.5])
    assert np.all(h[2] < 1e-17) and np.all(h[2] > 0)  # no overflow either way
    np.testing.assert_array_equal(h[3], 1.0)


def test_hazards_from_margin_pick_the_rows_region_baseline() -> None:
    baseline = np.array([[-2.0, -1.0], [0.0, 1.0], [3.0, 3.0]])
    region = np.array([2, 0, 1, 0])
    margin = np.array([0.5, -0.5, 0.0, 1.0])
    h = postprocess.hazards_from_margin(margin, baseline, region)
    want = 1 / (1 + np.exp(-(baseline[region] + margin[:, None])))
    np.testing.assert_allclose(h, want, rtol=1e-12)
    # One row serves every region, whatever the codes.
    one = postprocess.hazards_from_margin(margin, baseline[:1], region)
    np.testing.assert_allclose(one, 1 / (1 + np.exp(-(baseline[0] + margin[:, None]))))
    with pytest.raises(ValueError, match="expected"):
        postprocess.hazards_from_margin(margin, baseline[0], region)


def test_calibrate_and_quantiles() -> None:
    p = np.array([0.1, 0.5, 0.9])
    np.testing.assert_allclose(postprocess.calibrate(p, 1.0, 0.0), p)
    assert postprocess.calibrate(np.array([0.5]), 2.0, np.log(3.0))[0] == pytest.approx(0.75)
    # From the margin: logit(0.8) = log 4, so 2 log 4 - log 2 = log 8, and 8 / 9.
    margin = np.array([np.log(4.0)])
    assert postprocess.calibrate_margin(margin, 2.0, -np.log(2.0))[0] == pytest.approx(8 / 9)
    # One column per key; a row's crossed quantiles are sorted, each row on its own.
    q = postprocess.quantiles([[3.0, 0.0], [1.0, 5.0], [2.0, 4.0]], ["q10", "q50", "q90"])
    assert (q["q10"].tolist(), q["q50"].tolist(), q["q90"].tolist()) == ([1, 0], [2, 4], [3, 5])
