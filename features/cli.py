"""Commands of the feature stage: ``asym features`` and ``asym feature-docs``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from data.cli import EXIT_UNUSABLE, summarise
from data.registry import ExportError, read_registry
from features.reference import feature_reference
from features.tables import feature_frame


def features_cmd(
    registry: Annotated[Path, typer.Option(help="Registry export folder.")],
    out: Annotated[Path, typer.Option(help="Parquet file to write the features to.")],
) -> None:
    """Featurise every valid treatment of a registry (rejected rows are reported, not used)."""
    try:
        reg = read_registry(registry)
    except ExportError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(EXIT_UNUSABLE) from None
    if len(reg.rejects):
        typer.echo(summarise(reg))
    frame = feature_frame(reg.tables)
    out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(out, index=False)
    typer.echo(f"{len(frame):,} treatments x {frame.shape[1] - 1} features -> {out}")


def feature_docs_cmd(
    out: Annotated[Path, typer.Option(help="Markdown file to write.")] = Path("docs/features.md"),
) -> None:
    """Regenerate the feature reference from ``features/spec.py``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(feature_reference())
    typer.echo(f"feature reference -> {out}")
