"""API answers hold tenants' data: never cached, never type-sniffed (issue 14, item 11)."""

from __future__ import annotations

from tests.conftest import Api


async def test_answers_say_no_store_and_nosniff_also_for_errors(api: Api) -> None:
    ok = await api.client.get("/v1/calendars", headers=api.auth)
    refused = await api.client.get("/v1/calendars")

    assert (ok.status_code, refused.status_code) == (200, 401)
    for response in (ok, refused):
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-content-type-options"] == "nosniff"
