"""Every meetbridge metric, defined once; call sites record with one line each.

Counters and histograms live in prometheus_client's default registry and count what this process did
(each replica exposes its own; Prometheus sums them across replicas). Gauges that describe the
database (queue depth, extensions and links by status) are not counters: ``gauge`` builds them
at scrape time from a snapshot the database gives, so every replica reports the same, true figure.

Labels are bounded by configuration: profile ids, adapter names, catalogue endpoint names, webhook
paths, status classes and closed sets of outcomes and reasons. Never an event, calendar, bot or
application id.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from meetbridge.domain.failures import REASONS, failure_reason
from meetbridge.errors import ProviderUnavailable
from meetbridge.observability import logs, tracing

PREFIX = "meetbridge"
_provider_log = logging.getLogger("meetbridge.providers")

JOB_RUNS = Counter(
    f"{PREFIX}_job_runs",
    "Worker job runs by kind and outcome (done, rerun, retry, gave_up)",
    ["kind", "outcome"],
)
JOB_DURATION = Histogram(
    f"{PREFIX}_job_run_duration_seconds",
    "Time one job run took, claim to write-back",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
PROVIDER_CALLS = Counter(
    f"{PREFIX}_provider_calls",
    "Provider HTTP calls by adapter, catalogue endpoint and status class (2xx, 4xx, 5xx, error)",
    ["provider", "endpoint", "status_class"],
)
PROVIDER_LATENCY = Histogram(
    f"{PREFIX}_provider_call_duration_seconds",
    "Provider HTTP call latency, pacing wait excluded",
    ["provider", "endpoint"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
PROVIDER_RETRIES = Counter(
    f"{PREFIX}_provider_retries",
    "Jobs retried after a transient provider failure, by adapter and status (429, 5xx, network...)",
    ["adapter", "status"],
)
RATE_LIMIT_WAIT = Counter(
    f"{PREFIX}_rate_limit_wait_seconds",
    "Seconds calls waited before sending: pacing below the endpoint's limit, or a provider's Retry-After",
    ["provider", "endpoint", "cause"],
)
BOT_ACTIONS = Counter(
    f"{PREFIX}_bot_actions",
    "What a reconcile did to an event's bot: create, update, cancel, replace",
    ["profile", "adapter", "action"],
)
EXTENSION_FAILURES = Counter(
    f"{PREFIX}_extension_failures",
    "Extensions that became failed, by reason code",
    ["profile", "adapter", "reason"],
)
WEBHOOKS_RECEIVED = Counter(
    f"{PREFIX}_webhooks_received", "Inbound webhooks for a profile that takes them", ["provider"]
)
WEBHOOKS_VERIFIED = Counter(
    f"{PREFIX}_webhooks_verified", "Inbound webhooks whose signature verified", ["provider"]
)
WEBHOOKS_REJECTED = Counter(
    f"{PREFIX}_webhooks_rejected",
    "Inbound webhooks refused or ignored: bad_signature, stale, duplicate",
    ["provider", "reason"],
)


OUTBOUND_DELIVERIES = Counter(
    f"{PREFIX}_outbound_deliveries",
    "Webhooks meetbridge sent to applications, by outcome (delivered, retried, failed)",
    ["outcome"],
)

AUDIT_RUNS = Counter(
    f"{PREFIX}_audit_runs",
    "Drift audits that repaired, by outcome: in_step (nothing differed), drifted, failed",
    ["profile", "outcome"],
)
AUDIT_DIFFERENCES = Counter(
    f"{PREFIX}_audit_differences",
    "Differences drift audits found: missing, orphan, stale, foreign",
    ["profile", "class"],
)
AUDIT_REPAIRS = Counter(
    f"{PREFIX}_audit_repairs",
    "What drift audits did about each difference: repaired, reported, skipped, failed",
    ["profile", "class", "action"],
)
AUDIT_DURATION = Histogram(
    f"{PREFIX}_audit_duration_seconds",
    "Time one drift audit took, listing (paced) and repairs included",
    ["profile"],
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800),
)
AUDIT_LAST_FINISHED = Gauge(
    f"{PREFIX}_audit_last_finished_timestamp_seconds",
    "When this process last finished a drift audit of the profile (Unix time; failed ones included)",
    ["profile"],
)

# Closed label sets are exported at zero from the start, so that an alert's rate() sees a series
# before its first event and the series count does not grow with traffic.
JOB_KINDS = ("event", "sync")
JOB_OUTCOMES = ("done", "rerun", "retry", "gave_up")
for _kind in JOB_KINDS:
    JOB_DURATION.labels(_kind)
    for _outcome in JOB_OUTCOMES:
        JOB_RUNS.labels(_kind, _outcome)


BOT_ACTION_NAMES = ("create", "update", "replace", "cancel")


def profiles_known(profiles: Iterable[tuple[str, str]]) -> None:
    """The configured (profile, adapter) pairs: their bot and failure series are exported at zero, so
    a ratio of failures to bots made has both sides from the start."""
    for profile_id, adapter in profiles:
        for action in BOT_ACTION_NAMES:
            BOT_ACTIONS.labels(profile_id, adapter, action)
        for reason in REASONS:
            EXTENSION_FAILURES.labels(profile_id, adapter, reason)


AUDIT_OUTCOMES = ("in_step", "drifted", "failed")
AUDIT_CLASSES = ("missing", "orphan", "stale", "foreign")
AUDIT_ACTIONS = ("repaired", "reported", "skipped", "failed")


def audits_known(profile_ids: Iterable[str]) -> None:
    """The audited profiles: their audit series are exported at zero (configured ids only)."""
    for profile_id in profile_ids:
        AUDIT_DURATION.labels(profile_id)
        for outcome in AUDIT_OUTCOMES:
            AUDIT_RUNS.labels(profile_id, outcome)
        for kind in AUDIT_CLASSES:
            AUDIT_DIFFERENCES.labels(profile_id, kind)
            for action in AUDIT_ACTIONS:
                AUDIT_REPAIRS.labels(profile_id, kind, action)


def audit_finished(
    profile_id: str, *, kinds: Iterable[str], repairs: Iterable[tuple[str, str]], failed: bool, took: float
) -> None:
    """One audit that repaired: the classes of its differences, (class, action) per difference acted on,
    whether it failed, and its duration in seconds."""
    found = list(kinds)
    outcome = "failed" if failed else ("drifted" if found else "in_step")
    AUDIT_RUNS.labels(profile_id, outcome).inc()
    for kind in found:
        AUDIT_DIFFERENCES.labels(profile_id, kind).inc()
    for kind, action in repairs:
        AUDIT_REPAIRS.labels(profile_id, kind, action).inc()
    AUDIT_DURATION.labels(profile_id).observe(took)
    AUDIT_LAST_FINISHED.labels(profile_id).set_to_current_time()


def provider_known(provider: str, endpoints: Iterable[str]) -> None:
    """A provider account's client exists: its endpoints' pacing waits are exported (at zero)."""
    for endpoint in endpoints:
        RATE_LIMIT_WAIT.labels(provider, endpoint, "pacing")


def status_class(status: int | None) -> str:
    return "error" if status is None else f"{status // 100}xx"


class ProviderAnswer:
    """Filled in by the caller of ``provider_call`` once the provider answered."""

    __slots__ = ("status",)

    def __init__(self) -> None:
        self.status: int | None = None


@contextmanager
def provider_call(provider: str, endpoint: str, method: str) -> Iterator[ProviderAnswer]:
    """Times, counts, traces and logs one provider call: method, endpoint name and status, never its URL."""
    answer = ProviderAnswer()
    started = time.perf_counter()
    with tracing.provider_span(provider, endpoint, method) as span:
        try:
            yield answer
        finally:
            took = time.perf_counter() - started
            PROVIDER_LATENCY.labels(provider, endpoint).observe(took)
            PROVIDER_CALLS.labels(provider, endpoint, status_class(answer.status)).inc()
            if span is not None and answer.status is not None:
                span.set_attribute("http.response.status_code", answer.status)
            _provider_log.info(
                "%s %s %s -> %s in %.0f ms",
                provider,
                method,
                endpoint,
                answer.status or "no answer",
                took * 1000,
                extra={"provider": provider, "endpoint": endpoint, "provider_status": answer.status},
            )


@contextmanager
def paced(provider: str, endpoint: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        waited = time.perf_counter() - started
        # An acquire that did not wait still takes a few microseconds: not a wait worth counting.
        if waited > 0.001:
            RATE_LIMIT_WAIT.labels(provider, endpoint, "pacing").inc(waited)


def job_started(kind: str, subject: int) -> float:
    """A job's run begins in its own task: its log context and trace span; returns the start time."""
    logs.bind(job_id=f"{kind}-{subject}")  # the job's own task: nothing to unbind
    tracing.job_started(kind, subject)
    return time.perf_counter()


def job_finished(kind: str, outcome: str, started: float) -> None:
    """``outcome``: done, rerun (changed meanwhile), retry, gave_up or lease_lost (another worker holds
    the job now); ``started`` from job_started."""
    JOB_RUNS.labels(kind, outcome).inc()
    JOB_DURATION.labels(kind).observe(time.perf_counter() - started)
    tracing.job_finished(outcome)


def retried(adapter: str | None, cause: BaseException) -> None:
    """A job will be retried after ``cause``: labelled by the provider's status when it gave one."""
    status = getattr(cause, "status", None)
    label = (str(status) if status else "network") if isinstance(cause, ProviderUnavailable) else "other"
    PROVIDER_RETRIES.labels(adapter or "none", label).inc()
    waited = getattr(cause, "retry_after", None)
    if waited:
        RATE_LIMIT_WAIT.labels(adapter or "none", "any", "retry_after").inc(waited)


def extension_written(
    profile_id: str,
    adapter: str,
    *,
    bot_before: str | None,
    bot_after: str | None,
    state_changed: bool,
    failed_now: bool,
    last_error: str | None,
) -> None:
    """Count what one reconcile did to an extension, from its bot id before and after and whether it
    turned failed (a failure already shown is not counted again)."""
    action = None
    if bot_before is None and bot_after is not None:
        action = "create"
    elif bot_before is not None and bot_after is None:
        action = "cancel"
    elif bot_before is not None and bot_after is not None:
        action = "replace" if bot_before != bot_after else ("update" if state_changed else None)
    if action is not None:
        BOT_ACTIONS.labels(profile_id, adapter, action).inc()
    if failed_now:
        EXTENSION_FAILURES.labels(profile_id, adapter, failure_reason(last_error)).inc()


def extension_failed(profile_id: str, adapter: str, last_error: str | None) -> None:
    EXTENSION_FAILURES.labels(profile_id, adapter, failure_reason(last_error)).inc()


def outbound_delivery(outcome: str) -> None:
    """One delivery attempt of a webhook to an application: ``delivered``, ``retried`` or ``failed``
    (gave up). For the outbound webhooks' sender to call, one line where each attempt ends."""
    OUTBOUND_DELIVERIES.labels(outcome).inc()


def webhook(provider: str, outcome: str) -> None:
    """``outcome``: received, verified, or a rejection reason (bad_signature, stale, duplicate)."""
    if outcome == "received":
        WEBHOOKS_RECEIVED.labels(provider).inc()
    elif outcome == "verified":
        WEBHOOKS_VERIFIED.labels(provider).inc()
    else:
        WEBHOOKS_REJECTED.labels(provider, outcome).inc()


def gauge(name: str, documentation: str, labels: list[str], values: Mapping[Any, float]) -> Metric:
    """One gauge family computed at scrape time (from the database: see module docstring)."""
    family = GaugeMetricFamily(f"{PREFIX}_{name}", documentation, labels=labels)
    for key, value in sorted(values.items()):
        family.add_metric(list(key), value)
    return family
