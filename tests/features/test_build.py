"""One code path: a treatment's row is the same inside a registry and as one request.

Rows are compared at float32, what every model sees (``_assert_same_at_float32``)."""

import dataclasses
import itertools
from typing import Any

import numpy as np
import pandas as pd
import pytest

from features.build import build_features
from features.inputs import REVIEW_FIELDS, FeatureInput, PlanArrays
from features.request import request_inputs, requests_inputs
from features.spec import FEATURE_INDEX, FEATURE_NAMES
from features.tables import feature_frame, registry_inputs, registry_requests


def _assert_same_at_float32(got: np.ndarray, want: np.ndarray, msg: str = "") -> None:
    np.testing.assert_array_equal(got.astype(np.float32), want.astype(np.float32), err_msg=msg)


def test_every_row_equals_its_single_request_at_float32(tables) -> None:
    batch = build_features(registry_inputs(tables))
    requests = registry_requests(tables)
    ids = tables["treatments"]["treatment_id"].tolist()
    assert batch.shape == (len(ids), len(FEATURE_NAMES))
    with_history = 0
    for i, tid in enumerate(ids):
        single = build_features(request_inputs(requests[tid]))
        # The served model must see exactly the trained model's inputs.
        _assert_same_at_float32(single[0], batch[i], tid)
        with_history += bool(requests[tid]["history"])
    # The check is only meaningful if many rows carry history features.
    assert with_history > len(ids) // 4


def test_a_slice_of_treatments_gives_their_rows_of_the_whole(tables) -> None:
    # asym predict featurises a registry slice by slice (``FeatureInput.take``): each
    # slice's rows must be the whole registry's (a treatment reads only its own rows and
    # points). At float32, what the models see; in float64 within 1e-12, as matrix products
    # over a different number of rows may add in another order (a few cells move by 1e-15).
    inputs = registry_inputs(tables)
    whole = build_features(inputs)
    cuts = [0, 1, 700, 701, inputs.n]
    parts = [inputs.take(np.arange(a, b)) for a, b in itertools.pairwise(cuts)]
    assert [p.n for p in parts] == [1, 699, 1, inputs.n - 701]
    assert sum(len(p.plan.treatment) for p in parts) == len(inputs.plan.treatment)
    assert all(p.plan.treatment.min() == 0 for p in parts)
    sliced = np.vstack([build_features(p) for p in parts])
    _assert_same_at_float32(sliced, whole)
    np.testing.assert_allclose(sliced, whole, rtol=1e-12, atol=1e-12)
    assert inputs.take(np.arange(5, 5)).n == 0


def test_feature_frame_has_ids_and_spec_columns(tables) -> None:
    frame = feature_frame(tables)
    assert list(frame.columns) == ["treatment_id", *FEATURE_NAMES]
    assert frame["treatment_id"].tolist() == tables["treatments"]["treatment_id"].tolist()
    assert (frame[list(FEATURE_NAMES)].dtypes == "float64").all()
    # Every placement feature of a treated session is finite where the spec says it can be.
    assert (frame["total_points"] >= 1).all()
    assert np.isfinite(frame["total_u_eq"]).all()


def test_request_path_builds_no_dataframe(tables, monkeypatch: pytest.MonkeyPatch) -> None:
    request = next(r for r in registry_requests(tables).values() if r["history"])

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("a pandas DataFrame was built in the request path")

    monkeypatch.setattr(pd.DataFrame, "__init__", forbidden)
    row = build_features(request_inputs(request))
    assert row.shape == (1, len(FEATURE_NAMES))


def test_requests_together_give_each_requests_own_row(tables) -> None:
    requests = registry_requests(tables)
    ids = tables["treatments"]["treatment_id"].tolist()
    # A batch of requests is featurised in one call; each row must be its request's own, and so
    # the registry's row of the same treatment.
    together = build_features(requests_inputs([requests[tid] for tid in ids]))
    _assert_same_at_float32(together, build_features(registry_inputs(tables)))
    few = [requests[tid] for tid in ids[:25]]
    alone = np.vstack([build_features(request_inputs(r)) for r in few])
    _assert_same_at_float32(build_features(requests_inputs(few)), alone)
    assert build_features(requests_inputs([])).shape == (0, len(FEATURE_NAMES))


def _without_nulls(value: Any) -> Any:
    """``value`` with every null-valued key left out, as a client may send a request."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def test_absent_optional_fields_are_missing_values_like_nulls(tables) -> None:
    requests = list(registry_requests(tables).values())[:300]
    sparse = [_without_nulls(r) for r in requests]
    # Patient fields, point coordinates and review values really are left out somewhere.
    assert any(len(r["patient"]) < len(q["patient"]) for r, q in zip(sparse, requests, strict=True))
    assert any("x_mm" not in p for r in sparse for p in r["plan"]["injections"])
    reviews = [e["review"] for r in sparse for e in r["history"] if "review" in e]
    assert any(len(review) < len(REVIEW_FIELDS) for review in reviews)
    want = build_features(requests_inputs(requests))
    _assert_same_at_float32(build_features(requests_inputs(sparse)), want)
    alone = np.vstack([build_features(request_inputs(r)) for r in sparse[:25]])
    _assert_same_at_float32(alone, want[:25])


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


def test_matrix_is_c_contiguous_float64_and_inputs_stay_untouched(tables) -> None:
    for inp in (registry_inputs(tables), request_inputs(_request([]))):
        before = _copy(inp)
        matrix = build_features(inp)
        assert matrix.dtype == np.float64 and matrix.flags.c_contiguous
        assert matrix.shape == (inp.n, len(FEATURE_NAMES))
        # The blocks must only read their inputs.
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
    with pytest.raises(ValueError, match="not allowed"):
        build_features(request_inputs(bad))
