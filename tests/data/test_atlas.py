"""The atlas covers the contract; its spread kernel behaves as domain-facts.md s11 says."""

import numpy as np
import pytest

from data.atlas import (
    LABEL_RANGE_U_EQ,
    MUSCLE_BLOBS,
    UNIT_FACTOR,
    USUAL_SITES,
    reach,
    spread_sd_mm,
)
from data.contract import MUSCLES, PRODUCTS, REGIONS


def test_atlas_covers_the_contract() -> None:
    assert set(MUSCLE_BLOBS) == set(MUSCLES) == set(USUAL_SITES)
    assert set(UNIT_FACTOR) == set(PRODUCTS)
    assert set(LABEL_RANGE_U_EQ) == set(REGIONS)
    assert UNIT_FACTOR["abobotulinumtoxinA"] == pytest.approx(0.4)


def test_reference_point_spreads_about_one_centimetre() -> None:
    # DF s11: 4 U in 0.1 mL -> sd 5 mm (about 1 cm across); 8x the dose doubles it (cube root).
    sd = spread_sd_mm(np.array([4.0, 32.0]), np.array([0.1, 0.1]))
    np.testing.assert_allclose(sd, [5.0, 10.0])
    # Dilution has a weak effect: 10x the volume widens the kernel by 10**0.1 ~ 1.26.
    assert spread_sd_mm(np.array([4.0]), np.array([1.0]))[0] == pytest.approx(5.0 * 10**0.1)


def test_reach_is_one_at_the_centre_and_falls_with_distance() -> None:
    d = np.array([0.0, 5.0, 10.0, 20.0, 40.0])
    r = reach(d, np.zeros(5), np.full(5, 1e-9), 0.0, 0.0, 8.0, 5.0)
    assert r[0] == pytest.approx(1.0)
    assert np.all(np.diff(r) < 0)
    # Gaussian in distance: at 2 sd along x (16 mm) the reach is exp(-2).
    assert reach(16.0, 0.0, 1e-9, 0.0, 0.0, 8.0, 5.0) == pytest.approx(np.exp(-2.0))
    # A wider kernel spills dose outside a small structure, so the reach at its centre drops.
    assert reach(0.0, 0.0, 10.0, 0.0, 0.0, 8.0, 5.0) < 0.5
