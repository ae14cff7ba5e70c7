"""``asym predict --dask``: every part of a registry scored on a Dask cluster's workers.

Each worker opens the bundle's onnxruntime sessions once (``BundleOnWorker``, a worker plugin
that carries the bundle's bytes, so workers on other machines need no copy of it, and a worker
that restarts opens them again) and scores the parts it is given with the same code as
``asym predict`` (``serving.predict.answer_tables``), after the same validation
(``data.partitioned``: every part read as if all were one file). So the rows and values are
those of ``asym predict`` on the same registry; only the files differ: partitioned Parquet,
``OUT/risk/part-NNNNN.parquet`` and ``OUT/longevity/part-NNNNN.parquet`` (read either folder as
one table: ``pandas.read_parquet(OUT / "risk")``), with ``OUT/rejects.csv`` if rows were
rejected.

Nothing that looks complete is left by a run that does not finish: the parts are written into a
hidden sibling folder, ``OUT/_SUCCESS`` is written last, and the folder is renamed to ``OUT``
only then. A worker lost during the run costs its parts, which the scheduler runs again on
another worker (each part file is replaced whole, never appended); workers dying more often than
the scheduler retries (``distributed.scheduler.allowed-failures``) fail the run with a clear
error, and the hidden folder is removed.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Final

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from distributed import Worker, WorkerPlugin, get_worker

from bundle.late_asymmetry import LATE_GAP_DAYS
from bundle.manifest import MANIFEST_FILE, load_manifest
from bundle.predictor import Predictor
from data.cluster import connect, on_cluster, task_key
from data.partitioned import (
    CrossPart,
    Part,
    cross_part_rules,
    find_parts,
    merge_rejects,
    read_part,
)
from data.registry import ExportError, write_rejects
from serving.predict import (
    LONGEVITY_FILE,
    REJECTS_FILE,
    RISK_FILE,
    SCHEDULE_FILE,
    PredictReport,
    answer_tables,
)

SUCCESS: Final = "_SUCCESS"
"""Written last: an output folder without it is not a finished run's."""
ANSWER_FOLDERS: Final = tuple(Path(f).stem for f in (RISK_FILE, LONGEVITY_FILE, SCHEDULE_FILE))
"""Output folders (one part file each per registry part): risk, longevity, schedule."""
PLUGIN: Final = "asym-bundle"
"""Name of the worker plugin holding the bundle."""


class BundleOnWorker(WorkerPlugin):
    """A bundle's files, opened as one ``Predictor`` on each worker when it joins."""

    def __init__(self, files: Mapping[str, bytes]) -> None:
        """Carry the bundle's files (name -> bytes) to every worker."""
        self.files = dict(files)
        self.predictor: Predictor | None = None

    def setup(self, worker: Worker) -> None:
        """Write the files to a private folder of the worker and open the sessions once."""
        with tempfile.TemporaryDirectory(prefix="asym-bundle-") as folder:
            for name, blob in self.files.items():
                (Path(folder) / name).write_bytes(blob)
            # One thread a session call: the worker has one thread, the others have the rest.
            self.predictor = Predictor.load(Path(folder), intra_op_threads=1)


def _bundle_files(bundle: Path) -> dict[str, bytes]:
    manifest = load_manifest(bundle)
    names = [MANIFEST_FILE, *(spec.file for spec in manifest.files.values())]
    return {name: (bundle / name).read_bytes() for name in names}


def _write(table: pa.Table, path: Path) -> None:
    """Write a part file whole: a part run again replaces it, never leaves half of one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def _score_part(
    part: Part, cross: CrossPart, k: int, folder: Path, late_gap_days: float
) -> tuple[int, int, pd.DataFrame, float, float, float]:
    """Validate, featurise and score part ``k`` on this worker; write its three part files.

    Returns:
        Treatments and treated sides scored, the part's rejects, and its read, score and write
        seconds.
    """
    plugin = get_worker().plugins[PLUGIN]
    assert isinstance(plugin, BundleOnWorker) and plugin.predictor is not None
    started = time.perf_counter()
    reg = read_part(part, cross, k)
    read = time.perf_counter()
    answers = answer_tables(plugin.predictor, reg, late_gap_days=late_gap_days)
    scored = time.perf_counter()
    for name, table in answers.by_file().items():
        _write(table, folder / Path(name).stem / f"{part.name}.parquet")
    written = time.perf_counter()
    return (
        answers.risk.num_rows,
        answers.longevity.num_rows,
        reg.rejects,
        read - started + answers.featurise_seconds,
        scored - read - answers.featurise_seconds,
        written - scored,
    )


def _publish(folder: Path, out: Path) -> None:
    """Put the finished folder at ``out``, replacing what was there (never half of either)."""
    (folder / SUCCESS).write_text("")
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.replaced-{os.getpid()}")
        os.replace(out, old)
    os.replace(folder, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def predict_on_dask(
    model: Path,
    registry: Path,
    out: Path,
    address: str,
    late_gap_days: float = LATE_GAP_DAYS,
) -> PredictReport:
    """Score every valid treatment of a registry export on a Dask cluster.

    Args:
        model: Bundle folder (``bundle.resolve.resolve_model`` finds one).
        registry: Registry export: partitioned (``data.partitioned``), or plain (one part).
        out: Output folder; replaced whole once the run has finished.
        address: ``local``, ``local:N`` or a scheduler address (``data.cluster.connect``).
        late_gap_days: The late-stage asymmetry's gap, days.

    Returns:
        Counts and files; the seconds are summed over the parts (the workers' time).

    Raises:
        bundle.manifest.BundleError: The bundle cannot be used.
        data.registry.ExportError: The export cannot be used at all.
        data.cluster.ClusterError: The cluster cannot be used.
        distributed.scheduler.KilledWorker: Workers died scoring a part more often than the
            scheduler retries it; nothing was written at ``out``.
    """
    out = Path(out)
    predictor = Predictor.load(model, intra_op_threads=1)  # fail before reading
    parts = find_parts(registry)
    out.parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f".{out.name}.running-", dir=out.parent))
    try:
        for sub in ANSWER_FOLDERS:
            (folder / sub).mkdir()
        with connect(address) as client:
            client.register_plugin(BundleOnWorker(_bundle_files(model)), name=PLUGIN)
            cross = cross_part_rules(parts, on_cluster(client))
            futures = [
                client.submit(_score_part, part, cross, k, folder, late_gap_days,
                              key=task_key("score", part), pure=False)
                for k, part in enumerate(parts)
            ]  # fmt: skip
            done = client.gather(futures)
        n_treatments = sum(d[0] for d in done)
        if n_treatments == 0:
            raise ExportError(f"{registry}: no valid treatment in any of its {len(parts)} part(s)")
        files = [folder / sub for sub in ANSWER_FOLDERS]
        rejects = merge_rejects([d[2] for d in done])
        if len(rejects):
            files.append(folder / REJECTS_FILE)
            write_rejects(rejects, files[-1])
        _publish(folder, out)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return PredictReport(
        model_name=predictor.model_name,
        model_version=predictor.model_version,
        n_treatments=n_treatments,
        n_longevity_rows=sum(d[1] for d in done),
        n_rejects=len(rejects),
        files=tuple(out / f.name for f in files),
        read_seconds=sum(d[3] for d in done),
        score_seconds=sum(d[4] for d in done),
        write_seconds=sum(d[5] for d in done),
    )
