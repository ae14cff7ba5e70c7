"""The recommend stage: a safer plan for each request, found by the model, with its checks.

``recommend`` runs the advisor's search (``serving.advisor``) with the model as its scorer: every
call's candidates, for every treatment at once, are featurised by one
``features.build.build_features`` (a candidate is its treatment's inputs with other units and
places: ``features.request.requests_inputs`` for requests, ``features.tables.registry_inputs``
for a registry) and answered by one call of the bundle: the binary heads alone for a descent
step (``Predictor.risks``), everything when the median days are needed (``Predictor.predict``).
Then it states what changed, the checks every suggestion passes, and whether the suggestion lies
where the training plans were (``serving.recommend_checks``).

``answers`` turns recommendations into ``serving.recommend_schemas.RecommendResponse`` bodies,
with the full ``/v1/predict`` answers of the clinician's and the suggested plan beside them;
``serve_recommendations`` is what ``POST /v1/recommend`` runs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from bundle.heads import OUTCOME_BY_TARGET
from bundle.predictor import Predictor
from features.build import build_features
from features.inputs import FeatureInput, PlanArrays
from features.longevity import treated_region_sides
from features.request import TreatmentRequest, requests_inputs
from serving.advisor import (
    CHANGE_COST,
    DOSE_JITTER,
    DOSE_STEP,
    IMPROVEMENT_MARGIN,
    LONGEVITY_DAYS,
    MOVE_STEP_MM,
    PLACEMENT_JITTER_MM,
    PTOSIS_MARGIN,
    ROBUST_DRAWS,
    UNITS_DECIMALS,
    Candidates,
    Constraints,
    PlanPoints,
    Scorer,
    Scores,
    SearchStats,
    Suggestion,
    search,
)
from serving.recommend_checks import changes, checks, number, support, support_bounds
from serving.service import Answered, PredictionService, low_points, model_info, score

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

NOTICE: Final = (
    "A prediction learned from registry data, not a causal guarantee: the suggested plan is "
    "what the model expects to be safer for patients like this one; judge it against the "
    "patient in front of you."
)
"""What every recommendation says of itself."""
RULES: Final = {
    "improvement_margin": IMPROVEMENT_MARGIN,
    "ptosis_margin": PTOSIS_MARGIN,
    "longevity_days": LONGEVITY_DAYS,
    "change_cost": CHANGE_COST,
    "dose_step": DOSE_STEP,
    "move_step_mm": MOVE_STEP_MM,
    "units_decimals": UNITS_DECIMALS,
    "robust_draws": ROBUST_DRAWS,
    "dose_jitter": DOSE_JITTER,
    "placement_jitter_mm": PLACEMENT_JITTER_MM,
}
"""The advisor's stated margins, returned with every answer (``RecommendResponse.rules``)."""


def model_scorer(predictor: Predictor, base: FeatureInput, plans: Sequence[PlanPoints]) -> Scorer:
    """The model as the advisor's scorer of candidates of n treatments' plans.

    Args:
        predictor: The loaded bundle.
        base: The n treatments (``features.request.requests_inputs`` of requests, or
            ``features.tables.registry_inputs`` of a registry); their plans are not read.
        plans: Their plans as the search sees them, one per treatment.

    Returns:
        A scorer: each call one feature matrix for every set, then the binary heads alone
        (``Predictor.risks``), or everything (``Predictor.predict``) when median days are asked.
    """
    bounds = support_bounds(predictor)
    risk, eyelid, brow = (
        OUTCOME_BY_TARGET[t].name for t in ("visible_asymmetry", "eyelid_ptosis", "brow_ptosis")
    )

    def scorer(batches: Sequence[tuple[int, Candidates]], longevity: bool) -> list[Scores]:
        owner = np.concatenate([np.full(len(c), i) for i, c in batches])
        inputs = _candidate_inputs(base, owner, [(plans[i], c) for i, c in batches])
        x = build_features(inputs)
        if longevity:
            treatment, region, side = treated_region_sides(inputs.plan)
            p = predictor.predict(x.astype(np.float32), treatment, region, side)
            risks, median = p.risks, p.median_days
        else:  # the binary heads alone: most of a step's candidates need nothing else
            treatment, risks, median = np.zeros(0, np.int64), predictor.risks(x), np.zeros(0)
        warned = low_points(x)
        outside = None
        if bounds is not None:
            outside = (x < bounds[0]) | (x > bounds[1])  # NaN on either side compares False
        out, row, rows = [], 0, 0
        for _, c in batches:
            n = len(c)
            # Every candidate of a plan treats the same (region, side): as many rows each.
            width = int(np.count_nonzero(treatment == row))
            out.append(
                Scores(
                    risk=risks[risk][row : row + n],
                    eyelid_ptosis=risks[eyelid][row : row + n],
                    brow_ptosis=risks[brow][row : row + n],
                    median_days=median[rows : rows + n * width].reshape(n, width)
                    if longevity
                    else None,
                    outside=None if outside is None else outside[row : row + n],
                    warned=warned[row : row + n],
                )
            )
            row, rows = row + n, rows + n * width
        return out

    return scorer


def _candidate_inputs(
    base: FeatureInput, owner: IntArray, sets: Sequence[tuple[PlanPoints, Candidates]]
) -> FeatureInput:
    """The inputs of candidate plans: row ``owner[i]`` of ``base`` with candidate i's points."""
    counts = [len(c) for _, c in sets]
    k = [len(p.units) for p, _ in sets]
    plan = PlanArrays(
        treatment=np.repeat(np.arange(sum(counts)), np.repeat(k, counts)),
        muscle=np.concatenate([np.tile(p.muscle, len(c)) for p, c in sets]),
        side=np.concatenate([np.tile(p.side, len(c)) for p, c in sets]),
        units=np.concatenate([c.units.ravel() for _, c in sets]),
        x_mm=np.concatenate([c.x_mm.ravel() for _, c in sets]),
        y_mm=np.concatenate([c.y_mm.ravel() for _, c in sets]),
    )
    per_treatment = {
        f.name: getattr(base, f.name)[owner] for f in dataclasses.fields(base) if f.name != "plan"
    }
    return FeatureInput(plan=plan, **per_treatment)


@dataclass(frozen=True)
class Recommendation:
    """One treatment's recommendation, before it becomes an answer.

    Attributes:
        plan: The clinician's plan as the search saw it.
        suggestion: The search's outcome.
        constraints: What the search was allowed.
        changes: ``PointChange`` items.
        checks: A ``Checks`` body.
        support: A ``Support`` body.
    """

    plan: PlanPoints
    suggestion: Suggestion
    constraints: Constraints
    changes: list[dict[str, Any]]
    checks: dict[str, Any]
    support: dict[str, Any]


def suggested_request(request: TreatmentRequest, plan: Candidates) -> TreatmentRequest:
    """The request with the suggested units and places (other fields as the clinician's)."""
    injections = [
        {**point, "units": float(u), "x_mm": number(x), "y_mm": number(y)}
        for point, u, x, y in zip(
            request["plan"]["injections"], plan.units[0], plan.x_mm[0], plan.y_mm[0], strict=True
        )
    ]
    return {**request, "plan": {**request["plan"], "injections": injections}}


def recommend(
    predictor: Predictor,
    base: FeatureInput,
    plans: Sequence[PlanPoints],
    constraints: Sequence[Constraints],
) -> tuple[list[Recommendation], SearchStats]:
    """Search a safer plan for each of n treatments with the model, all in lockstep.

    Args:
        predictor: The loaded bundle.
        base: The treatments (their plans are not read; see ``model_scorer``).
        plans: Their plans, one per treatment (``PlanPoints.of`` a request's plan).
        constraints: What each clinician allows, one per treatment.

    Returns:
        One recommendation per treatment, in order, and what the search cost.
    """
    suggestions, stats = search(plans, constraints, model_scorer(predictor, base, plans))
    out = []
    for i, (points, s, c) in enumerate(zip(plans, suggestions, constraints, strict=True)):

        def features(i: int = i, points: PlanPoints = points, s: Suggestion = s) -> FloatArray:
            inputs = _candidate_inputs(base, np.array([i]), [(points, s.plan)])
            return np.asarray(build_features(inputs)[0], dtype=np.float64)

        out.append(
            Recommendation(
                plan=points,
                suggestion=s,
                constraints=c,
                changes=changes(points, s.plan),
                checks=checks(points, s, c),
                support=support(predictor, s, features),
            )
        )
    return out, stats


def answers(
    predictor: Predictor,
    requests: Sequence[TreatmentRequest],
    recommendations: Sequence[Recommendation],
    stats: SearchStats,
    *,
    contributions: bool = True,
) -> list[dict[str, Any]]:
    """The ``RecommendResponse`` bodies of recommendations (without model and request id).

    The clinician's and the suggested plans are answered together, in one ``score`` call.

    Args:
        predictor: The bundle that made the recommendations.
        requests: The requests they answer.
        recommendations: From ``recommend``, one per request.
        stats: What their search cost (one search for all of them).
        contributions: List the top contributions in the before and after answers.

    Returns:
        One body per recommendation.
    """
    n = len(recommendations)
    suggested = [
        suggested_request(q, r.suggestion.plan)
        for q, r in zip(requests, recommendations, strict=True)
    ]
    scored = score(predictor, [*requests, *suggested], contributions=contributions).outputs
    out = []
    for i, r in enumerate(recommendations):
        c = r.constraints
        out.append(
            {
                "status": r.suggestion.status,
                "notice": NOTICE,
                "suggested_plan": suggested[i]["plan"],
                "changes": r.changes,
                "before": scored[i],
                "after": scored[n + i],
                "checks": r.checks,
                "support": r.support,
                "search": {
                    "candidates": r.suggestion.candidates,
                    "steps": r.suggestion.steps,
                    "scorer_calls": stats.scorer_calls,
                    "milliseconds": round(stats.milliseconds, 3),
                },
                "constraints": {
                    "max_dose_change": c.max_dose_change,
                    "max_move_mm": c.max_move_mm,
                    "keep": sorted(c.keep),
                    "max_changed_points": c.max_changed_points,
                },
                "rules": RULES,
            }
        )
    return out


def serve_recommendations(
    service: PredictionService,
    requests: Sequence[TreatmentRequest],
    constraints: Sequence[Constraints],
    *,
    clinic: str,
    request_id: str,
    contributions: bool = True,
) -> Answered:
    """Recommend with the service's current model, log the answers and name the model.

    Args:
        service: The prediction service (its model and log).
        requests: Validated requests.
        constraints: What each clinician allows, one per request.
        clinic: Calling clinic (for the log).
        request_id: Id of the HTTP request (every answer's, their before and after too).
        contributions: List the top contributions in the before and after answers.

    Returns:
        ``RecommendResponse`` bodies, in request order, and the model that gave them.
    """
    predictor = service.predictor  # once: a reload never changes the model mid-request
    plans = [PlanPoints.of(r["plan"]) for r in requests]
    found, stats = recommend(predictor, requests_inputs(requests), plans, constraints)
    bodies = answers(predictor, requests, found, stats, contributions=contributions)
    service.record(requests, bodies, clinic=clinic, request_id=request_id)
    model = model_info(predictor)
    tag = {"model": model, "request_id": request_id}
    for body in bodies:
        body["before"] |= tag
        body["after"] |= tag
        body |= tag
    return Answered(bodies, model)
