"""What service tests share: a gateway whose adapters call a sandbox in-process, a second
application, a clock for event writes."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import msgspec
import pytest
from litestar import Litestar

from meetbridge.app import build_gateway
from meetbridge.config.catalogue import load_catalogue
from meetbridge.config.profiles import load_config
from meetbridge.db.tables import event_extensions
from meetbridge.providers.recall.webhooks import sign_recall_webhook
from meetbridge.providers.registry import AdapterRegistry
from meetbridge.runtime.gateway import Gateway
from meetbridge.settings import Settings, default_catalogue_dir
from tests.conftest import Api


def gateway_on(settings: Settings, config_path: Path, config_text: str, sandbox: Litestar) -> Gateway:
    """A gateway configured by ``config_text`` (written to ``config_path``) whose adapters reach the
    ``sandbox`` app in-process, whatever base URL their profiles name."""
    config_path.write_text(config_text)
    catalogue = load_catalogue(default_catalogue_dir())
    gateway = build_gateway(settings, load_config(config_path, catalogue))
    gateway.registry = AdapterRegistry(catalogue, transport=httpx.ASGITransport(app=sandbox))
    return gateway


@pytest.fixture
async def other_api(api: Api) -> Api:
    return await api.another("another-application")


@dataclass
class Clock:
    now: datetime

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def event_clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """Freeze the time the event repository stamps on writes (``created``/``updated``)."""
    frozen = Clock(datetime(2026, 5, 1, 8, 0, tzinfo=UTC))
    monkeypatch.setattr("meetbridge.db.events.utcnow", lambda: frozen.now)
    return frozen


async def event_with_bot(api: Api, profile_id: str, bot_id: str) -> str:
    """A new calendar holding event "ev1" whose extension names ``profile_id`` and is scheduled with
    ``bot_id``, as the worker leaves it after Create Bot; returns the calendar's id."""
    calendar_id = await api.calendar()
    body = {
        "event_id": "ev1",
        "summary": "Ours",
        "start": "2031-05-06T15:00:00Z",
        "end": "2031-05-06T15:30:00Z",
        "location": {"description": "https://zoom.us/j/1234567890"},
        "extensions": [{"provider": "recall", "profile_id": profile_id}],
    }
    assert (await api.upsert(calendar_id, body)).status_code == 202
    async with api.gateway.database.write() as connection:
        await connection.execute(
            event_extensions.update().values(
                bot_id=bot_id, status="scheduled", provider_state={"bot_id": bot_id}
            )
        )
    return calendar_id


def bot_status_delivery(
    secret: str, bot_id: str, code: str, updated_at: str, sub_code: str | None = None
) -> tuple[bytes, dict[str, str]]:
    """A bot status webhook signed as Recall's dashboard webhooks send it: (body, headers)."""
    data = {"code": code, "sub_code": sub_code, "updated_at": updated_at}
    body = msgspec.json.encode(
        {"event": f"bot.{code}", "data": {"bot": {"id": bot_id, "metadata": {}}, "data": data}}
    )
    msg_id, stamp = f"msg_{uuid.uuid4().hex}", int(time.time())
    signature = sign_recall_webhook(secret, msg_id, stamp, body)
    return body, {"webhook-id": msg_id, "webhook-timestamp": str(stamp), "webhook-signature": signature}
