"""What the lifespan opens, and the Prometheus metrics read from it.

``ServingState`` is the app's one piece of state (``app.state.serving``); the routes reach it
through the typed dependencies of ``serving.deps``. The request metrics are counted by a pure
ASGI layer (no ``BaseHTTPMiddleware``: it costs a task and a queue per request).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.keys import KeyStore
from serving.log import PredictionLog
from serving.reload import ModelHolder
from serving.service import PredictionService
from serving.settings import ServingSettings

_LATENCY_BUCKETS: Final = (
    0.0005, 0.001, 0.002, 0.003, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
)  # fmt: skip


@dataclass
class ServingState:
    """What the lifespan opens; the routes read it through typed dependencies.

    Attributes:
        settings: The server's settings.
        registry: Prometheus registry of this app (one per app, so apps in one process differ).
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
