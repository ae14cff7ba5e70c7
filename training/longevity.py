"""The longevity stage: a discrete-time hazard model of when muscle activity returns.

``fit_longevity`` expands the training ``durations`` rows into person-period rows (one per bin
each row was at risk in) and fits a proportional-odds model of the return in that bin given no
return before: a life-table baseline per bin plus a LightGBM margin of the row's inputs.
Censored rows count for as long as they were seen, so censoring does not bias the durations
down. ``fit_naive_longevity`` is the biased baseline the design names: a regression of
log(days) on the returned rows only. ``training.longevity_eval`` compares both with the
simulator's oracle on held-out treatments.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import lightgbm as lgb
import numpy as np
import numpy.typing as npt

from data.contract import REGIONS
from training.dataset import TrainingData
from training.duration_rows import DurationRows, duration_rows
from training.late_asymmetry import fit_side_dependence
from training.models import FIT_THREADS, LongevityModel
from training.split import hold_back_patients
from training.survival import hazard_newton_terms, newton_refit, person_period
from training.visit_lattice import VisitLattice, detect_visit_lattice, spread_returns

FloatArray = npt.NDArray[np.float64]
Float32Array = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
Terms = tuple[FloatArray, FloatArray]

VALID_FRACTION: Final = 0.2
"""Share of training patients held out for early stopping."""
MAX_ROUNDS: Final = 2000
EARLY_STOPPING_ROUNDS: Final = 50

HAZARD_PARAMS: Final = {
    "objective": "binary",
    "learning_rate": 0.05,
    "num_leaves": 15,
    "min_data_in_leaf": 200,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "max_bin": 255,
    "num_threads": FIT_THREADS,
    "verbose": -1,
}
"""LightGBM parameters of the hazard model."""
BASELINE_BY_REGION: Final = True
"""Baseline log-odds per region and bin (the hazard's shape over time differs by region)."""
BASELINE_PRIOR_EXPOSURE: Final = 50.0
"""Pseudo-rows at the pooled hazard added to each region-bin of the baseline's life table."""
BACKFIT_ROUNDS: Final = 2
"""Fits of the booster, each on the baseline refitted after the one before (two: the second
brings the median error back to the first fit's while keeping the refit's calibration)."""
BASELINE_RIDGE: Final = 5.0
"""Ridge of the baseline's refit towards the life table, in rows at hazard 1/2."""
_MIN_HAZARD: Final = 1e-6

NAIVE_PARAMS: Final = {
    "objective": "regression",
    "learning_rate": 0.05,
    "num_leaves": 31,
    "min_data_in_leaf": 100,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "num_threads": FIT_THREADS,
    "verbose": -1,
}
"""LightGBM parameters of the naive baseline."""


@dataclass(frozen=True)
class _HazardSet:
    """Person-period rows of some durations rows (``survival.person_period``).

    Attributes:
        x: Longevity input row of each person-period row (no bin column).
        event: 1 if activity returned in the row's bin.
        weight: Share of the bin the row was at risk (1 but for a censored row's last bin).
        bin: Bin of each row.
        region: Region code of each row.
    """

    x: Float32Array
    event: Float32Array
    weight: Float32Array
    bin: IntArray
    region: IntArray

    def init_score(self, baseline: FloatArray) -> FloatArray:
        """The baseline log-odds of each row's (region,) bin: the booster's offset."""
        group = self.region if len(baseline) > 1 else np.zeros_like(self.region)
        out: FloatArray = baseline[group, self.bin]
        return out


def _hazard_set(
    rows: DurationRows, bin_days: float, n_bins: int, lattice: VisitLattice
) -> _HazardSet:
    """Person-period rows of ``rows``, one per bin each was at risk in.

    A return recorded on the registry's visit lattice counts in each bin its interval covers,
    weighted by the share it covers there (``training.visit_lattice.spread_returns``).
    """
    spread = spread_returns(rows.days, rows.returned, lattice, bin_days)
    pp = person_period(spread.days, rows.returned[spread.row], bin_days, n_bins)
    row = spread.row[pp.row]
    return _HazardSet(
        x=rows.x[row],
        event=pp.event.astype(np.float32),
        weight=(pp.weight * spread.weight[pp.row]).astype(np.float32),
        bin=pp.bin,
        region=rows.region[row],
    )


def _logit(p: FloatArray) -> FloatArray:
    q = np.clip(p, _MIN_HAZARD, 1.0 - _MIN_HAZARD)
    out: FloatArray = np.log(q / (1.0 - q))
    return out


def life_table_baseline(
    event: npt.NDArray[np.floating],
    weight: npt.NDArray[np.floating],
    bin: IntArray,
    region: IntArray,
    n_bins: int,
    by_region: bool,
) -> FloatArray:
    """Baseline log-odds per bin from the life table of person-period rows.

    The hazard of bin k is the weighted event share in it (events over exposure, censored rows
    counting for the share of the bin they were seen: the actuarial estimate), its logit the
    baseline. By region, each region's share is shrunk towards the pooled one by
    ``BASELINE_PRIOR_EXPOSURE`` pseudo-rows, so a region-bin with few rows at risk (or none)
    falls back on the pooled hazard instead of 0 or 1.

    Args:
        event: 1 where activity returned in the row's bin.
        weight: Exposure of each row in its bin.
        bin: Bin of each row.
        region: Region code of each row.
        n_bins: Number of bins.
        by_region: A row per region (``len(REGIONS)`` rows) rather than one pooled row.

    Returns:
        (1, n_bins) or (len(REGIONS), n_bins) baseline log-odds.
    """
    e = np.asarray(event, dtype=np.float64) * weight
    w = np.asarray(weight, dtype=np.float64)
    exposure = np.bincount(bin, weights=w, minlength=n_bins)
    events = np.bincount(bin, weights=e, minlength=n_bins)
    pooled = np.divide(events, exposure, out=np.full(n_bins, 0.5), where=exposure > 0)
    if not by_region:
        return _logit(pooled)[None, :]
    cell = region * n_bins + bin
    size = len(REGIONS) * n_bins
    exposure_rk = np.bincount(cell, weights=w, minlength=size).reshape(len(REGIONS), n_bins)
    events_rk = np.bincount(cell, weights=e, minlength=size).reshape(len(REGIONS), n_bins)
    prior = BASELINE_PRIOR_EXPOSURE
    return _logit((events_rk + prior * pooled) / (exposure_rk + prior))


def refit_baseline(
    baseline: FloatArray, margin: FloatArray, rows: _HazardSet, iterations: int = 20
) -> FloatArray:
    """The baseline's maximum-likelihood values given the booster's margins.

    The booster is fitted with the life-table baseline as a fixed offset; the covariates' shift
    then changes the mean hazard of each bin (a logit is not linear in the shift), which left
    alone mis-calibrates the survival curve by a few points. Newton steps on each baseline cell
    (per bin, or region and bin) with the margins fixed make the weighted mean predicted hazard
    of each cell's rows equal its weighted event share. A small ridge towards the life-table
    value (``BASELINE_RIDGE`` rows' worth of curvature) keeps cells with few rows in place.

    Args:
        baseline: (g, n_bins) life-table baseline (``life_table_baseline``).
        margin: Booster raw margin of each person-period row of ``rows``.
        rows: The person-period rows the booster was fitted on.
        iterations: Newton steps.

    Returns:
        The refitted (g, n_bins) baseline.
    """
    terms = functools.partial(hazard_terms, margin=margin, rows=rows)
    return refit_baseline_with(baseline, terms, iterations)


def refit_baseline_with(
    baseline: FloatArray, terms: Callable[[FloatArray], Terms], iterations: int = 20
) -> FloatArray:
    """``refit_baseline`` given the rows' ``hazard_terms`` (added over parts, on Dask)."""
    ridge = BASELINE_RIDGE * 0.25  # curvature of that many rows at hazard 1/2
    return newton_refit(baseline, terms, ridge, iterations)


def hazard_terms(alpha: FloatArray, margin: FloatArray, rows: _HazardSet) -> Terms:
    """``survival.hazard_newton_terms`` of person-period rows (a part's, on Dask)."""
    return hazard_newton_terms(alpha, margin, rows.region, rows.bin, rows.weight, rows.event)


def boost_params(params: Mapping[str, Any], seed: int) -> dict[str, Any]:
    """LightGBM parameters of a hazard fit (here, and on Dask: ``training.dask_fit``)."""
    return {**params, "seed": seed, "deterministic": True, "force_col_wise": True}


def _boost(
    params: Mapping[str, Any],
    train: tuple[Float32Array, Float32Array, Float32Array | None, FloatArray | None],
    valid: tuple[Float32Array, Float32Array, Float32Array | None, FloatArray | None],
    seed: int,
    rounds: int | None = None,
) -> lgb.Booster:
    """Fit with early stopping on ``valid`` ((x, y, weight, init score) each), or ``rounds``."""
    full = boost_params(params, seed)
    dtrain = lgb.Dataset(
        train[0], train[1], weight=train[2], init_score=train[3], free_raw_data=True
    )
    dvalid = lgb.Dataset(valid[0], valid[1], weight=valid[2], init_score=valid[3], reference=dtrain)
    if rounds is not None:
        return lgb.train(full, dtrain, num_boost_round=rounds)
    return lgb.train(
        full,
        dtrain,
        num_boost_round=MAX_ROUNDS,
        valid_sets=[dvalid],
        callbacks=[lgb.early_stopping(EARLY_STOPPING_ROUNDS, verbose=False)],
    )


def fit_longevity(
    data: TrainingData,
    seed: int = 0,
    bin_days: float = 30.0,
    n_bins: int = 12,
    by_region: bool = BASELINE_BY_REGION,
    params: Mapping[str, Any] = HAZARD_PARAMS,
    rounds: int | None = None,
) -> LongevityModel:
    """Fit the discrete-time, proportional-odds hazard model of the return of muscle activity.

    Each training ``durations`` row becomes one row per bin it was at risk in
    (``survival.person_period``: the event in the bin of the return, a censored row's last bin
    weighted by the share of it seen). The model is logit h_k(x) = alpha_k + f(x): the baseline
    alpha (per bin, or per region and bin) is the logit of the life table's hazard of the
    fitting rows (``life_table_baseline``), and the booster f, on the longevity inputs without
    any bin column, is fitted on the person-period rows with alpha of each row's bin as init
    score; alpha is then refitted given f (``refit_baseline``, which restores the calibration of
    the survival curve), and f fitted again on the new alpha, which it then refits
    (``BACKFIT_ROUNDS`` in all). So the covariates shift the hazard's log-odds by the same amount
    in every bin, and f is evaluated once per row rather than once per bin. Early stopping uses a
    random fifth of the training patients, and the two sides' dependence is fitted on their
    pairs of sides (``training.late_asymmetry.fit_side_dependence``). Where the registry records
    returns on a visit lattice (``training.visit_lattice``), each such return counts over the
    interval since the visit before, so the curves are of when activity returned, not of when
    the registry saw it.

    Args:
        data: Training data; its ``train`` treatments are used.
        seed: Seed of the validation split and of LightGBM's bagging.
        bin_days: Bin width in days.
        n_bins: Number of bins (survival past the last one goes on at its hazard).
        by_region: One baseline per region (else one pooled baseline).
        params: LightGBM parameters of the booster (small ones for test and benchmark models).
        rounds: Trees of each booster fit; None chooses them by early stopping.

    Returns:
        The fitted model.
    """
    rows = duration_rows(data, data.train)
    lattice = detect_visit_lattice(rows.days, rows.returned)
    valid = hold_back_patients(rows.patient, VALID_FRACTION, seed)
    fit_set = _hazard_set(rows.subset(~valid), bin_days, n_bins, lattice)
    valid_set = _hazard_set(rows.subset(valid), bin_days, n_bins, lattice)
    baseline = life_table_baseline(
        fit_set.event, fit_set.weight, fit_set.bin, fit_set.region, n_bins, by_region
    )

    def arrays(
        s: _HazardSet, alpha: FloatArray
    ) -> tuple[Float32Array, Float32Array, Float32Array | None, FloatArray | None]:
        return s.x, s.event, s.weight, s.init_score(alpha)

    booster: lgb.Booster | None = None
    for _ in range(BACKFIT_ROUNDS):
        booster = _boost(
            params, arrays(fit_set, baseline), arrays(valid_set, baseline), seed, rounds
        )
        margin = np.asarray(
            booster.predict(fit_set.x, raw_score=True, num_threads=FIT_THREADS), dtype=np.float64
        )
        baseline = refit_baseline(baseline, margin, fit_set)
    assert booster is not None  # BACKFIT_ROUNDS >= 1
    model = LongevityModel(
        booster=booster,
        baseline=baseline,
        bin_days=bin_days,
        side_dependence=np.zeros(0),
        visit_lattice=lattice,
    )
    # The sides' dependence on the patients the booster did not grow its trees on: curves fitted
    # to a row are sharper there, and would leave the two sides less to share.
    held = rows.subset(valid)
    theta = fit_side_dependence(model.curves(held.x), held, lattice)
    return dataclasses.replace(model, side_dependence=theta)


@dataclass(frozen=True)
class NaiveLongevityModel:
    """The biased baseline: log(days) regressed on the rows whose activity was seen to return.

    Attributes:
        booster: LightGBM regression of log(days) on the longevity inputs (no bin column).
    """

    booster: lgb.Booster

    def median_days(self, rows: Float32Array) -> FloatArray:
        """Predicted median days per longevity input row (exp of the predicted mean log)."""
        out: FloatArray = np.exp(
            np.asarray(self.booster.predict(rows, num_threads=FIT_THREADS), dtype=np.float64)
        )
        return out


def fit_naive_longevity(data: TrainingData, seed: int = 0) -> NaiveLongevityModel:
    """Fit the naive baseline: LightGBM on log(days) of the returned training rows only.

    It ignores censored rows, so long durations (those more often censored) are under-counted
    and its medians run short; it is reported beside the hazard model, never served.

    Args:
        data: Training data; its ``train`` treatments are used.
        seed: Seed of the validation split and of LightGBM's bagging.

    Returns:
        The fitted baseline.
    """
    rows = duration_rows(data, data.train)
    rows = rows.subset(rows.returned)
    valid = hold_back_patients(rows.patient, VALID_FRACTION, seed)
    y = np.log(rows.days).astype(np.float32)
    booster = _boost(
        NAIVE_PARAMS,
        (rows.x[~valid], y[~valid], None, None),
        (rows.x[valid], y[valid], None, None),
        seed,
    )
    return NaiveLongevityModel(booster=booster)
