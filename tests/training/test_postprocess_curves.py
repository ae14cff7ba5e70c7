"""SurvivalCurves: one set of curves gives what the separate functions give, and both give what
the straightforward per-call implementation (kept below as a reference) gives."""

import numpy as np
import pytest

from training import postprocess

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


def _reference_late(
    left: np.ndarray, right: np.ndarray, bin_days: float, gap: float, step: float
) -> np.ndarray:
    steps = int(np.ceil(bin_days * left.shape[1] / step))
    grid = np.arange(steps + 1, dtype=np.float64) * step
    log_l, log_r = (_reference_log_grid(h, grid, bin_days) for h in (left, right))
    later_l, later_r = (_reference_log_grid(h, grid + gap, bin_days) for h in (left, right))

    def earlier_by_gap(first: np.ndarray, second_later: np.ndarray) -> np.ndarray:
        s = np.exp(first)
        mid = np.exp(0.5 * (second_later[:, :-1] + second_later[:, 1:]))
        return ((s[:, :-1] - s[:, 1:]) * mid).sum(axis=1)

    inside = earlier_by_gap(log_l, later_r) + earlier_by_gap(log_r, later_l)
    rate_l = -np.log1p(-np.clip(left[:, -1], 0.0, 1.0 - 1e-9)) / bin_days
    rate_r = -np.log1p(-np.clip(right[:, -1], 0.0, 1.0 - 1e-9)) / bin_days
    total = rate_l + rate_r
    split = rate_l * np.exp(-rate_r * gap) + rate_r * np.exp(-rate_l * gap)
    tail = np.exp(log_l[:, -1] + log_r[:, -1])
    tail = tail * np.divide(split, total, out=np.zeros_like(total), where=total > 0)
    return inside + tail


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
    assert survival.shape == (len(DAYS), len(h)) and survival.flags.c_contiguous
    for i, d in enumerate(DAYS):
        np.testing.assert_array_equal(survival[i], postprocess.survival_at(h, float(d), bin_days))
        np.testing.assert_allclose(
            survival[i], _reference_survival(h, float(d), bin_days), rtol=0, atol=1e-15
        )
    left, right = np.arange(0, 400, 2), np.arange(1, 400, 2)
    late = curves.late_asymmetry(left, right)
    np.testing.assert_array_equal(late, postprocess.late_asymmetry(h[left], h[right], bin_days))
    np.testing.assert_array_equal(
        late,
        _reference_late(
            h[left], h[right], bin_days, postprocess.LATE_GAP_DAYS, postprocess.LATE_STEP_DAYS
        ),
    )


@pytest.mark.parametrize(("gap", "step"), [(21.0, 3.0), (10.0, 1.0), (20.0, 3.0), (7.5, 2.5)])
def test_late_asymmetry_on_any_grid_is_the_reference(gap: float, step: float) -> None:
    # 21 = 7 steps of 3 shares one grid between both ends of the gap; 20 / 3 evaluates two.
    h = _hazards(200, 12, seed=3)
    got = postprocess.late_asymmetry(h[:100], h[100:], W, gap, step)
    np.testing.assert_allclose(got, _reference_late(h[:100], h[100:], W, gap, step), atol=1e-15)


def test_a_pair_alone_equals_its_value_among_many(monkeypatch: pytest.MonkeyPatch) -> None:
    h = _hazards(2 * 300, 12, seed=4)
    curves = postprocess.SurvivalCurves(h, W)
    left, right = np.arange(300), np.arange(300, 600)
    many = curves.late_asymmetry(left, right)  # more than _FEW_PAIRS: no rows repeated
    alone = np.array(
        [curves.late_asymmetry(left[i : i + 1], right[i : i + 1])[0] for i in range(300)]
    )
    np.testing.assert_array_equal(alone, many)
    monkeypatch.setattr(postprocess, "_PAIR_CHUNK", 7)  # chunked: the same, chunk by chunk
    np.testing.assert_array_equal(curves.late_asymmetry(left, right), many)
    monkeypatch.setattr(postprocess, "_FEW_PAIRS", 0)  # never repeat rows: the same
    np.testing.assert_array_equal(curves.late_asymmetry(left[:5], right[:5]), many[:5])


def test_curves_of_constant_hazards_are_exponentials() -> None:
    h = 0.2
    curves = postprocess.SurvivalCurves(np.full((3, 12), h), W)
    np.testing.assert_allclose(
        curves.survival_at((45, 90, 500)), [[(1 - h) ** (d / W)] * 3 for d in (45, 90, 500)]
    )
    np.testing.assert_allclose(curves.median_days(), W * np.log(0.5) / np.log(1 - h))
    np.testing.assert_allclose(curves.log_keep, np.log(1 - h))
    np.testing.assert_allclose(curves.log_start[:, -1], 12 * np.log(1 - h))
    assert curves.late_asymmetry(np.array([0]), np.array([2]))[0] == pytest.approx(
        np.exp(-(-np.log1p(-h) / W) * postprocess.LATE_GAP_DAYS), abs=1e-3
    )


def test_cached_day_columns_are_not_changed_by_callers() -> None:
    curves = postprocess.SurvivalCurves(_hazards(5, 12, seed=5), W)
    first = curves.survival_at((90, 120))
    first[:] = -1.0  # a fresh array: the caches behind it are read-only and untouched
    np.testing.assert_array_equal(curves.survival_at((90.0, 120.0)), curves.survival_at((90, 120)))
    assert curves.survival_at((90, 120)).min() >= 0.0


def test_empty_rows_and_pairs() -> None:
    curves = postprocess.SurvivalCurves(np.zeros((0, 12)), W)
    assert curves.median_days().shape == (0,)
    assert curves.survival_at((90, 120)).shape == (2, 0)
    none = np.zeros(0, dtype=np.int64)
    assert curves.late_asymmetry(none, none).shape == (0,)
