"""SurvivalCurves: its summaries against the closed forms written plainly, row by row (below)."""

import numpy as np
import pytest

from bundle import postprocess

W = 30.0


def _reference_log_grid(hazards: np.ndarray, grid: np.ndarray, bin_days: float) -> np.ndarray:
    h = np.clip(hazards, 0.0, 1.0 - 1e-9)
    log_keep = np.log1p(-h)
    n = h.shape[1]
    before = np.concatenate([np.zeros((len(h), 1)), np.cumsum(log_keep, axis=1)], axis=1)
    k_full = np.minimum(grid // bin_days, n).astype(np.int64)
    rest = grid - k_full * bin_days
    return before[:, k_full] + log_keep[:, np.minimum(k_full, n - 1)] * rest / bin_days


def _reference_survival(hazards: np.ndarray, days: float, bin_days: float) -> np.ndarray:
    return np.exp(_reference_log_grid(hazards, np.array([days]), bin_days)[:, 0])


def _reference_median(hazards: np.ndarray, bin_days: float) -> np.ndarray:
    h = np.clip(hazards, 0.0, 1.0 - 1e-9)
    log_keep = np.log1p(-h)
    before = np.concatenate([np.zeros((len(h), 1)), np.cumsum(log_keep, axis=1)], axis=1)
    target = np.log(0.5)
    crossed = before[:, 1:] <= target
    k = np.where(crossed.any(axis=1), crossed.argmax(axis=1), h.shape[1] - 1)
    rows = np.arange(len(h))
    rate = log_keep[rows, k]
    into = np.divide(target - before[rows, k], rate, out=np.full(len(h), np.inf), where=rate < 0)
    return np.minimum((k + into) * bin_days, postprocess.MAX_DAYS)


def _hazards(rows: int, bins: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    h = rng.random((rows, bins)) ** rng.choice([0.3, 1.0, 3.0], size=(rows, 1))
    h[rng.random(h.shape) < 0.1] = 0.0  # no return at all in some bins
    h[rng.random(h.shape) < 0.02] = 1.0  # certain return (clipped below 1)
    return h


DAYS = (0.0, 1.0, 29.5, 30.0, 45.0, 90, 120, 150, 359.0, 360.0, 361.0, 500.0, 5000.0)


@pytest.mark.parametrize(("bins", "bin_days"), [(12, 30.0), (5, 7.0), (1, 30.0)])
def test_curves_summaries_equal_the_functions_and_the_reference(bins: int, bin_days: float) -> None:
    h = _hazards(400, bins, seed=bins)
    curves = postprocess.SurvivalCurves(h, bin_days)
    median = curves.median_days()
    np.testing.assert_array_equal(median, postprocess.median_days(h, bin_days))
    np.testing.assert_array_equal(median, _reference_median(h, bin_days))
    survival = curves.survival_at(DAYS)
    assert survival.shape == (len(DAYS), len(h))
    for i, d in enumerate(DAYS):
        np.testing.assert_array_equal(survival[i], postprocess.survival_at(h, float(d), bin_days))
        np.testing.assert_allclose(
            survival[i], _reference_survival(h, float(d), bin_days), rtol=0, atol=1e-15
        )
    # log_survival of some rows at days of their own, and days_to its inverse.
    rows = np.arange(0, 400, 3)
    days = np.array(DAYS)[:, None] + np.arange(len(rows))[None, :] % 7
    log_s = curves.log_survival(days, rows)
    for j, r in enumerate(rows):
        want = _reference_log_grid(h[r : r + 1], days[:, j], bin_days)[0]
        np.testing.assert_allclose(log_s[:, j], want, rtol=1e-14, atol=1e-13)  # rounding
    # days_to is its inverse: the first day at that level (earlier where the curve is flat).
    back = curves.days_to(log_s, rows)
    # Rounding: a level off by 1e-16 over a bin of hazard 1e-7 moves the day by ~1e-8 days.
    assert np.all(back <= np.maximum(days, 0.0) + 1e-6)
    np.testing.assert_allclose(curves.log_survival(back, rows), log_s, rtol=1e-9, atol=1e-12)


def test_survival_past_every_bin_and_at_infinity() -> None:
    h = np.full((3, 12), 0.2)
    h[1] = 0.0  # never returns
    h[2, 5:] = 0.0  # returns, if at all, in the first five bins
    curves = postprocess.SurvivalCurves(h, W)
    log_s = curves.log_survival(np.array([[-5.0], [np.inf]]), slice(None))
    np.testing.assert_array_equal(log_s[0], 0.0)  # a day before the treatment: survival 1
    assert log_s[1, 0] == -np.inf and log_s[1, 1] == 0.0
    assert log_s[1, 2] == pytest.approx(5 * np.log(0.8))  # stays at what the fifth bin left
    # A level a curve never reaches: infinitely late.
    assert curves.days_to(np.array([[np.log(0.1)]]), np.array([2]))[0, 0] == np.inf


def test_curves_of_constant_hazards_are_exponentials() -> None:
    h = 0.2
    curves = postprocess.SurvivalCurves(np.full((3, 12), h), W)
    np.testing.assert_allclose(
        curves.survival_at((45, 90, 500)), [[(1 - h) ** (d / W)] * 3 for d in (45, 90, 500)]
    )
    np.testing.assert_allclose(curves.median_days(), W * np.log(0.5) / np.log(1 - h))
    np.testing.assert_allclose(curves.log_keep, np.log(1 - h))
    np.testing.assert_allclose(curves.log_start[-1], 12 * np.log(1 - h))


def test_empty_rows_and_pairs() -> None:
    curves = postprocess.SurvivalCurves(np.zeros((0, 12)), W)
    assert curves.median_days().shape == (0,)
    assert curves.survival_at((90, 120)).shape == (2, 0)


@pytest.mark.parametrize("groups", [1, 8])
def test_hazards_from_the_margin_are_the_proportional_odds(groups: int) -> None:
    rng = np.random.default_rng(groups)
    margin = (3 * rng.standard_normal(50)).astype(np.float32)  # the booster's, in float32
    margin[:3] = [40.0, -40.0, 0.0]  # hazards of 1 and 0 (no overflow), 0.5 at a zero baseline
    baseline = rng.standard_normal((groups, 12)) - 2.0
    baseline[:, 0] = 0.0
    region = rng.integers(0, groups, 50)
    got = postprocess.hazards_from_margin(margin, baseline, region)
    z = baseline[region if groups > 1 else 0] + margin.astype(np.float64)[:, None]
    # Two ways of the same sigmoid: a few units of the last place apart.
    np.testing.assert_allclose(got, 1.0 / (1.0 + np.exp(-z)), rtol=1e-14, atol=1e-300)
    assert got[0, 0] == 1.0 and got[1, 0] < 1e-17 and got[2, 0] == 0.5


def test_curves_of_many_rows_are_those_of_each_row_alone() -> None:
    h = _hazards(300, 12, seed=10)
    many = postprocess.SurvivalCurves(h, W)
    for i in (0, 150, 299):
        alone = postprocess.SurvivalCurves(h[i : i + 1], W)
        np.testing.assert_array_equal(alone.median_days(), many.median_days()[i : i + 1])
        np.testing.assert_array_equal(alone.survival_at(DAYS), many.survival_at(DAYS)[:, i : i + 1])
