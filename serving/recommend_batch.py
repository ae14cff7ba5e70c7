"""The batch recommend stage: a safer plan for every valid treatment of a registry export.

Every treatment gets the suggestion ``POST /v1/recommend`` gives the request a clinic would send
for it (its patient, plan and the patient's earlier treatments in the export): the same search
(``serving.recommend.recommend``) on the same features, here through the batch path
(``features.tables.registry_inputs``), treatments searched in lockstep in chunks. Written: the
suggested plans in the contract's ``injections`` layout, a summary table, and the rejected rows
if any.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from bundle.predictor import Predictor
from data.contract import INJECTIONS
from data.frames import conform
from data.registry import read_registry, write_rejects
from features.tables import registry_inputs
from serving.advisor import Candidates, Constraints, PlanPoints
from serving.predict import REJECTS_FILE
from serving.recommend import Recommendation, recommend

CHUNK_TREATMENTS: Final = 250
"""Treatments searched together: one model call a step for all of them (bounded memory)."""
INJECTIONS_FILE: Final = "injections.parquet"
SUMMARY_FILE: Final = "recommendations.parquet"


@dataclass(frozen=True)
class RecommendReport:
    """What ``recommend_registry`` did.

    Attributes:
        model_name: The bundle's model name.
        model_version: Its version.
        n_treatments: Treatments answered (the valid ones).
        status: How many got each status.
        n_rejects: Rejected registry rows (written to ``rejects.csv``), not answered.
        files: Files written.
        read_seconds: Reading, validating and turning the export into requests.
        search_seconds: The searches (and their checks).
        write_seconds: Writing the files.
    """

    model_name: str
    model_version: str
    n_treatments: int
    status: dict[str, int]
    n_rejects: int
    files: tuple[Path, ...]
    read_seconds: float
    search_seconds: float
    write_seconds: float


def _suggested_injections(
    injections: pd.DataFrame, ids: np.ndarray, plans: list[Candidates]
) -> pd.DataFrame:
    """The suggested plans as ``injections`` rows (grouped as ``registry_inputs`` orders them).

    Every other column is the registry's own.
    """
    row = pd.Index(ids).get_indexer(injections["treatment_id"])
    out = injections.iloc[np.argsort(row, kind="stable")].reset_index(drop=True)
    for column, values in (("units", "units"), ("x_mm", "x_mm"), ("y_mm", "y_mm")):
        out[column] = np.concatenate([getattr(c, values)[0] for c in plans]) if plans else []
    return conform(out, INJECTIONS)


def _summary_row(treatment_id: str, r: Recommendation) -> dict[str, Any]:
    s = r.suggestion
    return {
        "treatment_id": treatment_id,
        "status": s.status,
        "asymmetry_risk_before": float(s.before.risk[0]),
        "asymmetry_risk_after": float(s.after.risk[0]),
        "eyelid_ptosis_risk_before": float(s.before.eyelid_ptosis[0]),
        "eyelid_ptosis_risk_after": float(s.after.eyelid_ptosis[0]),
        "brow_ptosis_risk_before": float(s.before.brow_ptosis[0]),
        "brow_ptosis_risk_after": float(s.after.brow_ptosis[0]),
        "changed_points": len(r.changes),
        "checks_passed": r.checks["passed"],
        "in_support": r.support["in_support"],
        "candidates": s.candidates,
    }


def recommend_registry(
    model: Path,
    registry: Path,
    out: Path,
    constraints: Constraints | None = None,
    *,
    chunk: int = CHUNK_TREATMENTS,
) -> RecommendReport:
    """Recommend a safer plan for every valid treatment of a registry export.

    Writes ``out/injections.parquet`` (the suggested plan of every treatment, the clinician's own
    unless improved, in the contract's ``injections`` columns), ``out/recommendations.parquet``
    (per treatment: treatment_id, status, each risk before and after, changed_points,
    checks_passed, in_support, candidates, model_name, model_version, model_run_id) and, if the
    export has rejected rows, ``out/rejects.csv``.

    Args:
        model: Bundle folder (``bundle.resolve.resolve_model`` finds one).
        registry: Registry export folder.
        out: Output folder, created if missing; files of the same names are replaced.
        constraints: What the advisor may change, the same for every treatment (None: the
            defaults).
        chunk: Treatments searched together.

    Returns:
        Counts, files and timings.

    Raises:
        bundle.manifest.BundleError: The bundle cannot be used.
        data.registry.ExportError: The export cannot be used at all.
    """
    started = time.perf_counter()
    constraints = constraints or Constraints()
    predictor = Predictor.load(model)  # fail before reading
    reg = read_registry(registry)
    inputs = registry_inputs(reg.tables)
    plans = PlanPoints.all_of(inputs)
    ids = reg.treatments["treatment_id"].to_numpy(dtype=object)
    read_done = time.perf_counter()

    rows, suggested = [], []
    for a in range(0, len(ids), chunk):
        b = min(a + chunk, len(ids))
        chunk_inputs = inputs.take(np.arange(a, b))
        found, _ = recommend(predictor, chunk_inputs, plans[a:b], [constraints] * (b - a))
        rows += [_summary_row(t, r) for t, r in zip(ids[a:b], found, strict=True)]
        suggested += [r.suggestion.plan for r in found]
    searched = time.perf_counter()

    m = predictor.manifest
    summary = pd.DataFrame(rows).assign(
        model_name=m.model_name, model_version=m.model_version, model_run_id=m.run_id
    )
    out.mkdir(parents=True, exist_ok=True)
    files = [out / INJECTIONS_FILE, out / SUMMARY_FILE]
    _suggested_injections(reg.injections, ids, suggested).to_parquet(files[0], index=False)
    summary.to_parquet(files[1], index=False)
    if len(reg.rejects):
        files.append(out / REJECTS_FILE)
        write_rejects(reg.rejects, files[-1])
    return RecommendReport(
        model_name=m.model_name,
        model_version=m.model_version,
        n_treatments=len(ids),
        status={str(k): int(v) for k, v in summary["status"].value_counts().items()}
        if len(summary)
        else {},
        n_rejects=len(reg.rejects),
        files=tuple(files),
        read_seconds=read_done - started,
        search_seconds=searched - read_done,
        write_seconds=time.perf_counter() - searched,
    )
