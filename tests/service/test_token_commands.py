"""`meetbridge token list` and `token revoke`: a revoked token is refused in every process within the
second its token cache may hold it (issue 14, item 10)."""

from __future__ import annotations

import asyncio
import re
import time

from click.testing import CliRunner, Result

from meetbridge.cli import main
from tests.conftest import Api


async def cli(*args: str) -> Result:
    # In a thread: the commands run their own event loop.
    return await asyncio.to_thread(CliRunner().invoke, main, list(args))


async def test_a_token_is_listed_by_id_and_revoked_at_once_for_every_request(api: Api) -> None:
    url = api.gateway.settings.database_url
    created = await cli("token", "create", "acme", "--database-url", url)
    assert created.exit_code == 0, created.output
    token = created.output.strip().splitlines()[-1]
    [token_id] = re.findall(r"token id ([0-9a-f]{12})", created.output)
    auth = {"Authorization": f"Bearer {token}"}
    assert (await api.client.get("/v1/calendars", headers=auth)).status_code == 200  # now in the cache

    listed = await cli("token", "list", "--database-url", url)
    assert listed.exit_code == 0, listed.output
    assert re.search(rf"^{token_id}  acme  created ", listed.output, re.MULTILINE)
    assert token not in listed.output

    revoked = await cli("token", "revoke", token_id[:8], "--database-url", url)
    assert revoked.exit_code == 0, revoked.output
    assert revoked.output.strip() == f"revoked token {token_id} of acme"

    deadline = time.monotonic() + 5  # the cache holds an answer for one second
    while (await api.client.get("/v1/calendars", headers=auth)).status_code != 401:
        assert time.monotonic() < deadline, "the revoked token still works"
        await asyncio.sleep(0.05)
    assert token_id not in (await cli("token", "list", "--database-url", url)).output
    assert (await api.client.get("/v1/calendars", headers=api.auth)).status_code == 200  # others still work


async def test_revoke_refuses_an_id_too_short_or_unknown(api: Api) -> None:
    url = api.gateway.settings.database_url

    short = await cli("token", "revoke", "abc", "--database-url", url)
    unknown = await cli("token", "revoke", "ffffffffffff", "--database-url", url)

    assert short.exit_code == 2
    assert "at least 8 characters" in short.output
    assert unknown.exit_code == 1
    assert "no token has an id starting with ffffffffffff" in unknown.output
    assert (await api.client.get("/v1/calendars", headers=api.auth)).status_code == 200
