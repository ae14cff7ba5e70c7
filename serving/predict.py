"""The batch prediction stage: score every valid treatment of a registry export with a bundle.

Reads through ``data.registry``, computes features only through ``features`` and scores only
with the bundle's ONNX models (``bundle.predictor``): the same answers the server gives.
Treatments are scored in chunks, so memory stays bounded whatever the registry's size; each
chunk is two session calls.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq

from bundle.late_asymmetry import LATE_GAP_DAYS
from bundle.manifest import Manifest
from bundle.postprocess import MAX_DAYS
from bundle.predictor import SURVIVAL_DAYS, Predictions, Predictor
from data.contract import REGIONS, SIDES
from data.registry import Registry, read_registry, write_rejects
from features.build import build_features
from features.inputs import FeatureInput
from features.longevity import treated_region_sides
from features.tables import registry_inputs
from serving.schedule import RETURN_LEVELS, schedule_rows

CHUNK_TREATMENTS: Final = 8192
"""Treatments featurised and scored at once: a chunk's temporaries (tens of MB) are reused by
the next; at 20,000 treatments they are over glibc's mmap threshold and mapped and zeroed afresh
by every operation (a third of ``asym predict``'s featurising time went to the kernel)."""
RISK_FILE: Final = "risk.parquet"
LONGEVITY_FILE: Final = "longevity.parquet"
SCHEDULE_FILE: Final = "schedule.parquet"
REJECTS_FILE: Final = "rejects.csv"


@dataclass(frozen=True)
class PredictReport:
    """What ``predict_registry`` did.

    Attributes:
        model_name: The bundle's model name.
        model_version: Its version.
        n_treatments: Treatments scored (the valid ones).
        n_longevity_rows: Treated (region, side) rows scored.
        n_rejects: Rejected registry rows (written to ``rejects_file``), not scored.
        files: Files written.
        read_seconds: Reading, validating and featurising the registry.
        score_seconds: ONNX scoring and post-processing.
        write_seconds: Writing the Parquet files.
    """

    model_name: str
    model_version: str
    n_treatments: int
    n_longevity_rows: int
    n_rejects: int
    files: tuple[Path, ...]
    read_seconds: float
    score_seconds: float
    write_seconds: float


def _score(
    predictor: Predictor, inputs: FeatureInput, chunk: int, late_gap_days: float
) -> tuple[list[Predictions], float]:
    """Predictions per chunk of treatments, and the seconds spent featurising.

    Each chunk is featurised on its own: a registry's hundreds of MB of feature temporaries at
    once cost more in page faults than their arithmetic, a chunk's are reused.
    """
    out, featurising = [], 0.0
    for a in range(0, inputs.n, chunk):
        started = time.perf_counter()
        part = inputs.take(np.arange(a, min(a + chunk, inputs.n)))
        x = build_features(part).astype(np.float32)
        treatment, region, side = treated_region_sides(part.plan)
        featurising += time.perf_counter() - started
        out.append(predictor.predict(x, treatment, region, side, late_gap_days))
    return out, featurising


def _names(codes: npt.NDArray[np.int64], names: Sequence[str]) -> pa.Array:
    """Codes as a dictionary-encoded string column; -1 is null."""
    return pa.DictionaryArray.from_arrays(
        pa.array(codes.astype(np.int32), mask=codes < 0), pa.array(list(names))
    )


def _cat(parts: Sequence[npt.NDArray[np.float64]]) -> npt.NDArray[np.float64]:
    return np.concatenate(parts) if parts else np.zeros(0)


def _cat_int(parts: Sequence[npt.NDArray[np.int64]]) -> npt.NDArray[np.int64]:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def _constant(value: str | None, n: int) -> pa.Array:
    """A column holding one value (dictionary-encoded: one copy of it in the file)."""
    return pa.DictionaryArray.from_arrays(
        pa.array(np.zeros(n, dtype=np.int32)), pa.array([value], type=pa.string())
    )


def _tables(
    ids: npt.NDArray[np.object_], parts: Sequence[Predictions], chunk: int, manifest: Manifest
) -> tuple[pa.Table, pa.Table]:
    """The risk table (one row per treatment) and the longevity table (one per treated side)."""
    risk: dict[str, pa.Array | npt.NDArray[np.float64]] = {
        "treatment_id": pa.array(ids, type=pa.string())
    }
    for head in manifest.heads_of("binary", "contributions"):
        risk[head.name] = _cat([p.risks[head.name] for p in parts])
    risk |= {
        "late_asymmetry_risk": _cat([p.late_asymmetry_risk for p in parts]),
        "first_to_wear_off_region": _names(_cat_int([p.first_region for p in parts]), REGIONS),
        "first_to_wear_off_side": _names(_cat_int([p.first_side for p in parts]), SIDES),
    }
    for head in manifest.heads_of("quantiles"):
        for q in head.quantiles:
            risk[f"{head.name}_{q}"] = _cat([p.differences[head.name][q] for p in parts])
    for column, value in (
        ("model_name", manifest.model_name),
        ("model_version", manifest.model_version),
        ("model_run_id", manifest.run_id),
    ):
        risk[column] = _constant(value, len(ids))
    treatment = _cat_int([p.treatment + k * chunk for k, p in enumerate(parts)])
    longevity: dict[str, pa.Array | npt.NDArray[np.float64]] = {
        "treatment_id": pa.array(ids[treatment], type=pa.string()),
        "region": _names(_cat_int([p.region for p in parts]), REGIONS),
        "side": _names(_cat_int([p.side for p in parts]), SIDES),
        "median_days": _cat([p.median_days for p in parts]),
        # NaN (no pair of sides) written as null.
        "region_late_asymmetry_risk": pa.array(
            _cat([p.region_late_asymmetry_risk for p in parts]), from_pandas=True
        ),
    }
    for day in SURVIVAL_DAYS:
        longevity[f"p_not_returned_{day}"] = _cat([p.survival[day] for p in parts])
    return pa.table(risk), pa.table(longevity)


def _days(values: npt.NDArray[np.float64]) -> pa.Array:
    """Days as a column, a tenth of a day; never (inf, or past ten years) as null."""
    return pa.array(
        np.where(np.isfinite(values) & (values < MAX_DAYS), np.round(values, 1), np.nan),
        from_pandas=True,
    )


def _schedule_table(
    ids: npt.NDArray[np.object_],
    dates: npt.NDArray[np.datetime64],
    parts: Sequence[Predictions],
    chunk: int,
) -> pa.Table:
    """The touch-up schedule (``serving.schedule.schedule_rows``), one row per treated side."""
    rows = [schedule_rows(p) for p in parts]
    treatment = _cat_int([p.treatment + k * chunk for k, p in enumerate(parts)])
    start = dates[treatment].astype("datetime64[D]")

    def on(days: npt.NDArray[np.float64]) -> pa.Array:
        # The day as answered (a tenth of a day), rounded to whole days, as the endpoint does.
        ok = np.isfinite(days) & (days < MAX_DAYS)
        when = start + np.where(ok, np.round(np.round(days, 1)), 0).astype("timedelta64[D]")
        return pa.array(when, mask=~ok)

    returns = np.concatenate([r.returns for r in rows], axis=1) if rows else np.zeros((3, 0))
    review = _cat([r.review_day for r in rows])
    touch_up = _cat([r.touch_up_day for r in rows])
    table: dict[str, pa.Array | npt.NDArray[np.float64] | npt.NDArray[np.int64]] = {
        "treatment_id": pa.array(ids[treatment], type=pa.string()),
        "region": _names(_cat_int([p.region for p in parts]), REGIONS),
        "side": _names(_cat_int([p.side for p in parts]), SIDES),
    }
    for (key, _), days in zip(RETURN_LEVELS, returns, strict=True):
        table[f"return_{key}"] = _days(days)
    table |= {
        "first_side": np.concatenate([r.first for r in rows]) if rows else np.zeros(0, bool),
        "review_day": _days(review),
        "review_date": on(review),
        "touch_up_day": _days(touch_up),
        "touch_up_date": on(touch_up),
        "session": _cat_int([r.session for r in rows]),
    }
    return pa.table(table)


@dataclass(frozen=True)
class AnswerTables:
    """The answers to one registry (or one part of it), a table per output file.

    Attributes:
        risk: One row per treatment, in registry order (``RISK_FILE``).
        longevity: One row per treated region and side (``LONGEVITY_FILE``).
        schedule: The touch-up schedule, one row per treated region and side (``SCHEDULE_FILE``).
        featurise_seconds: Time spent featurising.
    """

    risk: pa.Table
    longevity: pa.Table
    schedule: pa.Table
    featurise_seconds: float

    def by_file(self) -> dict[str, pa.Table]:
        """The tables by the name of the file each is written to."""
        return {RISK_FILE: self.risk, LONGEVITY_FILE: self.longevity, SCHEDULE_FILE: self.schedule}


def answer_tables(
    predictor: Predictor,
    reg: Registry,
    chunk: int = CHUNK_TREATMENTS,
    late_gap_days: float = LATE_GAP_DAYS,
) -> AnswerTables:
    """Featurise and score every good treatment of a read registry (or of one part of it).

    Args:
        predictor: The loaded bundle.
        reg: The validated registry.
        chunk: Treatments per scoring call.
        late_gap_days: The late-stage asymmetry's gap, days.

    Returns:
        The risk, longevity and schedule tables and the seconds spent featurising.
    """
    started = time.perf_counter()
    inputs = registry_inputs(reg.tables)
    arrays = time.perf_counter() - started
    parts, featurising = _score(predictor, inputs, chunk, late_gap_days)
    ids = reg.treatments["treatment_id"].to_numpy(dtype=object)
    risk, longevity = _tables(ids, parts, chunk, predictor.manifest)
    dates = reg.treatments["treatment_date"].to_numpy(dtype="datetime64[D]")
    schedule = _schedule_table(ids, dates, parts, chunk)
    return AnswerTables(risk, longevity, schedule, arrays + featurising)


def predict_registry(
    model: Path,
    registry: Path,
    out: Path,
    *,
    chunk: int = CHUNK_TREATMENTS,
    intra_op_threads: int = 0,
    late_gap_days: float = LATE_GAP_DAYS,
) -> PredictReport:
    """Score every valid treatment of a registry export with a model bundle.

    Writes ``out/risk.parquet`` (per treatment: treatment_id, each outcome's risk (the bundle's
    binary heads, e.g. asymmetry_risk), late_asymmetry_risk, first_to_wear_off_region,
    first_to_wear_off_side, per difference target ``<target>_q10``, ``_q50``, ``_q90``, and the
    model's model_name, model_version and model_run_id), ``out/longevity.parquet``
    (per treated region and side: treatment_id, region, side, median_days,
    region_late_asymmetry_risk (the same on both sides of a region treated on both sides, null
    otherwise), p_not_returned_90/120/150), ``out/schedule.parquet`` (per treated region and
    side: treatment_id, region, side, return_day_10/50/90, first_side (the side of its region
    wearing off first), review_day/_date and touch_up_day/_date of its region, its region's
    retreatment session, from 1; ``serving.schedule.schedule_rows``) and, if the export has
    rejected rows, ``out/rejects.csv``.

    Args:
        model: Bundle folder (``bundle.resolve.resolve_model`` finds one).
        registry: Registry export folder.
        out: Output folder, created if missing; files of the same names are replaced.
        chunk: Treatments per scoring call.
        intra_op_threads: onnxruntime threads per call; 0: every core.
        late_gap_days: The late-stage asymmetry's gap, days.

    Returns:
        Counts, files and timings.

    Raises:
        bundle.manifest.BundleError: The bundle cannot be used (BundleMismatch: not with this
            install).
        data.registry.ExportError: The export cannot be used at all.
    """
    started = time.perf_counter()
    predictor = Predictor.load(model, intra_op_threads=intra_op_threads)  # fail before reading
    reg = read_registry(registry)
    read = time.perf_counter()
    answers = answer_tables(predictor, reg, chunk, late_gap_days)
    scored = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for name, table in answers.by_file().items():
        files.append(out / name)
        pq.write_table(table, files[-1])
    if len(reg.rejects):
        files.append(out / REJECTS_FILE)
        write_rejects(reg.rejects, files[-1])
    written = time.perf_counter()
    return PredictReport(
        model_name=predictor.model_name,
        model_version=predictor.model_version,
        n_treatments=answers.risk.num_rows,
        n_longevity_rows=answers.longevity.num_rows,
        n_rejects=len(reg.rejects),
        files=tuple(files),
        read_seconds=read - started + answers.featurise_seconds,
        score_seconds=scored - read - answers.featurise_seconds,
        write_seconds=written - scored,
    )
