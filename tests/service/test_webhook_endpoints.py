"""``/v1/webhook_endpoints`` in-process: bad input is a 4xx naming the field and changes nothing, a
secret is shown only by create and rotate, and another application's endpoints do not exist for it."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from meetbridge.config.secrets import Secret
from meetbridge.db.webhook_tables import webhook_endpoints
from tests.conftest import Api

PUBLIC = "https://93.184.216.34/hooks/meetbridge"  # a literal public address: no DNS in tests


async def create(api: Api, body: dict[str, object]) -> dict[str, object]:
    response = await api.client.post("/v1/webhook_endpoints", json=body, headers=api.auth)
    assert response.status_code == 201, response.text
    endpoint: dict[str, object] = response.json()["endpoint"]
    return endpoint


async def stored_count(api: Api) -> int:
    async with api.gateway.database.read() as connection:
        return int(await connection.scalar(sa.select(sa.func.count()).select_from(webhook_endpoints)) or 0)


async def test_create_shows_the_secret_once_and_reads_never_do(api: Api) -> None:
    created = await create(api, {"url": PUBLIC, "description": "crm"})
    assert str(created["secret"]).startswith("whsec_")
    assert created["status"] == "enabled"
    assert created["event_types"] == [
        "bot.scheduled", "bot.updated", "bot.cancelled", "bot.failed", "bot.status", "bot.moved"
    ]  # fmt: skip
    endpoint_id = created["endpoint_id"]
    one = await api.client.get(f"/v1/webhook_endpoints/{endpoint_id}", headers=api.auth)
    listed = await api.client.get("/v1/webhook_endpoints", headers=api.auth)
    assert one.json()["endpoint"]["url"] == PUBLIC
    assert [e["endpoint_id"] for e in listed.json()["endpoints"]] == [endpoint_id]
    for text in (one.text, listed.text):
        assert "secret" not in text
        assert str(created["secret"]) not in text


async def test_the_secret_is_sealed_when_a_secret_key_is_configured(
    api: Api,
) -> None:
    server = api.gateway.config.server
    sealed_config = type(api.gateway.config)(
        server=type(server)(secret_key=Secret("k" * 32, "test")),
        profiles=api.gateway.config.profiles,
        webhooks=api.gateway.config.webhooks,
    )
    api.gateway.live.replace(sealed_config)
    created = await create(api, {"url": PUBLIC})
    async with api.gateway.database.read() as connection:
        stored = await connection.scalar(sa.select(webhook_endpoints.c.secret))
    assert str(stored).startswith("sealed:")
    assert str(created["secret"])[6:] not in str(stored)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "http://93.184.216.34/hook"}, "url"),  # http without allow_private_urls
        ({"url": "https://127.0.0.1/hook"}, "url"),
        ({"url": "https://10.1.2.3/hook"}, "url"),
        ({"url": "https://[::1]/hook"}, "url"),
        ({"url": "https://[::ffff:192.168.0.1]/hook"}, "url"),
        ({"url": "https://localhost/hook"}, "url"),  # resolves to loopback
        ({"url": "not a url"}, "url"),
        ({"url": "https://user:pw@93.184.216.34/"}, "url"),
        ({"url": "https://" + "a" * 2050}, "url"),
        ({"url": "https://93.184.216.34/a\x00b"}, "url"),
        ({"url": PUBLIC, "description": "nul \x00"}, "description"),
        ({}, "url"),
        ({"url": 5}, "url"),
        ({"url": PUBLIC, "event_types": ["bot.exploded"]}, "event_types"),
        ({"url": PUBLIC, "event_types": []}, "event_types"),
        ({"url": PUBLIC, "event_types": "bot.status"}, "event_types"),
        ({"url": PUBLIC, "description": "d" * 1025}, "description"),
    ],
)
async def test_bad_input_is_a_422_naming_the_field(api: Api, body: dict[str, object], field: str) -> None:
    response = await api.client.post("/v1/webhook_endpoints", json=body, headers=api.auth)
    assert response.status_code == 422, response.text
    assert list(response.json()["errors"]) == [field]
    assert await stored_count(api) == 0


async def test_another_applications_endpoints_answer_404_and_stay_unchanged(api: Api) -> None:
    other = await api.another("other-app")
    endpoint = await create(api, {"url": PUBLIC})
    path = f"/v1/webhook_endpoints/{endpoint['endpoint_id']}"
    answers = [
        await other.client.get(path, headers=other.auth),
        await other.client.patch(path, json={"status": "disabled"}, headers=other.auth),
        await other.client.post(f"{path}/rotate_secret", headers=other.auth),
        await other.client.get(f"{path}/deliveries", headers=other.auth),
        await other.client.post(f"{path}/deliveries/msg_x/retry", headers=other.auth),
        await other.client.delete(path, headers=other.auth),
    ]
    assert [a.status_code for a in answers] == [404] * 6
    assert all(a.json()["error"] == "not_found" for a in answers)
    assert (await other.client.get("/v1/webhook_endpoints", headers=other.auth)).json() == {"endpoints": []}
    mine = await api.client.get(path, headers=api.auth)
    assert mine.json()["endpoint"]["status"] == "enabled"


async def test_patch_changes_only_what_is_sent_and_delete_removes(api: Api) -> None:
    endpoint = await create(api, {"url": PUBLIC, "description": "crm"})
    path = f"/v1/webhook_endpoints/{endpoint['endpoint_id']}"
    patched = await api.client.patch(
        path,
        json={"status": "disabled", "event_types": ["bot.status", "bot.failed", "bot.status"]},
        headers=api.auth,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["endpoint"]["status"] == "disabled"
    assert patched.json()["endpoint"]["event_types"] == ["bot.failed", "bot.status"]
    assert patched.json()["endpoint"]["description"] == "crm"
    bad = await api.client.patch(path, json={"url": "https://192.168.1.1/"}, headers=api.auth)
    assert bad.status_code == 422
    assert list(bad.json()["errors"]) == ["url"]
    assert (await api.client.get(path, headers=api.auth)).json()["endpoint"]["url"] == PUBLIC
    assert (await api.client.delete(path, headers=api.auth)).status_code == 204
    assert (await api.client.get(path, headers=api.auth)).status_code == 404
    assert await stored_count(api) == 0


async def test_rotate_gives_a_new_secret_and_keeps_the_old_one_for_a_day(api: Api) -> None:
    endpoint = await create(api, {"url": PUBLIC})
    rotated = await api.client.post(
        f"/v1/webhook_endpoints/{endpoint['endpoint_id']}/rotate_secret", headers=api.auth
    )
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["endpoint"]["secret"]
    assert new_secret.startswith("whsec_")
    assert new_secret != endpoint["secret"]
    async with api.gateway.database.read() as connection:
        row = (await connection.execute(sa.select(webhook_endpoints))).one()
    assert row.previous_secret == f"plain:{endpoint['secret']}"
    assert row.previous_secret_expires_at is not None


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "limit=x", "cursor=0", "cursor=abc"])
async def test_bad_delivery_queries_are_422s_naming_the_parameter(api: Api, query: str) -> None:
    endpoint = await create(api, {"url": PUBLIC})
    response = await api.client.get(
        f"/v1/webhook_endpoints/{endpoint['endpoint_id']}/deliveries?{query}", headers=api.auth
    )
    assert response.status_code == 422, response.text
    assert list(response.json()["errors"]) == [query.split("=", maxsplit=1)[0]]


async def test_unknown_message_retry_is_a_404(api: Api) -> None:
    endpoint = await create(api, {"url": PUBLIC})
    response = await api.client.post(
        f"/v1/webhook_endpoints/{endpoint['endpoint_id']}/deliveries/msg_nope/retry", headers=api.auth
    )
    assert response.status_code == 404
    assert "msg_nope" in response.json()["message"]


@pytest.mark.parametrize(
    "url",
    [
        "https://\u2603.invalid/",
        "https://xn--/",
        "https://a..b/",
        "https://" + "a" * 300 + ".invalid/",
        "https://[zz]/",
    ],
)
async def test_hostile_urls_are_answered_never_a_500(api: Api, url: str) -> None:
    response = await api.client.post("/v1/webhook_endpoints", json={"url": url}, headers=api.auth)
    assert response.status_code in (201, 422), response.text
    if response.status_code == 422:
        assert list(response.json()["errors"]) == ["url"]
