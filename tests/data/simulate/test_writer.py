"""Files: the same seed gives the same bytes; the CSV text format (``data.simulate.writer``)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data.contract import (
    TABLES,
)
from data.partitioned import cross_part_rules, find_parts, read_part
from data.registry import read_registry
from data.simulate import params, simulate, simulate_frames
from tests.data.simulate.helpers import digests


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_same_seed_gives_byte_identical_files(tmp_path: Path, fmt: str) -> None:
    a = simulate(3000, tmp_path / "a", seed=5, fmt=fmt)  # type: ignore[arg-type]
    simulate(3000, tmp_path / "b", seed=5, fmt=fmt)  # type: ignore[arg-type]
    simulate(3000, tmp_path / "c", seed=6, fmt=fmt)  # type: ignore[arg-type]
    da, db, dc = (digests(tmp_path / x) for x in "abc")
    assert len(da) == 10 and set(a.files) == {tmp_path / "a" / k for k in da}
    assert da == db
    assert da["treatments." + fmt] != dc["treatments." + fmt]
    meta = json.loads((tmp_path / "a" / "oracle" / "simulation.json").read_text())
    assert meta["seed"] == 5 and meta["scenario"] == "literature" and meta["n_treatments"] == 3000
    assert meta["simulator_version"] == params.SIMULATOR_VERSION
    assert meta["chunk_patients"] == params.CHUNK_PATIENTS


# sha256 of the registry files of ``simulate(3000, seed=5, fmt="csv")`` as written by
# asym-sim 1.3 (1.2 with the two sides of a region correlated 0.9 in their return times). Neither
# oracle changes the registry: the pre-treatment oracle's placement draws have their own random
# stream and the late-stage asymmetry oracle draws nothing. (CSV rather than Parquet: Parquet
# files also record the writing pyarrow's version.) Likewise the at-the-needle oracle's p_*.
_REGISTRY_1_3_CSV = {
    "treatments.csv": "e954a20e49b74ff964e3871684a95f36daea47da5ebd405292d85b6688d2280a",
    "injections.csv": "a37b1e13c828e5450161d8303d6a4f82b58b5507b787d8e049fff2cd8b8e900b",
    "followups.csv": "11cb94d97e29098ad124c3b881c3f52312fa6ae3c0c21c0c97d273930cbf7a39",
    "durations.csv": "4bfa7b49397c6ad7f0eb7b2470acd73125983360c372b45586507a134d789db4",
}

_AT_NEEDLE_1_3 = "3a78109643ef765281581460b81347fe9f03383886a5e2f05f97283cb553abf1"


def test_registry_is_unchanged_by_the_oracles(tmp_path: Path) -> None:
    simulate(3000, tmp_path, seed=5, fmt="csv")
    files = digests(tmp_path)
    assert {k: files[k] for k in _REGISTRY_1_3_CSV} == _REGISTRY_1_3_CSV
    asym = simulate_frames(3000, seed=5).oracle["asymmetry"]
    columns = [f"p_{x}_at_needle" for x in ("visible_asymmetry", "eyelid_ptosis", "brow_ptosis")]
    values = np.ascontiguousarray(asym[columns].to_numpy(np.float64))
    assert hashlib.sha256(values.tobytes()).hexdigest() == _AT_NEEDLE_1_3


def test_csv_text_format(tmp_path: Path) -> None:
    simulate(500, tmp_path, seed=1, fmt="csv")
    treatments = (tmp_path / "treatments.csv").read_text().splitlines()
    assert treatments[0] == ",".join(TABLES["treatments"].names)
    row = treatments[1].split(",")
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", row[3])
    followups = (tmp_path / "followups.csv").read_text()
    assert set(followups.splitlines()[1].split(",")[-3:]) <= {"true", "false"}
    text = treatments + followups.splitlines()
    assert not any('"' in line or ",-0," in line or line.endswith(",-0") for line in text)


def test_partitions_hold_whole_patients_and_the_same_rows(tmp_path: Path) -> None:
    # Two chunks of patients, so that the parts take patients from both.
    args = {"seed": 4, "chunk_patients": 150}
    report = simulate(800, tmp_path / "parts", partitions=3, **args)  # type: ignore[arg-type]
    simulate(800, tmp_path / "plain", **args)  # type: ignore[arg-type]
    found = find_parts(tmp_path / "parts")
    assert [p.name for p in found] == ["part-00000", "part-00001", "part-00002"]
    assert set(report.files) >= {f for p in found for f in p.files.values()}
    cross = cross_part_rules(found)  # raises if a patient or a child row were split
    regs = [read_part(p, cross, k) for k, p in enumerate(found)]
    whole = read_registry(tmp_path / "plain")
    for name in TABLES:
        key = ["treatment_id", *(["muscle", "side", "units"] if name == "injections" else [])]
        if name == "durations":
            key += ["region", "side"]
        joined = pd.concat([r.tables[name] for r in regs]).sort_values(key, kind="stable")
        expected = whole.tables[name].sort_values(key, kind="stable")
        pd.testing.assert_frame_equal(
            joined.reset_index(drop=True), expected.reset_index(drop=True), check_exact=True
        )
    patients = [r.treatments["patient_id"].nunique() for r in regs]
    assert max(patients) - min(patients) <= 1  # patients dealt in turn
    meta = json.loads((tmp_path / "parts" / "oracle" / "simulation.json").read_text())
    assert meta["partitions"] == 3
    assert "partitions" not in json.loads(
        (tmp_path / "plain" / "oracle" / "simulation.json").read_text()
    )
