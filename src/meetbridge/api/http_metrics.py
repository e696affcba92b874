"""Litestar's Prometheus middleware, with each label set's metrics looked up once.

The plugin's own ``__call__`` builds a Request, a label dict and four ``labels()`` lookups (each
under a lock) per request: about 60 µs, a third of an upsert's whole cost on the 2-core machine
(benchmarks/upsert_throughput.py). This subclass keeps the plugin's metric names, labels and
multiprocess modes (it creates them through the plugin's own factories) and caches the children per
(method, route template, status), which leaves a dict lookup and three increments per request.
"""

from __future__ import annotations

import time
from typing import Any

from litestar.enums import ScopeType
from litestar.plugins.prometheus import PrometheusConfig, PrometheusMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from meetbridge.observability import tracing


class RouteMetricsMiddleware(PrometheusMiddleware):
    def __init__(self, app: ASGIApp, config: PrometheusConfig) -> None:
        super().__init__(app, config)
        self._in_progress: dict[tuple[str, str], Any] = {}
        self._done: dict[tuple[str, str, int], tuple[Any, Any, Any | None]] = {}

    def _labels(self, method: str, path: str, status: int) -> dict[str, str | int | float]:
        return {"method": method, "path": path, "status_code": status, "app_name": self._config.app_name}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP or self._config.labels or self._config.exemplars:
            await super().__call__(scope, receive, send)  # what this fast path does not cover
            return
        method: str = scope["method"]
        if self._config.excluded_http_methods and method in self._config.excluded_http_methods:
            await self.app(scope, receive, send)
            return
        path: str = scope["path_template"] if self._config.group_path else scope["path"]
        tracing.routed(method, scope["path_template"])
        started = time.perf_counter()
        status = 200

        async def wrapped_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        in_progress = self._in_progress.get((method, path))
        if in_progress is None:
            labels = self._labels(method, path, 200)
            in_progress = self.requests_in_progress(labels).labels(*labels.values())
            self._in_progress[(method, path)] = in_progress
        in_progress.inc()
        try:
            await self.app(scope, receive, wrapped_send)
        finally:
            in_progress.dec()
            done = self._done.get((method, path, status))
            if done is None:
                labels = self._labels(method, path, status)
                values = list(labels.values())
                errors = self.requests_error_count(labels).labels(*values) if status >= 500 else None
                done = (
                    self.request_count(labels).labels(*values),
                    self.request_time(labels).labels(*values),
                    errors,
                )
                self._done[(method, path, status)] = done
            count, duration, errors = done
            count.inc()
            duration.observe(time.perf_counter() - started)
            if errors is not None:
                errors.inc()
