"""The routes' typed dependencies (``Annotated`` aliases) and the one way a caller is known.

Every route that needs a caller takes ``CallingClinic``, ``Admin`` or ``Caller``; all three read
the key through the one ``APIKeyHeader`` scheme (``api_key``), so the OpenAPI document declares
it for them. All dependencies are async, though none awaits: FastAPI runs a plain ``def``
dependency in the thread pool, and the hops there and back cost more than a whole prediction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated, Final

from fastapi import Depends, HTTPException, Query, Request, status
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, ConfigDict, Field

from serving.contributions import FEATURE_GROUPS
from serving.keys import Clinic
from serving.reload import ModelHolder
from serving.service import PredictionService
from serving.state import ServingState

API_KEY_HEADER: Final = "X-API-Key"
LOCAL_CLINIC: Final = Clinic(name="local", admin=True)
"""Who calls a server started with ``no_auth`` (bound to loopback: the operator)."""

api_key = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, description="Clinic API key.")


async def get_state(request: Request) -> ServingState:
    """The app's state (``create_app`` puts it on ``app.state.serving``)."""
    state: ServingState = request.app.state.serving
    return state


State = Annotated[ServingState, Depends(get_state)]


async def get_holder(state: State) -> ModelHolder:
    """The model holder; 503 until the lifespan has loaded the model."""
    if state.holder is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "model not loaded yet")
    return state.holder


Holder = Annotated[ModelHolder, Depends(get_holder)]


async def get_clinic(
    request: Request, state: State, key: Annotated[str | None, Depends(api_key)]
) -> Clinic:
    """The calling clinic, from its API key; 401 without a known key (unless ``no_auth``)."""
    if state.settings.no_auth:
        clinic: Clinic | None = LOCAL_CLINIC
    else:
        clinic = state.keys.clinic_for(key) if state.keys is not None else None
    if clinic is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            f"missing or unknown API key (header {API_KEY_HEADER})",
        )
    request.state.clinic = clinic.name
    return clinic


CallingClinic = Annotated[Clinic, Depends(get_clinic)]


async def get_admin(clinic: CallingClinic) -> Clinic:
    """The calling clinic if its key is an admin key; 403 otherwise."""
    if not clinic.admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this API key is not an admin key")
    return clinic


Admin = Annotated[Clinic, Depends(get_admin)]


@dataclass(frozen=True)
class Call:
    """What a prediction needs to know of its request.

    Attributes:
        service: Scores and logs the request.
        clinic: The caller.
        request_id: A new id, in the answer and the log.
        max_batch: The most treatments a batch may hold (the settings').
    """

    service: PredictionService
    clinic: Clinic
    request_id: str
    max_batch: int


async def get_call(request: Request, state: State, clinic: CallingClinic) -> Call:
    """An authenticated predict request (401 first), its service (503) and a new request id."""
    if state.service is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "model not loaded yet")
    rid = uuid.uuid4().hex
    request.state.request_id = rid
    return Call(state.service, clinic, rid, state.settings.max_batch)


Caller = Annotated[Call, Depends(get_call)]


async def solve_call(request: Request) -> Call:
    """``Caller`` solved as FastAPI solves it (state, key, clinic, call), for a lean handler."""
    state = await get_state(request)
    clinic = await get_clinic(request, state, await api_key(request))
    return await get_call(request, state, clinic)


class PredictOptions(BaseModel):
    """Query parameters of the predict routes; unknown ones are refused, like unknown fields."""

    model_config = ConfigDict(extra="forbid")

    contributions: bool = Field(
        default=True,
        description=f"List the top contributions of the {len(FEATURE_GROUPS)} feature groups; "
        "false answers with an empty list.",
    )


Options = Annotated[PredictOptions, Query()]
