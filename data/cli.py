"""Commands of the data stage: ``asym simulate`` and ``asym validate``.

Thin wrappers: they parse arguments, call the stage function and print; the work is in
``data.simulate`` and ``data.registry``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from data.registry import ExportError, Registry, read_registry, write_rejects
from data.simulate import simulate
from data.simulate.worlds import WORLDS

# Exit codes of `asym validate` (issue 2): 0 clean, 1 rows rejected, 2 export unusable.
EXIT_REJECTED = 1
EXIT_UNUSABLE = 2


def simulate_cmd(
    out: Annotated[Path, typer.Option(help="Folder to write the registry export into.")],
    treatments: Annotated[
        int, typer.Option(min=1, max=50_000_000, help="Number of treatment sessions.")
    ] = 20_000,
    seed: Annotated[int, typer.Option(min=0, help="Random seed; same seed, same bytes.")] = 0,
    scenario: Annotated[
        Literal["literature", "seed-claims"],
        typer.Option(
            help="literature: published effects only; seed-claims adds the unsupported ones."
        ),
    ] = "literature",
    fmt: Annotated[
        Literal["parquet", "csv"], typer.Option("--format", help="File format of the tables.")
    ] = "parquet",
    world: Annotated[
        str,
        typer.Option(help=f"World variant, one of {', '.join(WORLDS)} (README: world variants)."),
    ] = "default",
    partitions: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Write each table as a folder of this many part files, each part holding "
            "whole patients (for asym train/predict --dask).",
        ),
    ] = None,
) -> None:
    """Simulate a treatment registry (four contract tables) and its oracle."""
    if world not in WORLDS:
        typer.echo(f"error: --world must be one of {', '.join(WORLDS)}, got {world!r}", err=True)
        raise typer.Exit(EXIT_UNUSABLE)
    report = simulate(
        treatments, out, seed=seed, scenario=scenario, fmt=fmt, world=world, partitions=partitions
    )
    typer.echo(
        f"simulated {report.n_treatments:,} treatments of {report.n_patients:,} patients "
        f"({report.n_injections:,} injections, {report.n_followups:,} follow-ups, "
        f"{report.n_durations:,} durations) in {report.seconds:.1f} s -> {report.out}"
        + (f" ({partitions} parts per table)" if partitions else "")
    )


def validate_cmd(
    registry: Annotated[Path, typer.Argument(help="Folder holding the four tables.")],
    rejects: Annotated[
        Path | None,
        typer.Option(help="Write the rejected rows here (.csv, else Parquet)."),
    ] = None,
) -> None:
    """Validate a registry export against the contract and quarantine the rows that break it.

    Exit code 0: nothing rejected; 1: rows rejected (summary printed); 2: the export cannot be
    used at all.
    """
    try:
        reg = read_registry(registry)
    except ExportError as err:
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(EXIT_UNUSABLE) from None
    typer.echo(summarise(reg))
    if rejects is not None and len(reg.rejects):
        write_rejects(reg.rejects, rejects)
        typer.echo(f"rejected rows written to {rejects}")
    if len(reg.rejects):
        if rejects is None:
            typer.echo("pass --rejects FILE to write every rejected row with its reason")
        raise typer.Exit(EXIT_REJECTED)


def summarise(reg: Registry) -> str:
    """Describe a read registry: rows kept and rejected per table, extra columns, top reasons."""
    lines = [f"{'table':<12}{'kept':>12}{'rejected':>12}  file"]
    rejected_rows = reg.rejects.drop_duplicates(["table", "row"])["table"].value_counts()
    for name, frame in reg.tables.items():
        n_bad = int(rejected_rows.get(name, 0))
        lines.append(f"{name:<12}{len(frame):>12,}{n_bad:>12,}  {reg.files[name]}")
    for name, extra in reg.extra_columns.items():
        if extra:
            lines.append(f"{name}: ignored extra columns {', '.join(extra)}")
    for name, absent in reg.absent_columns.items():
        if absent:
            lines.append(f"{name}: optional columns absent, read as empty: {', '.join(absent)}")
    if len(reg.rejects):
        lines.append("rejections by table, column and reason:")
        by_reason = (
            reg.rejects.fillna({"column": "(row)"})
            .groupby(["table", "column", "reason"], sort=False)
            .size()
            .sort_values(ascending=False)
        )
        for row in by_reason.head(20).reset_index(name="n").itertuples(index=False):
            lines.append(f"  {row.n:>9,}  {row.table}.{row.column}: {row.reason}")
        if len(by_reason) > 20:
            lines.append(f"  … and {len(by_reason) - 20} more kinds (see --rejects)")
    else:
        lines.append("no rows rejected")
    return "\n".join(lines)
