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
    assert len(da) == 7 and set(a.files) == {tmp_path / "a" / k for k in da}
    assert da == db
    assert da["treatments." + fmt] != dc["treatments." + fmt]
    meta = json.loads((tmp_path / "a" / "oracle" / "simulation.json").read_text())
    assert meta["seed"] == 5 and meta["scenario"] == "literature" and meta["n_treatments"] == 3000
    assert meta["simulator_version"] == params.SIMULATOR_VERSION
    assert meta["chunk_patients"] == params.CHUNK_PATIENTS


# sha256 of the registry files of ``simulate(3000, seed=5, fmt="csv")`` as written by
# asym-sim 1.1, before the pre-treatment oracle existed: its placement draws have their own random
# stream, so the registry must not change. (CSV rather than Parquet: Parquet files also record the
# writing pyarrow's version.) Likewise the at-the-needle oracle equals 1.1's p_* columns.
_REGISTRY_1_1_CSV = {
    "treatments.csv": "fb524d3caeaf85bc73958ab43a557e2fecf636fbfd23b13c89c16da8c238ee37",
    "injections.csv": "97198f97112ec9901f82e72cbaf75df02f0ddd676971ded9b089e4bf76ca0265",
    "followups.csv": "c6f78fff3cdcfa166872ca6e7e2313e6be7d8d7b896453faec5c3dbfb2676c8d",
    "durations.csv": "68937328b7a3c976534e0eb71c2c8cf549594790a7cf9e51b8aa3ffc1bc55b44",
}

_AT_NEEDLE_1_1 = "8a22e20054f14acabbc5292a240f46f6a07e69043ddd81d02742c19877e5be23"


def test_registry_is_unchanged_by_the_pre_treatment_oracle(tmp_path: Path) -> None:
    simulate(3000, tmp_path, seed=5, fmt="csv")
    files = digests(tmp_path)
    assert {k: files[k] for k in _REGISTRY_1_1_CSV} == _REGISTRY_1_1_CSV
    asym = simulate_frames(3000, seed=5).oracle["asymmetry"]
    columns = [f"p_{x}_at_needle" for x in ("visible_asymmetry", "eyelid_ptosis", "brow_ptosis")]
    values = np.ascontiguousarray(asym[columns].to_numpy(np.float64))
    assert hashlib.sha256(values.tobytes()).hexdigest() == _AT_NEEDLE_1_1


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
