"""Hot reload: a good bundle is swapped in atomically; a bad one never serves."""

from __future__ import annotations

import dataclasses
import json
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import serving.reload
from bundle.manifest import MANIFEST_FILE
from bundle.predictor import Predictions, Predictor
from data.contract import REGIONS
from features.request import request_inputs
from serving.reload import (
    CANARY_REQUESTS,
    ModelHolder,
    ReloadRefused,
    canary_problems,
    score_canary,
)


def _copy(bundle: Path, dst: Path, **manifest_changes: Any) -> Path:
    """A copy of the bundle with manifest fields changed (the ONNX files stay byte-identical)."""
    shutil.copytree(bundle, dst)
    path = dst / MANIFEST_FILE
    raw = json.loads(path.read_text())
    for key, value in manifest_changes.items():
        if key == "calibration":  # of the asymmetry-risk head
            head = next(h for h in raw["heads"] if h["name"] == "asymmetry_risk")
            head["calibration"] = {**head["calibration"], **value}
        else:
            raw[key] = value
    path.write_text(json.dumps(raw))
    return dst


@pytest.fixture(scope="module")
def first(bundle: Path) -> Predictor:
    return Predictor.load(bundle, intra_op_threads=1)


@pytest.fixture
def holder(first: Predictor) -> ModelHolder:
    return ModelHolder(first, intra_op_threads=1)


def test_canary_covers_several_regions_and_history(first: Predictor) -> None:
    assert 5 <= len(CANARY_REQUESTS) <= 10
    assert any(r.get("history") for r in CANARY_REQUESTS)
    assert any(not r.get("history") for r in CANARY_REQUESTS)
    answers = score_canary(first)
    regions = set(np.concatenate([p.region for p in answers]).tolist())
    assert len(regions) == len(REGIONS)  # every region is exercised
    assert canary_problems(answers) == []


def test_reload_swaps_and_in_flight_requests_keep_their_model(
    holder: ModelHolder, first: Predictor, bundle: Path, tmp_path: Path
) -> None:
    in_flight = holder.current  # what a request took before the swap
    second = _copy(bundle, tmp_path / "v2", model_version="2")
    new = holder.reload(second, None)
    assert holder.current is new
    assert (new.model_name, new.model_version) == ("asym-test", "2")
    # The request in flight still holds, and can still use, the model it started with.
    assert in_flight is first and in_flight.model_version == "1"
    answer = in_flight.predict_treatments(request_inputs(CANARY_REQUESTS[0]))
    assert np.isfinite(answer.asymmetry_risk).all()
    # A string path works as well as a Path.
    assert holder.reload(str(second), None).model_version == "2"


def test_mismatched_features_are_refused(
    holder: ModelHolder, first: Predictor, bundle: Path, tmp_path: Path
) -> None:
    names = list(first.manifest.feature_names)
    names[0], names[1] = names[1], names[0]
    bad = _copy(bundle, tmp_path / "bad", model_version="2", feature_names=names)
    with pytest.raises(ReloadRefused, match="order differs first at column 0"):
        holder.reload(bad, None)
    assert holder.current is first


def test_missing_folder_is_refused(holder: ModelHolder, first: Predictor, tmp_path: Path) -> None:
    with pytest.raises(ReloadRefused, match="no such bundle folder"):
        holder.reload(tmp_path / "nope", None)
    assert holder.current is first


def test_nan_answers_are_refused(
    holder: ModelHolder, first: Predictor, bundle: Path, tmp_path: Path
) -> None:
    # A NaN calibration slope passes every manifest check and makes every risk NaN.
    bad = _copy(bundle, tmp_path / "nan", model_version="2", calibration={"slope": float("nan")})
    with pytest.raises(ReloadRefused, match=r"canary request 0: asymmetry_risk \[nan"):
        holder.reload(bad, None)
    assert holder.current is first


@pytest.mark.parametrize(
    ("field", "tamper", "problem"),
    [
        ("median_days", lambda v: -v, "median days"),
        ("risks", lambda v: {k: r + 1.5 for k, r in v.items()}, "asymmetry_risk"),
        ("late_asymmetry_risk", lambda v: np.full_like(v, np.inf), "late asymmetry risk"),
    ],
)
def test_out_of_range_answers_are_refused(
    holder: ModelHolder,
    first: Predictor,
    bundle: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    field: str,
    tamper: Any,
    problem: str,
) -> None:
    def tampered(predictor: Predictor) -> list[Predictions]:
        return [
            dataclasses.replace(p, **{field: tamper(getattr(p, field))})
            for p in score_canary(predictor)
        ]

    monkeypatch.setattr(serving.reload, "score_canary", tampered)
    second = _copy(bundle, tmp_path / "v2", model_version="2")
    with pytest.raises(ReloadRefused, match=problem):
        holder.reload(second, None)
    assert holder.current is first


def test_unordered_quantiles_are_refused(
    holder: ModelHolder, bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def swapped(predictor: Predictor) -> list[Predictions]:
        out = []
        for p in score_canary(predictor):
            d = {t: {**q, "q10": q["q90"] + 1.0} for t, q in p.differences.items()}
            out.append(dataclasses.replace(p, differences=d))
        return out

    monkeypatch.setattr(serving.reload, "score_canary", swapped)
    with pytest.raises(ReloadRefused, match=r"not ordered q10 <= q50 <= q90"):
        holder.reload(_copy(bundle, tmp_path / "v2"), None)


def test_wildly_different_risks_are_refused(
    holder: ModelHolder, first: Predictor, bundle: Path, tmp_path: Path
) -> None:
    # Every canary risk pushed to ~1: in range, but far from the serving model's.
    bad = _copy(bundle, tmp_path / "shift", model_version="2", calibration={"intercept": 30.0})
    with pytest.raises(ReloadRefused, match=r"moved by 0\.[5-9]"):
        holder.reload(bad, None)
    assert holder.current is first
    # A holder told to accept larger shifts takes it.
    lenient = ModelHolder(first, intra_op_threads=1, max_mean_risk_shift=1.0)
    assert lenient.reload(bad, None).model_version == "2"


def test_no_source_reloads_the_champion(
    holder: ModelHolder, bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    second = _copy(bundle, tmp_path / "v2", model_version="7")
    asked: list[tuple[str, str | None, Path | None]] = []

    def fake_resolve(uri: str, tracking_uri: str | None, *, dst_path: Path | None = None) -> Path:
        asked.append((uri, tracking_uri, dst_path))
        assert dst_path is not None
        out = dst_path / "bundle"
        shutil.copytree(second, out)  # as a download would
        return out

    monkeypatch.setattr(serving.reload, "resolve_model", fake_resolve)
    new = holder.reload(None, "sqlite:///mlflow.db")
    assert new.model_version == "7"
    ((uri, tracking, dst),) = asked
    assert (uri, tracking) == ("models:/asym-test@champion", "sqlite:///mlflow.db")
    assert dst is not None and not dst.exists()  # the download is removed once loaded


def test_concurrent_reloads_are_serialised(
    holder: ModelHolder, bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    active, peak = 0, 0
    guard = threading.Lock()

    def slow(predictor: Predictor) -> list[Predictions]:
        nonlocal active, peak
        with guard:
            active += 1
            peak = max(peak, active)
        time.sleep(0.05)  # long enough for another reload to barge in, were it not locked out
        try:
            return score_canary(predictor)
        finally:
            with guard:
                active -= 1

    monkeypatch.setattr(serving.reload, "score_canary", slow)
    sources = [_copy(bundle, tmp_path / f"v{i}", model_version=str(i)) for i in range(2, 6)]
    done: list[str] = []
    errors: list[BaseException] = []

    def work(src: Path) -> None:
        try:
            done.append(holder.reload(src, None).model_version)
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=work, args=(s,)) for s in sources]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert peak == 1
    assert sorted(done) == ["2", "3", "4", "5"]
    assert holder.current.model_version == done[-1]  # the last reload to finish serves


def test_requests_during_a_reload_are_never_refused(
    holder: ModelHolder, bundle: Path, tmp_path: Path
) -> None:
    """Readers of ``current`` always get a working model while reloads run."""
    sources = [_copy(bundle, tmp_path / f"v{i}", model_version=str(i)) for i in range(2, 4)]
    stop = threading.Event()
    answered: list[str] = []
    errors: list[BaseException] = []
    inputs = request_inputs(CANARY_REQUESTS[2])

    def client() -> None:
        while not stop.is_set():
            try:
                model = holder.current  # once per request
                p = model.predict_treatments(inputs)
                assert np.isfinite(p.asymmetry_risk).all()
                answered.append(model.model_version)
            except BaseException as err:
                errors.append(err)
                return

    th = threading.Thread(target=client)
    th.start()
    try:
        for src in sources:
            holder.reload(src, None)
        end = time.monotonic() + 10
        while not errors and (not answered or answered[-1] != "3"):
            assert time.monotonic() < end, "the client never got the new model"
            time.sleep(0.01)
    finally:
        stop.set()
        th.join()
    assert errors == []
    assert set(answered) <= {"1", "2", "3"} and answered[0] == "1"
