"""Logs, status and probes against real processes: JSON log lines carry ids and no secret,
`meetbridge status --check` names what needs a person, /readyz reports the schema and the worker."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.operations import (
    FORGED_SECRET,
    METRICS_TOKEN,
    OAUTH_CODE,
    REFRESH_TOKEN,
    running_operations_gateway,
    signed,
    status_body,
)
from tests.e2e.recall import API_KEY, PROFILE, BotGateway, event_body, from_now, zoom

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotGateway]:
    with running_operations_gateway(tmp_path_factory.mktemp("logs")) as made:
        yield made


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
    gateway.sandbox.add_fault(endpoint="create_bot", status=429, retry_after=1, count=1)  # a retry's lines
    response = gateway.client.post(
        f"/v1/calendars/{gateway.calendar_id}/events",
        json=event_body(event_id, from_now(days=6), join_url=zoom(5555555555)),
        headers={"X-Request-ID": "ops-request-1"},
    )
    assert response.headers["x-request-id"] == "ops-request-1"
    gateway.wait_status(event_id, "scheduled", timeout=30)
    # Webhooks: a genuine status report, a forged one and a stale one (their bodies are not logged).
    bot_id = gateway.extension(event_id)["bot_id"]
    body = status_body(bot_id, "joining_call")
    now = int(time.time())
    for secret, timestamp in (
        (gateway.webhook_secret, now),
        (FORGED_SECRET, now),
        (gateway.webhook_secret, now - 600),
    ):
        headers = signed(secret, body, msg_id=f"msg_{uuid.uuid4().hex}", timestamp=timestamp)
        httpx.post(gateway.webhook_url, content=body, headers=headers, timeout=10)
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
    assert [line for line in lines if line["logger"] == "meetbridge.worker" and "429" in line["message"]]
    hooks = [line for line in lines if line["logger"] == "uvicorn.access" and "/v1/webhooks/" in line["path"]]
    assert [line["status"] for line in hooks] == [200, 401, 401]
    assert "joining_call" not in text  # a webhook's body is never logged
    about_work = [
        line
        for line in lines
        if line["logger"]
        in ("uvicorn.access", "meetbridge.providers", "meetbridge.worker", "meetbridge.webhooks")
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


def test_readyz_reports_the_schema_and_the_workers_heartbeat(gateway: BotGateway) -> None:
    ready = httpx.get(f"{gateway.server.url}/readyz", timeout=10)
    assert ready.status_code == 200
    body = ready.json()
    assert (body["status"], body["database"], body["schema"]) == ("ready", "reachable", "current")
    assert body["schema_revision"] == body["code_revision"]
    assert 0 <= body["worker_heartbeat_age_seconds"] < 5
    assert httpx.get(f"{gateway.server.url}/healthz", timeout=10).json() == {"status": "ok"}
