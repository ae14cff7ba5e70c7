"""The atlas covers the contract; its spread kernel behaves as domain-facts.md s11 says."""

import numpy as np
import pytest

from data.atlas import (
    LABEL_RANGE_U_EQ,
    MUSCLE_ATLAS,
    RISK_BLOBS,
    RISK_STRUCTURES,
    UNIT_FACTOR,
    label_excess,
    reach,
    spread_sd_mm,
)
from data.contract import MIDLINE_MUSCLES, MUSCLE_REGION, MUSCLES, PRODUCTS, REGIONS


def test_atlas_covers_the_contract() -> None:
    assert tuple(MUSCLE_ATLAS) == MUSCLES
    assert set(UNIT_FACTOR) == set(PRODUCTS)
    assert set(LABEL_RANGE_U_EQ) == set(REGIONS)
    assert UNIT_FACTOR["abobotulinumtoxinA"] == pytest.approx(0.4)
    assert set(RISK_BLOBS) == set(RISK_STRUCTURES)


def test_each_muscle_record_reads_its_region_and_label_range_from_the_region() -> None:
    for name, m in MUSCLE_ATLAS.items():
        assert m.name == name
        assert m.region == MUSCLE_REGION[name]
        assert m.label_range_u_eq == LABEL_RANGE_U_EQ[m.region]
        assert m.reference_dose_u_eq > 0
        assert set(m.shift_mm) <= {"brow_height", "palpebral_fissure", "commissure_height"}
        # An unpaired muscle sits on the midline, where its points may be.
        assert m.paired or (m.blob.x_mm == 0.0 == m.usual_site[0] and name in MIDLINE_MUSCLES)
    assert [m for m, r in MUSCLE_ATLAS.items() if not r.paired] == ["procerus"]
    assert MUSCLE_ATLAS["masseter"].label_range_u_eq == (40.0, 80.0)
    assert MUSCLE_ATLAS["frontalis"].usual_site == (25.0, 45.0)


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


def test_label_excess_is_the_distance_outside_the_range_and_zero_untreated() -> None:
    # forehead 10-20 U_eq, jaw 40-80 (DF s1): below, inside, above, and not treated at all.
    forehead, jaw = REGIONS.index("forehead"), REGIONS.index("jaw")
    got = label_excess(np.array([4.0, 15.0, 26.0, 0.0]), forehead)
    np.testing.assert_allclose(got, [6.0, 0.0, 6.0, 0.0])
    assert label_excess(np.array(90.0), jaw) == pytest.approx(10.0)
    # Every region at once: the last axis is the regions, in contract order.
    doses = np.zeros((2, len(REGIONS)))
    doses[1, forehead], doses[1, jaw] = 25.0, 30.0
    np.testing.assert_allclose(label_excess(doses)[1, [forehead, jaw]], [5.0, 10.0])
    assert not label_excess(doses)[0].any()
