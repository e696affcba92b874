"""What the operations e2e tests share: a gateway with JSON logs and a metrics token beside a Recall
stand-in, a scrape of its /metrics, and signed webhook deliveries."""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path

import httpx
import msgspec
from prometheus_client.parser import text_string_to_metric_families

from meetbridge.providers.recall.webhooks import sign_recall_webhook
from tests.e2e.recall import (
    API_KEY,
    ENV_KEY,
    ENV_SECRET,
    PROFILE,
    BotGateway,
    SandboxProcess,
    gateway_config,
)
from tests.e2e.server import ServerProcess, running_gateway, webhook_secret

METRICS_TOKEN = "ops-metrics-token-" + "7" * 20
OAUTH_CODE = "oauth-code-that-must-not-be-logged-1234"
REFRESH_TOKEN = "refresh-token-that-must-not-be-logged-5678"
FORGED_SECRET = "whsec_" + "Zm9yZ2VkIHNlY3JldCBmb3JnZWQ="
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def running_operations_gateway(workdir: Path) -> contextlib.AbstractContextManager[BotGateway]:
    """The gateway (JSON logs, a metrics token) and its Recall stand-in, for one test module."""
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
    return running_gateway(server, sandbox, config, make)


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
