"""Training data: a validated registry, its feature matrix, the validation split and the oracle.

Reads only through ``data`` (the registry and the simulator's oracle) and computes features only
through ``features``; the
models in ``training`` take a ``TrainingData`` and never touch files.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from data.registry import Registry, read_registry
from data.simulate.oracle import Oracle, OracleError, read_oracle
from features.build import build_features
from features.tables import registry_inputs
from training.settings import TEST_FRACTION
from training.split import split_by_patient_and_time

FloatArray = npt.NDArray[np.float64]
Float32Array = npt.NDArray[np.float32]
BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class TrainingData:
    """Everything a model fit and its evaluation need, in the order of ``registry.treatments``.

    Attributes:
        registry: The validated registry (good rows and rejects).
        features: (n, F) feature matrix as float32, the dtype the ONNX models take; LightGBM is
            fitted on the same float32 values so its splits and the exported trees agree.
        train: Treatments to fit on.
        test: Treatments held out (latest period; no patient in both).
        oracle: Ground truth of a simulated registry, else None.
        fingerprint: SHA-256 over the registry's table files (``Registry.fingerprint``).
        source: The registry folder.
        row_of: Row of each treatment_id in ``features``.
        oracle_problem: Why an ``oracle/`` folder the export holds could not be used (it names
            the missing file); None when there is no folder or it was read.
        whole: ``counts()`` of the whole registry when these data hold only some of its rows
            (a Dask run keeps its held-out period and a sample here); None: they hold all.
    """

    registry: Registry
    features: Float32Array
    train: BoolArray
    test: BoolArray
    oracle: Oracle | None
    fingerprint: str
    source: Path
    row_of: Mapping[str, int] = field(repr=False)
    oracle_problem: str | None = None
    whole: Mapping[str, int] | None = None

    def counts(self) -> dict[str, int]:
        """Rows of the registry: per table, rejected rows, train and held-out treatments."""
        if self.whole is not None:
            return dict(self.whole)
        reg = self.registry
        return {
            **{f"n_{name}": len(frame) for name, frame in reg.tables.items()},
            "n_rejected_rows": len(reg.rejects.drop_duplicates(["table", "row"])),
            "n_train_treatments": int(self.train.sum()),
            "n_test_treatments": int(self.test.sum()),
        }

    @property
    def treatment_ids(self) -> npt.NDArray[np.object_]:
        """treatment_id of each row of ``features``."""
        return self.registry.treatments["treatment_id"].to_numpy(dtype=object)

    def rows(self, treatment_ids: pd.Series | npt.NDArray[Any]) -> npt.NDArray[np.int64]:
        """Rows of ``features`` for the given treatment ids (each must be in the registry)."""
        return np.fromiter(
            (self.row_of[t] for t in treatment_ids), dtype=np.int64, count=len(treatment_ids)
        )


def load_training_data(registry_dir: Path, test_fraction: float = TEST_FRACTION) -> TrainingData:
    """Read, validate and featurise a registry export, and split it for validation.

    Args:
        registry_dir: The export folder (a simulated one may hold ``oracle/``).
        test_fraction: Share of treatments, latest by date, to hold out.

    Returns:
        The training data.

    An ``oracle/`` folder that lacks a table is no reason to stop: the data train without
    oracle figures and ``oracle_problem`` says why.

    Raises:
        data.registry.ExportError: The export cannot be used at all.
    """
    registry = read_registry(registry_dir)
    oracle_problem = None
    try:
        oracle = read_oracle(Path(registry_dir))
    except OracleError as err:
        oracle, oracle_problem = None, str(err)
    features = build_features(registry_inputs(registry.tables)).astype(np.float32)
    train, test = split_by_patient_and_time(registry.treatments, test_fraction)
    ids = registry.treatments["treatment_id"].tolist()
    return TrainingData(
        registry=registry,
        features=features,
        train=train,
        test=test,
        oracle=oracle,
        fingerprint=registry.fingerprint(),
        source=Path(registry_dir),
        row_of={t: i for i, t in enumerate(ids)},
        oracle_problem=oracle_problem,
    )
