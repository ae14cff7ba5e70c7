"""The clinic-facing prediction API: ``create_app(settings)`` and its lifespan.

The lifespan resolves the model, opens its onnxruntime sessions once (``serving.reload.ModelHolder``
keeps them and swaps them on reload), opens the prediction log and loads the API keys. Routes only
validate (the contract-derived types of ``serving.schemas``) and delegate to ``serving.service``;
the two predict routes do it with a lean handler of their own (``_DirectRoute``), as they answer
in about a millisecond and FastAPI's generic one cost a tenth of that.

Two pure ASGI layers wrap the app (no ``BaseHTTPMiddleware``: it costs a task and a queue per
request): FastAPI's own request-body limit (``max_body_size``: Content-Length checked, then streamed
bytes counted; 413 beyond) and the Prometheus request metrics.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any, Final, get_type_hints

import orjson
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bundle.manifest import Manifest
from bundle.predictor import Predictor
from bundle.resolve import resolve_model
from serving.keys import Clinic, KeyStore
from serving.log import PredictionLog
from serving.process import tune_for_serving
from serving.reload import ModelHolder, ReloadRefused
from serving.schemas import (
    ALLOWED,
    BatchRequest,
    BatchResponse,
    ErrorResponse,
    Health,
    ModelInfo,
    PredictRequest,
    PredictResponse,
)
from serving.service import FEATURE_GROUPS, PredictionService, model_info
from serving.settings import ServingSettings, serving_settings

logger = logging.getLogger("asym.serving")

API_KEY_HEADER: Final = "X-API-Key"
LOCAL_CLINIC: Final = Clinic(name="local", admin=True)
"""Who calls a server started with ``no_auth`` (bound to loopback: the operator)."""
_LATENCY_BUCKETS: Final = (
    0.0005, 0.001, 0.002, 0.003, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
)  # fmt: skip


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


@dataclass
class ServingState:
    """What the lifespan opens; the routes read it through typed dependencies.

    Attributes:
        settings: The server's settings.
        registry: Prometheus registry of this app (one per app, so apps in one process differ).
        own_process: The app is its process's only one (an ``asym serve`` worker): the lifespan
            tunes the process for serving (``serving.process``).
        holder: The loaded model; None until the lifespan has loaded it.
        service: Scores and logs requests; None until ready.
        keys: API keys; None with ``no_auth``.
        log: The prediction log.
    """

    settings: ServingSettings
    registry: CollectorRegistry
    own_process: bool = False
    holder: ModelHolder | None = None
    service: PredictionService | None = None
    keys: KeyStore | None = None
    log: PredictionLog | None = None
    requests: Counter = field(init=False)
    latency: Histogram = field(init=False)

    def __post_init__(self) -> None:
        self.requests = Counter(
            "asym_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ("route", "method", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "asym_http_request_duration_seconds",
            "Time from request to the end of the response, by route template.",
            ("route",),
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_StateCollector(self))


class _StateCollector(Collector):
    """Model identity and prediction-log counts, read at scrape time (they change on reload)."""

    def __init__(self, state: ServingState) -> None:
        self._state = state

    def collect(self) -> Iterator[Metric]:
        info = GaugeMetricFamily(
            "asym_model_info", "The model answering: 1 for its name and version.",
            labels=("name", "version"),
        )  # fmt: skip
        if self._state.holder is not None:
            p = self._state.holder.current
            info.add_metric((p.model_name, p.model_version), 1.0)
        yield info
        log = self._state.log
        written = CounterMetricFamily(
            "asym_prediction_log_written", "Predictions written to the prediction log."
        )
        failed = CounterMetricFamily(
            "asym_prediction_log_failures", "Predictions the log could not write (dropped)."
        )
        written.add_metric((), float(log.written) if log else 0.0)
        failed.add_metric((), float(log.failures) if log else 0.0)
        yield written
        yield failed


class _MetricsMiddleware:
    """Counts and times every HTTP request by route template (pure ASGI, no extra task)."""

    def __init__(self, app: ASGIApp, state: ServingState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        code = 500  # an exception escaping the app becomes a 500 in ServerErrorMiddleware

        async def send_status(message: Message) -> None:
            nonlocal code
            if message["type"] == "http.response.start":
                code = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            # Templates, never raw paths: a scanner's random URLs must not create label values.
            path = getattr(route, "path", "unmatched")
            self.state.requests.labels(path, scope["method"], str(code)).inc()
            self.state.latency.labels(path).observe(time.perf_counter() - started)


# --- Dependencies -------------------------------------------------------------------------------
# All async, though none awaits: FastAPI runs a plain `def` dependency in the thread pool, and
# the hops there and back cost more than the whole prediction.


async def _state(request: Request) -> ServingState:
    state: ServingState = request.app.state.serving
    return state


State = Annotated[ServingState, Depends(_state)]


async def _holder(state: State) -> ModelHolder:
    if state.holder is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "model not loaded yet")
    return state.holder


_api_key = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, description="Clinic API key.")
_KEY_SECURITY: Final[dict[str, Any]] = {"security": [{_api_key.scheme_name: []}]}
"""The OpenAPI security requirement of routes that read the key without ``_api_key``."""


def _authenticate(request: Request, state: ServingState, key: str | None) -> Clinic:
    """The calling clinic, from its API key; 401 without a known key (unless no_auth)."""
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


async def _clinic(
    request: Request, state: State, key: Annotated[str | None, Depends(_api_key)]
) -> Clinic:
    return _authenticate(request, state, key)


async def _admin(clinic: Annotated[Clinic, Depends(_clinic)]) -> Clinic:
    if not clinic.admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this API key is not an admin key")
    return clinic


@dataclass(frozen=True)
class Call:
    """What a prediction needs to know of its request: the service, the caller and an id."""

    service: PredictionService
    clinic: Clinic
    request_id: str


async def _call(request: Request) -> Call:
    """Authenticate a predict request and give it an id (401, 503 as the other routes do).

    The predict routes' handler (``_DirectRoute``) calls it first, before the body is read, so
    a caller without a key learns nothing about the request schema; as the ``Caller``
    dependency of the endpoints' signatures it would do the same under FastAPI's own handler.
    It reads the key itself rather than through ``_api_key``, so the routes declare the API-key
    security scheme for the OpenAPI document themselves (``_KEY_SECURITY``).
    """
    state: ServingState = request.app.state.serving
    clinic = _authenticate(request, state, request.headers.get(API_KEY_HEADER))
    if state.service is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "model not loaded yet")
    rid = uuid.uuid4().hex
    request.state.request_id = rid
    return Call(state.service, clinic, rid)


Caller = Annotated[Call, Depends(_call)]
Holder = Annotated[ModelHolder, Depends(_holder)]
CallingClinic = Annotated[Clinic, Depends(_clinic)]
Admin = Annotated[Clinic, Depends(_admin)]


class PredictOptions(BaseModel):
    """Query parameters of the predict routes; unknown ones are refused, like unknown fields."""

    model_config = ConfigDict(extra="forbid")

    contributions: bool = Field(
        default=True,
        description=f"List the top contributions of the {len(FEATURE_GROUPS)} feature groups; "
        "false answers with an empty list.",
    )


Options = Annotated[PredictOptions, Query()]


def _options(request: Request) -> PredictOptions:
    """The query parameters, validated as FastAPI would (422 naming the parameter)."""
    try:
        return PredictOptions.model_validate(dict(request.query_params))
    except ValidationError as err:
        raise _request_error(err, "query") from None


def _request_error(err: ValidationError, where: str) -> RequestValidationError:
    """A pydantic error as FastAPI reports it: locations start with body or query."""
    return RequestValidationError(
        [{**e, "loc": (where, *e["loc"])} for e in err.errors(include_url=False)]
    )


class _DirectRoute(APIRoute):
    """The predict routes: the JSON body validated straight from its bytes.

    FastAPI's own handler parses the body with the standard library, validates the result in
    Python mode and solves the parameters through generic machinery: ~150 us of a ~1 ms answer.
    This handler does the same for the predict endpoints' one signature (body, call, options):
    the key first (``_call``: 401, 503), then the query, then the body (pydantic-core's parser
    and validator in one pass), each error a 422 in FastAPI's shape. Everything else, the
    OpenAPI document included, is the APIRoute's own.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        body_type = get_type_hints(self.endpoint, include_extras=True)["body"]
        adapter: TypeAdapter[Any] = TypeAdapter(body_type)
        endpoint = self.endpoint

        async def handler(request: Request) -> Response:
            call = await _call(request)
            options = _options(request)
            try:
                body = adapter.validate_json(await request.body())
            except ValidationError as err:
                raise _request_error(err, "body") from None
            response: Response = await endpoint(body=body, call=call, options=options)
            return response

        return handler


_ERRORS: Final[dict[int | str, dict[str, Any]]] = {
    400: {"model": ErrorResponse, "description": "Body is not text (e.g. not UTF-8)."},
    401: {"model": ErrorResponse, "description": "Missing or unknown API key."},
    413: {"description": "Request body larger than the server's limit."},
    422: {"model": ErrorResponse, "description": "Invalid request: field path and what it allows."},
    503: {"model": ErrorResponse, "description": "Model not loaded yet."},
}


_JSON: Final = "application/json"
"""Media type of the predict routes' answers, JSON made by orjson (ten times faster than the
standard library on answers)."""


# --- Error handlers -----------------------------------------------------------------------------


def _field_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc[1:] if loc and loc[0] == "body" else loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
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


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    """Last resort: a bug, never the client's input; logged with the request id."""
    rid = getattr(request.state, "request_id", None)
    logger.exception("unexpected error answering %s (request %s)", request.url.path, rid)
    return JSONResponse({"detail": "internal error", "request_id": rid}, status_code=500)


# --- Lifespan -----------------------------------------------------------------------------------


def _open(state: ServingState) -> None:
    """Load the model, keys and log (blocking: at start-up, before any request)."""
    settings = state.settings
    if settings.keys_file is not None:
        state.keys = KeyStore.load(settings.keys_file)
    elif not settings.no_auth:
        raise RuntimeError("no keys_file and no_auth is off: every request would be refused")
    bundle = resolve_model(settings.model, settings.tracking_uri)
    predictor = Predictor.load(bundle, intra_op_threads=settings.intra_op_threads)
    holder = ModelHolder(predictor, intra_op_threads=settings.intra_op_threads)
    log = PredictionLog(settings.log_url)
    log.start()
    state.log = log
    state.holder = holder
    state.service = PredictionService(lambda: holder.current, log)
    logger.info("serving %s %s from %s", predictor.model_name, predictor.model_version, bundle)


def reload_model(state: ServingState, source: str | None) -> tuple[Predictor, Predictor]:
    """Swap in another model through the holder (blocking).

    Args:
        state: The app's state.
        source: Bundle folder or models:/ URI; None: the current champion of the serving model's
            name (``ModelHolder.reload``).

    Returns:
        (previous, new) predictors.

    Raises:
        serving.reload.ReloadRefused: The new model was refused; the current one keeps serving.
    """
    if state.holder is None:
        raise ReloadRefused("no model loaded yet")
    previous = state.holder.current
    new = state.holder.reload(source, state.settings.tracking_uri)
    return previous, new


def _install_sighup(state: ServingState) -> bool:
    """Reload the current champion on SIGHUP; False where signals cannot be caught here."""
    loop = asyncio.get_running_loop()

    def on_hup() -> None:
        async def reload() -> None:
            try:
                previous, new = await run_in_threadpool(reload_model, state, None)
            except ReloadRefused as err:
                logger.warning("SIGHUP reload refused: %s", err)
                return
            logger.info(
                "SIGHUP reload: %s %s -> %s %s",
                previous.model_name, previous.model_version, new.model_name, new.model_version,
            )  # fmt: skip

        task = loop.create_task(reload())
        state_tasks.add(task)
        task.add_done_callback(state_tasks.discard)

    state_tasks: set[asyncio.Task[None]] = set()  # keeps the tasks referenced until done
    try:
        loop.add_signal_handler(signal.SIGHUP, on_hup)
    except (NotImplementedError, RuntimeError, ValueError, AttributeError):
        # Not the main thread (a test server in a thread) or no SIGHUP (Windows).
        return False
    return True


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    state: ServingState = app.state.serving
    await run_in_threadpool(_open, state)
    untune = tune_for_serving() if state.own_process else None
    hup = _install_sighup(state)
    try:
        yield
    finally:
        if hup:
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
        if state.log is not None:
            await run_in_threadpool(state.log.close)
        state.service = None
        if untune is not None:
            untune()


# --- App ----------------------------------------------------------------------------------------


def create_app(settings: ServingSettings, *, own_process: bool = False) -> FastAPI:
    """Build the API; nothing is opened until the lifespan starts.

    Args:
        settings: What to serve and how.
        own_process: The app is the only one in its process (a server worker): tune the process
            for serving while it runs (``serving.process``). Off for apps that share a process
            (tests, embedding).

    Returns:
        The app (serve it with uvicorn, or drive it in-process with an ASGI client).
    """
    app = FastAPI(
        title="asym prediction API",
        version="1",
        summary="Risk of visible left/right asymmetry after a botulinum-toxin face treatment.",
        description="Trained on a simulated registry: not fit for clinical use.",
        lifespan=_lifespan,
        max_body_size=settings.max_body_bytes,
        responses={413: _ERRORS[413]},
    )
    state = ServingState(
        settings=settings, registry=CollectorRegistry(auto_describe=True), own_process=own_process
    )
    app.state.serving = state
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected_error)
    app.add_middleware(_MetricsMiddleware, state=state)
    errors: dict[int | str, dict[str, Any]] = {k: v for k, v in _ERRORS.items() if k != 413}
    get_errors: dict[int | str, dict[str, Any]] = {
        k: v for k, v in errors.items() if k in (401, 503)
    }

    predict_routes = APIRouter(route_class=_DirectRoute)

    @predict_routes.post(
        "/v1/predict",
        response_model=PredictResponse,
        responses=errors,
        tags=["predict"],
        summary="Predict one treatment",
        openapi_extra=_KEY_SECURITY,
    )
    async def predict(body: PredictRequest, call: Caller, options: Options) -> Any:
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

    @predict_routes.post(
        "/v1/predict/batch",
        response_model=BatchResponse,
        responses=errors,
        tags=["predict"],
        summary="Predict several treatments in one model call",
        max_body_size=settings.max_batch_body_bytes,
        openapi_extra=_KEY_SECURITY,
    )
    async def predict_batch(body: BatchRequest, call: Caller, options: Options) -> Any:
        requests = body["requests"]
        if len(requests) > settings.max_batch:
            raise RequestValidationError(
                [
                    {
                        "loc": ("body", "requests"),
                        "msg": f"at most {settings.max_batch} requests per batch",
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

    app.include_router(predict_routes)

    @app.get("/v1/model", response_model=Manifest, responses=get_errors, tags=["model"])
    async def model(holder: Holder, clinic: CallingClinic) -> Manifest:
        """The manifest of the model answering now."""
        return holder.current.manifest

    @app.post(
        "/v1/admin/reload",
        response_model=ReloadResponse,
        responses={
            **errors,
            403: {"model": ErrorResponse, "description": "Not an admin key."},
            409: {"model": ErrorResponse, "description": "Reload refused; the reason."},
        },
        tags=["admin"],
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

    @app.get("/healthz", response_model=Health, tags=["health"])
    async def healthz() -> Health:
        """Liveness: the process answers."""
        return Health(status="ok")

    @app.get(
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

    @app.get("/metrics", include_in_schema=False)
    async def metrics(state: State) -> Response:
        return Response(generate_latest(state.registry), media_type=CONTENT_TYPE_LATEST)

    return app


def app_from_env() -> FastAPI:
    """The app with settings from ``ASYM_SERVE_*`` (uvicorn's factory for ``asym serve``)."""
    return create_app(serving_settings(), own_process=True)
