"""OpenTelemetry tracing, optional (``pip install 'meetbridge[otel]'``) and off unless configured.

On when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is set: spans go
over OTLP/HTTP, configured by the standard ``OTEL_*`` variables (service name, headers, sampler).
A request is a span (Litestar's OpenTelemetry plugin); the job it enqueued is a child of that span
and each provider call a child of the job, so one trace runs from an upsert to Recall's answer.

The job continues the request's trace through this process's memory (the request that enqueued a
job remembers its span for it): with ``meetbridge worker`` in another process, or after a restart,
a job starts a trace of its own. Carrying the context across processes needs it in the jobs table.
"""

from __future__ import annotations

import contextvars
import os
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
# Jobs whose request is remembered, most recent kept: a job not run by then starts its own trace.
MAX_REMEMBERED = 10_000

_provider: Any = None  # the TracerProvider while tracing is on
_tracer: Any = None  # its Tracer
_remembered: OrderedDict[tuple[str, int], Any] = OrderedDict()  # (kind, subject) -> SpanContext
_job_span: contextvars.ContextVar[Any] = contextvars.ContextVar("meetbridge_job_span", default=None)


def wanted(environ: Mapping[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    return any(env.get(name) for name in ENDPOINT_VARIABLES)


def start(environ: Mapping[str, str] | None = None) -> Any:
    """The tracer provider exporting over OTLP when configured, else None. Raises RuntimeError naming
    the extra when tracing is configured but OpenTelemetry is not installed."""
    if not wanted(environ):
        return None
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        raise RuntimeError(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set but OpenTelemetry is not installed: "
            "pip install 'meetbridge[otel]'"
        ) from None
    provider = TracerProvider(resource=Resource.create({"service.name": "meetbridge"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    use(provider)
    return provider


def use(provider: Any) -> None:
    """Record spans with ``provider`` (None: stop); tests pass one with an in-memory exporter."""
    global _tracer, _provider  # noqa: PLW0603 - one tracer per process, like OpenTelemetry's own global
    _provider = provider
    _tracer = provider.get_tracer("meetbridge") if provider is not None else None
    _remembered.clear()


def enabled() -> bool:
    return _tracer is not None


def litestar_plugins() -> list[Any]:
    """Litestar's OpenTelemetry plugin (a server span per request) while tracing is on."""
    if _provider is None:
        return []
    from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryPlugin

    config = OpenTelemetryConfig(
        tracer_provider=_provider,
        exclude=["^/metrics$"],
        scope_span_details_extractor=_route_span,
        exclude_spans=["receive", "send"],  # per-message spans, named by the raw path: noise here
    )
    return [OpenTelemetryPlugin(config)]


def _route_span(scope: Any) -> tuple[str, dict[str, Any]]:
    """The request span's first name (before routing); ``routed`` renames it by its route template."""
    return f"{scope.get('method', 'GET')} {scope.get('path', '')}", {}


def routed(method: str, route: str) -> None:
    """A request was routed: its span is named by the route template, like the HTTP metrics, never
    by the ids in its path."""
    if _tracer is None:
        return
    from opentelemetry import trace

    span = trace.get_current_span()
    span.update_name(f"{method} {route}")
    span.set_attribute("http.route", route)


def enqueued(kind: str, subject: int) -> None:
    """A job was enqueued: its run continues the current span's trace (when tracing is on)."""
    if _tracer is None:
        return
    from opentelemetry import trace

    found = trace.get_current_span().get_span_context()
    if found.is_valid:
        _remembered[(kind, subject)] = found
        _remembered.move_to_end((kind, subject))
        while len(_remembered) > MAX_REMEMBERED:
            _remembered.popitem(last=False)


def job_started(kind: str, subject: int) -> None:
    """Open the job's span, a child of the request that enqueued it when remembered; it stays the
    current span for the rest of the job's own task."""
    if _tracer is None:
        return
    from opentelemetry import context, trace

    parent = _remembered.pop((kind, subject), None)
    parent_context = trace.set_span_in_context(trace.NonRecordingSpan(parent)) if parent else None
    span = _tracer.start_span(f"job {kind}", context=parent_context, attributes={"meetbridge.job.kind": kind})
    _job_span.set(span)
    context.attach(trace.set_span_in_context(span))  # the job's own task: detached with it


def job_finished(outcome: str) -> None:
    span = _job_span.get()
    if span is None:
        return
    span.set_attribute("meetbridge.job.outcome", outcome)
    span.end()
    _job_span.set(None)


@contextmanager
def provider_span(provider: str, endpoint: str, method: str) -> Iterator[Any]:
    """A client span for one provider call (None when tracing is off): names, never URLs."""
    if _tracer is None:
        yield None
        return
    from opentelemetry.trace import SpanKind

    attributes = {
        "meetbridge.provider": provider,
        "meetbridge.endpoint": endpoint,
        "http.request.method": method,
    }
    with _tracer.start_as_current_span(
        f"{provider} {endpoint}", kind=SpanKind.CLIENT, attributes=attributes
    ) as span:
        yield span
