"""The app's side of the calendar end-to-end tests: a gateway client with the calls both the Calendar V1
and V2 harnesses make (calendars, upserts, event reads across pages)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.e2e.recall import SandboxProcess
from tests.e2e.server import ServerProcess

Json = dict[str, Any]


class CalendarApp:
    def __init__(self, server: ServerProcess, sandbox: SandboxProcess) -> None:
        self.server = server
        self.sandbox = sandbox
        self.client = httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {server.token()}"}, timeout=30
        )
        self.database = server.workdir / "meetbridge.db"

    def close(self) -> None:
        self.client.close()

    def calendar(self, name: str = "work") -> str:
        response = self.client.post("/v1/calendars", json={"name": name})
        assert response.status_code == 200, response.text
        calendar_id: str = response.json()["calendar"]["calendar_id"]
        return calendar_id

    def events(self, calendar_id: str) -> list[Json]:
        """Every event of the calendar, managed and deleted ones too, following next_page."""
        params = {"calendar_ids[]": calendar_id, "include_managed": "true", "include_deleted": "true"}
        found: list[Json] = []
        url: str | None = "/v1/events"
        while url is not None:
            response = self.client.get(url, params=params if url == "/v1/events" else None)
            assert response.status_code == 200, response.text
            body = response.json()
            found += body["events"]
            url = body["pages"].get("next_page")
        return found

    def by_uid(self, calendar_id: str, event_uid: str) -> Json:
        response = self.client.get(f"/v1/calendars/{calendar_id}/events/by-uid/{event_uid}")
        assert response.status_code == 200, response.text
        found: Json = response.json()["event"]
        return found

    def managed(self, calendar_id: str, event_id: str) -> Json:
        response = self.client.get(f"/v1/calendars/{calendar_id}/events/{event_id}")
        assert response.status_code == 200, response.text
        found: Json = response.json()["event"]
        return found

    def upsert(self, calendar_id: str, body: Json) -> None:
        response = self.client.post(f"/v1/calendars/{calendar_id}/events", json=body)
        assert response.status_code == 202, response.text
