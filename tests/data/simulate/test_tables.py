"""The simulated tables conform to the registry contract (``data.simulate.tables``)."""

from __future__ import annotations

from data.simulate import Simulated
from tests.data.simulate.helpers import N_STATS, check_contract


def test_output_conforms_to_the_contract(lit: Simulated) -> None:
    check_contract(lit)
    t = lit.tables["treatments"]
    assert t["treatment_id"].str.fullmatch(r"T\d{7}").all()
    assert t["patient_id"].str.fullmatch(r"P\d{6}").all()
    assert t["clinic_id"].str.fullmatch(r"C\d{3}").all()
    assert len(t) == N_STATS
    # Midline sides occur (chin single point), and both nullable coordinates are used.
    assert (lit.tables["durations"]["side"] == "midline").any()
    assert lit.tables["injections"]["x_mm"].isna().any()
    assert lit.tables["injections"]["x_mm"].notna().any()


def test_seed_claims_output_conforms_too(claims: Simulated) -> None:
    check_contract(claims)
