"""`meetbridge status`, GET /v1/status and /readyz on a real SQLite file: what needs a person is
named, one application sees only its own, and readiness follows the schema's revision."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner

from meetbridge.app import build_gateway
from meetbridge.cli import main
from meetbridge.db.link_rows import LinkRules
from meetbridge.db.migrate import upgrade
from meetbridge.db.tables import utcnow
from meetbridge.providers.base import ProviderCalendar
from meetbridge.runtime.gateway import Gateway
from meetbridge.settings import Settings
from tests.conftest import Api, in_process_client


def status_command(settings: Settings, *args: str) -> tuple[int, str]:
    # The command runs its own event loop: off this test's loop, as a terminal would run it.
    result = CliRunner().invoke(main, ["status", "--database-url", settings.database_url, *args])
    return result.exit_code, result.output


async def status_of(settings: Settings, *args: str) -> tuple[int, str]:
    return await asyncio.to_thread(status_command, settings, *args)


def linkless_event(event_id: str) -> dict[str, object]:
    start = (utcnow() + timedelta(days=2)).replace(microsecond=0)
    return {
        "event_id": event_id,
        "summary": "no link",
        "start": start.isoformat().replace("+00:00", "Z"),
        "end": (start + timedelta(hours=1)).isoformat().replace("+00:00", "Z"),
        "extensions": [{"provider": "recall", "profile_id": "int_sales_0000"}],
    }


async def disconnect(gateway: Gateway, calendar_id: str) -> None:
    calendar = ProviderCalendar(
        provider_calendar_id="rc_1", platform="google_calendar", email=None, status="connected"
    )
    link, _ = await gateway.links.save(
        calendar_id, "int_sales_0000", calendar, LinkRules(record="all", series=())
    )
    await gateway.links.set_status(link, "disconnected", "the user revoked access")


async def reconcile_due(gateway: Gateway) -> int:
    """What the worker would do with the due event jobs, once each, on this test's loop; the
    number of them. (A link's sync job is left alone: that is not what these tests are about.)"""
    worker = gateway.worker()
    jobs = [job for job in await gateway.jobs.claim("status-test", 100) if job.kind == "event"]
    for job in jobs:
        await worker.handlers[job.kind].run(job.subject)
        assert await gateway.jobs.finish("status-test", job)
    return len(jobs)


async def test_a_healthy_gateway_needs_nobody(settings: Settings, api: Api) -> None:
    await api.calendar()
    code, output = await status_of(settings, "--check")
    assert (code, output.splitlines()[-1]) == (0, "Nothing needs attention."), output
    code, output = await status_of(settings, "--json")
    report = json.loads(output)
    assert (code, report["needs_attention"], report["queue"]) == (0, [], [])


async def test_check_names_a_disconnected_link(settings: Settings, api: Api) -> None:
    calendar_id = await api.calendar()
    await disconnect(api.gateway, calendar_id)
    code, output = await status_of(settings, "--check")
    assert code == 1, output
    assert (
        f"calendar {calendar_id} is disconnected from profile int_sales_0000: the user revoked access"
        in output
    )


async def test_check_names_a_failed_extension_and_the_app_sees_only_its_own(
    settings: Settings, api: Api
) -> None:
    mine = await api.calendar()
    other = await api.another("other-app")
    theirs = await other.calendar("Theirs")
    for calendar_id, client, event_id in ((mine, api, "mine-1"), (theirs, other, "theirs-1")):
        assert (await client.upsert(calendar_id, linkless_event(event_id))).status_code == 202
    await disconnect(api.gateway, theirs)
    assert await reconcile_due(api.gateway) == 2

    code, output = await status_of(settings, "--check")
    assert code == 1, output
    assert "2 upcoming extensions failed (no_meeting_url)" in output
    assert f"calendar {theirs} is disconnected" in output

    response = await api.client.get("/v1/status", headers=api.auth)
    assert response.status_code == 200, response.text
    report = response.json()
    assert [(g["reason"], g["count"]) for g in report["failing_extensions"]] == [("no_meeting_url", 1)]
    assert [e["calendar_id"] for g in report["failing_extensions"] for e in g["examples"]] == [mine]
    assert report["disconnected_links"] == []
    assert theirs not in response.text
    assert len(report["needs_attention"]) == 1
    unauthenticated = await api.client.get("/v1/status")
    assert unauthenticated.status_code == 401


async def test_readyz_is_503_while_migrations_are_behind(tmp_path: Path, config_file: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'behind.db'}"
    await asyncio.to_thread(upgrade, url, "0007")
    settings = Settings(database_url=url, config_path=config_file, run_worker=False)
    async with in_process_client(build_gateway(settings)) as client:
        behind = await client.get("/readyz")
        assert behind.status_code == 503
        assert behind.json()["status"] == "migrations behind: run meetbridge db upgrade"
        assert (behind.json()["schema"], behind.json()["schema_revision"]) == ("behind", "0007")
        await asyncio.to_thread(upgrade, url)
        ready = await client.get("/readyz")
        assert (ready.status_code, ready.json()["schema"]) == (200, "current")
        assert ready.json()["worker_heartbeat_age_seconds"] is None  # this process runs no worker
    code, output = await status_of(
        Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"), "--check"
    )
    assert code == 2
    assert "schema is empty" in output


async def test_readyz_is_503_when_the_database_cannot_be_read(tmp_path: Path, config_file: Path) -> None:
    missing = tmp_path / "no-such-folder" / "meetbridge.db"
    settings = Settings(
        database_url=f"sqlite+aiosqlite:///{missing}", config_path=config_file, run_worker=False
    )
    async with in_process_client(build_gateway(settings)) as client:
        answer = await client.get("/readyz")
    assert answer.status_code == 503
    assert (answer.json()["status"], answer.json()["database"]) == ("database unavailable", "unreachable")
