"""Plans: clinics' dose habits against domain-facts.md section 11 (``data.simulate.plans``)."""

from __future__ import annotations

from data.simulate import Simulated
from tests.data.simulate.helpers import u_eq


def test_men_receive_higher_glabellar_doses(lit: Simulated) -> None:
    inj = u_eq(lit)
    gl = inj[inj["region"] == "glabella"].groupby("treatment_id")["u_eq"].sum()
    sex = lit.tables["treatments"].set_index("treatment_id")["sex"]
    by_sex = gl.groupby(sex.reindex(gl.index).astype(str)).median()
    # DF s11: women 20 U_eq, men 30-40 U_eq; clinic and patient habits scale both alike.
    assert 16 <= by_sex["female"] <= 24
    assert by_sex["male"] > 1.4 * by_sex["female"]
