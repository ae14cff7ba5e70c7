"""Tests of data.registry: reading an export, quarantining bad rows, unusable exports."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from data.contract import TABLES
from data.frames import dtype
from data.registry import REJECT_COLUMNS, ExportError, Registry, read_registry, write_rejects
from tests.data.exports import (
    FORMATS,
    Format,
    native_table,
    valid_tables,
    write_export,
    write_table,
)

by_format = pytest.mark.parametrize("fmt", FORMATS)


def read(tmp_path: Path, fmt: Format, tables: dict[str, pd.DataFrame] | None = None) -> Registry:
    return read_registry(write_export(tmp_path / "export", fmt, tables))


def with_cell(table: str, row: int, column: str, value: str | None) -> dict[str, pd.DataFrame]:
    """The valid export with one cell changed; ``row`` is 1-based, as in the rejects."""
    tables = valid_tables()
    tables[table].loc[row - 1, column] = value
    return tables


def with_row(table: str, row: dict[str, str]) -> dict[str, pd.DataFrame]:
    """The valid export with one row appended to ``table`` (its row number: len + 1)."""
    tables = valid_tables()
    tables[table] = pd.concat([tables[table], pd.DataFrame([row])], ignore_index=True)
    return tables


def reject_rows(reg: Registry, table: str) -> set[int]:
    return set(reg.rejects.loc[reg.rejects["table"] == table, "row"])


def assert_conserved(reg: Registry, tables: dict[str, pd.DataFrame]) -> None:
    """Every input row is either good or rejected, never both, never lost."""
    for name, frame in tables.items():
        assert len(reg.tables[name]) + len(reject_rows(reg, name)) == len(frame), name


def assert_single_reject(
    reg: Registry,
    tables: dict[str, pd.DataFrame],
    table: str,
    row: int,
    column: str | None,
    value: str | None,
    reason: str,
) -> None:
    """Exactly one reject, as given, and every other row of every table survived."""
    assert len(reg.rejects) == 1, reg.rejects.to_string()
    got = reg.rejects.iloc[0]
    key = tables[table].loc[row - 1, "treatment_id"]
    assert (got["table"], got["row"]) == (table, row)
    assert got["key"] == key if isinstance(key, str) else pd.isna(got["key"])
    assert got["column"] == column if column is not None else pd.isna(got["column"])
    assert got["value"] == value if value is not None else pd.isna(got["value"])
    assert reason in got["reason"], got["reason"]
    for name, frame in tables.items():
        assert len(reg.tables[name]) == len(frame) - (name == table), name
    assert_conserved(reg, tables)


# --- A valid export -----------------------------------------------------------------------------


@by_format
def test_valid_export_reads_with_no_rejects_in_canonical_dtypes(
    tmp_path: Path, fmt: Format
) -> None:
    reg = read(tmp_path, fmt)
    assert reg.rejects.empty
    assert list(reg.rejects.columns) == list(REJECT_COLUMNS)
    assert list(reg.tables) == list(TABLES)
    for name, table in TABLES.items():
        frame = reg.tables[name]
        assert len(frame) == len(valid_tables()[name])
        assert list(frame.columns) == list(table.names)
        assert {c.name: frame[c.name].dtype for c in table.columns} == {
            c.name: dtype(c) for c in table.columns
        }
        assert frame.index.equals(pd.RangeIndex(len(frame)))
        assert reg.files[name] == tmp_path / "export" / f"{name}.{fmt}"
        assert reg.extra_columns[name] == ()
    t1 = reg.treatments.iloc[0]
    assert t1["treatment_date"] == pd.Timestamp("2024-01-05")
    assert t1["age_years"] == 34 and t1["masseter_thickness_right_mm"] == 12.25
    assert not t1["bruxism"] and t1["product"] == "onabotulinumtoxinA"
    assert reg.treatments["bruxism"].isna().tolist() == [False, True, False, False]
    assert reg.durations["returned"].tolist().count(False) == 2  # the censored rows
    assert reg.injections.loc[4, ["muscle", "side"]].tolist() == ["procerus", "midline"]


def test_csv_and_parquet_reads_are_equal(tmp_path: Path) -> None:
    csv = read(tmp_path / "csv", "csv")
    parquet = read(tmp_path / "parquet", "parquet")
    for name in TABLES:
        pd.testing.assert_frame_equal(csv.tables[name], parquet.tables[name])


def test_parquet_with_native_types_reads_like_the_string_form(tmp_path: Path) -> None:
    folder = tmp_path / "native"
    folder.mkdir()
    for name, frame in valid_tables().items():
        write_table(native_table(frame, name), folder / f"{name}.parquet")
    schema = pq.read_schema(folder / "followups.parquet")
    assert str(schema.field("visible_asymmetry").type) == "bool"
    assert str(pq.read_schema(folder / "treatments.parquet").field("treatment_date").type) == (
        "date32[day]"
    )
    native = read_registry(folder)
    text = read(tmp_path, "parquet")
    assert native.rejects.empty
    for name in TABLES:
        pd.testing.assert_frame_equal(native.tables[name], text.tables[name])


def test_native_parquet_bad_values_are_rejected_like_text(tmp_path: Path) -> None:
    tables = with_cell("followups", 2, "review_day", "43")
    folder = tmp_path / "native"
    folder.mkdir()
    for name, frame in tables.items():
        write_table(native_table(frame, name), folder / f"{name}.parquet")
    reg = read_registry(folder)
    assert_single_reject(reg, tables, "followups", 2, "review_day", "43", "out of range")


# --- Quarantine rules ---------------------------------------------------------------------------


@by_format
def test_unknown_enum_value_is_rejected(tmp_path: Path, fmt: Format) -> None:
    tables = with_cell("injections", 3, "depth", "deep")
    reg = read(tmp_path, fmt, tables)
    reason = "unknown value; expected one of intradermal, subcutaneous, intramuscular"
    assert_single_reject(reg, tables, "injections", 3, "depth", "deep", reason)


@by_format
@pytest.mark.parametrize(
    ("table", "row", "column", "value", "reason"),
    [
        ("injections", 2, "units", "0", "expected a number > 0 and <= 100"),
        ("injections", 2, "units", "100.5", "expected a number > 0 and <= 100"),
        ("injections", 6, "y_mm", "-160.01", "expected a number >= -160 and <= 100"),
        ("durations", 4, "days", "-3", "expected a number > 0"),
        ("durations", 4, "days", "1e999", "expected a number > 0"),
        ("followups", 1, "review_day", "6", "expected an integer >= 7 and <= 42"),
    ],
)
def test_out_of_range_number_is_rejected(
    tmp_path: Path, fmt: Format, table: str, row: int, column: str, value: str, reason: str
) -> None:
    tables = with_cell(table, row, column, value)
    reg = read(tmp_path, fmt, tables)
    assert_single_reject(reg, tables, table, row, column, value, "out of range; " + reason)


@by_format
@pytest.mark.parametrize("value", ["abc", "NA", "1,5", "1.2.3", "inf", "nan", " 4"])
def test_non_numeric_number_is_rejected(tmp_path: Path, fmt: Format, value: str) -> None:
    tables = with_cell("injections", 8, "x_mm", value)
    reg = read(tmp_path, fmt, tables)
    reason = "not a number; expected a number >= -100 and <= 100"
    assert_single_reject(reg, tables, "injections", 8, "x_mm", value, reason)


@by_format
def test_non_integer_for_an_int_column_is_rejected(tmp_path: Path, fmt: Format) -> None:
    tables = with_cell("followups", 3, "review_day", "14.5")
    reg = read(tmp_path, fmt, tables)
    reason = "not an integer; expected an integer >= 7 and <= 42"
    assert_single_reject(reg, tables, "followups", 3, "review_day", "14.5", reason)


@by_format
def test_integral_decimal_is_an_integer(tmp_path: Path, fmt: Format) -> None:
    reg = read(tmp_path, fmt, with_cell("followups", 3, "review_day", "14.0"))
    assert reg.rejects.empty
    assert reg.followups["review_day"].tolist() == [14, 7, 14]


@by_format
@pytest.mark.parametrize("value", ["2024-02-30", "05/01/2024", "2024-1-5", "2024-01-05T10:00"])
def test_unparseable_date_rejects_the_treatment_and_its_children(
    tmp_path: Path, fmt: Format, value: str
) -> None:
    tables = with_cell("treatments", 4, "treatment_date", value)
    reg = read(tmp_path, fmt, tables)
    first = reg.rejects.iloc[0]
    assert (first["table"], first["row"], first["key"]) == ("treatments", 4, "T4")
    assert (first["column"], first["value"]) == ("treatment_date", value)
    assert first["reason"] == "not a valid date; expected an ISO date YYYY-MM-DD"
    assert reg.treatments["treatment_id"].tolist() == ["T1", "T2", "T3"]
    # T4's children: injections 11-14, durations 11-12, no follow-up.
    assert reject_rows(reg, "injections") == {11, 12, 13, 14}
    assert reject_rows(reg, "durations") == {11, 12}
    assert reject_rows(reg, "followups") == set()
    assert_conserved(reg, tables)


@by_format
def test_unparseable_bool_is_rejected(tmp_path: Path, fmt: Format) -> None:
    tables = with_cell("followups", 2, "eyelid_ptosis", "yes")
    reg = read(tmp_path, fmt, tables)
    reason = "not a boolean; expected true or false (any case) or 1/0"
    assert_single_reject(reg, tables, "followups", 2, "eyelid_ptosis", "yes", reason)


@by_format
@pytest.mark.parametrize(
    ("table", "row", "column"),
    [("injections", 5, "units"), ("durations", 6, "returned"), ("injections", 1, "side")],
)
def test_missing_required_value_is_rejected(
    tmp_path: Path, fmt: Format, table: str, row: int, column: str
) -> None:
    tables = with_cell(table, row, column, None)
    reg = read(tmp_path, fmt, tables)
    assert_single_reject(reg, tables, table, row, column, None, "missing value; expected")


@by_format
def test_blank_value_counts_as_missing(tmp_path: Path, fmt: Format) -> None:
    tables = with_cell("injections", 5, "units", "  ")
    reg = read(tmp_path, fmt, tables)
    assert_single_reject(reg, tables, "injections", 5, "units", None, "missing value")


@by_format
def test_missing_treatment_id_of_a_child_row_is_rejected_with_a_null_key(
    tmp_path: Path, fmt: Format
) -> None:
    tables = with_cell("durations", 2, "treatment_id", None)
    reg = read(tmp_path, fmt, tables)
    assert_single_reject(reg, tables, "durations", 2, "treatment_id", None, "missing value")


@by_format
def test_duplicated_treatment_rejects_every_copy_and_its_children(
    tmp_path: Path, fmt: Format
) -> None:
    tables = valid_tables()
    copy = tables["treatments"].iloc[[1]].assign(age_years="60")  # T2 again, different data
    tables["treatments"] = pd.concat([tables["treatments"], copy], ignore_index=True)
    reg = read(tmp_path, fmt, tables)
    treatments = reg.rejects[reg.rejects["table"] == "treatments"]
    assert treatments["row"].tolist() == [2, 5]
    assert treatments["key"].tolist() == ["T2", "T2"]
    assert treatments["column"].isna().all()
    assert treatments["value"].tolist() == ["T2", "T2"]
    assert treatments["reason"].str.startswith("duplicated key (treatment_id)").all()
    children = reg.rejects[reg.rejects["table"] != "treatments"]
    assert set(children["key"]) == {"T2"}
    assert children["reason"].str.contains("treatments row was rejected").all()
    assert reject_rows(reg, "injections") == {6, 7}
    assert reject_rows(reg, "followups") == {2}
    assert reject_rows(reg, "durations") == {6, 7}
    assert reg.treatments["treatment_id"].tolist() == ["T1", "T3", "T4"]
    assert_conserved(reg, tables)


@by_format
def test_duplicated_followup_rejects_both(tmp_path: Path, fmt: Format) -> None:
    tables = with_row("followups", dict(valid_tables()["followups"].iloc[0]))
    reg = read(tmp_path, fmt, tables)
    assert reg.rejects["row"].tolist() == [1, 4]
    assert set(reg.rejects["table"]) == {"followups"}
    assert reg.rejects["reason"].str.contains("duplicated key").all()
    assert reg.followups["treatment_id"].tolist() == ["T2", "T3"]
    assert_conserved(reg, tables)


@by_format
def test_duplicated_duration_key_rejects_both(tmp_path: Path, fmt: Format) -> None:
    row = {"treatment_id": "T1", "region": "forehead", "side": "left", "days": "60"}
    tables = with_row("durations", row | {"returned": "false"})
    reg = read(tmp_path, fmt, tables)
    assert reg.rejects["row"].tolist() == [1, 13]
    assert reg.rejects["value"].tolist() == ["T1/forehead/left"] * 2
    assert reg.rejects["column"].isna().all()
    assert reg.rejects["reason"].str.startswith("duplicated key (treatment_id, region, side)").all()
    assert len(reg.durations) == 11
    assert_conserved(reg, tables)


@by_format
def test_orphan_child_row_is_rejected(tmp_path: Path, fmt: Format) -> None:
    row = {"treatment_id": "T99", "muscle": "mentalis", "side": "midline", "units": "2"}
    tables = with_row("injections", row)
    reg = read(tmp_path, fmt, tables)
    reason = "treatment_id not found in the treatments file"
    assert_single_reject(reg, tables, "injections", 15, "treatment_id", "T99", reason)


@by_format
def test_children_of_a_rejected_treatment_are_rejected(tmp_path: Path, fmt: Format) -> None:
    tables = with_cell("treatments", 2, "age_years", "17")
    reg = read(tmp_path, fmt, tables)
    got = reg.rejects[["table", "row", "key", "column", "value"]]
    assert got.values.tolist() == [
        ["treatments", 2, "T2", "age_years", "17"],
        ["injections", 6, "T2", "treatment_id", "T2"],
        ["injections", 7, "T2", "treatment_id", "T2"],
        ["followups", 2, "T2", "treatment_id", "T2"],
        ["durations", 6, "T2", "treatment_id", "T2"],
        ["durations", 7, "T2", "treatment_id", "T2"],
    ]
    assert reg.rejects["reason"].iloc[0] == "out of range; expected an integer >= 18 and <= 100"
    assert (reg.rejects["reason"].iloc[1:] == "its treatments row was rejected (see the "
            "treatments rejects)").all()  # fmt: skip
    assert "T2" not in set(reg.injections["treatment_id"])
    assert_conserved(reg, tables)


@by_format
def test_a_bad_child_row_with_a_rejected_treatment_gets_both_reasons(
    tmp_path: Path, fmt: Format
) -> None:
    tables = with_cell("treatments", 2, "sex", "F")
    tables["followups"].loc[1, "review_day"] = "99"
    reg = read(tmp_path, fmt, tables)
    followup = reg.rejects[reg.rejects["table"] == "followups"]
    assert followup["row"].tolist() == [2, 2]
    assert followup["column"].tolist() == ["review_day", "treatment_id"]
    assert_conserved(reg, tables)


@by_format
def test_midline_injection_of_a_lateral_muscle_is_rejected(tmp_path: Path, fmt: Format) -> None:
    tables = with_cell("injections", 1, "side", "midline")
    reg = read(tmp_path, fmt, tables)
    reason = "side midline is only allowed where muscle is one of mentalis, procerus"
    assert_single_reject(reg, tables, "injections", 1, "side", "midline", reason)


@by_format
def test_midline_duration_of_a_lateral_region_is_rejected(tmp_path: Path, fmt: Format) -> None:
    tables = with_cell("durations", 8, "side", "midline")
    reg = read(tmp_path, fmt, tables)
    reason = "side midline is only allowed where region is one of chin, glabella"
    assert_single_reject(reg, tables, "durations", 8, "side", "midline", reason)


@by_format
def test_several_violations_in_one_row_each_get_a_reject(tmp_path: Path, fmt: Format) -> None:
    tables = with_cell("injections", 9, "units", "-1")
    tables["injections"].loc[8, "depth"] = "deep"
    reg = read(tmp_path, fmt, tables)
    assert reg.rejects["row"].tolist() == [9, 9]
    assert reg.rejects["column"].tolist() == ["units", "depth"]
    assert len(reg.injections) == 13
    assert_conserved(reg, tables)


@by_format
def test_date_pandas_cannot_hold_is_rejected(tmp_path: Path, fmt: Format) -> None:
    tables = with_cell("treatments", 3, "treatment_date", "1500-01-01")
    reg = read(tmp_path, fmt, tables)
    first = reg.rejects.iloc[0]
    assert (first["row"], first["column"], first["value"]) == (3, "treatment_date", "1500-01-01")
    assert first["reason"].startswith("out of range (only 1677-09-22 to 2262-04-11")
    assert reg.treatments["treatment_id"].tolist() == ["T1", "T2", "T4"]
    assert_conserved(reg, tables)


def test_parquet_timestamps_count_as_dates_only_at_midnight(tmp_path: Path) -> None:
    folder = write_export(tmp_path / "export", "parquet")
    table = native_table(valid_tables()["treatments"], "treatments")
    stamps = pd.to_datetime(
        ["2024-01-05", "2024-02-10 03:00", "2024-05-05", "2024-06-30"], format="ISO8601"
    )
    index = table.schema.get_field_index("treatment_date")
    table = table.set_column(index, "treatment_date", pa.array(stamps))
    write_table(table, folder / "treatments.parquet")
    reg = read_registry(folder)
    first = reg.rejects.iloc[0]
    assert (first["table"], first["row"], first["column"]) == ("treatments", 2, "treatment_date")
    assert first["value"].startswith("2024-02-10 03:00:00")
    assert reg.treatments["treatment_date"].tolist() == list(stamps[[0, 2, 3]])


# --- Unusable exports ---------------------------------------------------------------------------


@by_format
def test_missing_table_is_an_export_error(tmp_path: Path, fmt: Format) -> None:
    folder = write_export(tmp_path / "export", fmt)
    (folder / f"followups.{fmt}").unlink()
    with pytest.raises(ExportError, match=r"followups\.parquet or .*followups\.csv: not found"):
        read_registry(folder)


def test_both_formats_of_a_table_is_an_export_error(tmp_path: Path) -> None:
    folder = write_export(tmp_path / "export", "csv")
    write_table(valid_tables()["durations"], folder / "durations.parquet")
    with pytest.raises(ExportError, match=r"durations\.parquet and .*durations\.csv: both"):
        read_registry(folder)


def test_corrupt_parquet_is_an_export_error(tmp_path: Path) -> None:
    folder = write_export(tmp_path / "export", "parquet")
    (folder / "injections.parquet").write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(ExportError, match=r"injections\.parquet: cannot be read"):
        read_registry(folder)


def test_empty_csv_is_an_export_error(tmp_path: Path) -> None:
    folder = write_export(tmp_path / "export", "csv")
    (folder / "treatments.csv").write_text("")
    with pytest.raises(ExportError, match=r"treatments\.csv: cannot be read"):
        read_registry(folder)


def test_ragged_csv_is_an_export_error(tmp_path: Path) -> None:
    folder = write_export(tmp_path / "export", "csv")
    with (folder / "durations.csv").open("a") as handle:
        handle.write("T1,neck,left,30,true,surplus\n")
    with pytest.raises(ExportError, match=r"durations\.csv: cannot be read .*Expected 5 columns"):
        read_registry(folder)


def test_parquet_column_of_an_unreadable_type_is_an_export_error(tmp_path: Path) -> None:
    folder = write_export(tmp_path / "export", "parquet")
    table = native_table(valid_tables()["followups"], "followups")
    index = table.schema.get_field_index("brow_ptosis")
    table = table.set_column(index, "brow_ptosis", pa.array([[1], [0], [1]]))
    write_table(table, folder / "followups.parquet")
    with pytest.raises(ExportError, match=r"followups\.parquet: column brow_ptosis has type list"):
        read_registry(folder)


def test_csv_with_a_byte_order_mark_and_line_breaks_in_quotes_reads(tmp_path: Path) -> None:
    tables = valid_tables()
    tables["followups"]["note"] = ["two\nlines", "plain", 'say "hi"']
    folder = write_export(tmp_path / "export", "csv", tables)
    path = folder / "treatments.csv"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    reg = read_registry(folder)
    assert reg.rejects.empty
    assert len(reg.treatments) == 4 and len(reg.followups) == 3
    assert reg.extra_columns["followups"] == ("note",)


@by_format
def test_missing_required_column_is_an_export_error(tmp_path: Path, fmt: Format) -> None:
    tables = valid_tables()
    tables["durations"] = tables["durations"].drop(columns="days")
    with pytest.raises(ExportError, match=rf"durations\.{fmt}: missing required column\(s\) days"):
        read(tmp_path, fmt, tables)


@by_format
def test_no_valid_treatment_is_an_export_error(tmp_path: Path, fmt: Format) -> None:
    tables = valid_tables()
    tables["treatments"]["sex"] = "unknown"
    with pytest.raises(ExportError, match=rf"treatments\.{fmt}: no valid treatment") as err:
        read(tmp_path, fmt, tables)
    assert "all 4 rows were rejected" in str(err.value)
    assert "column sex: unknown value" in str(err.value)


def test_not_a_folder_is_an_export_error(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="not a folder"):
        read_registry(tmp_path / "nowhere")


# --- Format freedom -----------------------------------------------------------------------------


@by_format
def test_extra_columns_are_reported_and_ignored(tmp_path: Path, fmt: Format) -> None:
    tables = valid_tables()
    tables["injections"].insert(2, "needle_gauge", "32G")
    tables["treatments"]["notes"] = "n/a"
    (tmp_path / "export" / "oracle").mkdir(parents=True)  # other folders are ignored
    reg = read(tmp_path, fmt, tables)
    assert reg.rejects.empty
    assert reg.extra_columns == {
        "treatments": ("notes",),
        "injections": ("needle_gauge",),
        "followups": (),
        "durations": (),
    }
    assert list(reg.injections.columns) == list(TABLES["injections"].names)


@by_format
def test_column_order_is_free(tmp_path: Path, fmt: Format) -> None:
    shuffled = {name: frame[frame.columns[::-1]] for name, frame in valid_tables().items()}
    reg = read(tmp_path / "shuffled", fmt, shuffled)
    plain = read(tmp_path / "plain", fmt)
    assert reg.rejects.empty
    for name in TABLES:
        pd.testing.assert_frame_equal(reg.tables[name], plain.tables[name])


@by_format
def test_missing_nullable_column_reads_as_null(tmp_path: Path, fmt: Format) -> None:
    tables = valid_tables()
    tables["treatments"] = tables["treatments"].drop(columns="ancestry")
    reg = read(tmp_path, fmt, tables)
    assert reg.rejects.empty
    assert reg.treatments["ancestry"].isna().all()
    assert reg.treatments["ancestry"].dtype == dtype(TABLES["treatments"].column("ancestry"))
    # Reported, so a misspelt optional column is not lost silently.
    assert reg.absent_columns["treatments"] == ("ancestry",)
    assert reg.absent_columns["injections"] == ()


def test_csv_bool_variants(tmp_path: Path) -> None:
    tables = valid_tables()
    tables["followups"]["visible_asymmetry"] = ["TRUE", "False", "1"]
    tables["followups"]["eyelid_ptosis"] = ["0", "fAlSe", "true"]
    reg = read(tmp_path, "csv", tables)
    assert reg.rejects.empty
    assert reg.followups["visible_asymmetry"].tolist() == [True, False, True]
    assert reg.followups["eyelid_ptosis"].tolist() == [False, False, True]


def test_csv_literal_na_is_a_value_not_a_null(tmp_path: Path) -> None:
    tables = with_cell("treatments", 1, "patient_id", "NA")
    reg = read(tmp_path, "csv", tables)
    assert reg.rejects.empty
    assert reg.treatments.loc[0, "patient_id"] == "NA"


# --- Writing rejects ----------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_write_rejects_round_trips(tmp_path: Path, suffix: str) -> None:
    tables = with_cell("treatments", 2, "age_years", "17")
    tables["durations"].loc[0, "treatment_id"] = None
    reg = read(tmp_path, "csv", tables)
    path = tmp_path / "out" / f"rejects{suffix}"
    write_rejects(reg.rejects, path)
    if suffix == ".csv":
        back = pd.read_csv(path, dtype="str", keep_default_na=False, na_values=[""])
        back["row"] = back["row"].astype("int64")
    else:
        back = pd.read_parquet(path)
    assert len(back) == 7
    pd.testing.assert_frame_equal(back, reg.rejects)
