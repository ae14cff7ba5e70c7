"""``POST /v1/predict`` and ``POST /v1/predict/batch``: validate, then the service answers.

Both run on ``DirectRoute`` (``serving.routes.direct``); the batch route has a router of its own
so that ``create_app`` can give it its own body limit (``max_batch_body_bytes``). Neither has a
docstring: it would become the operation's description in the OpenAPI document.
"""

from __future__ import annotations

from typing import Any, Final

import orjson
from fastapi import APIRouter
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from serving.deps import Caller, Options
from serving.errors import responses
from serving.routes.direct import DirectRoute
from serving.schemas import BatchRequest, BatchResponse, PredictRequest, PredictResponse

_JSON: Final = "application/json"
"""Media type of the predict routes' answers, JSON made by orjson (ten times faster than the
standard library on answers)."""

_ERRORS: Final = responses(400, 401, 422, 503)

router = APIRouter(route_class=DirectRoute, tags=["predict"])
batch_router = APIRouter(route_class=DirectRoute, tags=["predict"])


@router.post(
    "/v1/predict",
    response_model=PredictResponse,
    responses=_ERRORS,
    summary="Predict one treatment",
)
async def predict(body: PredictRequest, call: Caller, options: Options) -> Any:  # noqa: D103
    # On the event loop, not a thread: one request computes in well under a millisecond,
    # and a hop to the thread pool and back would add to it.
    answered = call.service.predict(
        [body],
        clinic=call.clinic.name,
        request_id=call.request_id,
        contributions=options.contributions,
    )
    # Built by the service in the response's shape (the tests and the OpenAPI fuzzing check
    # it conforms): dumped once, without a second validation of every field.
    return Response(orjson.dumps(answered.answers[0]), media_type=_JSON)


@batch_router.post(
    "/v1/predict/batch",
    response_model=BatchResponse,
    responses=_ERRORS,
    summary="Predict several treatments in one model call",
)
async def predict_batch(body: BatchRequest, call: Caller, options: Options) -> Any:  # noqa: D103
    requests = body["requests"]
    if len(requests) > call.max_batch:
        raise RequestValidationError(
            [
                {
                    "loc": ("body", "requests"),
                    "msg": f"at most {call.max_batch} requests per batch",
                    "type": "too_long",
                }
            ]
        )
    # A thousand treatments take tens of milliseconds: off the event loop, so health checks
    # and small requests are not held up behind them.
    answered = await run_in_threadpool(
        call.service.predict,
        requests,
        clinic=call.clinic.name,
        request_id=call.request_id,
        batch=True,
        contributions=options.contributions,
    )
    batch = {
        "predictions": answered.answers,
        "model": answered.model,
        "request_id": call.request_id,
    }
    return Response(orjson.dumps(batch), media_type=_JSON)
