"""Placement features measure where the dose goes, against hand-computed atlas values."""

import numpy as np
import pytest

from data.atlas import MUSCLE_ATLAS, RISK_STRUCTURES, reach
from features.build import build_features
from features.placement import TARGETS, effective_doses
from features.request import request_inputs
from features.spec import FEATURE_NAMES


def _row(injections: list[dict], product: str = "onabotulinumtoxinA", **patient) -> dict:
    request = {
        "patient": {"age_years": 45, "sex": "female", **patient},
        "plan": {"product": product, "dilution_ml_per_100u": 2.5, "injections": injections},
    }
    return dict(zip(FEATURE_NAMES, build_features(request_inputs(request))[0], strict=True))


def _point(muscle: str, side: str, units: float, x=None, y=None) -> dict:
    return {"muscle": muscle, "side": side, "units": units, "x_mm": x, "y_mm": y}


def test_point_geometry_against_the_atlas_lines() -> None:
    row = _row(
        [
            _point("frontalis", "left", 2, 25, 30),  # brow line y = 20 -> 10 mm above
            _point("frontalis", "left", 2, 20, 50),
            _point("corrugator", "right", 4, -20, 20),  # orbital rim y = 13 -> 7 mm above
            _point("depressor_anguli_oris", "left", 2, 27, -73),  # commissure (27, -63): 10 mm
        ]
    )
    assert row["frontalis_low_point_above_brow_mm_left"] == pytest.approx(10.0)
    assert np.isnan(row["frontalis_low_point_above_brow_mm_right"])
    assert row["glabella_low_point_above_rim_mm_right"] == pytest.approx(7.0)
    assert row["dao_point_to_commissure_mm_left"] == pytest.approx(10.0)
    assert row["total_points"] == 4
    assert row["points_usual_site"] == 0
    assert row["lower_face_areas"] == 1
    assert row["regions_treated"] == 3


def test_mean_recorded_coordinates_per_muscle_and_side() -> None:
    row = _row(
        [
            _point("frontalis", "left", 2, 20, 40),
            _point("frontalis", "left", 2, 30, 50),
            _point("frontalis", "left", 2),  # at the usual site: not a recorded coordinate
            _point("masseter", "right", 20),
            _point("procerus", "midline", 4, 0, 17),
        ]
    )
    assert row["mean_x_mm_frontalis_left"] == 25.0 and row["mean_y_mm_frontalis_left"] == 45.0
    assert row["mean_x_mm_procerus_midline"] == 0.0 and row["mean_y_mm_procerus_midline"] == 17.0
    # Injected without coordinates, or not injected: nothing known of where.
    assert np.isnan(row["mean_x_mm_masseter_right"]) and row["points_masseter_right"] == 1
    assert np.isnan(row["mean_y_mm_frontalis_right"])


def test_a_point_without_coordinates_sits_at_the_usual_site() -> None:
    x, y = MUSCLE_ATLAS["corrugator"].usual_site
    missing = _row([_point("corrugator", "left", 4)])
    explicit = _row([_point("corrugator", "left", 4, x, y)])
    assert missing["points_usual_site"] == 1
    assert explicit["points_usual_site"] == 0
    assert missing["eff_corrugator_left"] == explicit["eff_corrugator_left"] > 0
    # The right side mirrors x.
    right = _row([_point("corrugator", "right", 4)])
    assert right["eff_corrugator_right"] == pytest.approx(missing["eff_corrugator_left"])


def test_units_are_converted_to_ona_equivalents() -> None:
    row = _row(
        [_point("corrugator", "left", 10), _point("corrugator", "right", 10)], "abobotulinumtoxinA"
    )
    # DF s7: Dysport 2.5 : 1.
    assert row["u_eq_corrugator_left"] == pytest.approx(4.0)
    assert row["region_u_eq_glabella"] == pytest.approx(8.0)
    assert row["region_label_ratio_glabella"] == pytest.approx(8.0 / 40.0)
    assert row["unit_factor"] == pytest.approx(0.4)


def test_a_low_lateral_glabella_point_reaches_the_levator() -> None:
    high = _row([_point("corrugator", "left", 4, 25, 30)])
    low = _row([_point("corrugator", "left", 4, 25, 16)])
    assert low["eff_levator_palpebrae_left"] > 3 * high["eff_levator_palpebrae_left"]
    assert low["eff_lr_diff_levator_palpebrae"] > 0
    assert (
        low["expected_palpebral_fissure_change_mm"] < high["expected_palpebral_fissure_change_mm"]
    )


@pytest.mark.parametrize(("baseline", "corrects"), [(2.0, True), (-2.0, False)])
def test_frontalis_imbalance_corrects_or_worsens_the_baseline(
    baseline: float, corrects: bool
) -> None:
    # More frontalis dose on the left lowers the left brow: the L-R brow difference falls.
    plan = [
        _point("frontalis", "left", 8, 25, 45),
        _point("frontalis", "right", 2, -25, 45),
    ]
    row = _row(plan, brow_height_diff_mm=baseline)
    assert row["eff_lr_diff_frontalis"] > 0
    assert 0 < row["eff_lr_ratio_frontalis"] <= 1
    assert row["expected_brow_height_change_mm"] < -0.5
    assert bool(row["expected_brow_height_correction_mm"] > 0) is corrects
    assert row["expected_brow_height_post_abs_mm"] == pytest.approx(
        abs(baseline + row["expected_brow_height_change_mm"])
    )


def test_a_symmetric_plan_changes_nothing() -> None:
    plan = [_point("frontalis", s, 4, x, 45) for s, x in (("left", 25), ("right", -25))]
    row = _row(plan, brow_height_diff_mm=1.0)
    assert row["expected_brow_height_change_mm"] == pytest.approx(0.0, abs=1e-12)
    assert row["eff_lr_ratio_frontalis"] == pytest.approx(0.0, abs=1e-12)
    assert row["expected_brow_height_correction_mm"] == pytest.approx(0.0, abs=1e-12)
    assert np.isnan(row["expected_commissure_height_correction_mm"])  # not measured


def test_effective_doses_are_atlas_reach_times_the_dose_on_each_mirrored_target() -> None:
    # Near and far (where the reach underflows), more points than one chunk.
    rng = np.random.default_rng(5)
    m = 5_000
    x, y = rng.uniform(-90.0, 90.0, m), rng.uniform(-150.0, 80.0, m)
    sd, u_eq = rng.uniform(0.5, 20.0, m), rng.uniform(0.1, 50.0, m)
    out = effective_doses(x, y, sd, u_eq)
    assert out.shape == (m, len(TARGETS))
    structures = {**MUSCLE_ATLAS, **RISK_STRUCTURES}
    for k, (name, side) in enumerate(TARGETS):
        b = structures[name].blob
        cx = {"left": b.x_mm, "right": -b.x_mm, "midline": 0.0}[side]
        want = reach(x, y, sd, cx, b.y_mm, b.sd_x_mm, b.sd_y_mm) * u_eq
        np.testing.assert_allclose(out[:, k], want, rtol=1e-12, atol=0, err_msg=f"{name} {side}")
