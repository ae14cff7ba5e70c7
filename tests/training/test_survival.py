"""Survival building blocks: person-period expansion, and lifelines' C-index and Kaplan-Meier
under our conventions (ties, censoring)."""

import numpy as np
import pytest

from training.survival import c_index, kaplan_meier, person_period

# --- person-period rows -------------------------------------------------------------------------


def test_person_period_hand_example() -> None:
    pp = person_period(
        np.array([45.0, 45.0, 60.0, 400.0, 10.0]),
        np.array([False, True, False, True, True]),
        bin_days=30.0,
        n_bins=12,
    )
    rows = {i: pp.row == i for i in range(5)}
    # Censored at 45: at risk through bin 0 and half of bin 1, no event.
    np.testing.assert_array_equal(pp.bin[rows[0]], [0, 1])
    np.testing.assert_allclose(pp.weight[rows[0]], [1.0, 0.5])
    np.testing.assert_array_equal(pp.event[rows[0]], [0, 0])
    # Returned at 45: the event in bin 1, full weight.
    np.testing.assert_allclose(pp.weight[rows[1]], [1.0, 1.0])
    np.testing.assert_array_equal(pp.event[rows[1]], [0, 1])
    # Censored exactly at a bin start: never at risk in bin 2.
    np.testing.assert_array_equal(pp.bin[rows[2]], [0, 1])
    # Past the horizon: every bin, no event (the return at 400 is beyond the 360 days modelled).
    np.testing.assert_array_equal(pp.bin[rows[3]], np.arange(12))
    assert pp.event[rows[3]].sum() == 0
    np.testing.assert_array_equal(pp.event[rows[4]], [1])


def test_weighted_person_period_recovers_a_constant_hazard_under_censoring() -> None:
    # Exponential returns, censored uniformly: the weighted event share of each bin is the
    # actuarial hazard estimate and must match 1 - exp(-l w) (dropping the censored bin would
    # overstate it, weight 1 would understate it).
    rng = np.random.default_rng(0)
    lam, w, n = 1 / 100.0, 30.0, 400_000
    t = rng.exponential(1 / lam, n)
    c = rng.uniform(0, 300, n)
    pp = person_period(np.minimum(t, c), t <= c, w, 8)
    want = 1 - np.exp(-lam * w)
    for k in range(6):
        at = pp.bin == k
        got = (pp.event[at] * pp.weight[at]).sum() / pp.weight[at].sum()
        assert got == pytest.approx(want, rel=0.02)


# --- censoring-aware metrics (lifelines) -------------------------------------------------------


def _brute_c(t: np.ndarray, e: np.ndarray, s: np.ndarray) -> float:
    num = den = 0.0
    for i in range(len(t)):
        if not e[i]:
            continue
        for j in range(len(t)):
            if t[i] < t[j] or (t[i] == t[j] and not e[j]):
                den += 1
                num += 1.0 if s[i] < s[j] else 0.5 if s[i] == s[j] else 0.0
    return num / den if den else float("nan")


def test_c_index_matches_brute_force_with_ties_and_censoring() -> None:
    rng = np.random.default_rng(1)
    for _ in range(30):
        n = int(rng.integers(2, 60))
        t = rng.integers(1, 12, n).astype(float)  # many tied times
        e = rng.random(n) < 0.6
        s = rng.integers(0, 8, n).astype(float)  # many tied scores
        want = _brute_c(t, e, s)
        got = c_index(t, e, s)
        if np.isnan(want):
            assert np.isnan(got)
        else:
            assert got == pytest.approx(want, abs=1e-12)


def test_c_index_extremes_and_tie_conventions() -> None:
    t = np.arange(1.0, 101.0)
    e = np.ones(100, dtype=bool)
    assert c_index(t, e, t) == 1.0
    assert c_index(t, e, -t) == 0.0
    assert c_index(t, e, np.zeros(100)) == 0.5
    # Tied event times are not comparable; an event tied with a censored time is (the censored
    # row was still without return then). Rows: 5 (event), 5 (event), 5 (censored).
    # Comparable pairs: (0, 2) and (1, 2); scores 1 < 3 concordant, 3 == 3 half.
    tied = c_index(np.array([5.0, 5.0, 5.0]), np.array([True, True, False]), np.array([1.0, 3, 3]))
    assert tied == 0.75
    # No comparable pair at all: NaN (lifelines raises ZeroDivisionError there).
    assert np.isnan(c_index(np.array([1.0, 2.0]), np.array([False, False]), np.array([1.0, 2])))


def test_kaplan_meier_hand_example() -> None:
    # Times 1, 2+, 3, 4: S drops to 3/4 at 1, stays at 2 (censored), to 3/4 * 1/2 at 3, 0 at 4.
    s = kaplan_meier(
        np.array([1.0, 2.0, 3.0, 4.0]),
        np.array([True, False, True, True]),
        np.array([0.0, 1.0, 2.5, 3.0, 5.0]),
    )
    np.testing.assert_allclose(s, [1.0, 0.75, 0.75, 0.375, 0.0])


def test_kaplan_meier_with_tied_times_and_an_empty_sample() -> None:
    # Times 2, 2, 2+, 5: at 2 two of four return (S = 1/2; the censored row leaves after them),
    # then one at risk returns at 5 (S = 0).
    s = kaplan_meier(
        np.array([2.0, 2.0, 2.0, 5.0]),
        np.array([True, True, False, True]),
        np.array([1.9, 2.0, 4.9, 5.0]),
    )
    np.testing.assert_allclose(s, [1.0, 0.5, 0.5, 0.0])
    assert np.isnan(kaplan_meier(np.empty(0), np.empty(0, dtype=bool), np.array([1.0]))).all()
