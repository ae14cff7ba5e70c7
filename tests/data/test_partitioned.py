"""A registry in parts reads as the same registry in one file: rows, rejects, cross-part rules."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from data.contract import TABLES
from data.partitioned import (
    cross_part_rules,
    export_fingerprint,
    find_parts,
    merge_rejects,
    part_name,
    read_part,
)
from data.registry import ExportError, Registry, read_registry
from data.simulate import simulate_frames

Tables = dict[str, pd.DataFrame]


@pytest.fixture(scope="module")
def parts() -> list[Tables]:
    """A small simulated registry cut into three parts by patient, as the writer cuts it."""
    tables = simulate_frames(300, seed=3).tables
    treatments = tables["treatments"]
    part_of_patient = {p: k % 3 for k, p in enumerate(treatments["patient_id"].unique())}
    part_of = dict(
        zip(treatments["treatment_id"], treatments["patient_id"].map(part_of_patient), strict=True)
    )
    return [
        {
            name: frame[frame["treatment_id"].map(part_of).eq(k)].reset_index(drop=True)
            for name, frame in tables.items()
        }
        for k in range(3)
    ]


def _write(folder: Path, parts: list[Tables]) -> tuple[Path, Path]:
    """The parts as a partitioned export, and their concatenation (part order) as a plain one."""
    split, plain = folder / "parts", folder / "plain"
    plain.mkdir(parents=True)
    for name in TABLES:
        (split / name).mkdir(parents=True)
        for k, part in enumerate(parts):
            part[name].to_parquet(split / name / f"{part_name(k)}.parquet", index=False)
        whole = pd.concat([p[name] for p in parts], ignore_index=True)
        whole.to_parquet(plain / f"{name}.parquet", index=False)
    return split, plain


def _read_in_parts(folder: Path) -> tuple[Tables, pd.DataFrame]:
    found = find_parts(folder)
    cross = cross_part_rules(found)
    regs = [read_part(p, cross, k) for k, p in enumerate(found)]
    tables = {n: pd.concat([r.tables[n] for r in regs], ignore_index=True) for n in TABLES}
    return tables, merge_rejects([r.rejects for r in regs])


def _assert_same(in_parts: tuple[Tables, pd.DataFrame], whole: Registry) -> None:
    tables, rejects = in_parts
    for name in TABLES:
        pd.testing.assert_frame_equal(tables[name], whole.tables[name], check_exact=True)
    pd.testing.assert_frame_equal(rejects, whole.rejects, check_exact=True)


def test_clean_parts_read_as_the_whole(parts: list[Tables], tmp_path: Path) -> None:
    split, plain = _write(tmp_path, parts)
    found = find_parts(split)
    assert [p.name for p in found] == ["part-00000", "part-00001", "part-00002"]
    whole = read_registry(plain)
    assert whole.rejects.empty and len(whole.treatments) == 300
    _assert_same(_read_in_parts(split), whole)
    # A plain export is one part, and its fingerprint is the registry's.
    (single,) = find_parts(plain)
    assert single.files == whole.files and export_fingerprint([single]) == whole.fingerprint()
    assert export_fingerprint(found) != whole.fingerprint()


def _row_of(frame: pd.DataFrame, **values: object) -> pd.DataFrame:
    """The first row of ``frame`` with some of its values changed."""
    return frame.iloc[:1].assign(**values)


def test_cross_part_faults_are_rejected_as_in_one_file(parts: list[Tables], tmp_path: Path) -> None:
    p0, p1, p2 = ({n: f.copy() for n, f in p.items()} for p in parts)
    reviewed = p0["followups"]["treatment_id"].iloc[0]
    copied = p0["treatments"][p0["treatments"]["treatment_id"] == reviewed]
    # A treatment id in two parts (of two patients), each with a follow-up: every such row goes.
    p1["treatments"] = pd.concat([p1["treatments"], copied.assign(patient_id="P-other")])
    p1["followups"] = pd.concat([p1["followups"], _row_of(p0["followups"])])
    # Orphans: an injection, and follow-ups of one unknown treatment in two parts (a shared key).
    p2["injections"] = pd.concat([p2["injections"], _row_of(p2["injections"], treatment_id="T-x")])
    for p in (p1, p2):
        p["followups"] = pd.concat([p["followups"], _row_of(p["followups"], treatment_id="T-y")])
    # A bad value and a key duplicated inside a part, as in any file.
    p2["injections"].loc[0, "units"] = -5.0
    p0["durations"] = pd.concat([p0["durations"], p0["durations"].iloc[:1]])
    damaged = [{n: f.reset_index(drop=True) for n, f in p.items()} for p in (p0, p1, p2)]
    split, plain = _write(tmp_path, damaged)
    whole = read_registry(plain)
    reasons = set(whole.rejects["reason"])
    assert any(r.startswith("duplicated key (treatment_id)") for r in reasons)
    assert any(r.startswith("its treatments row was rejected") for r in reasons)
    assert "treatment_id not found in the treatments file" in reasons
    assert (whole.rejects["value"] == "T-y").sum() >= 2  # orphan and duplicated, twice each
    _assert_same(_read_in_parts(split), whole)


def test_a_child_apart_from_its_treatment_breaks_the_layout(
    parts: list[Tables], tmp_path: Path
) -> None:
    moved = [{n: f.copy() for n, f in p.items()} for p in parts]
    row = moved[0]["injections"].iloc[:1]
    moved[0]["injections"] = moved[0]["injections"].iloc[1:].reset_index(drop=True)
    moved[1]["injections"] = pd.concat([moved[1]["injections"], row], ignore_index=True)
    split, _ = _write(tmp_path, moved)
    n = len(moved[1]["injections"])
    with pytest.raises(ExportError) as err:
        cross_part_rules(find_parts(split))
    message = str(err.value)
    assert f"injections/part-00001.parquet row {n}" in message
    assert f"treatment {row['treatment_id'].iloc[0]} is in" in message
    assert "treatments/part-00000.parquet" in message


def test_a_patient_in_two_parts_breaks_the_layout(parts: list[Tables], tmp_path: Path) -> None:
    moved = [{n: f.copy() for n, f in p.items()} for p in parts]
    patient = moved[0]["treatments"]["patient_id"].iloc[0]
    moved[1]["treatments"].loc[0, "patient_id"] = patient
    split, _ = _write(tmp_path, moved)
    with pytest.raises(ExportError, match=f"patient {patient} has treatments in .*part-00000"):
        cross_part_rules(find_parts(split))


def test_parts_that_do_not_match_are_refused(parts: list[Tables], tmp_path: Path) -> None:
    split, _ = _write(tmp_path, parts)
    (split / "durations" / "part-00002.parquet").unlink()
    with pytest.raises(ExportError, match="durations: no part-00002"):
        find_parts(split)
    for f in (split / "followups").iterdir():
        f.unlink()
    (split / "followups").rmdir()
    with pytest.raises(ExportError, match="followups: not found; a partitioned export"):
        find_parts(split)


def test_rejects_count_rows_across_the_parts(tmp_path: Path, parts: list[Tables]) -> None:
    bad = [{n: f.copy() for n, f in p.items()} for p in parts]
    bad[2]["treatments"].loc[1, "age_years"] = 7  # the second row of the third part
    split, _ = _write(tmp_path, bad)
    _, rejects = _read_in_parts(split)
    before = len(parts[0]["treatments"]) + len(parts[1]["treatments"])
    age = rejects[(rejects["table"] == "treatments") & (rejects["column"] == "age_years")]
    assert age["row"].tolist() == [before + 2]
    assert [p.name for p in find_parts(split)] == [part_name(k) for k in range(len(parts))]
