"""``POST /v1/admin/reload``: swap in another model (admin keys only)."""

from __future__ import annotations

import logging

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from serving.deps import Admin, State
from serving.errors import responses
from serving.lifespan import reload_model
from serving.reload import ReloadRefused
from serving.schemas import ErrorResponse, ModelInfo
from serving.service import model_info

logger = logging.getLogger("asym.serving")

router = APIRouter(tags=["admin"])


class ReloadRequest(BaseModel):
    """Which model to load instead of the current one."""

    model_config = ConfigDict(extra="forbid", strict=True)

    model: str | None = Field(
        default=None,
        max_length=4096,
        description="Bundle folder or models:/NAME@ALIAS; null: the current champion, "
        "models:/<serving model's name>@champion.",
    )


class ReloadResponse(BaseModel):
    """The model now answering, and the one it replaced."""

    model: ModelInfo
    previous: ModelInfo


@router.post(
    "/v1/admin/reload",
    response_model=ReloadResponse,
    responses={
        **responses(400, 401, 422, 503),
        403: {"model": ErrorResponse, "description": "Not an admin key."},
        409: {"model": ErrorResponse, "description": "Reload refused; the reason."},
    },
)
async def reload(body: ReloadRequest, state: State, admin: Admin) -> ReloadResponse:
    """Load another model (or the configured one again) and swap it in atomically."""
    try:
        previous, new = await run_in_threadpool(reload_model, state, body.model)
    except ReloadRefused as err:
        raise HTTPException(status.HTTP_409_CONFLICT, str(err)) from None
    logger.info("reload by %s: %s -> %s", admin.name, previous.model_version, new.model_version)
    return ReloadResponse(
        model=ModelInfo(**model_info(new)),
        previous=ModelInfo(**model_info(previous)),
    )
