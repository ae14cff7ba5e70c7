"""``GET /v1/model``: the manifest of the model answering now."""

from __future__ import annotations

from fastapi import APIRouter

from bundle.manifest import Manifest
from serving.deps import CallingClinic, Holder
from serving.errors import responses

router = APIRouter(tags=["model"])


@router.get("/v1/model", response_model=Manifest, responses=responses(401, 503))
async def model(holder: Holder, clinic: CallingClinic) -> Manifest:
    """The manifest of the model answering now."""
    return holder.current.manifest
