"""Predictor: the ONNX answers equal the LightGBM models' answers; bad bundles are refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from bundle import postprocess
from bundle.heads import OUTCOMES
from bundle.late_asymmetry import late_asymmetry
from bundle.manifest import MANIFEST_FILE, BundleError, BundleMismatch, load_manifest, read_onnx
from bundle.predictor import (
    ASYMMETRY_RISK,
    SURVIVAL_DAYS,
    Predictor,
    _first_to_wear_off,
    open_session,
    outputs_only,
)
from bundle.resolve import resolve_model
from features.build import build_features
from features.longevity import LONGEVITY_NAMES, longevity_matrix, treated_region_sides
from features.request import request_inputs
from features.tables import registry_inputs, registry_requests
from training.contributions import path_contributions
from training.dataset import TrainingData
from training.models import DIFF_TARGETS, FittedModels


@pytest.fixture(scope="module")
def predictor(bundle: Path) -> Predictor:
    return Predictor.load(bundle, intra_op_threads=1)


def _copy(bundle: Path, tmp_path: Path) -> Path:
    out = tmp_path / "bundle"
    shutil.copytree(bundle, out)
    return out


def _edit_manifest(bundle: Path, **changes: object) -> None:
    path = bundle / MANIFEST_FILE
    raw = json.loads(path.read_text())
    raw.update(changes)
    path.write_text(json.dumps(raw))


def test_load_exposes_model_identity(predictor: Predictor) -> None:
    assert (predictor.model_name, predictor.model_version) == ("asym-test", "1")
    assert predictor.manifest.run_id == "run-1"


def test_predictions_equal_lightgbm_models(
    predictor: Predictor, models: FittedModels, data: TrainingData
) -> None:
    inputs = registry_inputs(data.registry.tables)
    x = data.features[data.test]
    treatment, region, side = treated_region_sides(inputs.plan)
    test_rows = np.flatnonzero(data.test)
    keep = np.isin(treatment, test_rows)
    # Longevity rows of the held-out treatments, renumbered to rows of x.
    t = np.searchsorted(test_rows, treatment[keep])
    r, s = region[keep], side[keep]
    p = predictor.predict(x, t, r, s)

    assert list(p.risks) == [o.name for o in OUTCOMES]
    for name, risk in p.risks.items():
        np.testing.assert_allclose(risk, models.risks[name].predict(x), rtol=0, atol=1e-5)
    diffs = models.differences.predict(x)
    assert set(p.differences) == set(DIFF_TARGETS)
    for target in DIFF_TARGETS:
        for q in ("q10", "q50", "q90"):
            np.testing.assert_allclose(
                p.differences[target][q], diffs[target][q], rtol=1e-4, atol=1e-4
            )
        assert (p.differences[target]["q10"] <= p.differences[target]["q90"]).all()

    lon = models.longevity
    hazards = lon.hazards(longevity_matrix(x, t, r, s))
    np.testing.assert_allclose(
        p.median_days, postprocess.median_days(hazards, lon.bin_days), rtol=1e-4, atol=1e-3
    )
    for day in SURVIVAL_DAYS:
        expected = postprocess.survival_at(hazards, day, lon.bin_days)
        np.testing.assert_allclose(p.survival[day], expected, rtol=0, atol=1e-5)

    # Late asymmetry: regions treated on both sides, combined per treatment.
    n = len(x)
    pairs = [
        (
            i,
            np.flatnonzero((t == i) & (r == reg) & (s == 0)),
            np.flatnonzero((t == i) & (r == reg) & (s == 1)),
        )
        for i in range(n)
        for reg in np.unique(r[t == i])
    ]
    pairs = [(i, a[0], b[0]) for i, a, b in pairs if len(a) and len(b)]
    left = np.array([a for _, a, _ in pairs])
    right = np.array([b for _, _, b in pairs])
    curves = postprocess.SurvivalCurves(hazards, lon.bin_days)
    theta = lon.side_dependence[r[left]]
    per_pair = late_asymmetry(curves, left, right, theta, np.full(len(left), 21.0))
    late = np.zeros(n)
    for (i, _, _), pr in zip(pairs, per_pair, strict=True):
        late[i] = 1 - (1 - late[i]) * (1 - pr)
    np.testing.assert_allclose(p.late_asymmetry_risk, late, rtol=0, atol=1e-5)
    assert (late > 0).any() and (late == 0).any()
    # Per region: the pair's risk on both of its rows, NaN on a region's one side alone.
    np.testing.assert_allclose(p.region_late_asymmetry_risk[left], per_pair, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(
        p.region_late_asymmetry_risk[right], p.region_late_asymmetry_risk[left]
    )
    alone = np.setdiff1d(np.arange(len(t)), np.concatenate([left, right]))
    assert np.isnan(p.region_late_asymmetry_risk[alone]).all()
    np.testing.assert_array_equal(p.late_gap_days, 21.0)
    # A longer gap asked for, per treatment: fewer pairs that far apart.
    gaps = np.where(np.arange(n) % 2 == 0, 42.0, 21.0)
    longer = predictor.predict(x, t, r, s, gaps)
    np.testing.assert_array_equal(longer.late_gap_days, gaps)
    even = np.arange(n) % 2 == 0
    assert np.all(longer.late_asymmetry_risk[even] <= p.late_asymmetry_risk[even] + 1e-12)
    assert np.any(longer.late_asymmetry_risk[even] < p.late_asymmetry_risk[even] - 0.01)
    np.testing.assert_array_equal(longer.late_asymmetry_risk[~even], p.late_asymmetry_risk[~even])
    with pytest.raises(ValueError, match="late_gap_days"):
        predictor.predict(x, t, r, s, -1.0)

    # First to wear off: the row of the smallest median of each treatment.
    median = postprocess.median_days(hazards, lon.bin_days)
    for i in range(n):
        rows = np.flatnonzero(t == i)
        if not len(rows):
            assert p.first_region[i] == -1
            continue
        j = rows[np.argmin(median[rows])]
        assert (p.first_region[i], p.first_side[i]) == (r[j], s[j])


def test_one_request_gets_the_same_answers_as_the_registry_batch(
    predictor: Predictor, data: TrainingData
) -> None:
    tables = data.registry.tables
    batch = predictor.predict_treatments(registry_inputs(tables))
    ids = data.treatment_ids
    picked = [0, 5, len(ids) - 1]
    # Requests of a few patients only (with all their treatments, so histories stay whole).
    patients = tables["treatments"]["patient_id"].iloc[picked]
    keep = set(
        tables["treatments"].loc[tables["treatments"]["patient_id"].isin(patients), "treatment_id"]
    )
    requests = registry_requests({k: v[v["treatment_id"].isin(keep)] for k, v in tables.items()})
    for i in picked:
        one = predictor.predict_treatments(request_inputs(requests[ids[i]]))
        assert one.asymmetry_risk[0] == pytest.approx(batch.asymmetry_risk[i], abs=1e-12)
        assert one.late_asymmetry_risk[0] == pytest.approx(batch.late_asymmetry_risk[i], abs=1e-12)
        np.testing.assert_array_equal(one.median_days, batch.median_days[batch.treatment == i])
        assert one.first_region[0] == batch.first_region[i]


def _first_by_sorting(
    median: np.ndarray, t: np.ndarray, r: np.ndarray, s: np.ndarray, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """The reference: per treatment, its rows' smallest median (NaN last), the first if tied."""
    first = np.full((2, n), -1)
    for i in range(n):
        rows = np.flatnonzero(t == i)
        if len(rows):
            order = rows[np.argsort(median[rows], kind="stable")]
            first[:, i] = r[order[0]], s[order[0]]
    return first[0], first[1]


@pytest.mark.parametrize("rows", [10, 400])
def test_first_to_wear_off_is_the_smallest_median_first_row_if_tied(rows: int) -> None:
    rng = np.random.default_rng(rows)
    n = max(rows // 4, 4)
    t = np.sort(rng.integers(0, n, rows))
    t[t == 1] = 2  # a treatment without rows (still in order)
    r, s = rng.integers(0, 8, rows), rng.integers(0, 3, rows)
    median = rng.choice([50.0, 60.0, 70.0, np.nan], size=rows)  # ties, and NaN
    last = np.flatnonzero(np.diff(t, append=n))  # each treatment's last row: a number, so that
    median[last] = rng.choice([50.0, 60.0, 70.0], size=len(last))  # none is all NaN here
    all_nan = median.copy()
    all_nan[t == t[0]] = np.nan  # a treatment whose medians are all NaN
    cases = {"NaN here and there": median, "a treatment all NaN": all_nan}
    cases["no NaN"] = np.nan_to_num(median, nan=80.0)
    for label, m in cases.items():
        want = _first_by_sorting(m, t, r, s, n)
        got = _first_to_wear_off(m, t, r, s, n)
        np.testing.assert_array_equal(got, want, err_msg=label)
        # The rows in any order (the first of tied rows: the first in that order).
        perm = rng.permutation(rows)
        got = _first_to_wear_off(m[perm], t[perm], r[perm], s[perm], n)
        np.testing.assert_array_equal(got, _first_by_sorting(m[perm], t[perm], r[perm], s[perm], n))


def test_predict_checks_the_matrix_and_answers_an_empty_batch(predictor: Predictor) -> None:
    width = len(predictor.manifest.feature_names)
    with pytest.raises(ValueError, match="expected"):
        predictor.predict(np.zeros((2, width - 1)), np.zeros(0), np.zeros(0), np.zeros(0))
    empty = np.zeros(0, dtype=np.int64)
    p = predictor.predict(np.zeros((0, width), dtype=np.float32), empty, empty, empty)
    assert p.asymmetry_risk.shape == (0,) and p.median_days.shape == (0,)


def test_contributions_are_the_lightgbm_trees_path_contributions(
    predictor: Predictor, data: TrainingData, models: FittedModels
) -> None:
    x = data.features[:300].astype(np.float32)
    x[100:200, :40] = np.nan  # unknown values take the trees' missing-value branches
    empty = np.zeros(0, dtype=np.int64)
    p = predictor.predict(x, empty, empty, empty)
    # Reference: the path contributions of the leaves LightGBM itself sends each row to, on the
    # calibrated scale; ONNX sums the trees in float32 (1e-5 on contributions below 1).
    booster = models.risk.booster
    paths = path_contributions(booster)
    (head,) = predictor.manifest.heads_of("contributions")
    assert head.name == ASYMMETRY_RISK and head.calibration is not None
    expected = paths.of(booster.predict(x, pred_leaf=True)) * head.calibration.slope
    contributions = p.contributions[ASYMMETRY_RISK]
    np.testing.assert_allclose(contributions, expected, atol=1e-5)
    # With the base they make the risk's log-odds (the risk is computed from them).
    logit = np.log(p.asymmetry_risk / (1 - p.asymmetry_risk))
    # The base as a client computes it from GET /v1/model (the response's documented rule).
    assert head.contribution_base is not None
    base = head.calibration.intercept + head.calibration.slope * head.contribution_base
    np.testing.assert_allclose(base + contributions.sum(axis=1), logit, atol=1e-9)


def test_predict_treatments_builds_features_itself(
    predictor: Predictor, data: TrainingData
) -> None:
    inputs = registry_inputs(data.registry.tables)
    p = predictor.predict_treatments(inputs)
    x = build_features(inputs).astype(np.float32)
    assert np.array_equal(
        p.asymmetry_risk, predictor.predict(x, *treated_region_sides(inputs.plan)).asymmetry_risk
    )


def test_a_tampered_onnx_file_is_refused(bundle: Path, tmp_path: Path) -> None:
    copy = _copy(bundle, tmp_path)
    blob = bytearray((copy / "treatment.onnx").read_bytes())
    blob[-1] ^= 0xFF
    (copy / "treatment.onnx").write_bytes(bytes(blob))
    with pytest.raises(BundleMismatch, match=r"treatment\.onnx: SHA-256 .* changed after export"):
        Predictor.load(copy)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda f: [f[1], f[0], *f[2:]], r"order differs first at column 0: bundle 'sex_male'"),
        (lambda f: f[:-1], r"missing from the bundle: previous_\w+"),
        (lambda f: [*f, "shoe_size"], r"not installed: shoe_size"),
    ],
)
def test_a_manifest_with_other_features_is_refused(
    bundle: Path, tmp_path: Path, edit, message: str
) -> None:
    copy = _copy(bundle, tmp_path)
    names = json.loads((copy / MANIFEST_FILE).read_text())["feature_names"]
    _edit_manifest(copy, feature_names=edit(names))
    with pytest.raises(BundleMismatch, match=r"feature names differ.*" + message):
        Predictor.load(copy)


def test_other_longevity_features_or_format_are_refused(bundle: Path, tmp_path: Path) -> None:
    copy = _copy(bundle, tmp_path)
    _edit_manifest(copy, longevity_features=list(reversed(LONGEVITY_NAMES)))
    with pytest.raises(BundleMismatch, match="longevity features differ"):
        Predictor.load(copy)
    _edit_manifest(copy, format_version=99)
    with pytest.raises(BundleMismatch, match="format_version 99"):
        Predictor.load(copy)


def test_a_head_whose_output_is_missing_is_refused(bundle: Path, tmp_path: Path) -> None:
    copy = _copy(bundle, tmp_path)
    heads = json.loads((copy / MANIFEST_FILE).read_text())["heads"]
    heads[0]["outputs"] = ["no_such_output"]
    _edit_manifest(copy, heads=heads)
    with pytest.raises(
        BundleMismatch, match=r"head 'asymmetry_risk': treatment\.onnx has no output"
    ):
        Predictor.load(copy)
    del heads[0]["calibration"]
    _edit_manifest(copy, heads=heads)
    with pytest.raises(BundleMismatch, match=r"head 'asymmetry_risk' has no calibration"):
        Predictor.load(copy)


def test_quantile_heads_at_different_levels_are_refused(bundle: Path, tmp_path: Path) -> None:
    # Answers give every difference's range at the same levels, read from one sorted array.
    copy = _copy(bundle, tmp_path)
    heads = json.loads((copy / MANIFEST_FILE).read_text())["heads"]
    last = next(h for h in reversed(heads) if h["kind"] == "quantiles")
    last["quantiles"] = ["q05", "q50", "q95"]
    _edit_manifest(copy, heads=heads)
    with pytest.raises(BundleMismatch, match="quantile heads at different quantiles"):
        Predictor.load(copy)


def test_a_folder_without_a_manifest_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="manifest"):
        Predictor.load(tmp_path)


def test_resolve_model_takes_a_folder_as_is(bundle: Path, tmp_path: Path) -> None:
    assert resolve_model(str(bundle), None) == bundle
    with pytest.raises(BundleError, match="no such bundle folder"):
        resolve_model(str(tmp_path / "nope"), None)


def test_a_support_reference_of_another_width_is_refused(bundle: Path, tmp_path: Path) -> None:
    copy = _copy(bundle, tmp_path)
    support = json.loads((copy / MANIFEST_FILE).read_text())["support"]
    _edit_manifest(copy, support={**support, "low": support["low"][:-1]})
    with pytest.raises(BundleMismatch, match=r"support has \d+ low and \d+ high values"):
        Predictor.load(copy)


def test_risks_alone_equal_the_risks_of_predict(
    predictor: Predictor, bundle: Path, data: TrainingData
) -> None:
    x = data.features[:200]
    none = np.zeros(0, dtype=np.int64)
    full = predictor.predict(x, none, none, none).risks
    # Without the binary heads' own session (a Predictor made by hand) the full graph answers.
    m = predictor.manifest
    by_hand = Predictor(
        m, *(open_session(read_onnx(bundle, m.files[role])) for role in ("treatment", "longevity"))
    )
    for alone in (predictor.risks(x), by_hand.risks(x)):
        assert alone.keys() == full.keys() == {o.name for o in OUTCOMES}
        for name, p in full.items():
            # The same trees on the same float32 rows; another session may sum their float32
            # leaves in another order (differences seen: 5e-8).
            np.testing.assert_allclose(alone[name], p, rtol=0, atol=1e-6)
    assert {k: v.shape for k, v in predictor.risks(x[:0]).items()} == {
        o.name: (0,) for o in OUTCOMES
    }


def test_a_graph_cut_to_some_outputs_has_only_them(bundle: Path) -> None:
    m = load_manifest(bundle)
    cut = outputs_only(read_onnx(bundle, m.files["treatment"]), ["eyelid_ptosis_risk_margin"])
    assert [o.name for o in open_session(cut).get_outputs()] == ["eyelid_ptosis_risk_margin"]
