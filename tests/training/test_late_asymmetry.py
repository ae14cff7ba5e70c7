"""Fitting the two sides' dependence with censoring, and judging the late-stage asymmetry risk."""

import numpy as np
import pytest

from bundle.late_asymmetry import MAX_THETA, MIN_THETA
from bundle.postprocess import SurvivalCurves
from data.contract import REGIONS
from features.inputs import LEFT, RIGHT
from training.duration_rows import DurationRows
from training.late_asymmetry import (
    MIN_PAIRS,
    fit_side_dependence,
    known_weights,
    observed_late,
    side_pairs,
)
from training.visit_lattice import NO_LATTICE, detect_visit_lattice

W = 30.0


@pytest.mark.parametrize(
    ("days", "returned", "want"),
    [
        ((100, 130), (True, True), 1.0),  # 30 days apart, both returned
        ((100, 115), (True, True), 0.0),  # 15 days apart
        ((100, 121), (True, False), 1.0),  # the other still active 21 days later
        ((100, 110), (True, False), np.nan),  # last seen 10 days later: unknown
        ((130, 100), (False, True), 1.0),  # the same, the other way round
        ((100, 100), (False, False), np.nan),  # neither returned
        ((100, 121), (False, True), np.nan),  # the first still active when last seen
    ],
)
def test_a_pairs_observed_outcome(
    days: tuple[float, float], returned: tuple[bool, bool], want: float
) -> None:
    got = observed_late(
        (np.array([days[0]], float), np.array([days[1]], float)),
        (np.array([returned[0]]), np.array([returned[1]])),
    )[0]
    assert got == want or (np.isnan(want) and np.isnan(got))


def _pairs(
    theta: float, n: int, seed: int, step: float = 7.0
) -> tuple[SurvivalCurves, DurationRows]:
    """n pairs of sides of one region with exponential curves, dependent as Frank's theta says,
    seen as a registry sees them: censored at a random last visit, returns on the visit after
    them (every ``step`` days; 0: on the day itself)."""
    rng = np.random.default_rng(seed)
    hazards = np.repeat(rng.uniform(0.15, 0.3, (n, 1)), 12, axis=1)  # one rate per pair
    curves = SurvivalCurves(np.repeat(hazards, 2, axis=0), W)
    u, w = rng.random(n), rng.random(n)
    if theta > MIN_THETA:
        v = -np.log1p(w * np.expm1(-theta) / (w + (1 - w) * np.exp(-theta * u))) / theta
    else:
        v = w
    rows = np.arange(2 * n)
    level = np.log1p(-np.stack([u, v], axis=1).ravel())[None, :]
    true_days = curves.days_to(level, rows)[0]
    censor = np.repeat(rng.uniform(60.0, 400.0, n), 2)
    returned = true_days <= censor
    seen = np.ceil(true_days / step) * step if step else true_days
    days = np.where(returned, np.minimum(seen, censor), censor)
    region = REGIONS.index("forehead")
    return curves, DurationRows(
        treatment=np.repeat(np.arange(n), 2),
        region=np.full(2 * n, region),
        side=np.tile([LEFT, RIGHT], n),
        days=days,
        returned=returned,
        x=np.zeros((2 * n, 1), np.float32),
        patient=np.repeat(np.arange(n), 2).astype(object),
    )


@pytest.mark.parametrize(("theta", "step"), [(3.0, 7.0), (12.0, 7.0), (12.0, 0.0)])
def test_the_fit_recovers_the_dependence_through_censoring_and_visits(
    theta: float, step: float
) -> None:
    curves, rows = _pairs(theta, 3000, seed=int(theta), step=step)
    assert (~rows.returned).mean() > 0.1  # censoring is real here
    lattice = detect_visit_lattice(rows.days, rows.returned)
    assert lattice.step_days == step  # weekly visits found; exact days none
    got = fit_side_dependence(curves, rows, lattice)
    forehead = REGIONS.index("forehead")
    # Maximum likelihood from 3,000 pairs: over 8 seeds of this generator its mean was 2.95 and
    # 11.94, its sd 0.07 and 0.14; 4 sd and the small bias.
    assert got[forehead] == pytest.approx(theta, abs=0.35 if theta < 5 else 0.7)
    # Every other region has no pairs of its own: the pooled value, here the forehead's.
    np.testing.assert_array_equal(got, got[forehead])


def test_independent_sides_fit_no_dependence_and_few_pairs_pool() -> None:
    curves, rows = _pairs(MIN_THETA, 3000, seed=1)
    got = fit_side_dependence(curves, rows, detect_visit_lattice(rows.days, rows.returned))
    assert got.max() < 0.5  # Kendall's tau under 0.06
    assert np.all((got >= MIN_THETA) & (got <= MAX_THETA))
    # Below MIN_PAIRS a region borrows the pooled value.
    curves, rows = _pairs(12.0, MIN_PAIRS - 1, seed=2)
    assert len(side_pairs(rows)[0]) == MIN_PAIRS - 1
    pooled = fit_side_dependence(curves, rows, detect_visit_lattice(rows.days, rows.returned))
    np.testing.assert_array_equal(pooled, pooled[0])


def test_no_pairs_no_dependence() -> None:
    curves, rows = _pairs(12.0, 10, seed=3)
    one_side = rows.side == LEFT
    only_left = DurationRows(
        *(a[one_side] for a in (rows.treatment, rows.region, rows.side, rows.days)),
        returned=rows.returned[one_side],
        x=rows.x[one_side],
        patient=rows.patient[one_side],
    )
    np.testing.assert_array_equal(fit_side_dependence(curves, only_left, NO_LATTICE), MIN_THETA)


def test_weighting_known_pairs_by_their_follow_up_recovers_the_late_share() -> None:
    # Two sides returning at 90-100 days, 35 days apart or 10 (half the pairs each), followed up
    # until a last contact uniform on 60-160 days that does not depend on the outcome. A late
    # pair is known at its first return + 21 days (111-121), a close one at its second return
    # (100-110): close pairs are known more often, and the late share of the known pairs reads
    # low.
    rng = np.random.default_rng(0)
    n = 20_000
    late = rng.random(n) < 0.5
    first = rng.uniform(90.0, 100.0, n)
    second = first + np.where(late, 35.0, 10.0)
    contact = rng.uniform(60.0, 160.0, n)
    days = (np.minimum(first, contact), np.minimum(second, contact))
    returned = (first <= contact, second <= contact)
    observed = observed_late(days, returned)
    known = np.isfinite(observed)
    weight = known_weights(days, returned, observed)
    assert np.isnan(weight[~known]).all() and (weight[known] >= 1.0).all()
    # Over seeds 0-7 the known pairs' late share was 0.441-0.449 and the weighted one within
    # 0.003 of the drawn pairs' late share: 0.46 and 0.01 leave room for other draws.
    assert observed[known].mean() < 0.46
    weighted = np.average(observed[known], weights=weight[known])
    assert weighted == pytest.approx(late.mean(), abs=0.01)


def test_without_censoring_every_known_pair_weighs_one() -> None:
    days = (np.array([100.0, 100.0, 130.0]), np.array([130.0, 110.0, 100.0]))
    returned = (np.ones(3, dtype=bool), np.ones(3, dtype=bool))
    observed = observed_late(days, returned)
    np.testing.assert_array_equal(observed, [1.0, 0.0, 1.0])
    np.testing.assert_allclose(known_weights(days, returned, observed), 1.0)
