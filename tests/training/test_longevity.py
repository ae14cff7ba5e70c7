"""The longevity stage: person-period expansion, censoring-aware metrics, and a fit that beats
the naive baseline and comes close to the simulator's oracle."""

import time
from pathlib import Path

import numpy as np
import pytest

from bundle import postprocess
from data.contract import REGIONS
from features.longevity import LONGEVITY_INDEX
from training.dataset import TrainingData, load_training_data
from training.longevity import (
    BASELINE_PRIOR_EXPOSURE,
    LongevityReport,
    NaiveLongevityModel,
    _HazardSet,
    duration_rows,
    evaluate_longevity,
    fit_longevity,
    fit_naive_longevity,
    life_table_baseline,
    refit_baseline,
)
from training.models import LongevityModel
from training.survival import auc, c_index, kaplan_meier, person_period

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


# --- metrics -------------------------------------------------------------------------------------


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


def test_c_index_extremes_and_speed() -> None:
    t = np.arange(1.0, 101.0)
    e = np.ones(100, dtype=bool)
    assert c_index(t, e, t) == 1.0
    assert c_index(t, e, -t) == 0.0
    assert c_index(t, e, np.zeros(100)) == 0.5
    rng = np.random.default_rng(2)
    n = 15_000
    big_t = rng.integers(1, 300, n).astype(float)
    start = time.perf_counter()
    c_index(big_t, rng.random(n) < 0.6, big_t + rng.normal(0, 30, n))
    assert time.perf_counter() - start < 2.0


def test_kaplan_meier_hand_example() -> None:
    # Times 1, 2+, 3, 4: S drops to 3/4 at 1, stays at 2 (censored), to 3/4 * 1/2 at 3, 0 at 4.
    s = kaplan_meier(
        np.array([1.0, 2.0, 3.0, 4.0]),
        np.array([True, False, True, True]),
        np.array([0.0, 1.0, 2.5, 3.0, 5.0]),
    )
    np.testing.assert_allclose(s, [1.0, 0.75, 0.75, 0.375, 0.0])


def test_auc_matches_pair_counting() -> None:
    rng = np.random.default_rng(3)
    y = rng.random(200) < 0.3
    s = rng.integers(0, 10, 200) + 2.0 * y
    pos, neg = s[y], s[~y]
    want = ((pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])).mean()
    assert auc(s, y) == pytest.approx(want)


# --- a fit on a small simulated registry ---------------------------------------------------------


@pytest.fixture(scope="module")
def data(small_registry: Path) -> TrainingData:
    return load_training_data(small_registry)


@pytest.fixture(scope="module")
def models(data: TrainingData) -> tuple[LongevityModel, NaiveLongevityModel]:
    return fit_longevity(data), fit_naive_longevity(data)


@pytest.fixture(scope="module")
def report(
    data: TrainingData, models: tuple[LongevityModel, NaiveLongevityModel]
) -> LongevityReport:
    return evaluate_longevity(*models, data)


def test_the_hazard_model_beats_the_naive_baseline(report: LongevityReport) -> None:
    m = report.metrics
    # The naive baseline drops the censored rows (about half), so its medians run short by
    # ~15 days on this registry; the hazard model's bias stays within a few days (the weekly
    # recording of returns adds ~2-3 days), so its median error must be clearly smaller.
    assert m["longevity_naive_median_days_bias_vs_oracle"] < -8.0
    assert abs(m["longevity_median_days_bias_vs_oracle"]) < 5.0
    assert (
        m["longevity_median_days_mae_vs_oracle"]
        < 0.7 * m["longevity_naive_median_days_mae_vs_oracle"]
    )
    assert m["longevity_c_index"] > m["longevity_naive_c_index"] - 0.01


def test_the_hazard_model_comes_close_to_the_oracle(report: LongevityReport) -> None:
    m = report.metrics
    # On 20k treatments the model reaches 0.974 x the oracle's C (the ceiling of what the
    # registry shows: the oracle knows hidden per-patient state such as the dose elasticity).
    # Here it learns from 6x less data and the ~2,000 held-out rows give the C-index a standard
    # error of ~0.01; it measures 0.93 x, so 0.90 x is the bar.
    assert 0.6 < m["oracle_longevity_c_index"] < 0.8
    assert m["longevity_c_index_ratio_to_oracle"] > 0.90
    assert m["longevity_c_index_ratio_to_oracle"] < 1.02
    for day in (90, 120, 150):
        assert m[f"longevity_s{day}_abs_gap"] < 0.05


def test_report_names_and_arrays(report: LongevityReport) -> None:
    m = report.metrics
    for name in (
        "longevity_c_index",
        "longevity_naive_c_index",
        "oracle_longevity_c_index",
        "longevity_c_index_ratio_to_oracle",
        "longevity_median_days_mae_vs_oracle",
        "longevity_naive_median_days_mae_vs_oracle",
        "longevity_s90_predicted",
        "longevity_s120_km",
        "longevity_s150_abs_gap",
        "longevity_c_index__region_glabella",
        "late_asymmetry_predicted_mean",
        "late_asymmetry_observed_rate",
        "late_asymmetry_auc",
    ):
        assert np.isfinite(m[name]), name
    n = int(m["longevity_rows_test"])
    assert len(report.predicted_median) == len(report.oracle_median) == n
    assert report.predicted_survival["all"].shape == report.curve_days.shape
    assert np.all(np.diff(report.predicted_survival["all"]) <= 1e-12)
    assert len(report.late_risk) == m["late_asymmetry_pairs"]
    assert np.all((report.late_risk >= 0) & (report.late_risk <= 1))


def test_hazards_are_proportional_odds_of_one_margin_per_row(
    data: TrainingData, models: tuple[LongevityModel, NaiveLongevityModel]
) -> None:
    model = models[0]
    x = duration_rows(data, data.test).x[:50]
    h = model.hazards(x)
    assert h.shape == (50, model.n_bins)
    assert np.all((h > 0) & (h < 1))
    # The booster takes the longevity inputs alone: no bin column.
    assert model.booster.num_feature() == x.shape[1]
    assert model.baseline.shape in {(1, model.n_bins), (len(REGIONS), model.n_bins)}
    # logit h = baseline[region, k] + f(x): the same shift in every bin.
    region = x[:, LONGEVITY_INDEX["region"]].astype(int)
    alpha = model.baseline[region if len(model.baseline) > 1 else np.zeros(50, dtype=int)]
    shift = np.log(h / (1 - h)) - alpha
    np.testing.assert_allclose(shift, np.repeat(model.margin(x)[:, None], model.n_bins, axis=1))
    med = postprocess.median_days(h, model.bin_days)
    assert np.all((med > 20) & (med < 400))


def test_life_table_baseline_is_the_logit_of_the_weighted_event_share() -> None:
    # Bin 0: 1 event in 4 rows; bin 1: 1 event in 1.5 rows of exposure (a censored half row).
    event = np.array([1.0, 0, 0, 0, 1, 0])
    weight = np.array([1.0, 1, 1, 1, 1, 0.5])
    bins = np.array([0, 0, 0, 0, 1, 1])
    region = np.array([0, 0, 1, 1, 0, 1])
    pooled = life_table_baseline(event, weight, bins, region, 2, by_region=False)
    np.testing.assert_allclose(pooled, [[np.log(1 / 3), np.log(2.0)]])
    per = life_table_baseline(event, weight, bins, region, 2, by_region=True)
    assert per.shape == (len(REGIONS), 2)
    # Region 0 bin 0 (1 event in 2 rows) shrunk towards the pooled 1/4 by the prior rows.
    prior = BASELINE_PRIOR_EXPOSURE
    share = (1 + prior * 0.25) / (2 + prior)
    assert per[0, 0] == pytest.approx(np.log(share / (1 - share)))
    # A region with no rows at all gets the pooled baseline.
    np.testing.assert_allclose(per[5], pooled[0])


def test_refit_baseline_matches_each_cells_event_share() -> None:
    rng = np.random.default_rng(4)
    n = 20_000
    bins = rng.integers(0, 3, n)
    region = rng.integers(0, 2, n)
    margin = rng.normal(0, 1, n)
    truth = np.array([[-2.0, -1.0, 0.0], [-1.5, -0.5, 0.5]])
    p = 1 / (1 + np.exp(-(truth[region, bins] + margin)))
    event = (rng.random(n) < p).astype(np.float32)
    rows = _HazardSet(
        x=np.zeros((n, 1), dtype=np.float32),
        event=event,
        weight=np.ones(n, dtype=np.float32),
        bin=bins,
        region=region,
    )
    start = np.zeros((len(REGIONS), 3))
    alpha = refit_baseline(start, margin, rows)
    np.testing.assert_allclose(alpha[:2], truth, atol=0.1)
    # At the refit, the mean predicted hazard of each cell is its event share (up to the ridge).
    fitted = 1 / (1 + np.exp(-(alpha[region, bins] + margin)))
    for r in range(2):
        for k in range(3):
            at = (region == r) & (bins == k)
            assert fitted[at].mean() == pytest.approx(event[at].mean(), abs=2e-3)
    np.testing.assert_array_equal(alpha[2:], 0.0)  # cells without rows stay where they were
