"""`load_training_data`: the fingerprint of the files read, and an incomplete oracle."""

import shutil
from pathlib import Path

import pytest

from data.simulate import simulate
from training.dataset import load_training_data


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export")
    simulate(400, out, seed=4)
    return out


def test_the_fingerprint_follows_the_bytes_of_the_tables(export: Path, tmp_path: Path) -> None:
    first = load_training_data(export)
    assert first.fingerprint == first.registry.fingerprint()
    assert len(first.fingerprint) == 64
    copy = tmp_path / "copy"
    shutil.copytree(export, copy)
    assert load_training_data(copy).fingerprint == first.fingerprint  # the folder is not hashed
    (copy / "oracle" / "asymmetry.parquet").unlink()  # nor is the oracle
    assert load_training_data(copy).fingerprint == first.fingerprint
    simulate(400, copy, seed=5)  # other rows in the same files
    assert load_training_data(copy).fingerprint != first.fingerprint


def test_an_incomplete_oracle_leaves_training_data_without_one(
    export: Path, tmp_path: Path
) -> None:
    whole = load_training_data(export)
    assert whole.oracle is not None and whole.oracle_problem is None
    copy = tmp_path / "copy"
    shutil.copytree(export, copy)
    (copy / "oracle" / "asymmetry.parquet").unlink()
    data = load_training_data(copy)
    assert data.oracle is None
    assert data.oracle_problem == f"{copy / 'oracle' / 'asymmetry'}.parquet (or .csv) is missing"
    assert len(data.registry.treatments) == len(whole.registry.treatments)
    shutil.rmtree(copy / "oracle")  # no oracle at all: a real export, nothing to report
    assert load_training_data(copy).oracle_problem is None
