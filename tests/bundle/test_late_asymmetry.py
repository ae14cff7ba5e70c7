"""The two sides jointly: Frank's conditional distribution, and the late-stage asymmetry risk
against the independent sides' closed form, a fine quadrature and draws from the copula."""

import math

import numpy as np
import pytest

from bundle import late_asymmetry as la
from bundle.postprocess import SurvivalCurves

W = 30.0


def _hazards(rows: int, seed: int) -> np.ndarray:
    """Curves like a hazard model's: a rising baseline in log-odds, shifted per row."""
    rng = np.random.default_rng(seed)
    base = np.array([-6, -4, -2.2, -1.2, -0.6, -0.3, 0, 0, 0, 0, 0, 0.0])
    return 1.0 / (1.0 + np.exp(-(base + rng.normal(0.0, 0.6, rows)[:, None])))


def _late(curves: SurvivalCurves, theta: float, gap: float = 21.0, pairs: int = 0) -> np.ndarray:
    n = pairs or curves.log_keep.shape[1] // 2
    left, right = np.arange(0, 2 * n, 2), np.arange(1, 2 * n, 2)
    return la.late_asymmetry(curves, left, right, np.full(n, theta), np.full(n, gap))


def _independent_late(left: np.ndarray, right: np.ndarray, gap: float) -> np.ndarray:
    """Independent piecewise exponential sides, in closed form piece by piece.

    On a piece where the bin of t (first side) and of t + gap (other side) stay the same, the
    rates a, b are constant and the integral of a S_1(t) S_2(t + gap) is
    a S_1(t0) S_2(t0 + gap) (1 - e^-(a + b)(t1 - t0)) / (a + b); past the last bin, t1 = inf.
    """
    n = left.shape[1]
    cuts = {k * W for k in range(n + 1)} | {
        k * W - gap for k in range(n + 1) if 0 < k * W - gap < n * W
    }
    starts = sorted(cuts)
    pieces = list(zip(starts, [*starts[1:], math.inf], strict=True))

    def rate(h: np.ndarray, t: float) -> float:
        return -math.log1p(-min(h[min(int(t // W), n - 1)], 1 - 1e-9)) / W

    def survival(h: np.ndarray, t: float) -> float:
        k = min(int(t // W), n)
        log_s = sum(math.log1p(-h[j]) for j in range(k))
        return math.exp(log_s + math.log1p(-h[min(k, n - 1)]) * (t - k * W) / W)

    def first_by_gap(first: np.ndarray, other: np.ndarray) -> float:
        total = 0.0
        for t0, t1 in pieces:
            middle = t0 + 1.0 if t1 == math.inf else 0.5 * (t0 + t1)
            a, b = rate(first, middle), rate(other, middle + gap)
            both = survival(first, t0) * survival(other, t0 + gap)
            total += a * both * -math.expm1(-(a + b) * (t1 - t0)) / (a + b)
        return total

    return np.array(
        [first_by_gap(h, o) + first_by_gap(o, h) for h, o in zip(left, right, strict=True)]
    )


@pytest.mark.parametrize("theta", [la.MIN_THETA, 1.0, 12.0, la.MAX_THETA])
def test_the_conditional_is_a_distribution_and_the_copulas_derivative(theta: float) -> None:
    u = np.linspace(0.0, 1.0, 11)[:, None]
    v = np.linspace(0.0, 1.0, 11)[None, :]
    c = la.conditional(v, u, theta)
    np.testing.assert_allclose(c[:, 0], 0.0, atol=1e-15)
    np.testing.assert_allclose(c[:, -1], 1.0, rtol=1e-12)
    assert np.all(np.diff(c, axis=1) >= -1e-15)  # non-decreasing in v
    # dC(u, v)/du by central differences of Frank's C (where it is stable: not near u = v = 1
    # at large theta), to the error of the difference (h^2 C''' / 6, here under 1e-6).
    h = 1e-5
    uu = np.linspace(0.05, 0.95, 7)[:, None]

    def copula(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return -np.log1p(np.expm1(-theta * a) * np.expm1(-theta * b) / np.expm1(-theta)) / theta

    if theta < 20:
        numeric = (copula(uu + h, v) - copula(uu - h, v)) / (2 * h)
        np.testing.assert_allclose(la.conditional(v, uu, theta), numeric, atol=1e-5)


def test_near_independence_it_is_the_independent_sides_closed_form() -> None:
    h = _hazards(40, seed=1)
    curves = SurvivalCurves(h, W)
    got = _late(curves, la.MIN_THETA)
    want = _independent_late(h[0::2], h[1::2], 21.0)
    # theta = 0.001 moves a probability by ~1e-4; the 32-node quadrature over u is within 3e-4
    # of the converged integral for such curves (kinks at the bin edges).
    np.testing.assert_allclose(got, want, atol=1e-3)


# Measured over 1,000 such pairs, the 32-node quadrature's largest error: 0.0005 at theta 2,
# 0.0014 at 12 (where simulated registries put it), 0.0045 at 80 (t(u) has a kink at every bin
# edge, and the conditional steepens with theta).
@pytest.mark.parametrize(
    ("theta", "tolerance"), [(2.0, 0.001), (12.0, 0.002), (la.MAX_THETA, 0.005)]
)
def test_the_quadrature_is_the_integral(theta: float, tolerance: float) -> None:
    h = _hazards(200, seed=2)
    curves = SurvivalCurves(h, W)
    left, right = np.arange(0, 200, 2), np.arange(1, 200, 2)
    # The integral over u by the midpoint rule on 20,000 nodes: converged to ~1e-6.
    u = ((np.arange(20_000) + 0.5) / 20_000)[:, None]
    t = curves.days_to(np.broadcast_to(np.log1p(-u), (len(u), len(left))), left)
    f_after = -np.expm1(curves.log_survival(t + 21.0, right))
    f_before = -np.expm1(curves.log_survival(t - 21.0, right))
    fine = (1 - la.conditional(f_after, u, theta) + la.conditional(f_before, u, theta)).mean(0)
    np.testing.assert_allclose(_late(curves, theta), fine, atol=tolerance)


def test_draws_from_the_copula_agree() -> None:
    h = _hazards(6, seed=3)
    curves = SurvivalCurves(h, W)
    rng = np.random.default_rng(0)
    n, theta = 400_000, 12.0
    u, w = rng.random(n), rng.random(n)
    # V | U = u by inverting Frank's conditional distribution in closed form.
    v = -np.log1p(w * np.expm1(-theta) / (w + (1 - w) * np.exp(-theta * u))) / theta
    for pair in range(3):
        t_left = curves.days_to(np.log1p(-u)[:, None], np.array([2 * pair]))[:, 0]
        t_right = curves.days_to(np.log1p(-v)[:, None], np.array([2 * pair + 1]))[:, 0]
        drawn = np.mean(np.abs(t_left - t_right) >= 21.0)
        # 400,000 draws: sd 0.0008; 4 sd plus the quadrature's 0.002.
        assert _late(curves, theta, pairs=3)[pair] == pytest.approx(drawn, abs=0.006)


def test_more_dependence_fewer_late_sides_and_no_gap_certain() -> None:
    # Two sides of the same curve: the more they share, the closer they return.
    same = SurvivalCurves(np.repeat(_hazards(10, seed=4), 2, axis=0), W)
    risks = np.array([_late(same, t) for t in (0.5, 4.0, 12.0, 40.0)])
    assert np.all(np.diff(risks, axis=0) < 0)
    curves = SurvivalCurves(_hazards(20, seed=4), W)
    # Any two sides are at least 0 days apart (both return: the last bins have hazard).
    np.testing.assert_allclose(_late(curves, 12.0, gap=0.0), 1.0, atol=1e-12)
    # Swapping the sides moves a risk by no more than the quadrature's error.
    n = 10
    left, right = np.arange(0, 20, 2), np.arange(1, 20, 2)
    swapped = la.late_asymmetry(curves, right, left, np.full(n, 12.0), np.full(n, 21.0))
    np.testing.assert_allclose(swapped, _late(curves, 12.0), atol=0.003)


def test_a_side_that_never_returns_is_late_against_one_that_does() -> None:
    h = _hazards(2, seed=5)
    h[0] = 0.0
    curves = SurvivalCurves(h, W)
    got = la.late_asymmetry(
        curves, np.array([0]), np.array([1]), np.array([12.0]), np.array([21.0])
    )
    assert got[0] == pytest.approx(1.0, abs=1e-12)


def test_pairs_in_blocks_are_the_pairs_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    curves = SurvivalCurves(_hazards(200, seed=6), W)
    many = _late(curves, 12.0)
    monkeypatch.setattr(la, "_PAIR_CHUNK", 7)
    # The same operations per pair, in blocks of another size: equal up to a sum's order.
    np.testing.assert_allclose(_late(curves, 12.0), many, rtol=0, atol=1e-15)
    one = la.late_asymmetry(
        curves, np.array([4]), np.array([5]), np.array([12.0]), np.array([21.0])
    )
    assert one[0] == pytest.approx(many[2], abs=1e-15)
