"""Commands of the serving stage: ``asym predict``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from data.cli import EXIT_UNUSABLE
from data.registry import ExportError
from serving.bundle import BundleError
from serving.predict import predict_registry
from serving.resolve import resolve_model


def predict_cmd(
    model: Annotated[
        str,
        typer.Option(help="Bundle folder, or models:/NAME@ALIAS or models:/NAME/VERSION."),
    ],
    registry: Annotated[Path, typer.Option(help="Registry export folder to score.")],
    out: Annotated[Path, typer.Option(help="Folder for risk.parquet and longevity.parquet.")],
    tracking_uri: Annotated[
        str | None,
        typer.Option(
            help="MLflow tracking URI for a models:/ model.", envvar="MLFLOW_TRACKING_URI"
        ),
    ] = None,
) -> None:
    """Score every valid treatment of a registry with a model bundle (ONNX only)."""
    try:
        report = predict_registry(resolve_model(model, tracking_uri), registry, out)
    except (BundleError, ExportError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(EXIT_UNUSABLE) from None
    typer.echo(
        f"{report.model_name} {report.model_version}: {report.n_treatments:,} treatments, "
        f"{report.n_longevity_rows:,} treated sides -> {out} "
        f"(read {report.read_seconds:.1f} s, score {report.score_seconds:.1f} s, "
        f"write {report.write_seconds:.1f} s)"
    )
    if report.n_rejects:
        typer.echo(f"{report.n_rejects:,} rejected rows not scored, see {report.files[-1]}")
