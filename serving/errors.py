"""Error answers: the 422 that names each bad field, the last-resort 500, the documented errors."""

from __future__ import annotations

import logging
from typing import Any, Final

from fastapi import Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from serving.schemas import ALLOWED, ErrorResponse

logger = logging.getLogger("asym.serving")

ERRORS: Final[dict[int | str, dict[str, Any]]] = {
    400: {"model": ErrorResponse, "description": "Body is not text (e.g. not UTF-8)."},
    401: {"model": ErrorResponse, "description": "Missing or unknown API key."},
    413: {"description": "Request body larger than the server's limit."},
    422: {"model": ErrorResponse, "description": "Invalid request: field path and what it allows."},
    503: {"model": ErrorResponse, "description": "Model not loaded yet."},
}
"""The error answers of the OpenAPI document, by status (413: every route, from the app)."""


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI entries of ``ERRORS`` for these status codes."""
    return {code: ERRORS[code] for code in codes}


def request_error(err: ValidationError, where: str) -> RequestValidationError:
    """A pydantic error as FastAPI reports it: locations start with body or query."""
    return RequestValidationError(
        [{**e, "loc": (where, *e["loc"])} for e in err.errors(include_url=False)]
    )


def _field_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc[1:] if loc and loc[0] == "body" else loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    """422 naming each bad field and what it allows; the offending values are not echoed back."""
    assert isinstance(exc, RequestValidationError)
    detail = []
    for e in exc.errors():
        loc = tuple(e.get("loc", ()))
        name = next((p for p in reversed(loc) if isinstance(p, str)), None)
        detail.append(
            {
                "loc": list(loc),
                "field": _field_path(loc),
                "msg": e.get("msg", ""),
                "type": e.get("type", ""),
                "allowed": ALLOWED.get(name) if name else None,
            }
        )
    return JSONResponse({"detail": detail}, status_code=status.HTTP_422_UNPROCESSABLE_CONTENT)


async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    """Last resort: a bug, never the client's input; logged with the request id."""
    rid = getattr(request.state, "request_id", None)
    logger.exception("unexpected error answering %s (request %s)", request.url.path, rid)
    return JSONResponse({"detail": "internal error", "request_id": rid}, status_code=500)
