"""SurvivalCurves: its summaries against the closed forms written plainly (pair by pair, piece by
piece, below) and against a fine numerical integration."""

import math

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


def _reference_late(left: np.ndarray, right: np.ndarray, bin_days: float, gap: float) -> np.ndarray:
    """The closed form written plainly, pair by pair and piece by piece.

    On a piece [t0, t1] where the bin of t (first side) and of t + gap (other side) stay the same,
    the rates a, b are constant and the integral of a S_1(t) S_2(t + gap) is
    a S_1(t0) S_2(t0 + gap) (1 - e^-(a + b)(t1 - t0)) / (a + b); past the last bin, t1 = inf.
    """
    n = left.shape[1]
    horizon = n * bin_days
    cuts = {k * bin_days for k in range(n + 1)}
    cuts |= {k * bin_days - gap for k in range(n + 1) if 0 < k * bin_days - gap < horizon}
    starts = sorted(cuts)
    pieces = list(zip(starts, [*starts[1:], math.inf], strict=True))

    def rate(h: np.ndarray, t: float) -> float:  # per day, in the bin of t (the last one past it)
        k = min(int(t // bin_days), n - 1)
        return -math.log1p(-min(max(h[k], 0.0), 1.0 - 1e-9)) / bin_days

    def first_by_gap(first: np.ndarray, other: np.ndarray) -> float:
        total = 0.0
        for t0, t1 in pieces:
            middle = t0 + 1.0 if t1 == math.inf else 0.5 * (t0 + t1)
            a, b = rate(first, middle), rate(other, middle + gap)
            if a + b == 0.0:
                continue  # nobody returns: nothing here
            both = _reference_survival(first[None], t0, bin_days)[0]
            both *= _reference_survival(other[None], t0 + gap, bin_days)[0]
            total += a * both * -math.expm1(-(a + b) * (t1 - t0)) / (a + b)
        return total

    return np.array(
        [first_by_gap(h, o) + first_by_gap(o, h) for h, o in zip(left, right, strict=True)]
    )


def _fine_late(
    left: np.ndarray, right: np.ndarray, bin_days: float, gap: float, dt: float = 0.01
) -> np.ndarray:
    """An independent numerical reference: the midpoint rule on a 0.01-day grid to the end of
    the last bin (P(first returns in the step) x P(other alive gap later, mid-step)), then the
    closed-form tail where both hazards are constant: a / (a + b) P(both alive there).

    Its error: on a step where the rates are a, b, the rule gives S_1 S_2 (1 - e^-x) e^(-y/2)
    for the exact S_1 S_2 x (1 - e^-(x + y)) / (x + y) (x = a dt, y = b dt): they differ by
    x (x y / 12 + y^2 / 24) S_1 S_2 + O(dt^4), a relative (dt r)^2 / 8 at most for rates up to r.
    The grid is aligned with the bin edges and with the gap, so no step straddles a change of
    rate.
    """
    horizon = left.shape[1] * bin_days
    steps = round(horizon / dt)
    grid = np.linspace(0.0, horizon, steps + 1)
    log_l, log_r = (_reference_log_grid(h, grid, bin_days) for h in (left, right))
    mid = 0.5 * (grid[:-1] + grid[1:]) + gap
    later_l, later_r = (_reference_log_grid(h, mid, bin_days) for h in (left, right))
    at_end = np.array([horizon + gap])
    end_l, end_r = (_reference_log_grid(h, at_end, bin_days)[:, 0] for h in (left, right))
    rate_l = -np.log1p(-np.clip(left[:, -1], 0.0, 1.0 - 1e-9)) / bin_days
    rate_r = -np.log1p(-np.clip(right[:, -1], 0.0, 1.0 - 1e-9)) / bin_days

    def first_by_gap(
        first: np.ndarray,
        other_later: np.ndarray,
        other_end: np.ndarray,
        a: np.ndarray,
        b: np.ndarray,
    ) -> np.ndarray:
        s = np.exp(first)
        inside = ((s[:, :-1] - s[:, 1:]) * np.exp(other_later)).sum(axis=1)
        share = np.divide(a, a + b, out=np.zeros_like(a), where=a + b > 0)
        return inside + share * np.exp(first[:, -1] + other_end)

    return first_by_gap(log_l, later_r, end_r, rate_l, rate_r) + first_by_gap(
        log_r, later_l, end_l, rate_r, rate_l
    )


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
    left, right = np.arange(0, 400, 2), np.arange(1, 400, 2)
    late = curves.late_asymmetry(left, right)
    np.testing.assert_array_equal(late, postprocess.late_asymmetry(h[left], h[right], bin_days))
    # Both exact: they differ by rounding, a few 1e-16 per piece of the ~25 each way.
    np.testing.assert_allclose(
        late,
        _reference_late(h[left], h[right], bin_days, postprocess.LATE_GAP_DAYS),
        rtol=0,
        atol=1e-13,
    )


# 21 days cut the 30-day bins at 9 days in; 60 is two whole bins (its cuts are the edges); 10 is
# no multiple of 7; 0 and a gap past the last bin are the extremes.
GAPS = [(21.0, 12, 30.0), (60.0, 12, 30.0), (10.0, 12, 7.0), (0.0, 5, 7.0), (500.0, 12, 30.0)]
# Rounding: 3.3 k - 1.1 + 1.1 falls just below 3.3 k for some k (the bin of t + gap is not that
# of a piece's start plus the gap); 0.1 k - 0.3 and 0.1 j differ by ~1e-17 (pieces of no width);
# 7.5 is three 2.5-day bins, each edge exact.
ROUNDING = [(1.1, 12, 3.3), (0.3, 12, 0.1), (7.5, 12, 2.5)]


@pytest.mark.parametrize(("gap", "bins", "bin_days"), GAPS + ROUNDING)
def test_late_asymmetry_for_any_gap_is_the_reference(
    gap: float, bins: int, bin_days: float
) -> None:
    h = _hazards(200, bins, seed=3)
    got = postprocess.late_asymmetry(h[:100], h[100:], bin_days, gap)
    want = _reference_late(h[:100], h[100:], bin_days, gap)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-13)  # as above: rounding only


@pytest.mark.parametrize(("gap", "bins", "bin_days"), GAPS)
def test_late_asymmetry_is_the_integral(gap: float, bins: int, bin_days: float) -> None:
    # Hazards below 0.6, some 0: rates up to r = -ln(0.4) / bin_days, 0.13 a day for 7-day bins,
    # so the 0.01-day midpoint rule is within (0.01 r)^2 / 8 = 2.2e-7 of the truth (relative, of
    # a probability at most 1); its sum in a different order adds ~1e-12.
    rng = np.random.default_rng(7)
    h = rng.uniform(0.0, 0.6, (40, bins))
    h[rng.random(h.shape) < 0.15] = 0.0
    got = postprocess.late_asymmetry(h[:20], h[20:], bin_days, gap)
    bound = (0.01 * -np.log(0.4) / bin_days) ** 2 / 8
    np.testing.assert_allclose(got, _fine_late(h[:20], h[20:], bin_days, gap), rtol=0, atol=bound)


def test_late_asymmetry_with_bins_of_no_hazard() -> None:
    h = _hazards(6, 12, seed=6)
    h[0] = 0.0  # never returns
    h[1, :] = 0.2
    h[2, 4:] = 0.0  # returns, if at all, in the first four bins
    h[3, [2, 5, 11]] = 0.0  # no hazard in some bins, the last included (none past it either)
    h[4, -1] = 0.0
    curves = postprocess.SurvivalCurves(h, W)
    left, right = np.array([0, 0, 0, 2, 3, 2, 0]), np.array([0, 1, 3, 3, 4, 5, 2])
    got = curves.late_asymmetry(left, right)
    want = _reference_late(h[left], h[right], W, postprocess.LATE_GAP_DAYS)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-13)
    assert got[0] == 0.0  # neither side ever returns
    # One side never returns, the other surely does, in time: always gap_days apart.
    assert got[1] == pytest.approx(1.0, abs=1e-14)
    s = postprocess.survival_at(h[2:3], 4 * W, W)[0]  # P(never returns)
    assert got[6] == pytest.approx(1.0 - s, abs=1e-14)  # the same, unless it never returns


def test_without_a_gap_one_side_returns_first() -> None:
    # P(T_L <= T_R) + P(T_R <= T_L) = 1 when both return for sure (positive last hazards).
    h = _hazards(200, 12, seed=8)
    h[:, -1] = np.maximum(h[:, -1], 0.05)
    got = postprocess.late_asymmetry(h[:100], h[100:], W, 0.0)
    np.testing.assert_allclose(got, 1.0, rtol=0, atol=1e-13)


@pytest.mark.parametrize("gap", [-1.0, np.nan, np.inf])
def test_a_gap_must_be_finite_and_not_negative(gap: float) -> None:
    curves = postprocess.SurvivalCurves(_hazards(2, 12, seed=9), W)
    with pytest.raises(ValueError, match="gap_days"):
        curves.late_asymmetry(np.array([0]), np.array([1]), gap)


def test_a_pair_alone_equals_its_value_among_many(monkeypatch: pytest.MonkeyPatch) -> None:
    h = _hazards(2 * 300, 12, seed=4)
    curves = postprocess.SurvivalCurves(h, W)
    left, right = np.arange(300), np.arange(300, 600)
    many = curves.late_asymmetry(left, right)
    alone = np.array(
        [curves.late_asymmetry(left[i : i + 1], right[i : i + 1])[0] for i in range(300)]
    )
    # The same operations per pair, however many: equal up to the order of a sum (1e-15).
    np.testing.assert_allclose(alone, many, rtol=0, atol=1e-14)
    monkeypatch.setattr(postprocess, "_PAIR_CHUNK", 7)  # chunked: the same, chunk by chunk
    np.testing.assert_allclose(curves.late_asymmetry(left, right), many, rtol=0, atol=1e-14)


def test_curves_of_constant_hazards_are_exponentials() -> None:
    h = 0.2
    curves = postprocess.SurvivalCurves(np.full((3, 12), h), W)
    np.testing.assert_allclose(
        curves.survival_at((45, 90, 500)), [[(1 - h) ** (d / W)] * 3 for d in (45, 90, 500)]
    )
    np.testing.assert_allclose(curves.median_days(), W * np.log(0.5) / np.log(1 - h))
    np.testing.assert_allclose(curves.log_keep, np.log(1 - h))
    np.testing.assert_allclose(curves.log_start[-1], 12 * np.log(1 - h))
    assert curves.late_asymmetry(np.array([0]), np.array([2]))[0] == pytest.approx(
        np.exp(-(-np.log1p(-h) / W) * postprocess.LATE_GAP_DAYS), rel=1e-13
    )


def test_empty_rows_and_pairs() -> None:
    curves = postprocess.SurvivalCurves(np.zeros((0, 12)), W)
    assert curves.median_days().shape == (0,)
    assert curves.survival_at((90, 120)).shape == (2, 0)
    none = np.zeros(0, dtype=np.int64)
    assert curves.late_asymmetry(none, none).shape == (0,)


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
