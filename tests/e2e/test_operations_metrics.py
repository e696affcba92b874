"""/metrics against real processes: it wants its token, counts exactly what happened (bots made, a 429
retried, forged and stale webhooks refused, failed extensions, moves, replacements and cancels), keeps
its label sets bounded, and a worker run alone serves its own counters.

Each test reads differences between two scrapes, so they do not depend on each other's leftovers.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.operations import (
    FORGED_SECRET,
    METRICS_TOKEN,
    Samples,
    moved,
    running_operations_gateway,
    scrape,
    signed,
    status_body,
)
from tests.e2e.recall import PROFILE, BotGateway, event_body, from_now, zoom
from tests.e2e.server import free_port, terminate, wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotGateway]:
    with running_operations_gateway(tmp_path_factory.mktemp("metrics")) as made:
        yield made


def test_metrics_want_the_token_and_stay_out_of_the_api_document(gateway: BotGateway) -> None:
    refused = httpx.get(f"{gateway.server.url}/metrics", timeout=10)
    assert refused.status_code == 401
    assert refused.json()["error"] == "unauthorized"
    wrong = httpx.get(f"{gateway.server.url}/metrics", headers={"Authorization": "Bearer nope"}, timeout=10)
    assert wrong.status_code == 401
    assert METRICS_TOKEN not in refused.text + wrong.text
    openmetrics = httpx.get(
        f"{gateway.server.url}/metrics",
        headers={"Authorization": f"Bearer {METRICS_TOKEN}", "Accept": "application/openmetrics-text"},
        timeout=10,
    )
    assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
    assert openmetrics.text.rstrip().endswith("# EOF")
    paths = httpx.get(f"{gateway.server.url}/schema/openapi.json", timeout=10).json()["paths"]
    assert "/metrics" not in paths


def test_counters_move_by_exactly_what_happened(gateway: BotGateway) -> None:
    gateway.fresh()
    deliveries_before = len(gateway.sandbox.deliveries())
    before = scrape(gateway)

    made = f"ops-made-{uuid.uuid4().hex[:8]}"
    gateway.upsert(event_body(made, from_now(days=3), join_url=zoom(1111111111)))
    gateway.wait_status(made, "scheduled")

    gateway.sandbox.add_fault(endpoint="create_bot", status=429, retry_after=1, count=1)
    throttled = f"ops-429-{uuid.uuid4().hex[:8]}"
    gateway.upsert(event_body(throttled, from_now(days=3), join_url=zoom(2222222222)))
    gateway.wait_status(throttled, "scheduled", timeout=30)

    gateway.sandbox.add_fault(endpoint="create_bot", status=403, count=1)
    refused = f"ops-403-{uuid.uuid4().hex[:8]}"
    gateway.upsert(event_body(refused, from_now(days=3), join_url=zoom(3333333333)))
    gateway.wait_status(refused, "failed")

    linkless = f"ops-nolink-{uuid.uuid4().hex[:8]}"
    gateway.upsert(event_body(linkless, from_now(days=3)))
    gateway.wait_status(linkless, "failed")

    secret = gateway.webhook_secret
    bot_id = gateway.event(made)["metadata"]["recall"]["bot_id"]
    body = status_body(bot_id, "joining_call")
    now = int(time.time())
    genuine = signed(secret, body, msg_id=f"msg_{uuid.uuid4().hex}", timestamp=now)
    forged = signed(FORGED_SECRET, body, msg_id="msg_forged", timestamp=now)
    stale = signed(secret, body, msg_id=f"msg_{uuid.uuid4().hex}", timestamp=now - 600)
    answers = [
        httpx.post(gateway.webhook_url, content=body, headers=h, timeout=10) for h in (genuine, genuine)
    ]
    assert [a.json()["status"] for a in answers] == ["ok", "duplicate ignored"]
    assert httpx.post(gateway.webhook_url, content=body, headers=forged, timeout=10).status_code == 401
    assert httpx.post(gateway.webhook_url, content=body, headers=stale, timeout=10).status_code == 401
    gateway.settle()
    after = scrape(gateway)
    calls = gateway.sandbox.calls()
    delivered = [d for d in gateway.sandbox.deliveries()[deliveries_before:] if d["delivered"]]

    # Provider calls: the metric agrees with the stand-in's own log, call for call.
    logged = Counter((c["endpoint"], f"{c['status'] // 100}xx") for c in calls)
    assert logged[("create_bot", "2xx")] == 2
    assert logged[("create_bot", "4xx")] == 2  # the 429 and the 403
    for (endpoint, status_class), count in logged.items():
        labels = {"provider": "recall-bot", "endpoint": endpoint, "status_class": status_class}
        assert moved(before, after, "meetbridge_provider_calls_total", **labels) == count, (
            endpoint,
            status_class,
        )
    seen_endpoints = {
        dict(labels)["endpoint"]
        for (name, labels), value in after.items()
        if name == "meetbridge_provider_calls_total" and value != before.get((name, labels), 0.0)
    }
    assert seen_endpoints == {endpoint for endpoint, _ in logged}
    latency = moved(
        before,
        after,
        "meetbridge_provider_call_duration_seconds_count",
        provider="recall-bot",
        endpoint="create_bot",
    )
    assert latency == 4

    # The one 429: one retry, after the second it asked for.
    assert moved(before, after, "meetbridge_provider_retries_total", adapter="recall-bot", status="429") == 1
    assert moved(
        before,
        after,
        "meetbridge_rate_limit_wait_seconds_total",
        provider="recall-bot",
        endpoint="any",
        cause="retry_after",
    ) == pytest.approx(1.0)
    assert moved(before, after, "meetbridge_job_runs_total", kind="event", outcome="retry") == 1

    # Bots and failures.
    bots = {"profile": PROFILE, "adapter": "recall-bot"}
    assert moved(before, after, "meetbridge_bot_actions_total", **bots, action="create") == 2
    for action in ("update", "cancel", "replace"):
        assert moved(before, after, "meetbridge_bot_actions_total", **bots, action=action) == 0, action
    assert (
        moved(before, after, "meetbridge_extension_failures_total", **bots, reason="provider_rejected") == 1
    )
    assert moved(before, after, "meetbridge_extension_failures_total", **bots, reason="no_meeting_url") == 1
    assert moved(before, after, "meetbridge_extensions", **bots, status="scheduled") == 2
    assert moved(before, after, "meetbridge_extensions", **bots, status="failed") == 2

    # Webhooks: ours (one genuine, its redelivery, a forgery, a stale one) and any the stand-in sent.
    assert moved(before, after, "meetbridge_webhooks_received_total", provider="recall") == 4 + len(delivered)
    assert moved(before, after, "meetbridge_webhooks_verified_total", provider="recall") == 2 + len(delivered)
    for reason in ("bad_signature", "stale", "duplicate"):
        assert (
            moved(before, after, "meetbridge_webhooks_rejected_total", provider="recall", reason=reason) == 1
        )

    # The database's state, read at scrape time: the outbox is empty once settled.
    for state in ("queued", "running", "retrying"):
        assert after.get(("meetbridge_jobs", frozenset({("kind", "event"), ("state", state)})), 0.0) == 0
    assert after[("meetbridge_database_up", frozenset())] == 1
    assert 0 <= after[("meetbridge_worker_heartbeat_age_seconds", frozenset())] < 5

    # HTTP metrics by route template, never by id.
    upserts = {"method": "POST", "path": "/v1/calendars/{calendar_id}/events", "status_code": "202"}
    assert moved(before, after, "meetbridge_http_requests_total", app_name="meetbridge", **upserts) == 4
    assert not [key for key in after if gateway.calendar_id in str(key) or made in str(key)]


def test_creates_updates_replacements_and_cancels_are_counted(gateway: BotGateway) -> None:
    gateway.fresh()
    before = scrape(gateway)
    event_id, start = f"ops-life-{uuid.uuid4().hex[:8]}", from_now(days=3)
    gateway.upsert(event_body(event_id, start, join_url=zoom(6666666666)))
    gateway.wait_status(event_id, "scheduled")
    first_bot = gateway.extension(event_id)["bot_id"]
    gateway.upsert(event_body(event_id, start + timedelta(days=1), join_url=zoom(6666666666)))
    gateway.wait_status(event_id, "scheduled")
    assert gateway.extension(event_id)["bot_id"] == first_bot  # moved in place
    gateway.upsert(event_body(event_id, start + timedelta(days=1), join_url=zoom(7777777777)))
    gateway.wait_status(event_id, "scheduled")
    assert gateway.extension(event_id)["bot_id"] == first_bot  # another meeting link: patched too
    gateway.upsert(event_body(event_id, from_now(minutes=5), join_url=zoom(7777777777)))
    gateway.wait_status(event_id, "scheduled")
    assert gateway.extension(event_id)["bot_id"] != first_bot  # too late to move: an ad-hoc bot
    gateway.delete(event_id)
    gateway.wait_status(event_id, "cancelled")
    after = scrape(gateway)

    bots = {"profile": PROFILE, "adapter": "recall-bot"}
    counted = {
        action: moved(before, after, "meetbridge_bot_actions_total", **bots, action=action)
        for action in ("create", "update", "replace", "cancel")
    }
    assert counted == {"create": 1, "update": 2, "replace": 1, "cancel": 1}
    logged = Counter((c["endpoint"], f"{c['status'] // 100}xx") for c in gateway.sandbox.calls())
    for (endpoint, status_class), count in logged.items():
        labels = {"provider": "recall-bot", "endpoint": endpoint, "status_class": status_class}
        assert moved(before, after, "meetbridge_provider_calls_total", **labels) == count, (
            endpoint,
            status_class,
        )


def test_label_sets_stay_bounded_from_50_to_500_events_over_20_calendars(gateway: BotGateway) -> None:
    gateway.fresh()
    calendars = [
        gateway.client.post("/v1/calendars", json={"name": f"ops {i}"}).json()["calendar"]["calendar_id"]
        for i in range(20)
    ]

    def upsert(numbers: range) -> None:
        for number in numbers:
            calendar = calendars[number % len(calendars)]
            # Every other event has no meeting link: a failure per event, by reason.
            link = zoom(4000000000 + number) if number % 2 else None
            body = event_body(f"ops-many-{number}", from_now(days=4, minutes=number), join_url=link)
            response = gateway.client.post(f"/v1/calendars/{calendar}/events", json=body)
            assert response.status_code == 202, response.text
            if number % 25 == 0:
                gateway.client.get(f"/v1/calendars/{calendar}/events/ops-many-{number}")
        gateway.settle(timeout=120)

    def series(samples: Samples) -> set[tuple[str, frozenset[tuple[str, str]]]]:
        return {key for key in samples if key[0].startswith("meetbridge_")}

    upsert(range(50))
    after_50 = scrape(gateway)
    upsert(range(50, 500))
    after_500 = scrape(gateway)
    assert len(series(after_500)) == len(series(after_50)), series(after_500) ^ series(after_50)
    made = moved(
        after_50,
        after_500,
        "meetbridge_bot_actions_total",
        profile=PROFILE,
        adapter="recall-bot",
        action="create",
    )
    assert made == 225
    failed = moved(
        after_50,
        after_500,
        "meetbridge_extension_failures_total",
        profile=PROFILE,
        adapter="recall-bot",
        reason="no_meeting_url",
    )
    assert failed == 225


def test_a_worker_alone_serves_its_own_counters(gateway: BotGateway) -> None:
    port = free_port()
    server = gateway.server
    assert server.config is not None
    args = ["worker", "--config", str(server.config), "--metrics-port", str(port)]
    log = (server.workdir / f"worker-{port}.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "meetbridge", *args],
        env=server.env,
        cwd=server.workdir,
        stdout=log,
        stderr=log,
    )
    try:

        def scraped() -> str | None:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=1).text
            except httpx.HTTPError:
                return None

        wait_until(scraped, timeout=30, what="the worker's metrics port")
        families = {family.name: family for family in text_string_to_metric_families(scraped() or "")}
        runs = families["meetbridge_job_runs"]
        assert {
            (s.labels["kind"], s.labels["outcome"]) for s in runs.samples if s.name.endswith("_total")
        } >= {
            ("event", "done"),
            ("event", "retry"),
        }
        assert "process_cpu_seconds" in families  # the standard process collector
        assert "meetbridge_jobs" not in families  # the database's gauges are the API's to serve
    finally:
        terminate(process, timeout=15)
        log.close()
    assert process.returncode == 0
