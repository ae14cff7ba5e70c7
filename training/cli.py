"""Commands of the training stage: ``asym train`` and ``asym promote``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bundle.registry import DEFAULT_TRACKING_URI
from data.registry import ExportError
from training.settings import TrainingSettings, training_settings

if TYPE_CHECKING:
    from training.train import TrainResult

EXIT_FAILED = 2
REPORT_NOTE = "report.html among the run's artifacts (again: asym report {run})"


def train_cmd(
    registry: Annotated[Path, typer.Option(help="Registry export folder to train on.")],
    out: Annotated[Path | None, typer.Option(help="Bundle folder [artifacts/bundle].")] = None,
    tracking_uri: Annotated[
        str | None, typer.Option(help=f"MLflow tracking URI [{DEFAULT_TRACKING_URI}].")
    ] = None,
    experiment: Annotated[str | None, typer.Option(help="MLflow experiment [asym].")] = None,
    model_name: Annotated[str | None, typer.Option(help="Registered model name [asym].")] = None,
    seed: Annotated[int | None, typer.Option(min=0, help="Seed of every fit [0].")] = None,
    dask: Annotated[
        str | None,
        typer.Option(
            help="Read the registry and fit the models on a Dask cluster: local, local:N (N "
            "worker processes on this machine) or a scheduler address (tcp://host:8786). The "
            "registry may be partitioned (asym simulate --partitions).",
        ),
    ] = None,
    dask_sample: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="With --dask: training treatments on which the one-process rules choose the "
            "number of trees [50000].",
        ),
    ] = None,
) -> None:
    """Train, evaluate, export to ONNX (with a parity check), track in MLflow and register."""
    # Imported here: MLflow and LightGBM take seconds to import, and other commands need neither.
    from training.baseline import verdict
    from training.export import ParityError
    from training.train import train

    settings = training_settings(
        registry=registry,
        out=out,
        tracking_uri=tracking_uri,
        experiment=experiment,
        model_name=model_name,
        seed=seed,
    )
    try:
        if dask is None:
            result = train(settings, echo=typer.echo)
        else:
            result = _train_on_dask(settings, dask, dask_sample)
    except (ExportError, FileExistsError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(EXIT_FAILED) from None
    except ParityError as err:
        typer.echo(f"error: ONNX parity check failed, nothing registered: {err}", err=True)
        raise typer.Exit(EXIT_FAILED) from None
    m = result.metrics
    reg = result.registered
    lines = [
        "",
        f"risk      AUC {m['risk_auc']:.4f}  Brier {m['risk_brier']:.4f}  "
        f"calibration slope {m['risk_calibration_slope']:.2f}",
        f"longevity C-index {m['longevity_c_index']:.4f} (naive baseline "
        f"{m['longevity_naive_c_index']:.4f})",
    ]
    lines.append(
        f"plain     AUC {m.get('plain_risk_auc', float('nan')):.4f}  "
        f"Brier {m['plain_risk_brier']:.4f}: {verdict(m)}"
    )
    if "oracle_risk_auc" in m:
        lines.append(
            f"vs oracle: AUC x{m['risk_auc_ratio_to_oracle']:.3f}, "
            f"Brier x{m['risk_brier_ratio_to_oracle']:.3f}, "
            f"C-index x{m['longevity_c_index_ratio_to_oracle']:.3f}"
        )
    elif result.oracle_problem is not None:
        lines.append(f"vs oracle: none ({result.oracle_problem})")
    lines += [
        f"bundle    {result.bundle}",
        f"MLflow    run {result.run_id} in {settings.tracking_uri}",
        f"registry  {reg.name} version {reg.version}"
        + (" (now champion)" if reg.champion else " (champion unchanged: see asym promote)"),
        f"report    {REPORT_NOTE.format(run=result.run_id)}",
        f"look      .venv/bin/mlflow ui --backend-store-uri {settings.tracking_uri}",
    ]
    typer.echo("\n".join(lines))


def _train_on_dask(settings: TrainingSettings, address: str, sample: int | None) -> TrainResult:
    """``train_on_dask``, a failure of its cluster said in one line (exit 2)."""
    from data.cluster import FAILURES, failure
    from training.dask_train import train_on_dask

    options = {} if sample is None else {"sample_treatments": sample}
    try:
        return train_on_dask(settings, address, echo=typer.echo, **options)
    except FAILURES as err:
        typer.echo(f"error: {failure(err)}; nothing was registered", err=True)
        raise typer.Exit(EXIT_FAILED) from None


def promote_cmd(
    model_name: Annotated[str, typer.Option(help="Registered model name.")],
    candidate: Annotated[str, typer.Option(help="Version to consider for champion.")],
    registry: Annotated[
        Path, typer.Option(help="Registry export to compare on (held-out period).")
    ],
    tracking_uri: Annotated[str, typer.Option(help="MLflow tracking URI.")] = DEFAULT_TRACKING_URI,
    experiment: Annotated[str, typer.Option(help="Experiment for the comparison run.")] = "asym",
) -> None:
    """Score champion and candidate on the same held-out data; promote the candidate if it wins."""
    from bundle.manifest import BundleError
    from training.promote import promote

    try:
        result = promote(
            model_name,
            candidate,
            registry,
            tracking_uri=tracking_uri,
            experiment=experiment,
            echo=typer.echo,
        )
    except (ExportError, BundleError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(EXIT_FAILED) from None
    typer.echo(result.table.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    verdict = "promoted to champion" if result.promoted else "not promoted"
    typer.echo(f"{model_name} v{candidate}: {verdict}: {result.reason} (run {result.run_id})")


def report_cmd(
    target: Annotated[
        str, typer.Argument(help="A training run id, or a bundle folder (its training run).")
    ],
    out: Annotated[Path, typer.Option(help="HTML file to write.")] = Path("report.html"),
    tracking_uri: Annotated[
        str, typer.Option(help="MLflow tracking URI of the run.")
    ] = DEFAULT_TRACKING_URI,
) -> None:
    """Write a training run's model report (TRIPOD+AI items, one standalone HTML file)."""
    from training.report import ReportError, run_of, write_report

    try:
        written = write_report(run_of(target), out, tracking_uri)
    except ReportError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(EXIT_FAILED) from None
    typer.echo(f"report of run {run_of(target)} -> {written}")
