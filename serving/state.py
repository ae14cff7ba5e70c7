"""What the lifespan opens, and the Prometheus metrics kept of it.

``ServingState`` is the app's one piece of state (``app.state.serving``); the routes reach it
through the typed dependencies of ``serving.deps``. The request metrics are counted by a pure
ASGI layer (no ``BaseHTTPMiddleware``: it costs a task and a queue per request); the model
serving and the prediction log's counts are set where they change (load, reload, the log's
writer).

One worker keeps its metrics in its app's registry. The workers of one server
(``serving.supervisor``) keep theirs in files in prometheus_client's multiprocess folder
(``PROMETHEUS_MULTIPROC_DIR``, set before they start), and ``/metrics``, whichever worker
answers it, reads every worker's: request counts and latencies, and the log's entries, summed
over the workers; ``asym_model_info`` per worker (a ``pid`` label), so a reload shows in each.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, multiprocess
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bundle.predictor import Predictor
from serving.keys import KeyStore
from serving.log import PredictionLog
from serving.reload import ModelHolder
from serving.service import PredictionService
from serving.settings import ServingSettings
from serving.supervisor import MULTIPROC_ENV

_LATENCY_BUCKETS: Final = (
    0.0005, 0.001, 0.002, 0.003, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
)  # fmt: skip


def shared_metrics() -> bool:
    """Whether this process keeps its metrics in the multiprocess folder (one of many workers)."""
    return MULTIPROC_ENV in os.environ


@dataclass
class ServingState:
    """What the lifespan opens; the routes read it through typed dependencies.

    Attributes:
        settings: The server's settings.
        registry: The Prometheus registry ``/metrics`` shows (one per app, so apps in one
            process differ; of a server's workers, one that reads every worker's files).
        holder: The loaded model; None until the lifespan has loaded it.
        service: Scores and logs requests; None until ready.
        keys: API keys; None with ``no_auth``.
        log: The prediction log.
    """

    settings: ServingSettings
    registry: CollectorRegistry = field(
        default_factory=lambda: CollectorRegistry(auto_describe=True)
    )
    holder: ModelHolder | None = None
    service: PredictionService | None = None
    keys: KeyStore | None = None
    log: PredictionLog | None = None
    requests: Counter = field(init=False)
    latency: Histogram = field(init=False)
    model_info: Gauge = field(init=False)
    log_written: Counter = field(init=False)
    log_failures: Counter = field(init=False)

    def __post_init__(self) -> None:
        # Of several workers, each writes its metrics to its files, and the registry reads all.
        shared = shared_metrics()
        owner = None if shared else self.registry
        self.requests = Counter(
            "asym_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ("route", "method", "status"),
            registry=owner,
        )
        self.latency = Histogram(
            "asym_http_request_duration_seconds",
            "Time from request to the end of the response, by route template.",
            ("route",),
            buckets=_LATENCY_BUCKETS,
            registry=owner,
        )
        self.model_info = Gauge(
            "asym_model_info",
            "The model answering: 1 for its name and version (0 for one it replaced).",
            ("name", "version"),
            registry=owner,
            multiprocess_mode="liveall",
        )
        self.log_written = Counter(
            "asym_prediction_log_written",
            "Predictions written to the prediction log.",
            registry=owner,
        )
        self.log_failures = Counter(
            "asym_prediction_log_failures",
            "Predictions the log could not write (dropped).",
            registry=owner,
        )
        if shared:
            multiprocess.MultiProcessCollector(self.registry)

    def serving(self, model: Predictor, replaced: Predictor | None = None) -> None:
        """Show ``model`` as the one answering (and ``replaced``, if any, as no longer)."""
        if replaced is not None:
            self.model_info.labels(replaced.model_name, replaced.model_version).set(0)
        self.model_info.labels(model.model_name, model.model_version).set(1)

    def count_log(self, written: int, lost: int) -> None:
        """The prediction log's ``on_count``: entries written and lost, as it counts them."""
        if written:
            self.log_written.inc(written)
        if lost:
            self.log_failures.inc(lost)


class MetricsMiddleware:
    """Counts and times every HTTP request by route template (pure ASGI, no extra task)."""

    def __init__(self, app: ASGIApp, state: ServingState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer through the app; count and time the answer by the route that matched."""
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
