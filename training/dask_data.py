"""The registry of a Dask run: read, validated, featurised and split part by part on the workers.

Each part of the export (``data.partitioned``) becomes, on a worker, a ``TrainingData`` of its
own: its good rows, its feature matrix and its train/held-out masks, made by the same functions
as in one process (``data.registry.read_tables``, ``features.build.build_features``,
``training.split.split_at``). The parts stay on the workers; the fits
(``training.dask_fit``) take their rows from there.

The split is the registry's, not each part's: the cutoff date is the quantile of every part's
dates (``training.split.test_cutoff``), and since a part holds whole patients, a patient seen
after it trains nothing, as in one process.

The client process gets back only what the rest of a run needs whole: the rejects, the counts,
and a ``TrainingData`` of the held-out period (evaluation, the parity check, the input example)
and a sample of the training patients, on which the one-process rules choose the number of trees
(``training.dask_fit``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Final

import numpy as np
import pandas as pd
from distributed import Client, Future

from data.cluster import on_cluster, task_key
from data.contract import INJECTIONS, TABLES, TREATMENTS
from data.frames import empty_frame
from data.partitioned import (
    Part,
    cross_part_rules,
    export_fingerprint,
    merge_rejects,
    read_part,
)
from data.registry import ExportError, Registry
from data.simulate.oracle import OracleError, read_oracle
from features.build import build_features
from features.tables import registry_inputs
from training.dataset import TrainingData
from training.split import patient_draws, split_at, test_cutoff

SAMPLE_TREATMENTS: Final = 50_000
"""Training treatments (whole patients, drawn at random) the client keeps to choose the number of
trees by the one-process rules."""

_SAMPLE_SEED_OFFSET: Final = 7919
"""Salt of the sample's patient draws, so they are not the fits' held-back draws."""


def _summary(reg: Registry) -> tuple[pd.DataFrame, dict[str, int], pd.Series]:
    """What the client needs of a read part: rejects, good rows per table, treatment dates."""
    counts = {name: len(frame) for name, frame in reg.tables.items()}
    return reg.rejects, counts, reg.treatments["treatment_date"]


def _prepare(reg: Registry, cutoff: pd.Timestamp, source: Path) -> TrainingData:
    """A part as training data: its features and its rows on each side of the registry's cutoff.

    The injections are dropped once featurised: nothing after the features reads them.
    """
    features = build_features(registry_inputs(reg.tables)).astype(np.float32)
    train, test = split_at(reg.treatments, cutoff)
    ids = reg.treatments[TREATMENTS.key[0]].tolist()
    lean = dataclasses.replace(reg, injections=empty_frame(INJECTIONS))
    return TrainingData(
        registry=lean,
        features=features,
        train=train,
        test=test,
        oracle=None,
        fingerprint="",
        source=source,
        row_of={t: i for i, t in enumerate(ids)},
    )


def _sides(part: TrainingData) -> tuple[int, int]:
    return int(part.train.sum()), int(part.test.sum())


def _kept(part: TrainingData, share: float, seed: int) -> TrainingData:
    """The part's held-out treatments and its sample of training patients (``share`` of them)."""
    patients = part.registry.treatments["patient_id"].to_numpy(dtype=object)
    sample = part.train & (patient_draws(patients, seed + _SAMPLE_SEED_OFFSET) < share)
    keep = sample | part.test
    ids = part.registry.treatments[TREATMENTS.key[0]][keep]
    tables = {
        name: frame[frame[TREATMENTS.key[0]].isin(ids).to_numpy()].reset_index(drop=True)
        for name, frame in part.registry.tables.items()
    }
    reg = dataclasses.replace(
        part.registry,
        treatments=tables["treatments"],
        injections=tables["injections"],
        followups=tables["followups"],
        durations=tables["durations"],
    )
    return dataclasses.replace(
        part,
        registry=reg,
        features=part.features[keep],
        train=sample[keep],
        test=part.test[keep],
        row_of={t: i for i, t in enumerate(ids.tolist())},
    )


def _merge(
    parts: Sequence[TrainingData], rejects: pd.DataFrame, files: Mapping[str, Path]
) -> Registry:
    """The parts' registries as one (their good rows in part order, every reject)."""
    tables = {
        name: pd.concat([p.registry.tables[name] for p in parts], ignore_index=True)
        for name in TABLES
    }
    first = parts[0].registry
    return Registry(
        **tables,
        rejects=rejects,
        extra_columns=first.extra_columns,
        absent_columns=first.absent_columns,
        files=MappingProxyType(dict(files)),
    )


@dataclass(frozen=True)
class PartsOnCluster:
    """A registry held in parts on a cluster's workers, and its client-side training data.

    Attributes:
        client: The cluster's client.
        parts: One future per part, each of a ``TrainingData`` of that part (held on a worker).
        data: The held-out treatments and the training sample, for the rest of the run;
            ``data.whole`` counts the whole registry.
        n_parts: Parts of the export.
    """

    client: Client
    parts: tuple[Future[TrainingData], ...]
    data: TrainingData
    n_parts: int


def load_on_cluster(
    client: Client,
    parts: Sequence[Part],
    registry: Path,
    *,
    test_fraction: float,
    sample_treatments: int = SAMPLE_TREATMENTS,
    seed: int = 0,
) -> PartsOnCluster:
    """Read, validate, featurise and split a partitioned export on the cluster's workers.

    Args:
        client: The cluster's client.
        parts: The export's parts (``data.partitioned.find_parts``).
        registry: The export folder (its ``oracle/``, if any, is read here).
        test_fraction: Share of treatments, latest by date, held out.
        sample_treatments: Training treatments (about; whole patients) kept in ``data``.
        seed: Seed of the sample's draw.

    Returns:
        The parts on the workers and the client-side data.

    Raises:
        data.registry.ExportError: The export cannot be used (a part unreadable, the layout
            broken, no valid treatment).
    """
    cross = cross_part_rules(parts, on_cluster(client))
    workers = sorted(client.nthreads())
    # Parts spread over the workers in turn: every worker holds rows, which LightGBM needs.
    read = [
        client.submit(
            read_part, part, cross, k, key=task_key("read", part), pure=False,
            workers=[workers[k % len(workers)]], allow_other_workers=True,
        )
        for k, part in enumerate(parts)
    ]  # fmt: skip
    summaries = client.gather([client.submit(_summary, f, pure=False) for f in read])
    rejects = merge_rejects([s[0] for s in summaries])
    totals = {name: sum(s[1][name] for s in summaries) for name in TABLES}
    if totals[TREATMENTS.name] == 0:
        raise ExportError(
            f"{registry}: no valid treatment in any of its {len(parts)} part(s); "
            f"{len(rejects):,} rejected values (asym validate on a part says why)"
        )
    cutoff = test_cutoff(pd.concat([s[2] for s in summaries], ignore_index=True), test_fraction)
    prepared = [
        client.submit(_prepare, f, cutoff, registry, key=task_key("prepare", p), pure=False)
        for f, p in zip(read, parts, strict=True)
    ]
    del read  # the registries are in the prepared parts now
    sides = client.gather([client.submit(_sides, f, pure=False) for f in prepared])
    n_train, n_test = (sum(s[i] for s in sides) for i in (0, 1))
    share = min(1.0, sample_treatments / max(n_train, 1))
    kept: list[TrainingData] = client.gather(
        [client.submit(_kept, f, share, seed, pure=False) for f in prepared]
    )
    files = {f"{t}/{f.name}": f for p in parts for t, f in p.files.items()}
    reg = _merge(kept, rejects, files)
    oracle_problem = None
    try:
        oracle = read_oracle(registry)
    except OracleError as err:
        oracle, oracle_problem = None, str(err)
    ids = reg.treatments[TREATMENTS.key[0]].tolist()
    data = TrainingData(
        registry=reg,
        features=np.concatenate([k.features for k in kept]),
        train=np.concatenate([k.train for k in kept]),
        test=np.concatenate([k.test for k in kept]),
        oracle=oracle,
        fingerprint=export_fingerprint(parts),
        source=registry,
        row_of={t: i for i, t in enumerate(ids)},
        oracle_problem=oracle_problem,
        whole={
            **{f"n_{name}": n for name, n in totals.items()},
            "n_rejected_rows": len(rejects.drop_duplicates(["table", "row"])),
            "n_train_treatments": n_train,
            "n_test_treatments": n_test,
        },
    )
    return PartsOnCluster(client=client, parts=tuple(prepared), data=data, n_parts=len(parts))
