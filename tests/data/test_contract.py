"""The registry contract is internally consistent and says what design.md says."""

import pytest

from data.contract import (
    MIDLINE_MUSCLES,
    MIDLINE_REGIONS,
    MUSCLE_REGION,
    MUSCLES,
    REGIONS,
    SIDES,
    TABLES,
    Kind,
)
from data.frames import conform, empty_frame


def test_four_tables_parents_first() -> None:
    assert list(TABLES) == ["treatments", "injections", "followups", "durations"]
    for table in TABLES.values():
        assert table.parent in (None, "treatments")
        assert "treatment_id" in table.names


@pytest.mark.parametrize("table", TABLES.values(), ids=lambda t: t.name)
def test_columns_are_well_formed(table) -> None:
    assert len(set(table.names)) == len(table.names)
    assert set(table.key) <= set(table.names)
    for c in table.columns:
        if c.kind is Kind.ENUM:
            assert c.values and len(set(c.values)) == len(c.values)
        else:
            assert not c.values
        if c.minimum is not None and c.maximum is not None:
            assert c.minimum < c.maximum
        assert c.description.endswith(".")


def test_keys_match_design() -> None:
    assert TABLES["treatments"].key == ("treatment_id",)
    assert TABLES["followups"].key == ("treatment_id",)
    assert TABLES["durations"].key == ("treatment_id", "region", "side")
    assert TABLES["injections"].key == ()


def test_muscle_region_map_covers_every_muscle() -> None:
    assert set(MUSCLE_REGION) == set(MUSCLES)
    assert set(MUSCLE_REGION.values()) == set(REGIONS)
    assert MIDLINE_MUSCLES == {"procerus", "mentalis"}
    assert MIDLINE_REGIONS == {"glabella", "chin"}
    assert "midline" in SIDES


@pytest.mark.parametrize(
    ("table", "column", "expected"),
    [
        ("treatments", "age_years", "an integer >= 18 and <= 100"),
        ("injections", "units", "a number > 0 and <= 100"),
        ("durations", "days", "a number > 0"),
        ("treatments", "sex", "one of female, male"),
        ("treatments", "treatment_date", "an ISO date YYYY-MM-DD"),
        ("followups", "visible_asymmetry", "true or false (any case) or 1/0"),
    ],
)
def test_allowed_describes_the_rule(table: str, column: str, expected: str) -> None:
    assert TABLES[table].column(column).allowed() == expected


def test_unknown_column_is_a_key_error() -> None:
    with pytest.raises(KeyError, match="no column 'height'"):
        TABLES["treatments"].column("height")


@pytest.mark.parametrize("table", TABLES.values(), ids=lambda t: t.name)
def test_empty_frame_has_canonical_dtypes(table) -> None:
    frame = empty_frame(table)
    assert tuple(frame.columns) == table.names
    assert conform(frame, table).dtypes.equals(frame.dtypes)
    for c in table.columns:
        if c.kind is Kind.ENUM:
            assert tuple(frame[c.name].cat.categories) == c.values
