"""``asym recommend``: a safer plan for every valid treatment of a registry export."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bundle.manifest import BundleError
from bundle.resolve import resolve_model
from data.cli import EXIT_UNUSABLE
from data.registry import ExportError
from serving.advisor import Constraints
from serving.recommend_batch import recommend_registry
from serving.recommend_schemas import MAX_DOSE_CHANGE, MAX_MOVE_MM

_DEFAULT = Constraints()


def recommend_cmd(
    model: Annotated[
        str,
        typer.Option(help="Bundle folder, or models:/NAME@ALIAS or models:/NAME/VERSION."),
    ],
    registry: Annotated[Path, typer.Option(help="Registry export folder.")],
    out: Annotated[
        Path, typer.Option(help="Folder for injections.parquet and recommendations.parquet.")
    ],
    max_dose_change: Annotated[
        float,
        typer.Option(
            min=0.0, max=MAX_DOSE_CHANGE, help="Most change of each (region, side)'s units."
        ),
    ] = _DEFAULT.max_dose_change,
    max_move_mm: Annotated[
        float, typer.Option(min=0.0, max=MAX_MOVE_MM, help="Most a point moves, mm (0: doses).")
    ] = _DEFAULT.max_move_mm,
    max_changed_points: Annotated[
        int | None, typer.Option(min=1, help="Most points changed per plan (default: no limit).")
    ] = _DEFAULT.max_changed_points,
    tracking_uri: Annotated[
        str | None,
        typer.Option(
            help="MLflow tracking URI for a models:/ model.", envvar="MLFLOW_TRACKING_URI"
        ),
    ] = None,
) -> None:
    """Suggest a safer plan for every valid treatment of a registry (see the README).

    The suggestions are the model's predictions learned from registry data, not causal
    guarantees.
    """
    constraints = Constraints(
        max_dose_change=max_dose_change,
        max_move_mm=max_move_mm,
        max_changed_points=max_changed_points,
    )
    try:
        report = recommend_registry(resolve_model(model, tracking_uri), registry, out, constraints)
    except (BundleError, ExportError) as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(EXIT_UNUSABLE) from None
    counts = ", ".join(f"{n:,} {status}" for status, n in sorted(report.status.items()))
    typer.echo(
        f"{report.model_name} {report.model_version}: {report.n_treatments:,} treatments "
        f"({counts}) -> {out} (read {report.read_seconds:.1f} s, search "
        f"{report.search_seconds:.1f} s, write {report.write_seconds:.1f} s)"
    )
    if report.n_rejects:
        typer.echo(f"{report.n_rejects:,} rejected rows not answered, see {report.files[-1]}")
