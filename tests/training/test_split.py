"""The validation split holds out the latest period and keeps patients on one side."""

import pandas as pd
import pytest

from training.split import hold_back_patients, split_by_patient_and_time


def _treatments() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "patient_id": ["a", "a", "b", "c", "c", "d", "e"],
            "treatment_date": pd.to_datetime(
                [
                    "2020-01-01",
                    "2024-06-01",
                    "2021-01-01",
                    "2022-01-01",
                    "2022-06-01",
                    "2024-07-01",
                    "2023-01-01",
                ]
            ),
        }
    )


def test_latest_period_held_out_and_patients_disjoint() -> None:
    t = _treatments()
    train, test = split_by_patient_and_time(t, test_fraction=0.3)
    # The 30% most recent: a's 2024-06 and d's 2024-07 visits.
    assert t.loc[test, "patient_id"].tolist() == ["a", "d"]
    # a's 2020 visit is in neither set, so no patient is on both sides.
    assert t.loc[train, "patient_id"].tolist() == ["b", "c", "c", "e"]
    assert not set(t.loc[train, "patient_id"]) & set(t.loc[test, "patient_id"])


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1])
def test_fraction_must_be_a_share(fraction: float) -> None:
    with pytest.raises(ValueError, match="test_fraction"):
        split_by_patient_and_time(_treatments(), fraction)


def test_hold_back_patients_keeps_each_patient_whole() -> None:
    patients = [f"p{i % 500}" for i in range(3000)]  # 500 patients, 6 rows each
    held = hold_back_patients(patients, 0.2, seed=0)
    by_patient = pd.Series(held).groupby(patients).agg(["min", "max"])
    assert (by_patient["min"] == by_patient["max"]).all()
    # 500 coin flips at 0.2: 100 expected, standard deviation 9.
    assert 60 < by_patient["min"].sum() < 140
    assert (hold_back_patients(patients, 0.2, seed=0) == held).all()
    with pytest.raises(ValueError, match="share"):
        hold_back_patients(patients, 1.0, seed=0)
