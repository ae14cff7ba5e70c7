"""Reading the simulator's oracle beside a registry: whole, absent, or missing a table."""

from pathlib import Path

import pytest

from data.simulate import simulate
from data.simulate.oracle import OracleError, read_oracle


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("export")
    simulate(300, out, seed=3, fmt="csv")
    return out


def test_reads_the_tables_and_the_simulation_record(export: Path) -> None:
    oracle = read_oracle(export)
    assert oracle is not None
    assert oracle.asymmetry.index.name == "treatment_id"
    assert len(oracle.asymmetry) == 300
    assert oracle.asymmetry["p_visible_asymmetry"].between(0, 1).all()
    assert {"treatment_id", "region", "side", "median_days"} <= set(oracle.longevity.columns)
    late = oracle.late_asymmetry
    assert len(late) > 0
    for column in ("p_late_asymmetry", "p_late_asymmetry_recorded"):
        assert late[column].between(0, 1).all()
    # One row per region treated on both sides: exactly the (treatment, region)s of the
    # longevity oracle with a left and a right row.
    sides = oracle.longevity.groupby(["treatment_id", "region"], observed=True)["side"]
    both = sides.agg(lambda s: {"left", "right"} <= set(s.astype(str)))
    assert set(zip(late["treatment_id"], late["region"].astype(str), strict=True)) == {
        (t, str(r)) for (t, r), b in both.items() if b
    }
    assert oracle.simulation["seed"] == 3


def test_no_oracle_folder_is_no_oracle(tmp_path: Path) -> None:
    assert read_oracle(tmp_path) is None


def test_a_missing_table_is_named(export: Path, tmp_path: Path) -> None:
    (tmp_path / "oracle").mkdir()
    (tmp_path / "oracle" / "longevity.csv").write_bytes(
        (export / "oracle" / "longevity.csv").read_bytes()
    )
    with pytest.raises(OracleError) as err:
        read_oracle(tmp_path)
    assert str(err.value) == f"{tmp_path / 'oracle' / 'asymmetry'}.parquet (or .csv) is missing"


def test_a_missing_late_asymmetry_table_is_named(export: Path, tmp_path: Path) -> None:
    (tmp_path / "oracle").mkdir()
    for name in ("asymmetry", "longevity"):
        (tmp_path / "oracle" / f"{name}.csv").write_bytes(
            (export / "oracle" / f"{name}.csv").read_bytes()
        )
    with pytest.raises(OracleError) as err:
        read_oracle(tmp_path)
    assert (
        str(err.value) == f"{tmp_path / 'oracle' / 'late_asymmetry'}.parquet (or .csv) is missing"
    )
