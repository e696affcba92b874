"""ProviderHttp: provider HTTP answers become meetbridge errors; calls are paced below rate limits."""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from meetbridge.config.catalogue import load_catalogue
from meetbridge.errors import (
    ProviderAuthExpired,
    ProviderError,
    ProviderNotFound,
    ProviderRejected,
    ProviderUnavailable,
)
from meetbridge.providers.http import ProviderHttp, pacer
from meetbridge.settings import default_catalogue_dir

NAME = "recall-bot at https://us-east-1.recall.ai"
PATH = "/api/v1/bot/"

Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
async def make_http() -> AsyncIterator[Callable[..., ProviderHttp]]:
    made: list[ProviderHttp] = []

    def build(handler: Handler, rate_limits: dict[str, int] | None = None) -> ProviderHttp:
        client = httpx.AsyncClient(
            base_url="https://us-east-1.recall.ai", transport=httpx.MockTransport(handler)
        )
        http = ProviderHttp(NAME, client, rate_limits or {})
        made.append(http)
        return http

    yield build
    for http in made:
        await http.aclose()


def answer(status: int, body: Any = None, *, text: str | None = None, **headers: str) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        if text is not None:
            return httpx.Response(status, text=text, headers=headers)
        return httpx.Response(status, json=body, headers=headers)

    return handler


async def failing(http: ProviderHttp, method: str = "POST", path: str = PATH) -> ProviderError:
    with pytest.raises(ProviderError) as info:
        await http.request("create_bot", method, path, json={"meeting_url": "https://zoom.us/j/1"})
    return info.value


# --- success ---------------------------------------------------------------------------------------


async def test_an_ok_status_returns_the_response_and_sends_the_request_as_given(
    make_http: Callable[..., ProviderHttp],
) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"id": "bot-1"})

    http = make_http(handler)
    response = await http.request(
        "create_bot", "POST", PATH, json={"meeting_url": "https://zoom.us/j/1"}, params={"a": "b"}
    )
    assert response.json() == {"id": "bot-1"}
    [request] = seen
    assert (request.method, str(request.url)) == ("POST", "https://us-east-1.recall.ai/api/v1/bot/?a=b")
    assert request.read() == b'{"meeting_url":"https://zoom.us/j/1"}'


async def test_a_status_outside_ok_raises_even_if_it_is_a_2xx(make_http: Callable[..., ProviderHttp]) -> None:
    http = make_http(answer(204))
    with pytest.raises(ProviderRejected) as info:
        await http.request("bot", "POST", PATH, ok=frozenset({200, 201}))
    assert info.value.status == 204


# --- status mapping --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param("inf", None, id="inf"),
        pytest.param("nan", None, id="nan"),
        pytest.param("-5", None, id="negative-seconds-mean-nothing"),
        pytest.param("1e12", 3600.0, id="years-capped-at-an-hour"),
        pytest.param("Wed, 21 Oct 2099 07:28:00 GMT", 3600.0, id="a-far-date-capped"),
        pytest.param("soon", None, id="unreadable"),
    ],
)
async def test_a_retry_after_that_would_park_a_job_is_capped_or_ignored(
    make_http: Callable[..., ProviderHttp], header: str, expected: float | None
) -> None:
    http = make_http(answer(429, {"detail": "Throttled."}, **{"Retry-After": header}))
    with pytest.raises(ProviderUnavailable) as info:
        await http.request("bot", "GET", PATH)
    assert info.value.retry_after == expected


@pytest.mark.parametrize("status", [409, 429, 500, 502, 503, 504, 507])
async def test_transient_statuses_are_unavailable_with_retry_after_seconds(
    make_http: Callable[..., ProviderHttp], status: int
) -> None:
    http = make_http(answer(status, {"detail": "Please retry."}, **{"Retry-After": "30"}))
    error = await failing(http)
    assert type(error) is ProviderUnavailable
    assert (error.status, error.retry_after) == (status, 30.0)
    assert str(error) == f"{NAME} answered {status} to POST {PATH}: Please retry."


@pytest.mark.parametrize("status", [409, 500, 502, 503, 504, 507])
async def test_transient_statuses_without_retry_after_leave_it_to_the_backoff(
    make_http: Callable[..., ProviderHttp], status: int
) -> None:
    error = await failing(make_http(answer(status, {"detail": "Dropped."})))
    assert isinstance(error, ProviderUnavailable)
    assert (error.status, error.retry_after) == (status, None)


async def test_retry_after_as_an_http_date_becomes_seconds_from_now(
    make_http: Callable[..., ProviderHttp],
) -> None:
    when = email.utils.formatdate(time.time() + 120, usegmt=True)
    error = await failing(
        make_http(answer(429, {"detail": "Request was throttled."}, **{"Retry-After": when}))
    )
    assert isinstance(error, ProviderUnavailable)
    assert error.retry_after is not None
    assert 115 <= error.retry_after <= 121  # whole seconds in the header, and a little time passes


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param(email.utils.formatdate(time.time() - 3600, usegmt=True), 0.0, id="date-in-the-past"),
        pytest.param("1.5", 1.5, id="fractional-seconds"),
    ],
)
async def test_retry_after_is_never_negative(
    make_http: Callable[..., ProviderHttp], header: str, expected: float
) -> None:
    error = await failing(make_http(answer(503, {"detail": "x"}, **{"Retry-After": header})))
    assert isinstance(error, ProviderUnavailable)
    assert error.retry_after == expected


async def test_an_unreadable_retry_after_is_ignored_not_fatal(make_http: Callable[..., ProviderHttp]) -> None:
    error = await failing(make_http(answer(503, {"detail": "x"}, **{"Retry-After": "soon"})))
    assert isinstance(error, ProviderUnavailable)
    assert (error.status, error.retry_after) == (503, None)


async def test_401_means_the_credentials_are_no_longer_accepted(
    make_http: Callable[..., ProviderHttp],
) -> None:
    error = await failing(make_http(answer(401, {"detail": "Invalid token."})))
    assert type(error) is ProviderAuthExpired
    assert str(error) == f"{NAME} answered 401 to POST {PATH}: Invalid token."


async def test_404_means_the_object_is_gone(make_http: Callable[..., ProviderHttp]) -> None:
    error = await failing(make_http(answer(404, {"detail": "Not found."})), "DELETE", "/api/v1/bot/b-1/")
    assert type(error) is ProviderNotFound
    assert str(error) == f"{NAME} answered 404 to DELETE /api/v1/bot/b-1/: Not found."


@pytest.mark.parametrize(
    ("status", "body", "code", "detail"),
    [
        pytest.param(
            400,
            {"code": "update_bot_failed", "detail": "Not enough time to launch new bot"},
            "update_bot_failed",
            "Not enough time to launch new bot",
            id="400-code-and-detail",
        ),
        pytest.param(
            400,
            {
                "meeting_url": ["Enter a valid URL."],
                "bot_name": ["Ensure this field has no more than 100 characters."],
            },
            None,
            "meeting_url: Enter a valid URL.; bot_name: Ensure this field has no more than 100 characters.",
            id="400-drf-field-errors",
        ),
        pytest.param(
            400,
            {"join_at": "must be in the future"},
            None,
            "join_at: must be in the future",
            id="400-field-error-string",
        ),
        pytest.param(
            400,
            {"code": "teams_blacklisted_tenant", "message": "Tenant blocks bots"},
            "teams_blacklisted_tenant",
            "Tenant blocks bots",
            id="400-message-key",
        ),
        pytest.param(403, {"detail": "Request blocked."}, None, "Request blocked.", id="403-waf"),
        pytest.param(
            405,
            {"detail": "The bot has already been dispatched"},
            None,
            "The bot has already been dispatched",
            id="405-dispatched",
        ),
        pytest.param(402, {"detail": "Insufficient credit."}, None, "Insufficient credit.", id="402-credit"),
        pytest.param(400, ["something", "odd"], None, "['something', 'odd']", id="400-json-list"),
    ],
)
async def test_other_refusals_are_rejected_with_the_providers_code_and_detail(
    make_http: Callable[..., ProviderHttp], status: int, body: Any, code: str | None, detail: str
) -> None:
    error = await failing(make_http(answer(status, body)))
    assert type(error) is ProviderRejected
    assert (error.status, error.code) == (status, code)
    assert str(error) == f"{NAME} answered {status} to POST {PATH}: {detail}"


@pytest.mark.parametrize(
    ("status", "text", "detail"),
    [
        pytest.param(403, "<html><body>Request blocked by WAF</body></html>", "<html>", id="html"),
        pytest.param(400, "   ", "Bad Request", id="blank-uses-reason-phrase"),
        pytest.param(405, "", "Method Not Allowed", id="empty-uses-reason-phrase"),
    ],
)
async def test_non_json_error_bodies_are_quoted_or_replaced_by_the_reason_phrase(
    make_http: Callable[..., ProviderHttp], status: int, text: str, detail: str
) -> None:
    error = await failing(make_http(answer(status, text=text)))
    assert isinstance(error, ProviderRejected)
    assert error.code is None
    assert str(error).startswith(f"{NAME} answered {status} to POST {PATH}: {detail}")


async def test_a_long_non_json_body_is_cut_short(make_http: Callable[..., ProviderHttp]) -> None:
    error = await failing(make_http(answer(502, text="x" * 5000)))
    assert isinstance(error, ProviderUnavailable)
    assert str(error) == f"{NAME} answered 502 to POST {PATH}: " + "x" * 300


# --- transport failures ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exception", "words"),
    [
        pytest.param(httpx.ConnectError("refused"), "could not be reached (ConnectError)", id="connect"),
        pytest.param(
            httpx.ConnectTimeout("slow"), "did not answer in time (ConnectTimeout)", id="connect-timeout"
        ),
        pytest.param(httpx.ReadTimeout("slow"), "did not answer in time (ReadTimeout)", id="read-timeout"),
        pytest.param(httpx.PoolTimeout("busy"), "did not answer in time (PoolTimeout)", id="pool-timeout"),
        pytest.param(
            httpx.RemoteProtocolError("closed"), "could not be reached (RemoteProtocolError)", id="protocol"
        ),
    ],
)
async def test_network_failures_are_unavailable_without_a_status(
    make_http: Callable[..., ProviderHttp], exception: Exception, words: str
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exception

    error = await failing(make_http(handler))
    assert type(error) is ProviderUnavailable
    # No status: nobody answered, so the adapter cannot know whether the provider acted.
    assert (error.status, error.retry_after) == (None, None)
    assert str(error) == f"{NAME} {words}"
    assert error.__cause__ is exception


# --- pacing ----------------------------------------------------------------------------------------


class FakeLoop:
    """The only two things AsyncLimiter asks of its loop, on a clock the test moves."""

    def __init__(self) -> None:
        self.now = 0.0

    def time(self) -> float:
        return self.now

    def is_closed(self) -> bool:
        return False


async def greedy_acquisitions(per_minute: int, seconds: float, step: float) -> list[float]:
    """Acquire whenever the pacer allows, checking every ``step`` seconds: the most it lets through."""
    limiter = pacer(per_minute)
    loop = FakeLoop()
    limiter._event_loop = loop  # type: ignore[assignment]  # drive the limiter on simulated time
    times: list[float] = []
    ticks = int(seconds / step)
    for tick in range(ticks + 1):
        loop.now = tick * step
        while limiter.has_capacity():
            await limiter.acquire()  # has capacity: returns without waiting
            times.append(loop.now)
    return times


def most_in_any_window(times: list[float], window: float) -> int:
    """The largest count of acquisitions in any closed interval [t, t + window]."""
    most, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] > window + 1e-9:
            start += 1
        most = max(most, end - start + 1)
    return most


RECALL_LIMITS = sorted(
    {
        limit
        for spec in load_catalogue(default_catalogue_dir()).adapters.values()
        for limit in spec.rate_limits.values()
    }
)


@pytest.mark.parametrize(
    "per_minute", sorted({1, 2, 7, 10, 11, 59, 60, 61, 99, 100, 113, 1000, *RECALL_LIMITS})
)
async def test_the_pacer_never_lets_more_than_the_limit_through_in_any_60_seconds(per_minute: int) -> None:
    step = min(0.05, 60 / per_minute / 20)
    times = await greedy_acquisitions(per_minute, seconds=240, step=step)
    assert most_in_any_window(times, 60.0) <= per_minute
    # ...while still using most of it: over four minutes, at least 85 % of the allowance per minute.
    assert len(times) >= 0.85 * per_minute * 4


@pytest.mark.parametrize("per_minute", sorted({1, 10, 60, 100, 120, 300, 500, 1000, 100_000}))
def test_pacer_parameters_bound_any_window_by_burst_plus_rate(per_minute: int) -> None:
    """A leaky bucket of ``max_rate`` drained at max_rate/time_period admits at most
    max_rate + 60 * max_rate / time_period calls in 60 s; that bound must not exceed the limit."""
    limiter = pacer(per_minute)
    burst, period = limiter.max_rate, limiter.time_period
    assert burst >= 1
    drained_per_minute = 60 * burst / period
    assert burst + int(drained_per_minute + 1e-9) <= per_minute
    assert drained_per_minute >= 0.85 * per_minute


async def test_request_waits_for_its_endpoints_pacer_and_not_for_others(
    make_http: Callable[..., ProviderHttp],
) -> None:
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(f"{request.method} {request.url.path}")
        return httpx.Response(200, json={})

    http = make_http(handler, {"create_bot": 1})
    await http.request("create_bot", "POST", PATH)
    second = asyncio.create_task(http.request("create_bot", "POST", PATH))
    # The second create must wait about a minute; other endpoints are not held up meanwhile.
    await asyncio.wait_for(http.request("bot", "GET", "/api/v1/bot/b-1/"), 2.0)
    await asyncio.wait_for(http.request("unpaced", "GET", "/api/v1/bot/b-2/"), 2.0)
    done, _ = await asyncio.wait({second}, timeout=0.3)
    assert not done
    assert sent == ["POST /api/v1/bot/", "GET /api/v1/bot/b-1/", "GET /api/v1/bot/b-2/"]
    second.cancel()


# --- pacing per key (limits per sub-account, e.g. per Recall calendar user) -----------------------


def paced_http(
    make_http: Callable[..., ProviderHttp], sent: list[str], limits: dict[str, int]
) -> ProviderHttp:
    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        return httpx.Response(200, json={})

    return make_http(handler, limits)


async def held_up(http: ProviderHttp, endpoint: str, path: str, pace_key: str | None) -> bool:
    """Whether a call waits for its pacer (limit 1/min: a second call waits about a minute)."""
    task = asyncio.create_task(http.request(endpoint, "GET", path, pace_key=pace_key))
    done, _ = await asyncio.wait({task}, timeout=0.3)
    if done:
        task.result()
        return False
    task.cancel()
    return True


async def test_calls_with_a_pace_key_wait_only_for_calls_with_the_same_key(
    make_http: Callable[..., ProviderHttp],
) -> None:
    sent: list[str] = []
    http = paced_http(make_http, sent, {"user": 1})
    await http.request("user", "GET", "/a/1", pace_key="user-a")
    assert await held_up(http, "user", "/a/2", "user-a")
    # Another key has a pacer of its own at the same limit, and so does the keyless shared pacer.
    assert not await held_up(http, "user", "/b/1", "user-b")
    assert await held_up(http, "user", "/b/2", "user-b")
    assert not await held_up(http, "user", "/shared/1", None)
    assert await held_up(http, "user", "/shared/2", None)
    assert sent == ["/a/1", "/b/1", "/shared/1"]


async def test_the_same_key_on_another_endpoint_is_paced_apart(
    make_http: Callable[..., ProviderHttp],
) -> None:
    sent: list[str] = []
    http = paced_http(make_http, sent, {"user": 1, "meetings": 1})
    await http.request("user", "GET", "/user", pace_key="user-a")
    assert not await held_up(http, "meetings", "/meetings", "user-a")
    assert not await held_up(http, "unlimited", "/other", "user-a")  # no limit: a key changes nothing
    assert not await held_up(http, "unlimited", "/other", "user-a")
    assert sent == ["/user", "/meetings", "/other", "/other"]


async def test_per_key_pacers_are_bounded_and_the_least_recently_used_goes_first() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={})

    client = httpx.AsyncClient(base_url="https://us-east-1.recall.ai", transport=httpx.MockTransport(handler))
    http = ProviderHttp(NAME, client, {"user": 1}, max_pace_keys=2)
    try:
        for key in ("a", "b"):
            await http.request("user", "GET", "/", pace_key=key)
        assert await held_up(http, "user", "/", "a")  # uses a: b is now the least recent
        await http.request("user", "GET", "/", pace_key="c")  # a third key: b is forgotten
        assert not await held_up(http, "user", "/", "b")  # a fresh pacer (and now a is forgotten)
        assert await held_up(http, "user", "/", "c")
        assert not await held_up(http, "user", "/", "a")
    finally:
        await http.aclose()


def test_max_pace_keys_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_pace_keys"):
        ProviderHttp(NAME, httpx.AsyncClient(), {}, max_pace_keys=0)


# --- a kept-alive connection closed by the server ---------------------------------------------------


def closed_once() -> tuple[Handler, list[str]]:
    """Drops the first request as a server closing an idle kept-alive connection does; answers after."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.method)
        if len(seen) == 1:
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
        return httpx.Response(200, json={"id": "cal_1"})

    return handler, seen


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_an_idempotent_call_is_sent_again_once_on_a_closed_connection(
    make_http: Callable[..., ProviderHttp], method: str
) -> None:
    handler, seen = closed_once()
    response = await make_http(handler).request("calendar", method, PATH)
    assert (response.json(), seen) == ({"id": "cal_1"}, [method, method])


async def test_a_create_is_not_sent_twice_on_a_closed_connection(
    make_http: Callable[..., ProviderHttp],
) -> None:
    handler, seen = closed_once()
    error = await failing(make_http(handler))
    assert isinstance(error, ProviderUnavailable)
    assert "RemoteProtocolError" in str(error)
    assert seen == ["POST"]  # a second Create Bot could make a second bot
