"""``DirectRoute``: the predict routes' lean handler, for their one signature only.

FastAPI's own handler parses the body with the standard library, validates the result in Python
mode and solves the parameters through generic machinery: about a tenth of a ~1 ms answer
(measured by ``benchmarks/bench_serve.py``). This handler does the same work for one signature,
``(body: <a type>, call: Caller, options: Options)``: the caller first (``deps.solve_call``:
401, 503, before the body is read, so a caller without a key learns nothing of the schema), then
the query, then the body (pydantic-core's parser and validator in one pass), each error a 422 in
FastAPI's shape. Everything else, the OpenAPI document included, is the ``APIRoute``'s own.

An endpoint of any other signature is refused when its route is made, at start-up: a parameter
this handler does not know would never be supplied.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from typing import Any, get_type_hints

from fastapi import Request
from fastapi.responses import Response
from fastapi.routing import APIRoute
from pydantic import TypeAdapter, ValidationError

from serving.deps import Caller, Options, PredictOptions, solve_call
from serving.errors import request_error

_SIGNATURE = "(body: <request type>, call: Caller, options: Options)"


def _check_signature(endpoint: Callable[..., Any]) -> Any:
    """The body type of an endpoint this handler can serve; TypeError for any other endpoint."""
    names = list(inspect.signature(endpoint).parameters)
    hints = get_type_hints(endpoint, include_extras=True)
    if (
        sorted(names) != ["body", "call", "options"]
        or hints.get("call") != Caller
        or hints.get("options") != Options
        or "body" not in hints
    ):
        raise TypeError(
            f"DirectRoute serves only endpoints {_SIGNATURE}, not "
            f"{endpoint.__qualname__}{inspect.signature(endpoint)}: give it a router of "
            "FastAPI's own route class"
        )
    return hints["body"]


def _options(request: Request) -> PredictOptions:
    """The query parameters, validated as FastAPI would (422 naming the parameter)."""
    try:
        return PredictOptions.model_validate(dict(request.query_params))
    except ValidationError as err:
        raise request_error(err, "query") from None


class DirectRoute(APIRoute):
    """A route whose handler validates the JSON body straight from its bytes (see module doc)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The lean handler; TypeError for an endpoint of another signature (at start-up)."""
        adapter: TypeAdapter[Any] = TypeAdapter(_check_signature(self.endpoint))
        endpoint = self.endpoint

        async def handler(request: Request) -> Response:
            call = await solve_call(request)
            options = _options(request)
            try:
                body = adapter.validate_json(await request.body())
            except ValidationError as err:
                raise request_error(err, "body") from None
            response: Response = await endpoint(body=body, call=call, options=options)
            return response

        return handler
