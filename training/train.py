"""The training stage: registry in; evaluated, exported, tracked and registered models out."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import mlflow
import numpy as np

from bundle.heads import OUTCOMES, Outcome
from bundle.manifest import write_model_version
from features.spec import FEATURE_NAMES
from training import plots
from training.baseline import PlainModel, evaluate_plain, fit_plain, verdict
from training.dataset import TrainingData, load_training_data
from training.differences import evaluate_differences, fit_differences
from training.export import check_out, export_bundle
from training.longevity import NaiveLongevityModel, fit_longevity, fit_naive_longevity
from training.longevity_eval import evaluate_longevity
from training.models import DifferenceModels, FittedModels, LongevityModel, RiskModel
from training.report import REPORT_FILE, write_report
from training.report_data import SUMMARY_ARTIFACT, c_index_interval, data_summary
from training.risk import RiskReport, evaluate_risk, fit_risk
from training.settings import TrainingSettings
from training.tracking import Registered, log_provenance, register_bundle, use_store

Echo = Callable[[str], None]

INPUT_EXAMPLE_ROWS: Final = 3
"""Held-out feature rows logged as the registered model's input example."""
FIT_WORKERS: Final = 2
"""Models fitted at once, each on ``models.FIT_THREADS`` (LightGBM releases the GIL while it
fits): the two cores of the development machine, without two threads fighting over one fit."""


@dataclass(frozen=True)
class TrainResult:
    """What a training run produced.

    Attributes:
        run_id: The MLflow run.
        experiment_id: Its experiment.
        bundle: The ONNX bundle folder.
        registered: The new registered model version.
        metrics: Every metric logged (held-out evaluation, oracle comparisons, parity).
        seconds: Wall time per stage.
        oracle_problem: Why the export's ``oracle/`` could not be used (no oracle figures), or
            None.
    """

    run_id: str
    experiment_id: str
    bundle: Path
    registered: Registered
    metrics: dict[str, float]
    seconds: dict[str, float]
    oracle_problem: str | None = None


@dataclass(frozen=True)
class Engine:
    """Where a run reads its registry and fits its models: this process, or a Dask cluster.

    ``training.dask_train`` builds the Dask one; the rest of a run (evaluation, export, parity,
    MLflow, registry) is the same whichever fitted the models.

    Attributes:
        load: The training data (a Dask run: the held-out period and a sample, ``whole``
            counting the rest).
        fit_risk: Fits one binary outcome's calibrated classifier.
        fit_differences: Fits the difference quantile regressors.
        fit_longevity: Fits the hazard model.
        fit_naive_longevity: Fits the naive baseline (reported, never served).
        fit_plain: Fits the plain baseline of the risk (reported, never served).
        params: Logged with the run's parameters.
    """

    load: Callable[[TrainingSettings], TrainingData]
    fit_risk: Callable[[TrainingData, int, Outcome], RiskModel]
    fit_differences: Callable[[TrainingData, int], DifferenceModels]
    fit_longevity: Callable[[TrainingData, int], LongevityModel]
    fit_naive_longevity: Callable[[TrainingData, int], NaiveLongevityModel]
    fit_plain: Callable[[TrainingData, int], PlainModel]
    params: Mapping[str, str | int | float] = field(default_factory=dict)


def _load_here(settings: TrainingSettings) -> TrainingData:
    return load_training_data(settings.registry, settings.test_fraction)


IN_PROCESS: Final = Engine(
    _load_here, fit_risk, fit_differences, fit_longevity, fit_naive_longevity, fit_plain
)
"""Everything in this process (the default)."""


class _Stages:
    """Numbered stages with their wall time, reported as they finish."""

    def __init__(self, total: int, echo: Echo) -> None:
        self.total, self.echo, self.done = total, echo, 0
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, label: str) -> Iterator[None]:
        self.done += 1
        self.echo(f"[{self.done}/{self.total}] {label} …")
        start = time.perf_counter()
        yield
        self.seconds[label] = time.perf_counter() - start
        self.echo(f"      done in {self.seconds[label]:.1f} s")


def _run_name(data: TrainingData) -> str:
    n = data.counts()["n_treatments"]
    if data.oracle is not None:
        sim = data.oracle.simulation
        what = f"simulated {sim.get('scenario', '?')} seed {sim.get('seed', '?')}"
    else:
        what = data.source.name
    return f"train · {n:,} treatments · {what} · {time.strftime('%Y-%m-%d %H:%M')}"


def _log_plots(models: FittedModels, risk: RiskReport, folder: Path) -> None:
    y, p = risk.y, risk.p
    plots.calibration_plot(y, p, risk.p_oracle, folder / "calibration.png")
    plots.roc_plot(y, p, risk.p_oracle, folder / "roc.png")
    curves = {"model": risk.decision_curve["model"].to_numpy()}
    if "oracle" in risk.decision_curve:
        curves["oracle"] = risk.decision_curve["oracle"].to_numpy()
    curves["treat all"] = risk.decision_curve["treat_all"].to_numpy()
    plots.decision_curve_plot(
        risk.decision_curve["threshold"].to_numpy(), curves, folder / "decision_curve.png"
    )
    gain = np.asarray(models.risk.booster.feature_importance("gain"), dtype=np.float64)
    plots.importance_plot(FEATURE_NAMES, gain, folder / "feature_importance.png")
    mlflow.log_artifacts(str(folder), "plots")


def train(
    settings: TrainingSettings, echo: Echo = print, engine: Engine = IN_PROCESS
) -> TrainResult:
    """Train, evaluate, export, track and register the asym models on one registry export.

    Args:
        settings: What to train on and where to record it.
        echo: Receives one line per stage as it starts and ends.
        engine: Where the registry is read and the models fitted.

    Returns:
        The run, the bundle, the registered version and the metrics.

    Raises:
        data.registry.ExportError: The export cannot be used.
        training.export.ParityError: The ONNX models disagree with LightGBM; the run is marked
            failed and no bundle is registered.
        FileExistsError: ``settings.out`` is not empty (checked before anything is fitted).
    """
    check_out(settings.out)  # now, not after minutes of fitting
    stages = _Stages(7, echo)
    with stages("read, validate and featurise the registry"):
        data = engine.load(settings)
    n = data.counts()
    echo(
        f"      {n['n_treatments']:,} treatments, {n['n_rejected_rows']:,} rejected rows; "
        f"train {n['n_train_treatments']:,}, held out {n['n_test_treatments']:,} (latest period)"
    )
    if data.oracle_problem is not None:
        echo(f"      oracle: {data.oracle_problem}; going on without oracle figures")
    seed = settings.seed
    with (
        stages(f"fit the models and the baselines, {FIT_WORKERS} at a time"),
        ThreadPoolExecutor(FIT_WORKERS) as pool,
    ):
        # The longest fits first, so that the workers finish about together.
        asymmetry = pool.submit(engine.fit_risk, data, seed, OUTCOMES[0])
        plain_fit = pool.submit(engine.fit_plain, data, seed)
        longevity_fit = pool.submit(engine.fit_longevity, data, seed)
        differences_fit = pool.submit(engine.fit_differences, data, seed)
        others = {o.name: pool.submit(engine.fit_risk, data, seed, o) for o in OUTCOMES[1:]}
        naive_fit = pool.submit(engine.fit_naive_longevity, data, seed)
        risks = {OUTCOMES[0].name: asymmetry.result()} | {k: f.result() for k, f in others.items()}
        plain, longevity, naive = plain_fit.result(), longevity_fit.result(), naive_fit.result()
        differences = differences_fit.result()
    models = FittedModels(risks=risks, differences=differences, longevity=longevity)
    with stages("evaluate on the held-out period"):
        reports = {o.name: evaluate_risk(risks[o.name], data, o) for o in OUTCOMES}
        risk_report = reports[OUTCOMES[0].name]
        longevity_report = evaluate_longevity(longevity, naive, data)
        metrics = {
            **{k: v for r in reports.values() for k, v in r.metrics.items()},
            **evaluate_plain(plain, data, risk_report),
            **evaluate_differences(differences, data),
            **longevity_report.metrics,
            **c_index_interval(longevity_report),
        }

    experiment_id = use_store(settings.tracking_uri, settings.experiment)
    with mlflow.start_run(run_name=_run_name(data)) as run:
        run_id = run.info.run_id
        log_provenance(data)
        mlflow.set_tag("risk_vs_plain_baseline", verdict(metrics))
        mlflow.log_params(
            {
                "seed": settings.seed,
                "test_fraction": settings.test_fraction,
                "model_name": settings.model_name,
                "longevity_bin_days": longevity.bin_days,
                "longevity_n_bins": longevity.n_bins,
                # How the registry records returns (training.visit_lattice): 0 = on the day.
                "longevity_visit_lattice_days": longevity.visit_lattice.step_days,
                "longevity_visit_lattice_share": round(longevity.visit_lattice.share, 4),
                **{
                    f"{o.metric_prefix}_{name}": value
                    for o in OUTCOMES
                    for name, value in (
                        ("platt_slope", risks[o.name].calibration[0]),
                        ("platt_intercept", risks[o.name].calibration[1]),
                        ("n_trees", risks[o.name].booster.num_trees()),
                    )
                },
                "longevity_n_trees": longevity.booster.num_trees(),
                "plain_risk_n_trees": plain.model.booster.num_trees(),
                **engine.params,
            }
        )
        mlflow.log_metrics(metrics)
        with stages("export the ONNX bundle and check parity with LightGBM"):
            manifest = export_bundle(
                models,
                data,
                settings.out,
                model_name=settings.model_name,
                model_version=run_id,
                run_id=run_id,
            )
        parity = {f"parity_{k}": v for k, v in manifest.parity.max_abs_deviation.items()}
        mlflow.log_metrics(parity)
        metrics.update(parity)
        with stages("plots"), tempfile.TemporaryDirectory() as tmp:
            _log_plots(models, risk_report, Path(tmp))
            plots.survival_plot(
                longevity_report.curve_days,
                longevity_report.predicted_survival,
                longevity_report.km_survival,
                Path(tmp) / "survival_by_region.png",
            )
            mlflow.log_artifact(str(Path(tmp) / "survival_by_region.png"), "plots")
            late = longevity_report.late
            known = np.isfinite(late.observed)
            if np.unique(late.observed[known]).size == 2:  # a curve needs both kinds of pair
                oracle = late.oracle[known]
                plots.calibration_plot(
                    late.observed[known].astype(bool),
                    late.risk[known],
                    oracle if np.isfinite(oracle).all() else None,
                    Path(tmp) / "late_asymmetry_calibration.png",
                )
                mlflow.log_artifact(str(Path(tmp) / "late_asymmetry_calibration.png"), "plots")
        with stages("register the bundle in the MLflow Model Registry"):
            example = data.features[data.test][:INPUT_EXAMPLE_ROWS]
            registered = register_bundle(settings.out, settings.model_name, example)
            # Known only now: the local bundle answers with the registry's version number.
            write_model_version(settings.out, registered.version)
        with stages("write the model report"), tempfile.TemporaryDirectory() as tmp:
            mlflow.log_dict(data_summary(data), SUMMARY_ARTIFACT)
            report = write_report(run_id, Path(tmp) / REPORT_FILE, settings.tracking_uri)
            mlflow.log_artifact(str(report))
    return TrainResult(
        run_id=run_id,
        experiment_id=experiment_id,
        bundle=settings.out,
        registered=registered,
        metrics=metrics,
        seconds=stages.seconds,
        oracle_problem=data.oracle_problem,
    )
