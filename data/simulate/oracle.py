"""Read the oracle a simulated registry keeps beside its tables (``oracle/`` in the export).

The oracle is not part of the registry contract: a real export has none, and a copied or
trimmed simulated one may have lost part of it. ``read_oracle`` returns None without an
``oracle/`` folder and raises :class:`OracleError`, naming the missing file, for an incomplete
one, so a caller can go on without oracle figures and say why.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pandas as pd

ORACLE_FOLDER: Final = "oracle"
"""Folder of the oracle inside a simulated export."""


class OracleError(Exception):
    """``oracle/`` is there but a table of it is missing; the message names the file."""


@dataclass(frozen=True)
class Oracle:
    """The simulator's ground truth, present only for a simulated registry.

    Attributes:
        asymmetry: Indexed by treatment_id: ``p_visible_asymmetry`` and the other true
            per-treatment quantities the simulator wrote.
        longevity: Columns treatment_id, region, side, median_days.
        late_asymmetry: Columns treatment_id, region, p_late_asymmetry: per region treated on
            both sides, the true P(one side returns >= 21 days before the other).
        simulation: The simulator's ``simulation.json`` (seed, scenario, version, ...).
    """

    asymmetry: pd.DataFrame
    longevity: pd.DataFrame
    late_asymmetry: pd.DataFrame
    simulation: Mapping[str, Any]


def read_oracle_table(folder: Path, name: str) -> pd.DataFrame:
    """``folder/name.parquet`` or ``.csv``; OracleError naming it if neither is there."""
    readers: tuple[tuple[str, Callable[[Path], pd.DataFrame]], ...] = (
        (".parquet", pd.read_parquet),
        (".csv", pd.read_csv),
    )
    for suffix, reader in readers:
        if (folder / f"{name}{suffix}").is_file():
            return reader(folder / f"{name}{suffix}")
    raise OracleError(f"{folder / name}.parquet (or .csv) is missing")


def read_oracle(export: Path) -> Oracle | None:
    """Read ``oracle/`` beside a simulated registry (Parquet or CSV tables), if there is one.

    Args:
        export: The registry export folder.

    Returns:
        The oracle, or None when the export has no ``oracle/`` folder.

    Raises:
        OracleError: ``oracle/`` lacks ``asymmetry``, ``longevity`` or ``late_asymmetry``;
            the message names it.
    """
    folder = Path(export) / ORACLE_FOLDER
    if not folder.is_dir():
        return None
    meta = folder / "simulation.json"
    return Oracle(
        asymmetry=read_oracle_table(folder, "asymmetry").set_index("treatment_id"),
        longevity=read_oracle_table(folder, "longevity"),
        late_asymmetry=read_oracle_table(folder, "late_asymmetry"),
        simulation=json.loads(meta.read_text()) if meta.is_file() else {},
    )
