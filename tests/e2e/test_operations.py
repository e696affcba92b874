"""Operating meetbridge against real processes: /metrics counts exactly what happened, label sets
stay bounded, JSON logs are one object a line with ids and without secrets, and `meetbridge status`
names what needs a person.

One gateway (JSON logs, a metrics token) and one Recall stand-in serve the whole module; each test
reads differences between two scrapes, so they do not depend on each other's leftovers.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import httpx
import msgspec
import pytest
from prometheus_client.parser import text_string_to_metric_families

from meetbridge.providers.recall.webhooks import sign_recall_webhook
from tests.e2e.recall import (
    API_KEY,
    ENV_KEY,
    ENV_SECRET,
    PROFILE,
    BotGateway,
    SandboxProcess,
    event_body,
    from_now,
    gateway_config,
    zoom,
)
from tests.e2e.server import ServerProcess, free_port, running_gateway, terminate, wait_until, webhook_secret

pytestmark = pytest.mark.e2e

METRICS_TOKEN = "ops-metrics-token-" + "7" * 20
OAUTH_CODE = "oauth-code-that-must-not-be-logged-1234"
REFRESH_TOKEN = "refresh-token-that-must-not-be-logged-5678"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotGateway]:
    workdir = tmp_path_factory.mktemp("operations")
    secret = webhook_secret()
    env = {
        ENV_KEY: API_KEY,
        ENV_SECRET: secret,
        "MEETBRIDGE_LOG_FORMAT": "json",
        "OPS_METRICS": METRICS_TOKEN,
    }
    server = ServerProcess(workdir, config=workdir / "meetbridge.toml", env=env)
    sandbox = SandboxProcess(
        workdir, webhook_url=f"{server.url}/v1/webhooks/recall/{PROFILE}", webhook_secret=secret
    )

    def config(sandbox_url: str) -> str:
        return gateway_config(sandbox_url) + '\n[server]\nmetrics_token = "env:OPS_METRICS"\n'

    make = functools.partial(BotGateway, webhook_secret=secret)
    with running_gateway(server, sandbox, config, make) as made:
        yield made


def scrape(gateway: BotGateway) -> Samples:
    response = httpx.get(
        f"{gateway.server.url}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    return after.get(key, 0.0) - before.get(key, 0.0)


def status_body(bot_id: str, code: str) -> bytes:
    data = {"code": code, "sub_code": None, "updated_at": "2026-01-01T00:00:00Z"}
    return msgspec.json.encode(
        {"event": f"bot.{code}", "data": {"bot": {"id": bot_id, "metadata": {}}, "data": data}}
    )


def signed(secret: str, body: bytes, *, msg_id: str, timestamp: int) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign_recall_webhook(secret, msg_id, timestamp, body),
    }


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
    forged = signed("whsec_" + "Zm9yZ2VkIHNlY3JldCBmb3JnZWQ=", body, msg_id="msg_forged", timestamp=now)
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


def test_status_check_names_the_failed_extensions(gateway: BotGateway) -> None:
    gateway.fresh()
    broken = f"ops-status-{uuid.uuid4().hex[:8]}"
    gateway.upsert(event_body(broken, from_now(days=5)))
    gateway.wait_status(broken, "failed")
    result = subprocess.run(
        [sys.executable, "-m", "meetbridge", "status", "--check"],
        env=gateway.server.env,
        cwd=gateway.server.workdir,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Needs attention:" in result.stdout
    assert "failed (no_meeting_url)" in result.stdout
    assert f"calendar {gateway.calendar_id}" in result.stdout
    report = gateway.client.get("/v1/status").json()
    groups = {group["reason"]: group for group in report["failing_extensions"]}
    assert groups["no_meeting_url"]["count"] >= 1
    assert report["needs_attention"]


def test_json_logs_are_one_object_a_line_with_ids_and_no_secrets(gateway: BotGateway) -> None:
    gateway.fresh()
    event_id = f"ops-log-{uuid.uuid4().hex[:8]}"
    response = gateway.client.post(
        f"/v1/calendars/{gateway.calendar_id}/events",
        json=event_body(event_id, from_now(days=6), join_url=zoom(5555555555)),
        headers={"X-Request-ID": "ops-request-1"},
    )
    assert response.headers["x-request-id"] == "ops-request-1"
    gateway.wait_status(event_id, "scheduled")
    made_up = gateway.client.get("/v1/profiles").headers["x-request-id"]
    assert len(made_up) == 32
    # Secrets sent in the ways a client might: an OAuth code in a callback's query, a refresh token
    # in a link request (refused: this profile links nothing).
    gateway.client.get(f"/v1/oauth/callback?code={OAUTH_CODE}&state=bogus")
    gateway.client.put(
        f"/v1/calendars/{gateway.calendar_id}/links/{PROFILE}",
        json={"platform": "google_calendar", "oauth_refresh_token": REFRESH_TOKEN},
    )
    gateway.settle()
    event_uid = gateway.event(event_id)["event_uid"]

    text = gateway.server.log()
    lines = [json.loads(line) for line in text.splitlines()]  # every line is one JSON object
    assert {"time", "level", "logger", "message"} <= set(lines[0])
    for secret in (API_KEY, gateway.webhook_secret, gateway.token, METRICS_TOKEN, OAUTH_CODE, REFRESH_TOKEN):
        assert secret not in text
    about_work = [
        line
        for line in lines
        if line["logger"] in ("uvicorn.access", "meetbridge.providers", "meetbridge.worker")
    ]
    assert about_work
    assert [line for line in about_work if not (line.get("request_id") or line.get("job_id"))] == []
    upsert = [line for line in lines if line.get("request_id") == "ops-request-1"]
    assert [line["status"] for line in upsert if line["logger"] == "uvicorn.access"] == [202]
    calls = [
        line
        for line in lines
        if line["logger"] == "meetbridge.providers" and line.get("event_uid") == event_uid
    ]
    assert [(c["endpoint"], c["provider_status"], c["profile_id"]) for c in calls][-1] == (
        "create_bot",
        201,
        PROFILE,
    )
    assert all(c["job_id"].startswith("event-") for c in calls)
    # Provider calls are logged by endpoint name, never by URL.
    assert not [c for c in calls if gateway.sandbox.url in c["message"] or "/api/v1" in c["message"]]


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


def test_readyz_reports_the_schema_and_the_workers_heartbeat(gateway: BotGateway) -> None:
    ready = httpx.get(f"{gateway.server.url}/readyz", timeout=10)
    assert ready.status_code == 200
    body = ready.json()
    assert (body["status"], body["database"], body["schema"]) == ("ready", "reachable", "current")
    assert body["schema_revision"] == body["code_revision"]
    assert 0 <= body["worker_heartbeat_age_seconds"] < 5
    assert httpx.get(f"{gateway.server.url}/healthz", timeout=10).json() == {"status": "ok"}
