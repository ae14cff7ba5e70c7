"""The feature spec is consistent with the contract and the blocks that compute it."""

from data.contract import INJECTIONS, MIDLINE_MUSCLES
from features.spec import FEATURE_INDEX, FEATURE_NAMES, FEATURES, INJECTION_UNITS


def test_names_are_unique_and_indexed() -> None:
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES) == len(FEATURES)
    assert all(FEATURE_NAMES[i] == name for name, i in FEATURE_INDEX.items())


def test_injection_units_are_exactly_the_contracts_muscle_sides() -> None:
    muscles = INJECTIONS.column("muscle").values
    expected = {(m, s) for m in muscles for s in ("left", "right")}
    expected |= {(m, "midline") for m in MIDLINE_MUSCLES}
    assert set(INJECTION_UNITS) == expected


def test_groups_are_contiguous_in_order() -> None:
    groups = [f.group for f in FEATURES]
    assert groups == sorted(groups, key=["patient", "placement", "history"].index)
