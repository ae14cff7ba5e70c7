"""The models of a Dask run: LightGBM's own Dask estimators on the parts held by the workers.

Each model is fitted as in one process (``training.risk``, ``training.differences``,
``training.longevity``), on the same rows, with ``lightgbm.dask`` in place of ``lightgbm.train``,
except where the one-process fit has no Dask counterpart:

- **The number of trees.** ``lightgbm.dask`` has no early stopping (LightGBM issues #3712, #4493:
  each worker would stop on its own rows, and the others hang). So the one-process rule runs on
  the client's sample of training patients (``training.dask_data``): ``fit_risk``,
  ``fit_differences`` and ``fit_longevity`` as they are, early stopping included, and each Dask
  fit grows as many trees as their fit of the same model. The rule picks fewer trees on fewer
  rows, so on a registry much larger than the sample the models are, if anything, a little
  under-fitted, never over-fitted; the count and the sample's size are logged with the run.
- **Held-back patients.** The one-process fits draw them in the order patients appear
  (``training.split.hold_back_patients``); parts cannot, so they are drawn by a hash of the
  patient id (``training.split.patient_draws``), the same share.
- **Calibration.** Platt scaling as in one process, on predictions of patients the trees were not
  grown on, from one held-back fold (a fifth of the training patients) instead of five folds:
  five folds steady the slope of a 20k registry, and a registry large enough for Dask has tens of
  thousands of reviews in one fold. The served booster grows on every training patient, with the
  trees of the one-process refit.
- **The longevity baseline** comes from the parts' life-table sums, and its refit
  (``training.longevity.refit_baseline_with``) adds the parts' Newton terms: the same arithmetic
  as one process, in parts.

The naive longevity baseline (reported, never served) is fitted on the sample. ``to_local()``
turns every Dask model into the plain booster the export, parity check and registry take.
"""

from __future__ import annotations

import dataclasses
import logging
import operator
import warnings
from collections.abc import Callable, Mapping
from typing import Any, Final

import dask.array as da
import lightgbm as lgb
import numpy as np
import numpy.typing as npt
from dask.delayed import delayed
from distributed import Client, Future
from lightgbm.dask import DaskLGBMClassifier, DaskLGBMRegressor

from bundle.heads import Outcome
from data.contract import REGIONS
from data.partitioned import find_parts
from training import baseline, differences, longevity, metrics, risk
from training.conformal import conformal_margin
from training.dask_data import SAMPLE_TREATMENTS, PartsOnCluster, load_on_cluster
from training.dataset import TrainingData
from training.duration_rows import duration_rows
from training.late_asymmetry import fit_side_dependence
from training.models import DIFF_TARGETS, QUANTILES, DifferenceModels, LongevityModel, RiskModel
from training.settings import TrainingSettings
from training.split import patient_draws
from training.train import Engine
from training.visit_lattice import VisitLattice

FloatArray = npt.NDArray[np.float64]
Arrays = dict[str, npt.NDArray[Any]]

_NOT_ON_DASK: Final = ("num_threads",)
"""Parameters lightgbm.dask sets itself (one thread per worker thread)."""


def _lightgbm_to_logging() -> None:
    """Send LightGBM's messages to ``logging`` (shown from warnings up), not to the terminal.

    Its network set-up prints a few lines on every worker for every fit ("Listening...").
    """
    lgb.register_logger(logging.getLogger("lightgbm"))


def _dask_params(params: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if k not in _NOT_ON_DASK}


def _booster(
    model: DaskLGBMClassifier | DaskLGBMRegressor, *args: Any, **kwargs: Any
) -> lgb.Booster:
    """Fit ``model`` on the cluster and return its plain booster (``to_local``)."""
    with warnings.catch_warnings():
        # The scikit-learn wrapper always passes n_jobs, which lightgbm.dask replaces by the
        # workers' threads, warning about it on every fit.
        warnings.filterwarnings("ignore", "Parameter n_jobs will be ignored", UserWarning)
        booster: lgb.Booster = model.fit(*args, **kwargs).to_local().booster_
    return booster


def _held(patients: npt.NDArray[np.object_], share: float, seed: int) -> npt.NDArray[np.bool_]:
    out: npt.NDArray[np.bool_] = patient_draws(patients, seed) < share
    return out


def _patients(part: TrainingData, rows: npt.NDArray[np.int64]) -> npt.NDArray[np.object_]:
    patients: npt.NDArray[np.object_] = part.registry.treatments["patient_id"].to_numpy(
        dtype=object
    )
    return patients[rows]


def _pick(part: TrainingData, rows: npt.NDArray[np.int64], y: FloatArray, which: str, seed: int,
          share: float) -> Arrays:  # fmt: skip
    """Feature rows and targets of the part's training ``rows``: ``fit``, ``held`` or ``all``."""
    train = part.train[rows]
    rows, y = rows[train], y[train]
    if which != "all":
        held = _held(_patients(part, rows), share, seed)
        keep = held if which == "held" else ~held
        rows, y = rows[keep], y[keep]
    return {"x": part.features[rows], "y": y}


def _risk_rows(part: TrainingData, outcome: Outcome, which: str, seed: int) -> Arrays:
    rows, y, _ = risk._reviewed(part, outcome)
    return _pick(part, rows, y, which, seed, risk.CALIBRATION_SHARE)


def _difference_rows(part: TrainingData, target: str, which: str, seed: int) -> Arrays:
    rows, y = differences._measured(part, target)
    return _pick(part, rows, y, which, seed, risk.CALIBRATION_SHARE)


def _hazard_rows(
    part: TrainingData, seed: int, bin_days: float, n_bins: int, lattice: VisitLattice
) -> Any:
    """The part's person-period rows the hazard booster is fitted on (its fit patients)."""
    rows = duration_rows(part, part.train)
    valid = _held(rows.patient, longevity.VALID_FRACTION, seed)
    return longevity._hazard_set(rows.subset(~valid), bin_days, n_bins, lattice)


def _life_table_sums(rows: Any, n_bins: int) -> tuple[FloatArray, FloatArray]:
    """Events and exposure per (region, bin) of a part's person-period rows."""
    cell = rows.region * n_bins + rows.bin
    w = rows.weight.astype(np.float64)
    size = len(REGIONS) * n_bins
    events = np.bincount(cell, weights=w * rows.event, minlength=size)
    exposure = np.bincount(cell, weights=w, minlength=size)
    return events.astype(np.float64), exposure.astype(np.float64)


def _hazard_arrays(rows: Any, baseline: FloatArray) -> Arrays:
    return {
        "x": rows.x,
        "y": rows.event,
        "weight": rows.weight,
        "init_score": rows.init_score(baseline),
    }


def _margin(rows: Any, booster: lgb.Booster) -> FloatArray:
    out: FloatArray = np.asarray(booster.predict(rows.x, raw_score=True), dtype=np.float64)
    return out


def _meta(arrays: Arrays) -> dict[str, tuple[tuple[int, ...], str]]:
    return {name: (a.shape, a.dtype.str) for name, a in arrays.items()}


class DaskFits:
    """The ``training.train.Engine`` of a partitioned registry on a cluster.

    ``load`` reads the registry into parts on the workers (``training.dask_data``); the fits
    then take their rows from there.
    """

    def __init__(self, client: Client, sample_treatments: int = SAMPLE_TREATMENTS) -> None:
        """Fit on ``client``'s cluster, choosing trees on about ``sample_treatments``."""
        _lightgbm_to_logging()
        client.run(_lightgbm_to_logging)
        self._client = client
        self._sample = sample_treatments
        self._held_parts: PartsOnCluster | None = None
        self.params: dict[str, str | int | float] = {
            "engine": "dask (lightgbm.dask)",
            "dask_workers": len(client.nthreads()),
            "dask_trees_rule": "early stopping of the one-process fit on a sample of patients",
            "dask_sample_treatments_asked": sample_treatments,
            "dask_baselines": "one-process fits on the sample",
        }
        """Logged with the run; ``load`` adds the parts and the sample's actual size."""

    def engine(self) -> Engine:
        """These fits as a run's engine.

        The two baselines (naive longevity, plain risk) are the one-process fits on the sample
        the client keeps: yardsticks, never served, and a baseline fitted on less data than the
        model flatters the model a little (the run's parameter ``dask_baselines`` says so).
        """
        return Engine(
            load=self.load,
            fit_risk=self.fit_risk,
            fit_differences=self.fit_differences,
            fit_longevity=self.fit_longevity,
            fit_naive_longevity=longevity.fit_naive_longevity,
            fit_plain=baseline.fit_plain,
            params=self.params,
        )

    def load(self, settings: TrainingSettings) -> TrainingData:
        """Read the registry into parts on the workers; return the held-out period and sample."""
        parts = find_parts(settings.registry)
        self._held_parts = load_on_cluster(
            self._client,
            parts,
            settings.registry,
            test_fraction=settings.test_fraction,
            sample_treatments=self._sample,
            seed=settings.seed,
        )
        self.params["dask_parts"] = len(parts)
        self.params["dask_sample_treatments"] = int(self._held_parts.data.train.sum())
        return self._held_parts.data

    @property
    def _parts(self) -> tuple[Future[TrainingData], ...]:
        if self._held_parts is None:
            raise RuntimeError("load the registry first")
        return self._held_parts.parts

    def _stack(
        self, futures: tuple[Future[Any], ...], fn: Callable[..., Arrays], *args: Any
    ) -> dict[str, da.Array]:
        """Arrays ``fn`` makes of every part, on its worker, stacked into Dask arrays.

        A part that gives no rows is left out: a LightGBM worker without rows fails the fit.
        """
        made = [self._client.submit(fn, f, *args, pure=False) for f in futures]
        metas = self._client.gather([self._client.submit(_meta, m, pure=False) for m in made])
        out: dict[str, da.Array] = {}
        for name in metas[0]:
            chunks = [
                da.from_delayed(delayed(operator.getitem)(m, name), *meta[name])
                for m, meta in zip(made, metas, strict=True)
                if meta[name][0][0] > 0
            ]
            if not chunks:
                raise ValueError(f"{getattr(fn, '__name__', fn)}: no rows in any part")
            out[name] = da.concatenate(chunks)
        return out

    def _predict(self, booster: lgb.Booster, x: da.Array) -> FloatArray:
        """``booster.predict`` of the rows of ``x``, on the workers that hold them."""
        meta = np.empty(0, dtype=np.float64)  # so Dask does not call predict on an empty block
        p = da.map_blocks(booster.predict, x, drop_axis=1, dtype=np.float64, meta=meta)
        out: FloatArray = np.asarray(p.compute(), dtype=np.float64)
        return out

    def _newton_terms(
        self, margins: list[Future[FloatArray]], rows: tuple[Future[Any], ...]
    ) -> Callable[[FloatArray], tuple[FloatArray, FloatArray]]:
        """``training.longevity.hazard_terms`` of every part's rows, added up."""

        def terms(alpha: FloatArray) -> tuple[FloatArray, FloatArray]:
            found = self._client.gather(
                [
                    self._client.submit(longevity.hazard_terms, alpha, m, r, pure=False)
                    for m, r in zip(margins, rows, strict=True)
                ]
            )
            return np.sum([f[0] for f in found], axis=0), np.sum([f[1] for f in found], axis=0)

        return terms

    def fit_risk(self, data: TrainingData, seed: int, outcome: Outcome) -> RiskModel:
        """An outcome's calibrated classifier (see the module docstring)."""
        trees = risk.fit_risk(data, seed, outcome).booster.num_trees()
        params = _dask_params({**risk.PARAMS, "seed": seed})
        parts = self._parts

        def fitted(which: str, n_trees: int) -> lgb.Booster:
            a = self._stack(parts, _risk_rows, outcome, which, seed)
            model = DaskLGBMClassifier(client=self._client, n_estimators=n_trees, **params)
            return _booster(model, a["x"], a["y"])

        probe = fitted("fit", max(1, round(trees / risk.REFIT_GROWTH)))
        held = self._stack(parts, _risk_rows, outcome, "held", seed)
        slope, intercept = metrics.platt(held["y"].compute(), self._predict(probe, held["x"]))
        return RiskModel(booster=fitted("all", trees), calibration=(slope, intercept))

    def fit_differences(self, data: TrainingData, seed: int) -> DifferenceModels:
        """The difference quantile regressors, conformalised on held-back patients."""
        rule = differences.fit_differences(data, seed)
        parts = self._parts
        boosters: dict[str, dict[str, lgb.Booster]] = {}
        for target in DIFF_TARGETS:
            fit = self._stack(parts, _difference_rows, target, "fit", seed)
            fitted: dict[str, lgb.Booster] = {}
            for q, alpha in QUANTILES:
                model = DaskLGBMRegressor(
                    client=self._client,
                    n_estimators=rule.boosters[target][q].num_trees(),
                    **_dask_params(differences.quantile_params(alpha, seed)),
                )
                fitted[q] = _booster(model, fit["x"], fit["y"])
            held = self._stack(parts, _difference_rows, target, "held", seed)
            lo, hi = (self._predict(fitted[q], held["x"]) for q in ("q10", "q90"))
            margin = conformal_margin(held["y"].compute(), lo, hi, differences.INTERVAL_COVERAGE)
            differences._shift(fitted["q10"], -margin)
            differences._shift(fitted["q90"], margin)
            boosters[target] = fitted
        return DifferenceModels(boosters=boosters)

    def fit_longevity(self, data: TrainingData, seed: int) -> LongevityModel:
        """The hazard model: baseline from the parts' life tables, margin by lightgbm.dask."""
        rule = longevity.fit_longevity(data, seed)
        n_bins, bin_days, lattice = rule.n_bins, rule.bin_days, rule.visit_lattice
        client = self._client
        # Every part's returns are spread by the lattice the sample shows (one registry, one way
        # of recording), so the parts are fitted alike.
        rows = tuple(
            client.submit(_hazard_rows, p, seed, bin_days, n_bins, lattice, pure=False)
            for p in self._parts
        )
        sums = client.gather([client.submit(_life_table_sums, r, n_bins) for r in rows])
        events, exposure = (np.sum([s[i] for s in sums], axis=0) for i in (0, 1))
        # One pseudo-row per (region, bin) carrying its sums: the life table of every row.
        cell = np.arange(len(REGIONS) * n_bins)
        baseline = longevity.life_table_baseline(
            np.divide(events, exposure, out=np.zeros_like(events), where=exposure > 0),
            exposure,
            cell % n_bins,
            cell // n_bins,
            n_bins,
            by_region=rule.baseline.shape[0] > 1,
        )
        params = longevity.boost_params(longevity.HAZARD_PARAMS, seed)
        booster: lgb.Booster | None = None
        for _ in range(longevity.BACKFIT_ROUNDS):
            a = self._stack(rows, _hazard_arrays, baseline)
            model = DaskLGBMClassifier(
                client=client, n_estimators=rule.booster.num_trees(), **_dask_params(params)
            )
            booster = _booster(
                model, a["x"], a["y"], sample_weight=a["weight"], init_score=a["init_score"]
            )
            margins = [client.submit(_margin, r, booster, pure=False) for r in rows]
            baseline = longevity.refit_baseline_with(baseline, self._newton_terms(margins, rows))
        assert booster is not None  # BACKFIT_ROUNDS >= 1
        fitted = LongevityModel(
            booster=booster,
            baseline=baseline,
            bin_days=bin_days,
            side_dependence=np.zeros(0),
            visit_lattice=lattice,
        )
        # The sides' dependence on the sample's patients the booster did not see (the same hash
        # held them back on every part), as the one-process fit takes it.
        sample = duration_rows(data, data.train)
        held = sample.subset(_held(sample.patient, longevity.VALID_FRACTION, seed))
        theta = fit_side_dependence(fitted.curves(held.x), held, lattice)
        return dataclasses.replace(fitted, side_dependence=theta)
