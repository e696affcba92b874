"""HTTP metrics by route template through the cached middleware: the same series Litestar's plugin
makes, counted per answer, /metrics itself left out."""

from __future__ import annotations

from prometheus_client import REGISTRY

from tests.conftest import Api

TEMPLATE = "/v1/calendars/{calendar_id}/events/{event_id}"


def requests(path: str, status: int, method: str = "GET") -> float:
    labels = {"method": method, "path": path, "status_code": str(status), "app_name": "meetbridge"}
    return REGISTRY.get_sample_value("meetbridge_http_requests_total", labels) or 0.0


def durations(path: str, status: int) -> float:
    labels = {"method": "GET", "path": path, "status_code": str(status), "app_name": "meetbridge"}
    return REGISTRY.get_sample_value("meetbridge_http_request_duration_seconds_count", labels) or 0.0


async def test_requests_are_counted_by_template_and_status(api: Api) -> None:
    calendar_id = await api.calendar()
    before = (requests(TEMPLATE, 404), durations(TEMPLATE, 404), requests(TEMPLATE, 401))
    for event_id in ("nope-1", "nope-2", "nope-3"):
        answer = await api.client.get(f"/v1/calendars/{calendar_id}/events/{event_id}", headers=api.auth)
        assert answer.status_code == 404
        assert len(answer.headers["x-request-id"]) == 32
    unauthenticated = await api.client.get(f"/v1/calendars/{calendar_id}/events/nope-1")
    assert unauthenticated.status_code == 401
    after = (requests(TEMPLATE, 404), durations(TEMPLATE, 404), requests(TEMPLATE, 401))
    assert [b - a for a, b in zip(before, after, strict=True)] == [3, 3, 1]
    in_progress = REGISTRY.get_sample_value(
        "meetbridge_http_requests_in_progress",
        {"method": "GET", "path": TEMPLATE, "status_code": "200", "app_name": "meetbridge"},
    )
    assert in_progress == 0
    scrapes = requests("/metrics", 200)
    assert (await api.client.get("/metrics")).status_code == 200
    assert requests("/metrics", 200) == scrapes == 0


async def test_a_request_id_is_echoed_when_plain_and_replaced_when_not(api: Api) -> None:
    kept = await api.client.get("/healthz", headers={"X-Request-ID": "deploy-42.a_b"})
    assert kept.headers["x-request-id"] == "deploy-42.a_b"
    for hostile in ("two words", "a" * 129, 'x"y', "line\\nbreak"):
        replaced = await api.client.get("/healthz", headers={"X-Request-ID": hostile})
        assert replaced.headers["x-request-id"] != hostile
        assert len(replaced.headers["x-request-id"]) == 32
