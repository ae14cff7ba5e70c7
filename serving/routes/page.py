"""The clinic page: its static files at ``/`` and ``/static/``, and the atlas it draws from.

No key is needed to load the page (it holds nothing of a patient's); its API calls send one.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any, Final

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from serving.page import page_config

router = APIRouter(include_in_schema=False)

STATIC_PACKAGE = ("serving", "static")
"""Where the page's files live: package data of ``serving`` (``StaticFiles(packages=...)``)."""


_INDEX: Final = (files(STATIC_PACKAGE[0]) / STATIC_PACKAGE[1] / "index.html").read_text("utf-8")
"""The page, read once when this module loads: not from disk on every request."""


@router.get("/", response_class=HTMLResponse)
async def index() -> HTMLResponse:
    """The clinic page."""
    return HTMLResponse(_INDEX)


@router.get("/page/config.json")
async def config() -> dict[str, Any]:
    """The atlas, landmarks, label ranges, risk bands and contribution words the page draws."""
    return page_config()
