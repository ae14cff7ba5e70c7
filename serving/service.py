"""The prediction service: validated requests in, answers out, each logged.

A request becomes features only through ``features`` (``features.request.requests_inputs`` and
``features.build.build_features``) and answers only through the bundle's ONNX models
(``bundle.predictor.Predictor``): no pandas and no LightGBM on this path.

Contributions come with the model and are summed by feature group (``serving.contributions``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import orjson

from bundle.late_asymmetry import LATE_GAP_DAYS
from bundle.predictor import ASYMMETRY_RISK, SURVIVAL_DAYS, Predictions, Predictor
from data.atlas import (
    LABEL_RANGE_U_EQ,
    SAFE_FRONTALIS_ABOVE_BROW_MM,
    SAFE_GLABELLA_ABOVE_RIM_MM,
)
from data.contract import MUSCLE_REGION, REGIONS, SIDES
from features.build import build_features
from features.inputs import LEFT, columns
from features.longevity import treated_region_sides
from features.request import TreatmentRequest, requests_inputs
from features.spec import (
    FEATURE_INDEX,
    GEOMETRY,
    SIDES2,
)
from serving.contributions import FEATURE_GROUPS, group_contributions
from serving.log import LogBatch, PredictionLog
from serving.schedule import schedule
from serving.schemas import TOP_CONTRIBUTIONS, LongevityRow, risk_band

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


_GROUP_NAMES: Final = tuple(FEATURE_GROUPS)
# Slices (views), not index arrays: every answer reads them.
_LABEL_RATIO: Final = columns([f"region_label_ratio_{r}" for r in REGIONS])
_REGION_DOSE: Final = np.array([FEATURE_INDEX[f"region_u_eq_{r}"] for r in REGIONS])
_POINT_CHECKS: Final = (
    (
        "frontalis_point_low",
        "frontalis_low_point_above_brow_mm",
        SAFE_FRONTALIS_ABOVE_BROW_MM,
        "lowest frontalis point, {side}, is {value:.1f} mm above the brow line "
        "(safe: >= {limit:g} mm; lower risks brow ptosis)",
    ),
    (
        "corrugator_point_low",
        "glabella_low_point_above_rim_mm",
        SAFE_GLABELLA_ABOVE_RIM_MM,
        "lowest corrugator point, {side}, is {value:.1f} mm above the orbital rim "
        "(safe: >= {limit:g} mm; lower risks eyelid ptosis)",
    ),
)
_GEOMETRY_MUSCLE: Final = {stem: muscle for stem, muscle, _ in GEOMETRY}
_POINT_WHERE: Final = {
    code: (_GEOMETRY_MUSCLE[stem], MUSCLE_REGION[_GEOMETRY_MUSCLE[stem]])
    for code, stem, _, _ in _POINT_CHECKS
}
"""The muscle (and its region) whose lowest point each point check is about."""
_POINT_COLUMNS: Final = columns(
    [f"{stem}_{side}" for _, stem, _, _ in _POINT_CHECKS for side in SIDES2]
)
_POINT_LIMITS: Final = np.array([limit for _, _, limit, _ in _POINT_CHECKS for _ in SIDES2])
_LONGEVITY_KEYS: Final = tuple(LongevityRow.model_fields)
"""Fields of a ``serving.schemas.LongevityRow``, in order."""


def canonical_sha256(request: TreatmentRequest) -> str:
    """SHA-256 of a validated request as canonical JSON.

    Canonical: validation (``serving.schemas.PredictRequest``) puts every field in the schema's
    (contract) order and fills absent optional fields with null, and the JSON has no whitespace;
    so two requests that differ only in key order, spacing or an explicit null hash the same.
    """
    return hashlib.sha256(orjson.dumps(request)).hexdigest()


def low_points(x: FloatArray) -> npt.NDArray[np.bool_]:
    """(n, 4) whether each side's lowest frontalis and corrugator point sits below its safe height.

    The tests of the ``frontalis_point_low`` and ``corrugator_point_low`` warnings (left, right
    each); a plan without such a point passes.
    """
    low: npt.NDArray[np.bool_] = x[:, _POINT_COLUMNS] < _POINT_LIMITS  # NaN compares False
    return low


def plan_warnings(x: FloatArray) -> list[list[dict[str, str | None]]]:
    """Warnings about plans, read from their feature rows.

    Args:
        x: (n, F) feature matrix (float64, ``features.spec`` order).

    Returns:
        Per row, ``{code, message, region, side, muscle}`` items: region doses above the usual
        label range (region only: both sides together), frontalis points too close to the brow,
        corrugator points too close to the orbital rim (the side and muscle of the lowest point:
        the clinic page shows the warning beside it).
    """
    out: list[list[dict[str, str | None]]] = [[] for _ in range(len(x))]
    # The tests on every row at once; messages only where one holds (few rows have any).
    # np.nonzero, not np.argwhere: the same pairs, row by row, for a fifth of the overhead.
    for i, r in zip(*np.nonzero(x[:, _LABEL_RATIO] > 1.0), strict=True):
        region = REGIONS[r]
        low, high = LABEL_RANGE_U_EQ[region]
        out[i].append(
            {
                "code": "dose_above_label_range",
                "message": f"{region} dose {x[i, _REGION_DOSE[r]]:.1f} U_eq is above its usual "
                f"range {low:g}-{high:g} U_eq",
                "region": region,
                "side": None,
                "muscle": None,
            }
        )
    for i, k in zip(*np.nonzero(low_points(x)), strict=True):
        code, _, limit, text = _POINT_CHECKS[k // len(SIDES2)]
        side = SIDES2[k % len(SIDES2)]
        value = x[i, _POINT_COLUMNS][k]
        muscle, region = _POINT_WHERE[code]
        message = text.format(side=side, value=value, limit=limit)
        out[i].append(
            {"code": code, "message": message, "region": region, "side": side, "muscle": muscle}
        )
    return out


@dataclass(frozen=True)
class Scored:
    """Answers of n requests, before they are given a request id and model identity.

    Attributes:
        outputs: Per request, the ``PredictResponse`` fields other than model and request_id.
        input_sha256: Per request, the SHA-256 of its canonical JSON.
    """

    outputs: list[dict[str, Any]]
    input_sha256: list[str]


def _check_finite(p: Predictions, groups: FloatArray) -> None:
    """Refuse to answer with NaN or infinity (JSON has neither; orjson would write null)."""
    arrays = [*p.risks.values(), p.median_days, p.late_asymmetry_risk, groups.ravel()]
    arrays += [v for by_q in p.differences.values() for v in by_q.values()]
    arrays += list(p.survival.values())
    if not np.isfinite(np.concatenate(arrays)).all():
        bad = [i for i, a in enumerate(arrays) if not np.isfinite(a).all()]
        # A bug in a model or its post-processing, never the client's input.
        raise ValueError(f"the model produced non-finite outputs (arrays {bad})")


def _answers(p: Predictions, x: FloatArray, groups: FloatArray) -> list[dict[str, Any]]:
    """Turn the predictions of n requests and their groups' contributions into responses.

    Built from plain lists column by column (``tolist`` once per array, rows by ``zip``): a
    batch of a thousand answers is 7,000 small dicts, and per-item numpy indexing would cost more
    than the models.
    """
    _check_finite(p, groups)
    n = len(x)
    risks = {name: v.tolist() for name, v in p.risks.items()}
    top = np.argsort(-np.abs(groups), axis=1, kind="stable")[:, :TOP_CONTRIBUTIONS].tolist()
    by_group = groups.tolist()
    # Longevity rows come sorted by treatment: slice each request's rows.
    bounds = np.searchsorted(p.treatment, np.arange(n + 1)).tolist()
    region, side, median, k0, k1, k2 = _LONGEVITY_KEYS
    region_codes, side_codes = p.region.tolist(), p.side.tolist()
    longevity = [  # dict literals: thousands of rows a batch, twice as fast as dict(zip(...))
        {region: REGIONS[r], side: SIDES[s], median: m, k0: p0, k1: p1, k2: p2}
        for r, s, m, p0, p1, p2 in zip(
            region_codes,
            side_codes,
            p.median_days.tolist(),
            *(p.survival[d].tolist() for d in SURVIVAL_DAYS),
            strict=True,
        )
    ]
    # A region treated on both sides has its risk on both rows (NaN on a side alone): listed
    # once, from its left row.
    region_late = [
        {"region": REGIONS[r], "risk": risk} if s == LEFT and risk == risk else None
        for r, s, risk in zip(
            region_codes, side_codes, p.region_late_asymmetry_risk.tolist(), strict=True
        )
    ]
    differences = {
        t: [
            {"expected": q50, "low_10": q10, "high_90": q90}
            for q10, q50, q90 in zip(
                q["q10"].tolist(), q["q50"].tolist(), q["q90"].tolist(), strict=True
            )
        ]
        for t, q in p.differences.items()
    }
    late, gaps = p.late_asymmetry_risk.tolist(), p.late_gap_days.tolist()
    first_region, first_side = p.first_region.tolist(), p.first_side.tolist()
    warnings = plan_warnings(x)
    out = []
    for i in range(n):
        answer: dict[str, Any] = {name: v[i] for name, v in risks.items()}
        answer["risk_band"] = risk_band(answer[ASYMMETRY_RISK])
        answer["differences"] = {t: rows[i] for t, rows in differences.items()}
        answer["longevity"] = longevity[bounds[i] : bounds[i + 1]]
        answer["late_asymmetry"] = {
            "risk": late[i],
            "gap_days": gaps[i],
            "regions": [r for r in region_late[bounds[i] : bounds[i + 1]] if r is not None],
            "first_region": REGIONS[first_region[i]] if first_region[i] >= 0 else None,
            "first_side": SIDES[first_side[i]] if first_side[i] >= 0 else None,
        }
        answer["contributions"] = [
            {"group": _GROUP_NAMES[k], "log_odds": by_group[i][k]} for k in top[i]
        ]
        answer["warnings"] = warnings[i]
        out.append(answer)
    return out


def score(
    predictor: Predictor, requests: Sequence[TreatmentRequest], *, contributions: bool = True
) -> Scored:
    """Answer validated requests with one ``Predictor.predict`` call.

    Args:
        predictor: The loaded bundle.
        requests: Validated requests (``serving.schemas.PredictRequest``: plain dicts).
        contributions: List the top contributions; False leaves them empty.

    Returns:
        The answers, in request order, and the hash of each request.
    """
    inputs = requests_inputs(requests)
    x = build_features(inputs)
    treatment, region, side = treated_region_sides(inputs.plan)
    gap = [r.get("late_gap_days", LATE_GAP_DAYS) for r in requests]
    p = predictor.predict(x.astype(np.float32), treatment, region, side, gap)
    if contributions:
        groups = group_contributions(p.contributions[ASYMMETRY_RISK])
    else:
        groups = np.zeros((len(x), 0))
    return Scored(_answers(p, x, groups), [canonical_sha256(r) for r in requests])


def model_info(predictor: Predictor) -> dict[str, str | None]:
    """``ModelInfo`` of a predictor: registered name, version number and the run that made it."""
    m = predictor.manifest
    return {"name": m.model_name, "version": m.model_version, "run_id": m.run_id}


@dataclass(frozen=True)
class Answered:
    """What ``PredictionService.predict`` answered.

    Attributes:
        answers: Per request, its ``PredictResponse`` (model and request id included).
        model: ``ModelInfo`` of the model that answered them all.
    """

    answers: list[dict[str, Any]]
    model: dict[str, str | None]


class PredictionService:
    """Scores requests with the current model and logs every answer.

    Args:
        current: Returns the predictor to use; read once per call, so a model reload never
            changes the model in the middle of a request.
        log: The prediction log.
    """

    def __init__(self, current: Callable[[], Predictor], log: PredictionLog) -> None:
        self._current = current
        self._log = log

    @property
    def predictor(self) -> Predictor:
        """The model that answers now."""
        return self._current()

    def predict(
        self,
        requests: Sequence[TreatmentRequest],
        *,
        clinic: str,
        request_id: str,
        batch: bool = False,
        contributions: bool = True,
    ) -> Answered:
        """Answer and log requests.

        Args:
            requests: Validated requests.
            clinic: Calling clinic (for the log).
            request_id: Id of the HTTP request.
            batch: Give item i the request id ``<request_id>.<i>``.
            contributions: List the top contributions (see ``score``).

        Returns:
            The answers, in request order, and the model that gave them.
        """
        predictor = self.predictor
        scored = score(predictor, requests, contributions=contributions)
        model = model_info(predictor)
        n = len(scored.outputs)
        rids = [f"{request_id}.{i}" for i in range(n)] if batch else [request_id] * n
        # The whole call is one log item (columns, one time stamp): one queue put per call, not
        # an entry object and a put per answer (benchmarks/bench_log.py).
        self._log.record_many(
            LogBatch(
                request_ids=rids,
                clinic=clinic,
                time=datetime.now(UTC),
                model_name=predictor.model_name,
                model_version=predictor.model_version,
                input_sha256=scored.input_sha256,
                outputs=[orjson.dumps(o) for o in scored.outputs],
            )
        )
        answers = [
            {**o, "model": model, "request_id": rid}
            for o, rid in zip(scored.outputs, rids, strict=True)
        ]
        return Answered(answers, model)

    def record(
        self,
        requests: Sequence[TreatmentRequest],
        outputs: Sequence[dict[str, Any]],
        *,
        clinic: str,
        request_id: str,
    ) -> None:
        """Log answers made elsewhere with the current model (the recommend stage's).

        Args:
            requests: The validated requests answered.
            outputs: Their answers, without model and request id.
            clinic: Calling clinic.
            request_id: Id of the HTTP request.
        """
        predictor = self.predictor
        self._log.record_many(
            LogBatch(
                request_ids=[request_id] * len(outputs),
                clinic=clinic,
                time=datetime.now(UTC),
                model_name=predictor.model_name,
                model_version=predictor.model_version,
                input_sha256=[canonical_sha256(r) for r in requests],
                outputs=[orjson.dumps(o) for o in outputs],
            )
        )

    def schedule(
        self, request: TreatmentRequest, treatment_date: date, *, clinic: str, request_id: str
    ) -> dict[str, Any]:
        """Answer and log the touch-up schedule of one treatment (``serving.schedule``).

        Args:
            request: The validated request.
            treatment_date: The day of the treatment.
            clinic: Calling clinic (for the log).
            request_id: Id of the HTTP request.

        Returns:
            The ``ScheduleResponse`` fields.
        """
        predictor = self.predictor
        gap = request.get("late_gap_days", LATE_GAP_DAYS)
        answer = schedule(predictor, request, treatment_date, gap)
        self.record([request], [answer], clinic=clinic, request_id=request_id)
        return {**answer, "model": model_info(predictor), "request_id": request_id}
