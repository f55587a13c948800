"""Prometheus metrics in multiprocess mode: every gunicorn worker writes its own files under
PROMETHEUS_MULTIPROC_DIR and /metrics adds them up.

Imported by gunicorn's master too (for `child_exit`), so it reads no configuration of its own.
"""

import time
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUESTS = Counter(
    "peakready_http_requests_total", "HTTP requests served.", ["method", "route", "status"],
)
LATENCY = Histogram(
    "peakready_http_request_duration_seconds", "Time to serve a request, by route template.", ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
CACHE_HITS = Counter("peakready_cache_hits_total", "Reads answered from Redis.", ["cache"])
CACHE_MISSES = Counter("peakready_cache_misses_total", "Reads not in Redis, loaded from MariaDB and stored.", ["cache"])
CACHE_SHARED = Counter(
    "peakready_cache_shared_total", "Reads that shared the same read of another request in flight.", ["cache"],
)
CACHE_BYPASSES = Counter(
    "peakready_cache_bypasses_total", "Reads served from MariaDB because Redis was unavailable.", ["cache"],
)
DB_IN_USE = Gauge(
    "peakready_db_pool_connections_in_use", "MariaDB connections checked out of the pools.",
    multiprocess_mode="livesum",
)
DB_OPEN = Gauge(
    "peakready_db_pool_connections_open", "MariaDB connections the pools hold open (idle or in use).",
    multiprocess_mode="livesum",
)


def render() -> tuple[bytes, str]:
    """The metrics of every live and past worker, in Prometheus' text format."""
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    return generate_latest(registry), CONTENT_TYPE_LATEST


def child_exit(server: Any, worker: Any) -> None:
    """gunicorn `child_exit` hook: drop a dead worker's live gauges (its counters are kept)."""
    multiprocess.mark_process_dead(worker.pid)


class MetricsMiddleware:
    """Counts and times every HTTP request by method, route template (not raw path) and status."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            REQUESTS.labels(scope["method"], route, str(status)).inc()
            LATENCY.labels(route).observe(time.perf_counter() - start)
