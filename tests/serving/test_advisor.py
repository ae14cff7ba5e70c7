"""The plan advisor's search (``serving.advisor``) and its model scorer (``serving.recommend``).

Most tests run the real search with the tests' tiny model on treatments of the simulated
registry; a few give the search a scorer written out here, whose best plan is known, to check
what the search does with it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bundle.predictor import Predictor
from data.atlas import LABEL_RANGE_U_EQ, UNIT_FACTOR
from data.contract import REGIONS
from features.inputs import MUSCLE_CODE, SIDE_CODE
from features.request import TreatmentRequest, requests_inputs
from features.tables import registry_requests
from serving import advisor
from serving.advisor import (
    IMPROVEMENT_MARGIN,
    LONGEVITY_DAYS,
    PTOSIS_MARGIN,
    Candidates,
    Constraints,
    PlanPoints,
    Scores,
    search,
)
from serving.recommend import Recommendation, recommend
from serving.service import score
from tests.fixtures import fit_small_models, simulated_data
from training.dataset import TrainingData
from training.export import export_bundle

N_PLANS = 60


@pytest.fixture(scope="module")
def predictor(bundle: Path) -> Predictor:
    return Predictor.load(bundle, intra_op_threads=1)


@pytest.fixture(scope="module")
def requests(data: TrainingData, predictor: Predictor) -> list[TreatmentRequest]:
    """Treatments the tiny model puts in the moderate or high band (the ones searched)."""
    tables = data.registry.tables
    t = tables["treatments"]
    patients = t["patient_id"].isin(t["patient_id"].iloc[-600:])
    ids = set(t.loc[patients, "treatment_id"])
    by_id = registry_requests({k: v[v["treatment_id"].isin(ids)] for k, v in tables.items()})
    candidates = [by_id[i] for i in t["treatment_id"].iloc[-600:]]
    risks = [a["asymmetry_risk"] for a in score(predictor, candidates).outputs]
    chosen = [r for r, risk in zip(candidates, risks, strict=True) if risk >= 0.15][:N_PLANS]
    assert len(chosen) == N_PLANS
    return chosen


def _recommend(
    predictor: Predictor, requests: Sequence[TreatmentRequest], constraints: Constraints
) -> list[Recommendation]:
    plans = [PlanPoints.of(r["plan"]) for r in requests]
    found, _ = recommend(predictor, requests_inputs(requests), plans, [constraints] * len(plans))
    return found


@pytest.fixture(scope="module")
def default(predictor: Predictor, requests: list[TreatmentRequest]) -> list[Recommendation]:
    return _recommend(predictor, requests, Constraints())


def _points(request: TreatmentRequest) -> list[dict[str, Any]]:
    return request["plan"]["injections"]


def _region_u_eq(units: np.ndarray, points: PlanPoints) -> dict[str, float]:
    u_eq = units * points.unit_factor
    return {REGIONS[r]: float(u_eq[points.region == r].sum()) for r in np.unique(points.region)}


def _outside(u_eq: float, region: str) -> float:
    low, high = LABEL_RANGE_U_EQ[region]
    return max(low - u_eq, 0.0, u_eq - high)


def test_suggestions_keep_the_plan_the_label_range_and_the_constraints(
    requests: list[TreatmentRequest], default: list[Recommendation]
) -> None:
    limit = Constraints()
    improved = 0
    for request, r in zip(requests, default, strict=True):
        points, plan = r.plan, r.suggestion.plan
        improved += r.suggestion.status == "improved"
        assert r.suggestion.status != "already_low"
        assert r.checks["passed"], r.checks
        # The same points on the same muscles and sides: no region added or dropped.
        assert plan.units.shape == (1, len(_points(request)))
        assert (plan.units > 0).all() and (plan.units <= 100).all()
        before, after = _region_u_eq(points.units, points), _region_u_eq(plan.units[0], points)
        assert before.keys() == after.keys()
        for region, dose in after.items():
            assert _outside(dose, region) <= _outside(before[region], region) + 1e-9
        # Each (region, side)'s units within the allowed change; moves within the allowed mm.
        keys = points.region * 3 + points.side
        for key in np.unique(keys):
            on = keys == key
            change = plan.units[0, on].sum() / points.units[on].sum() - 1
            assert abs(change) <= limit.max_dose_change + 1e-9
        moved = np.hypot(plan.x_mm[0] - points.x_mm, plan.y_mm[0] - points.y_mm)
        assert np.nan_to_num(moved).max() <= limit.max_move_mm + 1e-9
        # A point without coordinates never moves (its place is unknown).
        unknown = np.isnan(points.x_mm)
        assert np.isnan(plan.x_mm[0, unknown]).all()
        s = r.suggestion
        assert s.after.eyelid_ptosis[0] <= s.before.eyelid_ptosis[0] + PTOSIS_MARGIN
        assert s.after.brow_ptosis[0] <= s.before.brow_ptosis[0] + PTOSIS_MARGIN
        if s.status == "improved":
            assert s.before.risk[0] - s.after.risk[0] >= IMPROVEMENT_MARGIN
    # Not vacuous: the tiny model improves 18 of these 60 plans; the rules bind on real changes.
    assert improved >= 10


def test_kept_points_stay_and_changed_points_are_capped(
    predictor: Predictor, requests: list[TreatmentRequest]
) -> None:
    keep = frozenset({0, 1, 2})
    found = _recommend(predictor, requests, Constraints(keep=keep, max_changed_points=2))
    changed_any = False
    for r in found:
        points, plan = r.plan, r.suggestion.plan
        for i in keep:
            assert plan.units[0, i] == points.units[i]
            assert np.array_equal(plan.x_mm[0, i], points.x_mm[i], equal_nan=True)
            assert np.array_equal(plan.y_mm[0, i], points.y_mm[i], equal_nan=True)
        assert len(r.changes) <= 2
        assert not {c["index"] for c in r.changes} & keep
        changed_any |= bool(r.changes)
    assert changed_any


@pytest.mark.parametrize(
    ("constraints", "what"),
    [(Constraints(max_move_mm=0.0), "moves"), (Constraints(max_dose_change=0.0), "units")],
)
def test_doses_only_or_places_only(
    predictor: Predictor, requests: list[TreatmentRequest], constraints: Constraints, what: str
) -> None:
    found = _recommend(predictor, requests, constraints)
    for r in found:
        if what == "moves":
            assert all(c["moved_mm"] == 0 for c in r.changes)
        else:
            assert all(c["units_to"] == c["units_from"] for c in r.changes)
    assert any(r.changes for r in found)  # the other kind of change still happens


def test_the_same_request_gets_the_same_suggestion(
    predictor: Predictor, requests: list[TreatmentRequest], default: list[Recommendation]
) -> None:
    again = _recommend(predictor, requests[:10], Constraints())
    for a, b in zip(again, default[:10], strict=True):
        assert a.suggestion.status == b.suggestion.status
        np.testing.assert_array_equal(a.suggestion.plan.units, b.suggestion.plan.units)
        np.testing.assert_array_equal(a.suggestion.plan.x_mm, b.suggestion.plan.x_mm)


def _patient(brow_mm: float) -> TreatmentRequest:
    """A first treatment of forehead and glabella, both sides alike, with a brow difference."""
    injections = [
        {"muscle": m, "side": side, "units": u, "x_mm": sign * x, "y_mm": y, "depth": None}
        for m, u, x, y in (
            ("frontalis", 2.5, 15.0, 50.0),
            ("frontalis", 2.5, 35.0, 45.0),
            ("corrugator", 4.0, 15.0, 24.0),
        )
        for side, sign in (("left", 1.0), ("right", -1.0))
    ]
    injections.append(
        {"muscle": "procerus", "side": "midline", "units": 4.0, "x_mm": 0.0, "y_mm": 17.0}
        | {"depth": None}
    )
    patient = {
        "age_years": 45,
        "sex": "female",
        "brow_height_diff_mm": brow_mm,
        "palpebral_fissure_diff_mm": 0.0,
        "commissure_height_diff_mm": 0.0,
    }
    plan = {"product": "onabotulinumtoxinA", "dilution_ml_per_100u": 2.5, "injections": injections}
    return {"patient": patient, "plan": plan, "history": []}  # type: ignore[typeddict-item]


@pytest.fixture(scope="module")
def brow_predictor(tmp_path_factory: pytest.TempPathFactory) -> Predictor:
    """A small model on 8,000 treatments: the shared 2,000-treatment one is too coarse to have
    learned which side a frontalis dose lowers (its 30 trees put more units on one side whatever
    the brows; tried on asym-sim 1.3), and with 8,000 the 60-tree model learns the physics at
    both signs. About 10 s.
    """
    folder = tmp_path_factory.mktemp("brow")
    data = simulated_data(folder / "registry", n=8000, seed=5)
    export_bundle(
        fit_small_models(data, trees=60), data, folder / "bundle", model_name="b", model_version="1"
    )
    return Predictor.load(folder / "bundle", intra_op_threads=1)


@pytest.mark.parametrize("brow_mm", [4.0, -4.0])
def test_frontalis_units_move_toward_the_higher_brow(
    brow_predictor: Predictor, brow_mm: float
) -> None:
    # Left minus right > 0: the left brow is higher. Frontalis paralysis lowers its brow, so
    # more frontalis units on the higher side even the brows out (the simulator's physics,
    # learned by the small model from its registry).
    (r,) = _recommend(brow_predictor, [_patient(brow_mm)], Constraints(max_move_mm=0.0))
    assert r.suggestion.status == "improved"
    units, points = r.suggestion.plan.units[0], r.plan
    frontalis = points.muscle == MUSCLE_CODE["frontalis"]
    left = units[frontalis & (points.side == SIDE_CODE["left"])].sum()
    right = units[frontalis & (points.side == SIDE_CODE["right"])].sum()
    assert (left > right) if brow_mm > 0 else (right > left)


def test_a_plan_in_the_low_band_is_not_searched(predictor: Predictor) -> None:
    (r,) = _recommend(predictor, [_patient(0.0)], Constraints())
    assert r.suggestion.before.risk[0] < 0.15
    assert r.suggestion.status == "already_low"
    assert (r.suggestion.candidates, r.suggestion.steps, r.changes) == (1, 0, [])


# --- The search with a scorer whose best plan is known ----------------------------------------


def _plan() -> PlanPoints:
    """Two frontalis points a side (left, right, left, right) and one corrugator point a side."""
    return PlanPoints(
        muscle=np.array([MUSCLE_CODE[m] for m in ["frontalis"] * 4 + ["corrugator"] * 2]),
        side=np.array([SIDE_CODE[s] for s in ["left", "right"] * 3]),
        units=np.array([3.0, 3.0, 3.0, 3.0, 5.0, 5.0]),
        x_mm=np.array([15.0, -15.0, 35.0, -35.0, 15.0, -15.0]),
        y_mm=np.array([50.0, 50.0, 45.0, 45.0, 24.0, 24.0]),
        unit_factor=UNIT_FACTOR["onabotulinumtoxinA"],
    )


def _known(target: float, eyelid: float = 0.0, shorten: float = 0.0) -> advisor.Scorer:
    """Risk falls as the left-minus-right frontalis units near ``target``, and by 0.02 per
    unit of the left corrugator above 5 U, which raises the eyelid ptosis risk by ``eyelid``
    a unit; every median shortens by ``shorten`` days per unit of imbalance."""

    def scorer(batches: Sequence[tuple[int, Candidates]], longevity: bool) -> list[Scores]:
        out = []
        for _, c in batches:
            gap = c.units[:, [0, 2]].sum(axis=1) - c.units[:, [1, 3]].sum(axis=1)
            extra = np.maximum(c.units[:, 4] - 5.0, 0.0)
            risk = 0.2 + 0.5 * np.tanh(np.abs(gap - target) / 2) - 0.02 * extra
            lid = 0.01 + eyelid * extra
            median = np.full((len(c), 3), 120.0) - shorten * np.abs(gap)[:, None]
            out.append(Scores(risk, lid, np.full(len(c), 0.005), median if longevity else None))
        return out

    return scorer


def test_the_search_finds_the_known_best_transfer() -> None:
    ([s], stats) = search([_plan()], [Constraints(max_move_mm=0.0)], _known(2.4))
    units = s.plan.units[0]
    # 2.4 U more on the left: +20% left, -20% right (6 U a side) is the nearest grid plan.
    assert s.status == "improved"
    assert units[[0, 2]].sum() - units[[1, 3]].sum() == pytest.approx(2.4)
    assert units[5] == 5.0  # the right corrugator had nothing to gain
    assert stats.scorer_calls >= 3 and s.candidates > 1


def test_a_move_that_raises_a_ptosis_risk_is_taken_only_within_the_margin() -> None:
    free = search([_plan()], [Constraints(max_move_mm=0.0)], _known(2.4))[0][0]
    bound = search([_plan()], [Constraints(max_move_mm=0.0)], _known(2.4, eyelid=0.01))[0][0]
    # Free, the left corrugator takes all 25% more; at 0.01 eyelid risk a unit, only what
    # raises it by at most PTOSIS_MARGIN (0.5 U: 10%).
    assert free.plan.units[0, 4] == pytest.approx(6.2)  # 5 x 1.25, rounded to 0.1 U
    assert 5.0 < bound.plan.units[0, 4] <= 5.0 + PTOSIS_MARGIN / 0.01 + 1e-9
    assert bound.after.eyelid_ptosis[0] <= bound.before.eyelid_ptosis[0] + PTOSIS_MARGIN


@pytest.mark.parametrize(("days_per_unit", "status"), [(4.0, "improved"), (8.0, "no_safer_plan")])
def test_a_suggestion_never_shortens_a_median_by_more_than_allowed(
    days_per_unit: float, status: str
) -> None:
    # Every unit of left-right imbalance shortens every median: 2.4 U costs 9.6 days at 4 a
    # unit (allowed), 19 at 8 (not; the one state the descent took fails, the plan stands).
    scorer = _known(2.4, shorten=days_per_unit)
    ([s], _) = search([_plan()], [Constraints(max_move_mm=0.0)], scorer)
    assert s.after.median_days is not None and s.before.median_days is not None
    assert (s.after.median_days >= s.before.median_days - LONGEVITY_DAYS).all()
    assert s.status == status


def test_midline_points_move_only_along_the_midline() -> None:
    plan = dataclasses.replace(
        _plan(),
        muscle=np.array([MUSCLE_CODE["procerus"]]),
        side=np.array([SIDE_CODE["midline"]]),
        units=np.array([4.0]),
        x_mm=np.array([0.0]),
        y_mm=np.array([17.0]),
    )

    def risk_falls_with_x_and_y(batches: Any, longevity: bool) -> list[Scores]:
        return [
            Scores(
                0.5 - 0.05 * (c.x_mm[:, 0] + c.y_mm[:, 0] - 17.0),
                np.zeros(len(c)),
                np.zeros(len(c)),
                np.full((len(c), 1), 120.0) if longevity else None,
            )
            for _, c in batches
        ]

    ([s], _) = search([plan], [Constraints(max_dose_change=0.0)], risk_falls_with_x_and_y)
    assert s.plan.x_mm[0, 0] == 0.0 and s.plan.y_mm[0, 0] == pytest.approx(22.0)
