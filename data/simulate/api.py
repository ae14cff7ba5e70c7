"""The simulator's stage functions: a registry in memory, or written to a folder."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import pandas as pd
import pyarrow as pa

from data.contract import TABLES
from data.simulate import params as p
from data.simulate.chunk import generate
from data.simulate.tables import ALL_TABLES, to_frame
from data.simulate.types import SCENARIOS, Scenario
from data.simulate.worlds import world_named
from data.simulate.writer import Format, write_chunks


@dataclass(frozen=True)
class Simulated:
    """A simulated registry in memory.

    Attributes:
        tables: ``treatments``, ``injections``, ``followups``, ``durations`` in the canonical
            dtypes and column order of ``data.frames``.
        oracle: ``asymmetry`` (per treatment: ``p_visible_asymmetry``, ``p_eyelid_ptosis``,
            ``p_brow_ptosis`` given the hidden state and the plan, i.e. pre-treatment; the same
            at the needle as ``*_at_needle``; the expected true post-treatment differences at
            the needle) and ``longevity`` (per treated region and side: ``median_days``). See
            the package docstring.
    """

    tables: Mapping[str, pd.DataFrame]
    oracle: Mapping[str, pd.DataFrame]


@dataclass(frozen=True)
class SimulationReport:
    """What ``simulate`` wrote."""

    out: Path
    n_treatments: int
    n_patients: int
    n_injections: int
    n_followups: int
    n_durations: int
    seconds: float
    files: tuple[Path, ...]


def _check(n_treatments: int, scenario: str, chunk_patients: int, world: str) -> None:
    world_named(world)  # raises for an unknown name
    if n_treatments < 1:
        raise ValueError(f"n_treatments must be >= 1, got {n_treatments}")
    if scenario not in SCENARIOS:
        raise ValueError(f"scenario must be one of {', '.join(SCENARIOS)}, got {scenario!r}")
    if chunk_patients < 1:
        raise ValueError(f"chunk_patients must be >= 1, got {chunk_patients}")


def simulate_frames(
    n_treatments: int,
    *,
    seed: int = 0,
    scenario: Scenario = "literature",
    chunk_patients: int = p.CHUNK_PATIENTS,
    world: str = "default",
) -> Simulated:
    """Simulate a registry of ``n_treatments`` treatments in memory.

    Args:
        n_treatments: Treatments in all; the number of patients follows.
        seed: Root seed; the result depends only on the arguments.
        scenario: ``literature`` (default) or ``seed-claims``.
        chunk_patients: Patients simulated together (the same as ``simulate`` for equal output).
        world: Name of the world drawn (``worlds.WORLDS``).

    Returns:
        The registry tables and the oracle.
    """
    _check(n_treatments, scenario, chunk_patients, world)
    parts: dict[str, list[pa.Table]] = {stem: [] for stem in ALL_TABLES}
    chunks = generate(n_treatments, seed, scenario, chunk_patients, world=world_named(world))
    for chunk in chunks:
        for stem, table in chunk.tables.items():
            parts[stem].append(table)
    frames = {
        stem: to_frame(ALL_TABLES[stem], pa.concat_tables(tables)) for stem, tables in parts.items()
    }
    return Simulated(
        tables=MappingProxyType({name: frames[name] for name in TABLES}),
        oracle=MappingProxyType(
            {stem.split("/")[1]: f for stem, f in frames.items() if stem.startswith("oracle/")}
        ),
    )


def simulate(
    n_treatments: int,
    out: Path,
    *,
    seed: int = 0,
    scenario: Scenario = "literature",
    fmt: Format = "parquet",
    chunk_patients: int = p.CHUNK_PATIENTS,
    world: str = "default",
    partitions: int | None = None,
) -> SimulationReport:
    """Simulate a registry and write it to ``out``, chunk by chunk in bounded memory.

    Writes ``out/{treatments,injections,followups,durations}.{fmt}`` (with ``partitions``,
    ``out/TABLE/part-NNNNN.{fmt}`` instead, each part holding whole patients:
    ``data.partitioned``), the oracle as ``out/oracle/{asymmetry,longevity}.{fmt}`` and
    ``out/oracle/simulation.json`` (seed,
    scenario, world and the parameters it overrides, size, simulator version, chunk size,
    partitions). The same arguments give byte-identical files.

    Args:
        n_treatments: Treatments in all; the number of patients follows.
        out: Output folder, created if missing; existing files of the same names are replaced.
        seed: Root seed.
        scenario: ``literature`` (default) or ``seed-claims``.
        fmt: ``parquet`` or ``csv`` (booleans ``true``/``false``, ISO dates, empty = null).
        chunk_patients: Patients simulated together; bounds memory.
        world: Name of the world drawn (``worlds.WORLDS``).
        partitions: Part files per contract table (None: one file per table).

    Returns:
        Counts, timing and the files written.
    """
    _check(n_treatments, scenario, chunk_patients, world)
    if fmt not in ("parquet", "csv"):
        raise ValueError(f"fmt must be parquet or csv, got {fmt!r}")
    if partitions is not None and partitions < 1:
        raise ValueError(f"partitions must be >= 1, got {partitions}")
    started = time.perf_counter()
    out = Path(out)
    drawn = world_named(world)
    chunks = generate(n_treatments, seed, scenario, chunk_patients, world=drawn)
    rows, patients, files = write_chunks(chunks, out, fmt, partitions)
    meta = out / "oracle" / "simulation.json"
    meta.write_text(
        json.dumps(
            {
                "simulator_version": p.SIMULATOR_VERSION,
                "seed": seed,
                "scenario": scenario,
                "world": world,
                "world_overrides": drawn.overrides(),
                "n_treatments": n_treatments,
                "n_patients": patients,
                "chunk_patients": chunk_patients,
                "format": fmt,
                **({"partitions": partitions} if partitions is not None else {}),
            },
            indent=2,
            sort_keys=True,
        )
        + "\n"
    )
    return SimulationReport(
        out=out,
        n_treatments=rows["treatments"],
        n_patients=patients,
        n_injections=rows["injections"],
        n_followups=rows["followups"],
        n_durations=rows["durations"],
        seconds=time.perf_counter() - started,
        files=(*files, meta),
    )
