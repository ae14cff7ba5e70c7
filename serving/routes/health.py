"""Liveness, readiness and the Prometheus metrics: no key needed."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from serving.deps import State
from serving.schemas import Health, ModelInfo
from serving.service import model_info

router = APIRouter()


@router.get("/healthz", response_model=Health, tags=["health"])
async def healthz() -> Health:
    """Liveness: the process answers."""
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Health,
    responses={503: {"model": Health, "description": "No model loaded."}},
    tags=["health"],
)
async def readyz(state: State) -> Any:
    """Readiness: a model is loaded and the server takes predictions."""
    if state.holder is None or state.service is None:
        return JSONResponse({"status": "unavailable", "model": None}, status_code=503)
    p = state.holder.current
    return Health(status="ok", model=ModelInfo(**model_info(p)))


@router.get("/metrics", include_in_schema=False)
async def metrics(state: State) -> Response:
    """The app's Prometheus metrics (its own registry)."""
    return Response(generate_latest(state.registry), media_type=CONTENT_TYPE_LATEST)
