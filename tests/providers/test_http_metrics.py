"""What one provider call records: a count by status class, its latency, the pacing wait, and a log
line with the method, endpoint name and status — never the URL."""

from __future__ import annotations

import logging

import httpx
import pytest
from prometheus_client import REGISTRY

from meetbridge.errors import ProviderRejected, ProviderUnavailable
from meetbridge.providers.http import ProviderHttp

PROVIDER = "metrics-test-adapter"  # its own label: other tests' calls do not move these series
BASE = "https://user:secret-in-url@provider.test"


def calls(endpoint: str, status_class: str) -> float:
    labels = {"provider": PROVIDER, "endpoint": endpoint, "status_class": status_class}
    return REGISTRY.get_sample_value("meetbridge_provider_calls_total", labels) or 0.0


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, {"provider": PROVIDER, **labels}) or 0.0


def answer(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/down":
        raise httpx.ConnectError("refused", request=request)
    status = {"/ok": 200, "/busy": 429, "/no": 400}[request.url.path]
    return httpx.Response(status, json={"detail": "as asked"})


async def test_each_call_is_counted_by_status_class_timed_and_logged_without_its_url(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = httpx.AsyncClient(base_url=BASE, transport=httpx.MockTransport(answer))
    http = ProviderHttp(f"{PROVIDER} at {BASE}", client, {"bot": 600}, label=PROVIDER)
    before = {c: calls("bot", c) for c in ("2xx", "4xx", "error")}
    timed = sample("meetbridge_provider_call_duration_seconds_count", endpoint="bot")
    waited = sample("meetbridge_rate_limit_wait_seconds_total", endpoint="bot", cause="pacing")
    with caplog.at_level(logging.INFO, logger="meetbridge.providers"):
        for _ in range(60):  # 600 a minute paces at 54 in a burst: the last ones wait
            await http.request("bot", "GET", "/ok")
        with pytest.raises(ProviderUnavailable):
            await http.request("bot", "POST", "/busy")
        with pytest.raises(ProviderRejected):
            await http.request("bot", "POST", "/no")
        with pytest.raises(ProviderUnavailable):
            await http.request("bot", "GET", "/down")
    await http.aclose()

    moved = {c: calls("bot", c) - before[c] for c in before}
    assert moved == {"2xx": 60, "4xx": 2, "error": 1}
    assert sample("meetbridge_provider_call_duration_seconds_count", endpoint="bot") - timed == 63
    assert sample("meetbridge_rate_limit_wait_seconds_total", endpoint="bot", cause="pacing") - waited > 0.1
    lines = [r.getMessage() for r in caplog.records if r.name == "meetbridge.providers"]
    assert lines[-3:][0].startswith(f"{PROVIDER} POST bot -> 429 in ")
    assert lines[-1].startswith(f"{PROVIDER} GET bot -> no answer in ")
    assert [r.provider_status for r in caplog.records if r.name == "meetbridge.providers"][-3:] == [
        429,
        400,
        None,
    ]  # type: ignore[attr-defined]
    assert not [line for line in lines if "provider.test" in line or "secret-in-url" in line]
