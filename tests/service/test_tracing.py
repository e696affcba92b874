"""Optional tracing: one trace from an upsert's request through its job to each provider call, and
nothing at all unless an OTLP endpoint is configured."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Sequence

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from meetbridge.observability import tracing
from meetbridge.runtime.gateway import Gateway
from tests.conftest import app_api
from tests.service.test_operations_status import linkless_event


class Spans(InMemorySpanExporter):
    """Finished spans, and a hook called as each one ends (on the thread that ended it: this loop's)."""

    def __init__(self) -> None:
        super().__init__()
        self.on_end: Callable[[ReadableSpan], None] = lambda _span: None

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = super().export(spans)
        for span in spans:
            self.on_end(span)
        return result


@pytest.fixture
def spans() -> Iterator[Spans]:
    exporter = Spans()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use(provider)
    try:
        yield exporter
    finally:
        tracing.use(None)


async def test_one_trace_from_the_upsert_through_the_job_to_each_provider_call(
    spans: Spans, gateway: Gateway
) -> None:
    async with app_api(gateway, "traced") as api:  # the app is built while tracing is on
        calendar_id = await api.calendar()
        body = {
            **linkless_event("traced-1"),
            "conferencing": {"profile_id": "explicit", "join_url": "https://zoom.us/j/1234567890"},
        }
        assert (await api.upsert(calendar_id, body)).status_code == 202
        stop, job_ended = asyncio.Event(), asyncio.Event()
        spans.on_end = lambda span: job_ended.set() if span.name == "job event" else None
        worker = asyncio.create_task(gateway.worker().run(stop))
        try:
            # The profile's Recall is unreachable (127.0.0.1:9): the call fails and the job is retried.
            async with asyncio.timeout(20):
                await job_ended.wait()
        finally:
            stop.set()
            await worker
    finished = spans.get_finished_spans()
    assert not [s.name for s in finished if calendar_id in s.name]  # route templates, never ids
    [request] = [
        s
        for s in finished
        if s.name.startswith("POST /v1/calendars/{calendar_id}/events") and s.parent is None
    ]
    [job] = [s for s in finished if s.name == "job event"][:1]
    calls = [s for s in finished if s.name.startswith("recall-bot ")]
    assert job.parent is not None
    assert job.parent.span_id == request.context.span_id
    assert job.context.trace_id == request.context.trace_id
    assert job.attributes is not None
    assert job.attributes["meetbridge.job.outcome"] == "retry"
    assert calls
    for call in calls:
        assert call.parent is not None
        assert call.parent.span_id == job.context.span_id
        assert call.attributes is not None
        assert call.attributes["meetbridge.provider"] == "recall-bot"
        assert not [v for v in call.attributes.values() if "127.0.0.1" in str(v)]  # names, never URLs


def test_tracing_is_off_unless_an_endpoint_is_configured() -> None:
    assert tracing.start({}) is None
    assert not tracing.enabled()
    assert tracing.litestar_plugins() == []
    provider = tracing.start({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"})
    try:
        assert tracing.enabled()
        assert len(tracing.litestar_plugins()) == 1
    finally:
        tracing.use(None)
        provider.shutdown()
