"""The clinic-facing prediction API: ``create_app(settings)`` assembles its layers.

Settings (``serving.settings``), state and metrics (``serving.state``), typed dependencies and the
one auth style (``serving.deps``), error answers (``serving.errors``), the lifespan that opens the
model once (``serving.lifespan``) and the routes (``serving.routes``). Routes only validate and
delegate to ``serving.service``. The clinic page (``serving/static``, package data) is served at
``/`` and ``/static/``, with the atlas it draws at ``/page/config.json`` (``serving.routes.page``).

Two pure ASGI layers wrap the app (no ``BaseHTTPMiddleware``: it costs a task and a queue per
request): FastAPI's own request-body limit (``max_body_size``: Content-Length checked, then streamed
bytes counted; 413 beyond) and the Prometheus request metrics.
"""

from __future__ import annotations

import signal

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles

from serving import errors, process
from serving.lifespan import lifespan
from serving.routes import admin, health, model, page, predict, recommend, schedule
from serving.settings import ServingSettings, serving_settings
from serving.state import MetricsMiddleware, ServingState


def create_app(settings: ServingSettings) -> FastAPI:
    """Build the API; nothing is opened until the lifespan starts.

    Args:
        settings: What to serve and how.

    Returns:
        The app (serve it with uvicorn, or drive it in-process with an ASGI client).
    """
    app = FastAPI(
        title="asym prediction API",
        version="1",
        summary="Risk of visible left/right asymmetry after a botulinum-toxin face treatment.",
        description="Trained on a simulated registry: not fit for clinical use.",
        lifespan=lifespan,
        max_body_size=settings.max_body_bytes,
        responses=errors.responses(413),
    )
    state = ServingState(settings=settings)
    app.state.serving = state
    app.add_exception_handler(RequestValidationError, errors.validation_error)
    app.add_exception_handler(Exception, errors.unexpected_error)
    app.add_middleware(MetricsMiddleware, state=state)
    app.include_router(predict.router)
    app.include_router(predict.batch_router, max_body_size=settings.max_batch_body_bytes)
    app.include_router(schedule.router)
    app.include_router(recommend.router)
    app.include_router(model.router)
    app.include_router(admin.router)
    app.include_router(health.router)
    app.include_router(page.router)
    app.mount("/static", StaticFiles(packages=[page.STATIC_PACKAGE]), name="static")
    return app


def app_from_env() -> FastAPI:
    """The app of an ``asym serve`` worker (uvicorn's factory): settings from ``ASYM_SERVE_*``.

    The worker owns its process, so its lifespan also tunes it for serving
    (``serving.process.tuned``); an app sharing a process (tests, embedding) leaves it alone.
    Until its lifespan takes SIGHUP (a reload), the worker ignores it rather than die of it.
    """
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    app = create_app(serving_settings())
    app.router.lifespan_context = process.tuned(app.router.lifespan_context)
    return app
