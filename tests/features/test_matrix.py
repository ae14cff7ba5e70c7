"""The blocks fill one preallocated feature matrix: every column, in place, for any n."""

import dataclasses

import numpy as np
import pytest

from features.build import build_features
from features.inputs import FeatureInput, PlanArrays, columns
from features.request import request_inputs
from features.spec import FEATURE_INDEX, FEATURE_NAMES
from features.tables import registry_inputs


def _request(injections: list[dict]) -> dict:
    return {
        "patient": {"age_years": 45, "sex": "female"},
        "plan": {
            "product": "onabotulinumtoxinA",
            "dilution_ml_per_100u": 2.5,
            "injections": injections,
        },
    }


def _copy(inp: FeatureInput) -> FeatureInput:
    plan = PlanArrays(*(getattr(inp.plan, f.name).copy() for f in dataclasses.fields(PlanArrays)))
    fields = {f.name: getattr(inp, f.name) for f in dataclasses.fields(FeatureInput)}
    return FeatureInput(**{k: plan if k == "plan" else v.copy() for k, v in fields.items()})


def test_columns_are_slices_of_evenly_spaced_features() -> None:
    assert columns(["age_years", "sex_male"]) == slice(0, 2, 1)
    thickness = columns(["frontalis_thickness_left_mm", "masseter_thickness_left_mm"])
    assert FEATURE_NAMES[thickness] == ("frontalis_thickness_left_mm", "masseter_thickness_left_mm")
    with pytest.raises(AssertionError):
        columns(["age_years", "sex_male", "dominant_hand"])  # ancestry sits between them
    with pytest.raises(AssertionError):
        columns(["sex_male", "age_years"])  # not in spec order


def test_matrix_is_c_contiguous_float64_and_inputs_stay_untouched(tables) -> None:
    for inp in (registry_inputs(tables), request_inputs(_request([]))):
        before = _copy(inp)
        matrix = build_features(inp)
        assert matrix.dtype == np.float64 and matrix.flags.c_contiguous
        assert matrix.shape == (inp.n, len(FEATURE_NAMES))
        # The request's fields share one buffer: the blocks must only read them.
        for f in dataclasses.fields(FeatureInput):
            a, b = getattr(inp, f.name), getattr(before, f.name)
            if f.name == "plan":
                for g in dataclasses.fields(PlanArrays):
                    np.testing.assert_array_equal(getattr(a, g.name), getattr(b, g.name))
            else:
                np.testing.assert_array_equal(a, b)


def test_a_plan_without_points_and_no_treatments() -> None:
    row = build_features(request_inputs(_request([])))[0]
    assert row[FEATURE_INDEX["total_points"]] == 0 == row[FEATURE_INDEX["eff_corrugator_left"]]
    assert np.isnan(row[FEATURE_INDEX["dao_point_to_commissure_mm_left"]])
    assert row[FEATURE_INDEX["age_years"]] == 45

    inp = request_inputs(_request([]))
    none = dataclasses.replace(
        inp,
        **{f.name: getattr(inp, f.name)[:0] for f in dataclasses.fields(inp) if f.name != "plan"},
    )
    assert build_features(none).shape == (0, len(FEATURE_NAMES))


def test_a_side_the_contract_does_not_allow_fails_loudly() -> None:
    # Validation rejects it first; if it ever got here it must not land in another column.
    bad = _request([{"muscle": "frontalis", "side": "midline", "units": 4.0}])
    with pytest.raises(ValueError, match="negative"):
        build_features(request_inputs(bad))
