"""``POST /v1/recommend``: validate, then the advisor answers (``serving.recommend``).

On ``DirectRoute`` like the predict routes (the caller first, then the query, then the body in
one pass). No docstring on the endpoint: it would become the operation's description.
"""

from __future__ import annotations

from typing import Any, Final

import orjson
from fastapi import APIRouter
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from serving.deps import Caller, Options
from serving.errors import responses
from serving.recommend import serve_recommendations
from serving.recommend_schemas import RecommendRequest, RecommendResponse, constraints_of
from serving.routes.direct import DirectRoute

_JSON: Final = "application/json"

router = APIRouter(route_class=DirectRoute, tags=["recommend"])


@router.post(
    "/v1/recommend",
    response_model=RecommendResponse,
    responses=responses(400, 401, 422, 503),
    summary="Suggest a safer plan within the clinician's constraints",
    description=RecommendResponse.__doc__,
)
async def recommend(body: RecommendRequest, call: Caller, options: Options) -> Any:  # noqa: D103
    # Tens of milliseconds of search: off the event loop, so that health checks and
    # predictions are not held up behind it.
    answered = await run_in_threadpool(
        serve_recommendations,
        call.service,
        [body],
        [constraints_of(body.get("constraints"))],
        clinic=call.clinic.name,
        request_id=call.request_id,
        contributions=options.contributions,
    )
    return Response(orjson.dumps(answered.answers[0]), media_type=_JSON)
