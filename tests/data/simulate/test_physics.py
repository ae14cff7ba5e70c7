"""Outcome physics and the asymmetry oracle (``data.simulate.physics``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from data.atlas import BROW_LINE_Y_MM
from data.simulate import Simulated
from data.simulate.chunk import generate
from tests.data.simulate.helpers import auc, treated


def test_eyelid_and_brow_ptosis_rates(lit: Simulated) -> None:
    fu = lit.tables["followups"].set_index("treatment_id")
    gl = fu.loc[fu.index.intersection(treated(lit, "glabella"))]
    fh = fu.loc[fu.index.intersection(treated(lit, "forehead"))]
    # DF s11 eyelid ptosis 1-2.5% of GL treatments; n ~ 35k so SE ~ 0.07 percentage points.
    assert 0.010 <= gl["eyelid_ptosis"].mean() <= 0.025
    # DF s11 brow ptosis 0.6-1.5% of forehead treatments; n ~ 25k, SE ~ 0.07 points.
    assert 0.006 <= fh["brow_ptosis"].mean() <= 0.015


def test_brow_ptosis_rises_with_low_frontalis_points(lit: Simulated) -> None:
    inj = lit.tables["injections"]
    fr = inj[(inj["muscle"] == "frontalis") & inj["y_mm"].notna()]
    lowest = fr.groupby("treatment_id")["y_mm"].min()
    p_brow = lit.oracle["asymmetry"].set_index("treatment_id")["p_brow_ptosis"]
    low = p_brow[lowest.index[lowest < BROW_LINE_Y_MM + 10]].mean()
    safe = p_brow[lowest.index[lowest >= BROW_LINE_Y_MM + 15]].mean()
    # DF s11: "rises steeply" below 15-20 mm above the brow; means over >= 500 treatments.
    assert low > 5 * safe


@pytest.mark.parametrize("suffix", ["", "_at_needle"])
def test_oracle_agrees_with_outcomes(lit: Simulated, suffix: str) -> None:
    # Both oracles (pre-treatment and at the needle) are calibrated for the recorded outcome.
    fu = lit.tables["followups"].merge(lit.oracle["asymmetry"], on="treatment_id")
    y = fu["visible_asymmetry"].to_numpy()
    p = fu["p_visible_asymmetry" + suffix].to_numpy()
    se = np.sqrt((p * (1 - p)).sum()) / len(p)  # SE of the observed rate given the oracle
    assert abs(y.mean() - p.mean()) < 4 * se
    assert auc(p, y) > 0.85
    # Calibration in the large within deciles of the oracle: 4 SE plus 0.5 points of slack.
    bins = pd.qcut(p, 10, labels=False, duplicates="drop")
    for b in np.unique(bins):
        sel = bins == b
        se_b = np.sqrt((p[sel] * (1 - p[sel])).sum()) / sel.sum()
        assert abs(y[sel].mean() - p[sel].mean()) < 4 * se_b + 0.005, b
    for event, column in (("eyelid_ptosis", "p_eyelid_ptosis"), ("brow_ptosis", "p_brow_ptosis")):
        q = fu[column + suffix].to_numpy()
        assert abs(fu[event].mean() - q.mean()) < 4 * np.sqrt((q * (1 - q)).sum()) / len(q)


def test_pre_treatment_oracle_averages_out_the_placement(lit: Simulated) -> None:
    fu = lit.tables["followups"].merge(lit.oracle["asymmetry"], on="treatment_id")
    y = fu["visible_asymmetry"].to_numpy()
    for name, event in (
        ("p_visible_asymmetry", "visible_asymmetry"),
        ("p_eyelid_ptosis", "eyelid_ptosis"),
        ("p_brow_ptosis", "brow_ptosis"),
    ):
        pre, needle = fu[name].to_numpy(), fu[name + "_at_needle"].to_numpy()
        # Same expectation: the at-needle p averaged over the placement is the pre-treatment p.
        diff = pre - needle
        assert abs(diff.mean()) < 4 * diff.std() / np.sqrt(len(diff)) + 1e-6, name
        # Less extreme: the placement's share of the variation is averaged out.
        assert pre.var() < needle.var(), name
        assert auc(pre, fu[event].to_numpy()) < auc(needle, fu[event].to_numpy()), name
    pre = fu["p_visible_asymmetry"].to_numpy()
    needle = fu["p_visible_asymmetry_at_needle"].to_numpy()
    # ... but the hidden state and the plan still decide most of it (AUC 0.92 vs 0.93 at seed 11).
    assert auc(pre, y) > 0.85
    assert np.corrcoef(pre, needle)[0, 1] > 0.9


def test_without_placement_error_the_two_oracles_coincide() -> None:
    chunks = generate(4000, 3, "literature", 10_000, placement_sd_mm=(0.0, 0.0))
    asym = pa.concat_tables([c.tables["oracle/asymmetry"] for c in chunks]).to_pandas()
    for name in ("p_visible_asymmetry", "p_eyelid_ptosis", "p_brow_ptosis"):
        # Equal up to the last written digit (the draws run in float32).
        np.testing.assert_allclose(asym[name], asym[name + "_at_needle"], rtol=0, atol=1.5e-6)
    # With the usual placement error they differ.
    usual = pa.concat_tables(
        [c.tables["oracle/asymmetry"] for c in generate(4000, 3, "literature", 10_000)]
    ).to_pandas()
    assert (usual["p_visible_asymmetry"] - usual["p_visible_asymmetry_at_needle"]).abs().max() > 0.1


def test_the_treatment_matters() -> None:
    def forehead_p(share: float | None) -> float:
        chunks = list(generate(15_000, 4, "literature", 10_000, forehead_left_share=share))
        asym = pa.concat_tables([c.tables["oracle/asymmetry"] for c in chunks]).to_pandas()
        inj = pa.concat_tables([c.tables["injections"] for c in chunks]).to_pandas()
        fh = inj.loc[inj["muscle"] == "frontalis", "treatment_id"].unique()
        return float(asym.loc[asym["treatment_id"].isin(fh), "p_visible_asymmetry"].mean())

    corrected, balanced, imbalanced = forehead_p(None), forehead_p(0.5), forehead_p(0.2)
    # Same patients, same seed: only the forehead split differs. Means over ~8k treatments,
    # so differences of several points are far beyond noise (SE ~ 0.3 points).
    assert imbalanced > balanced + 0.05
    assert corrected < balanced - 0.02
