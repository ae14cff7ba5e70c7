"""`asym validate` as the installed command: exit codes, summary, rejects file, no traceback."""

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.data.exports import valid_tables, write_export

ASYM = str(Path(sys.executable).with_name("asym"))


def asym(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ASYM, *args], capture_output=True, text=True, timeout=120)


def test_clean_export_exits_0(tmp_path: Path) -> None:
    result = asym("validate", str(write_export(tmp_path / "x", "csv")))
    assert result.returncode == 0, result.stderr
    assert "no rows rejected" in result.stdout
    assert "treatments" in result.stdout


def test_rejected_rows_exit_1_and_are_written(tmp_path: Path) -> None:
    tables = valid_tables()
    tables["injections"].loc[0, "units"] = "-3"
    tables["treatments"]["height_cm"] = "170"
    export = write_export(tmp_path / "x", "parquet", tables)
    rejects = tmp_path / "out" / "rejects.csv"
    result = asym("validate", str(export), "--rejects", str(rejects))
    assert result.returncode == 1, result.stderr
    assert "injections.units" in result.stdout
    assert "ignored extra columns height_cm" in result.stdout
    written = pd.read_csv(rejects, dtype={"value": str})
    assert written[["table", "row", "column", "value"]].values.tolist() == [
        ["injections", 1, "units", "-3"]
    ]
    assert "expected a number > 0" in written.loc[0, "reason"]


@pytest.mark.parametrize("broken", ["missing table", "not a folder"])
def test_unusable_export_exits_2_naming_the_file(tmp_path: Path, broken: str) -> None:
    export = write_export(tmp_path / "x", "csv")
    if broken == "missing table":
        (export / "durations.csv").unlink()
        target, named = export, "durations.csv"
    else:
        target, named = export / "treatments.csv", "treatments.csv"
    result = asym("validate", str(target))
    assert result.returncode == 2
    assert named in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
