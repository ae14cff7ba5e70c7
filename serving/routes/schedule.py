"""``POST /v1/schedule``: the touch-up schedule of one treatment."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import orjson
from fastapi import APIRouter
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from serving.deps import Caller
from serving.errors import responses
from serving.schedule_schemas import ScheduleRequest, ScheduleResponse

router = APIRouter(tags=["schedule"])


@router.post(
    "/v1/schedule",
    response_model=ScheduleResponse,
    responses=responses(400, 401, 422, 503),
    summary="Touch-up schedule of one treatment",
)
async def schedule(body: ScheduleRequest, call: Caller) -> Any:
    """When each treated region and side wears off, when to review and retreat each region
    (staggered where they drift apart), and dose changes for the next session that bring each
    region's sides within 14 days of each other.
    """  # noqa: D205
    day = body.get("treatment_date")
    treatment_date = date.fromisoformat(day) if day else datetime.now(UTC).date()
    # A few model calls (the plan, then the next session's candidates): off the event loop.
    answer = await run_in_threadpool(
        call.service.schedule,
        body,
        treatment_date,
        clinic=call.clinic.name,
        request_id=call.request_id,
    )
    return Response(orjson.dumps(answer), media_type="application/json")
