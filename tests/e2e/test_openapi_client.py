"""The committed OpenAPI document: in step with the app, complete, and good enough for a generated client.

A client is generated with openapi-python-client from ``openapi/openapi.json`` (as committed), imported
without edits, and used against a real ``meetbridge serve`` process.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from meetbridge.cli import openapi_document
from tests.e2e.server import ServerProcess, wait_until

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "openapi" / "openapi.json"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
PROFILE = "int_sales_0000"


def committed() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(COMMITTED.read_text(encoding="utf-8"))
    return document


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield method, path, item[method]


# --- the document -------------------------------------------------------------------------------


def test_committed_document_is_what_the_app_generates() -> None:
    generated = openapi_document()
    assert COMMITTED.read_text(encoding="utf-8") == generated, (
        "openapi/openapi.json is out of date with the app: run `meetbridge openapi` "
        "(PYTHONPATH=src python -m meetbridge openapi) and commit the result"
    )


def test_the_document_is_the_same_however_often_it_is_built() -> None:
    # Litestar fills generated examples from one seeded random stream per process, so a document
    # with them differed with whatever had built an app before (test order); routes declare none.
    assert openapi_document() == openapi_document()


def test_cli_openapi_writes_the_same_document(tmp_path: Path) -> None:
    output = tmp_path / "out" / "openapi.json"
    result = subprocess.run(
        [sys.executable, "-m", "meetbridge", "openapi", "--output", str(output)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"wrote {output}"
    assert output.read_text(encoding="utf-8") == COMMITTED.read_text(encoding="utf-8")


def test_every_operation_has_an_id_and_a_success_schema() -> None:
    document = committed()
    schemas = document["components"]["schemas"]
    seen: dict[str, str] = {}
    problems: list[str] = []
    for method, path, operation in operations(document):
        where = f"{method.upper()} {path}"
        operation_id = operation.get("operationId")
        if not operation_id or not re.fullmatch(r"[a-z][a-z0-9_]*", operation_id):
            problems.append(f"{where}: operationId {operation_id!r} missing or not snake_case")
        elif operation_id in seen:
            problems.append(f"{where}: operationId {operation_id} also used by {seen[operation_id]}")
        else:
            seen[operation_id] = where
        successes = {code: r for code, r in operation["responses"].items() if code.startswith("2")}
        if not successes:
            problems.append(f"{where}: no 2xx response")
        for code, response in successes.items():
            content = response.get("content")
            if not content:
                # Cronofy's writes answer 202 with no body, a webhook endpoint's DELETE 204 (issue 16);
                # anything else must say what it returns.
                if code not in ("202", "204"):
                    problems.append(f"{where}: {code} has no content schema")
                continue
            for media_type, media in content.items():
                ref = media.get("schema", {}).get("$ref", "")
                name = ref.removeprefix("#/components/schemas/")
                if not ref or name not in schemas:
                    problems.append(f"{where}: {code} {media_type} schema {ref!r} is not a component")
        if "400" in operation["responses"]:
            problems.append(f"{where}: documents a 400, but validation errors are 422s")
        if path.startswith("/v1/") and "401" not in operation["responses"]:
            problems.append(f"{where}: 401 not documented")
    assert not problems, "\n".join(problems)
    assert {"upsert_event", "delete_event", "read_events", "read_events_page", "get_event"} <= set(seen)
    write_ops = {o["operationId"]: o for _, _, o in operations(document)}
    assert "422" in write_ops["upsert_event"]["responses"]
    assert write_ops["upsert_event"]["responses"]["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ValidationErrors"
    }


def test_live_schema_has_the_committed_paths(live_server: ServerProcess) -> None:
    response = httpx.get(f"{live_server.url}/schema/openapi.json", timeout=10)
    assert response.status_code == 200
    live = response.json()
    document = committed()
    assert live["openapi"] == document["openapi"]
    assert sorted(live["paths"]) == sorted(document["paths"])

    def ids(doc: dict[str, Any]) -> set[tuple[str, str, str]]:
        return {(m, p, o["operationId"]) for m, p, o in operations(doc)}

    assert ids(live) == ids(document)


# --- a generated client -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Generate a client package from the committed document; yield its (unique) import name."""
    root = tmp_path_factory.mktemp("generated")
    package = f"meetbridge_client_{uuid.uuid4().hex[:8]}"
    # The generator runs `ruff` from PATH: the one installed beside this Python, even when the
    # interpreter was started by its path without activating its environment.
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    executable = shutil.which("openapi-python-client", path=path)
    command = [executable] if executable else [sys.executable, "-m", "openapi_python_client"]
    result = subprocess.run(
        [
            *command,
            "generate",
            "--path",
            str(COMMITTED),
            "--output-path",
            str(root / package),
            "--meta",
            "none",
            "--fail-on-warning",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PATH": path},
    )
    assert result.returncode == 0, f"generation failed:\n{result.stdout}\n{result.stderr}"
    sys.path.insert(0, str(root))
    try:
        yield package
    finally:
        sys.path.remove(str(root))
        for name in [n for n in sys.modules if n == package or n.startswith(f"{package}.")]:
            del sys.modules[name]


def load(package: str, name: str) -> ModuleType:
    return importlib.import_module(f"{package}.{name}")


@pytest.fixture(scope="module")
def api(generated: str, live_server: ServerProcess) -> Iterator[Any]:
    client_module = load(generated, "client")
    client = client_module.AuthenticatedClient(
        base_url=live_server.url, token=live_server.token("generated-client"), raise_on_unexpected_status=True
    )
    with client as entered:
        yield entered


def create_calendar(generated: str, api: Any, name: str) -> str:
    models = load(generated, "models")
    create = load(generated, "api.calendars.create_calendar")
    response = create.sync_detailed(client=api, body=models.CalendarCreate(name=name))
    assert response.status_code == 200, response.content
    assert isinstance(response.parsed, models.CalendarResponse)
    assert response.parsed.calendar.calendar_name == name
    assert response.parsed.calendar.calendar_readonly is False
    calendar_id: str = response.parsed.calendar.calendar_id
    return calendar_id


def upsert(generated: str, api: Any, calendar_id: str, **fields: Any) -> None:
    models = load(generated, "models")
    upsert_event = load(generated, "api.events.upsert_event")
    response = upsert_event.sync_detailed(calendar_id, client=api, body=models.EventUpsert(**fields))
    assert response.status_code == 202, response.content
    assert response.parsed is None


def test_generated_client_upserts_and_reads_one_event(generated: str, api: Any) -> None:
    models = load(generated, "models")
    types = load(generated, "types")
    get_event = load(generated, "api.events.get_event")
    calendar_id = create_calendar(generated, api, "Generated")

    upsert(
        generated,
        api,
        calendar_id,
        event_id="gen-1",
        summary="Generated client",
        description="typed all the way",
        start="2030-08-01T10:00:00Z",
        end=models.EventTimeObject(time="2030-08-01T13:30:00", tzid="Europe/Berlin"),
        tzid="Europe/Berlin",
        conferencing=models.ConferencingUpdate(
            profile_id="explicit", provider_description="Zoom", join_url="https://zoom.us/j/1234567890"
        ),
        extensions=[models.Extension(provider="recall", profile_id=PROFILE)],
    )

    response = get_event.sync_detailed(calendar_id, "gen-1", client=api)
    assert response.status_code == 200, response.content
    assert isinstance(response.parsed, models.EventDetailResponse)
    event = response.parsed.event
    assert isinstance(event, models.EventDetailRead)
    assert (event.event_id, event.calendar_id, event.summary) == ("gen-1", calendar_id, "Generated client")
    assert event.description == "typed all the way"
    assert (event.start, event.end) == ("2030-08-01T10:00:00Z", "2030-08-01T11:30:00Z")
    assert event.tzid == "Europe/Berlin"
    assert event.deleted is False
    assert event.meeting_url == "https://zoom.us/j/1234567890"
    assert isinstance(event.conferencing, models.Conferencing)
    assert event.conferencing.provider_name == "Zoom"
    [extension] = event.extensions
    assert isinstance(extension, models.ExtensionStatusRead)
    assert (extension.provider, extension.profile_id) == ("recall", PROFILE)
    # The worker is trying a Recall that is not there (port 9): the bot stays pending.
    assert extension.status == models.ExtensionStatusReadStatus.PENDING
    assert extension.bot_id is None
    assert not isinstance(extension.updated, types.Unset)

    def last_error() -> str | None:
        again = get_event.sync(calendar_id, "gen-1", client=api)
        assert isinstance(again, models.EventDetailResponse)
        [retried] = again.event.extensions
        return retried.last_error if isinstance(retried.last_error, str) else None

    # Once the first try has failed, the event says so, typed as the document says.
    wait_until(lambda: last_error() is not None, timeout=20, what="the first failed try on the event")
    assert "retrying in" in (last_error() or ""), last_error()

    missing = get_event.sync_detailed(calendar_id, "no-such-event", client=api)
    assert missing.status_code == 404
    assert isinstance(missing.parsed, models.ErrorBody)
    assert missing.parsed.error == "not_found"


def test_generated_client_reads_events_page_by_page(generated: str, api: Any) -> None:
    models = load(generated, "models")
    read_events = load(generated, "api.events.read_events")
    read_events_page = load(generated, "api.events.read_events_page")
    calendar_id = create_calendar(generated, api, "Generated paged")
    for i in range(12):
        upsert(
            generated,
            api,
            calendar_id,
            event_id=f"gen-page-{i:02d}",
            summary=f"Paged {i}",
            start=f"2030-09-{i + 1:02d}",
            end=f"2030-09-{i + 2:02d}",
            extensions=[models.Extension(provider="recall", profile_id=PROFILE)] if i % 2 else [],
        )

    first = read_events.sync(client=api, calendar_ids=[calendar_id], include_managed=True, from_="2030-01-01")
    assert isinstance(first, models.ReadEventsResponse)
    assert (first.pages.current, first.pages.total) == (1, 2)
    assert isinstance(first.pages.next_page, str)
    token = first.pages.next_page.rsplit("/v1/events/pages/", 1)[1]
    second = read_events_page.sync(token, client=api)
    assert isinstance(second, models.ReadEventsResponse)
    assert (second.pages.current, second.pages.total) == (2, 2)
    assert second.pages.next_page is load(generated, "types").UNSET  # the last page has none

    events = [*first.events, *second.events]
    assert [e.event_id for e in events] == [f"gen-page-{i:02d}" for i in range(12)]
    for i, event in enumerate(events):
        assert isinstance(event, models.EventRead)
        assert event.summary == f"Paged {i}"
        assert event.start == f"2030-09-{i + 1:02d}"
        extensions = [(x.provider, x.profile_id) for x in event.extensions or []]
        assert extensions == ([("recall", PROFILE)] if i % 2 else [])

    localized = read_events.sync(
        client=api, calendar_ids=[calendar_id], include_managed=True, localized_times=True
    )
    assert isinstance(localized, models.ReadEventsResponse)
    start = localized.events[0].start
    assert isinstance(start, models.LocalizedTime)
    assert (start.date, start.tzid) == ("2030-09-01", "Etc/UTC")


def test_generated_client_sees_422_and_delete(generated: str, api: Any) -> None:
    models = load(generated, "models")
    upsert_event = load(generated, "api.events.upsert_event")
    delete_event = load(generated, "api.events.delete_event")
    read_events = load(generated, "api.events.read_events")
    calendar_id = create_calendar(generated, api, "Generated errors")

    refused = upsert_event.sync_detailed(
        calendar_id,
        client=api,
        body=models.EventUpsert(
            event_id="gen-bad",
            summary="Bad",
            start="2030-08-01T10:00:00Z",
            end="2030-08-01T11:00:00Z",
            extensions=[models.Extension(provider="recall", profile_id="int_unknown")],
        ),
    )
    assert refused.status_code == 422
    assert isinstance(refused.parsed, models.ValidationErrors)
    assert refused.parsed.errors.additional_keys == ["extensions"]
    [error] = refused.parsed.errors["extensions"]
    assert error.key == "errors.unknown_profile"
    assert "int_unknown" in error.description

    upsert(
        generated,
        api,
        calendar_id,
        event_id="gen-del",
        summary="Gone soon",
        start="2030-08-02",
        end="2030-08-03",
    )
    deleted = delete_event.sync_detailed(calendar_id, client=api, body=models.EventDelete(event_id="gen-del"))
    assert deleted.status_code == 202
    remaining = read_events.sync(client=api, calendar_ids=[calendar_id], include_managed=True)
    assert isinstance(remaining, models.ReadEventsResponse)
    assert remaining.events == []
    with_deleted = read_events.sync(
        client=api, calendar_ids=[calendar_id], include_managed=True, include_deleted=True
    )
    assert isinstance(with_deleted, models.ReadEventsResponse)
    assert [(e.event_id, e.deleted) for e in with_deleted.events] == [("gen-del", True)]


def test_generated_client_health_and_profiles(generated: str, api: Any) -> None:
    models = load(generated, "models")
    healthz = load(generated, "api.health.healthz")
    readyz = load(generated, "api.health.readyz")
    list_profiles = load(generated, "api.profiles.list_profiles")
    assert healthz.sync(client=api) == models.Health(status="ok")
    ready = readyz.sync(client=api)
    assert isinstance(ready, models.Readiness)
    assert (ready.status, ready.database, ready.schema) == ("ready", "reachable", "current")
    profiles = list_profiles.sync(client=api)
    assert isinstance(profiles, models.ProfilesResponse)
    assert [(p.profile_id, p.adapter, p.base_url) for p in profiles.profiles] == [
        (PROFILE, "recall-bot", "http://127.0.0.1:9")
    ]
