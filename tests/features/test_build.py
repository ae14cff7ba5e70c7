"""One code path: a treatment's row is the same inside a registry and as one request."""

from typing import Any

import numpy as np
import pandas as pd
import pytest

from features.build import build_features
from features.inputs import REVIEW_FIELDS
from features.request import request_inputs, requests_inputs
from features.spec import FEATURE_NAMES
from features.tables import feature_frame, registry_inputs, registry_requests


def test_every_row_equals_its_single_request_exactly(tables) -> None:
    batch = build_features(registry_inputs(tables))
    requests = registry_requests(tables)
    ids = tables["treatments"]["treatment_id"].tolist()
    assert batch.shape == (len(ids), len(FEATURE_NAMES))
    with_history = 0
    for i, tid in enumerate(ids):
        single = build_features(request_inputs(requests[tid]))
        # Bit-for-bit: the served model must see exactly the trained model's inputs.
        np.testing.assert_array_equal(single[0], batch[i], err_msg=tid)
        with_history += bool(requests[tid]["history"])
    # The check is only meaningful if many rows carry history features.
    assert with_history > len(ids) // 4


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
    np.testing.assert_array_equal(together, build_features(registry_inputs(tables)))
    few = [requests[tid] for tid in ids[:25]]
    alone = np.vstack([build_features(request_inputs(r)) for r in few])
    np.testing.assert_array_equal(build_features(requests_inputs(few)), alone)
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
    np.testing.assert_array_equal(build_features(requests_inputs(sparse)), want)
    alone = np.vstack([build_features(request_inputs(r)) for r in sparse[:25]])
    np.testing.assert_array_equal(alone, want[:25])
