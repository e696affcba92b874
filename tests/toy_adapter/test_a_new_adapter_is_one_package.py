"""A fifth bot backend is one package and one catalogue file: the toy vendor's adapter (this folder)
passes the adapter contract every adapter passes, and a real gateway process serves it end to end
(upsert -> bot -> cancel), with its catalogue file in a temporary catalogue folder and nothing
under src/meetbridge/ that knows it exists."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from meetbridge.config.catalogue import load_catalogue
from meetbridge.config.profiles import parse_config
from meetbridge.providers.registry import AdapterRegistry
from meetbridge.settings import default_catalogue_dir
from tests.contract.test_adapter_contract import (
    START,
    Harness,
    LiveBot,
    test_a_bot_no_longer_wanted_is_removed_at_the_provider,
    test_a_future_event_gets_exactly_one_bot,
    test_an_all_day_event_fails_without_calling_the_provider,
    test_an_ended_event_gets_no_new_bot,
    test_cancel_then_want_again_makes_one_new_bot,
    test_moving_the_start_keeps_one_bot_that_follows_the_event,
    test_moving_the_start_to_within_minutes_still_leaves_one_bot,
    test_no_meeting_url_fails_without_calling_the_provider,
    test_the_same_call_again_makes_no_provider_call_and_keeps_the_bot,
)
from tests.e2e.server import ServerProcess, free_port, wait_until
from tests.toy_adapter.stand_in import ToyVendor, create_toy_app

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
KEY = "toy-vendor-key"

# The adapter contract, collected here a second time with this module's `harness`: the toy's.
CONTRACT = [
    test_a_bot_no_longer_wanted_is_removed_at_the_provider,
    test_a_future_event_gets_exactly_one_bot,
    test_an_all_day_event_fails_without_calling_the_provider,
    test_an_ended_event_gets_no_new_bot,
    test_cancel_then_want_again_makes_one_new_bot,
    test_moving_the_start_keeps_one_bot_that_follows_the_event,
    test_moving_the_start_to_within_minutes_still_leaves_one_bot,
    test_no_meeting_url_fails_without_calling_the_provider,
    test_the_same_call_again_makes_no_provider_call_and_keeps_the_bot,
]


def catalogue_with_the_toy(directory: Path) -> Path:
    """meetbridge's own catalogue plus the toy's file, in a folder of the test's."""
    shutil.copytree(default_catalogue_dir(), directory)
    shutil.copy2(HERE / "toy-bot.toml", directory / "toy-bot.toml")
    return directory


def test_nothing_under_src_knows_the_toy() -> None:
    mentions = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "src" / "meetbridge").rglob("*")
        if path.is_file() and path.suffix in {".py", ".toml"} and "toy" in path.read_text().lower()
    ]
    assert mentions == []


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    catalogue = load_catalogue(catalogue_with_the_toy(tmp_path / "adapters"))
    config = parse_config(
        {"profiles": {"int_toy": {"adapter": "toy-bot", "base_url": "http://toy.test", "api_key": "env:K"}}},
        catalogue,
        environ={"K": KEY},
    )
    vendor = ToyVendor(KEY)
    registry = AdapterRegistry(catalogue, transport=httpx.ASGITransport(app=create_toy_app(vendor)))

    async def live_bots() -> list[LiveBot]:
        return [
            LiveBot(bot["id"], datetime.fromisoformat(bot["join_at"]))
            for bot in vendor.bots.values()
            if not bot["deleted"]
        ]

    try:
        yield Harness(
            adapter=registry.adapter(config.profiles["int_toy"]),
            now=lambda: START,
            live_bots=live_bots,
            provider_calls=lambda: len(vendor.calls),
        )
    finally:
        await registry.aclose()


@pytest.fixture
def toy_vendor(tmp_path: Path) -> Iterator[str]:
    """The stand-in in a process of its own; yields its URL."""
    port = free_port()
    log = (tmp_path / "toy.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.toy_adapter.stand_in", "--port", str(port), "--api-key", KEY],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        try:
            return httpx.get(f"{url}/_toy/bots", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(answers, timeout=20, what=f"the toy vendor on {url}")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.e2e
def test_a_gateway_process_serves_the_toy_adapter_end_to_end(tmp_path: Path, toy_vendor: str) -> None:
    config = tmp_path / "meetbridge.toml"
    config.write_text(
        f'[profiles.toy]\nadapter = "toy-bot"\nbase_url = "{toy_vendor}"\napi_key = "env:TOY_KEY"\n'
    )
    server = ServerProcess(
        tmp_path,
        config=config,
        env={
            "TOY_KEY": KEY,
            "MEETBRIDGE_CATALOGUE_DIR": str(catalogue_with_the_toy(tmp_path / "adapters")),
            # The toy package lives in this repository's tests/, beside whatever the run already has.
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        },
    )
    server.cli("db", "upgrade")
    server.start()
    try:
        auth = {"Authorization": f"Bearer {server.token()}"}
        with httpx.Client(base_url=server.url, headers=auth, timeout=10) as client:
            profiles = client.get("/v1/profiles").json()
            assert [(p["profile_id"], p["adapter"]) for p in profiles["profiles"]] == [("toy", "toy-bot")]
            calendar_id = client.post("/v1/calendars", json={"name": "Toy"}).json()["calendar"]["calendar_id"]
            start = (datetime.now().astimezone() + timedelta(days=1)).replace(microsecond=0)
            body: dict[str, Any] = {
                "event_id": "toy-1",
                "summary": "Toy meeting",
                "start": start.isoformat(),
                "end": (start + timedelta(hours=1)).isoformat(),
                "location": {"description": "https://zoom.us/j/1234567890"},
                "extensions": [{"provider": "toy", "profile_id": "toy"}],
            }
            # The provider name comes from the adapter: asking for a Recall bot here is refused.
            recall = {**body, "extensions": [{"provider": "recall", "profile_id": "toy"}]}
            refused = client.post(f"/v1/calendars/{calendar_id}/events", json=recall)
            assert refused.status_code == 422, refused.text
            [error] = refused.json()["errors"]["extensions"]
            assert error["key"] == "errors.unknown_provider"
            assert "serve: toy" in error["description"]
            assert client.get(f"/v1/calendars/{calendar_id}/events/toy-1").status_code == 404
            assert client.post(f"/v1/calendars/{calendar_id}/events", json=body).status_code == 202

            def event() -> dict[str, Any]:
                found: dict[str, Any] = client.get(f"/v1/calendars/{calendar_id}/events/toy-1").json()[
                    "event"
                ]
                return found

            wait_until(lambda: event()["extensions"][0]["status"] == "scheduled", timeout=20, what="the bot")
            bots = httpx.get(f"{toy_vendor}/_toy/bots").json()
            [bot] = bots
            assert event()["metadata"] == {"toy": {"bot_id": bot["id"]}}
            assert (bot["meeting_url"], bot["deleted"]) == ("https://zoom.us/j/1234567890", False)
            assert datetime.fromisoformat(bot["join_at"]) == start

            cancel = {**body, "extensions": [{"provider": "toy", "profile_id": "none"}]}
            assert client.post(f"/v1/calendars/{calendar_id}/events", json=cancel).status_code == 202
            wait_until(lambda: event()["extensions"][0]["status"] == "cancelled", timeout=20, what="cancel")
            assert [b["deleted"] for b in httpx.get(f"{toy_vendor}/_toy/bots").json()] == [True]
            assert "toy" not in (event().get("metadata") or {})
            assert httpx.get(f"{toy_vendor}/_toy/calls").json() == [
                "POST /bots",
                f"DELETE /bots/{bot['id']}",
            ]
    finally:
        server.stop()
