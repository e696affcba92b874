"""One shared, paced httpx client per provider account; provider HTTP failures become our errors.

Adapters never build clients: the transport is injected (tests use respx or MockTransport), and this
is the only place that turns status codes into ``ProviderUnavailable`` / ``ProviderRejected`` / ….

Most limits are per account, so one pacer per endpoint suffices. Some are per sub-account (Recall
Calendar V1: 10 calls a minute per calendar user): a call naming a ``pace_key`` is paced on its own
(endpoint, key) pacer at the endpoint's limit, so one busy user never holds up the others. Those
pacers are kept for the most recently used keys only, so a stream of new keys cannot grow memory;
a key unused for that long has long since drained its pacer anyway.
"""

from __future__ import annotations

import email.utils
import math
import time
from collections import OrderedDict
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar
from urllib.parse import quote

import httpx
import msgspec
from aiolimiter import AsyncLimiter

from meetbridge.errors import ProviderAuthExpired, ProviderNotFound, ProviderRejected, ProviderUnavailable
from meetbridge.observability import metrics

T = TypeVar("T")

# Statuses the provider asks us to retry (Recall: 409 conflict, 429 rate limit, 507 pool empty).
TRANSIENT = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 507})
# Pace at this share of the documented limit, with bursts of at most a tenth of it, so that no
# sliding 60-second window exceeds the limit.
PACE_SHARE = 0.9
# Per-key pacers kept (least recently used dropped first): far more than the keys active in a minute.
MAX_PACE_KEYS = 4096


def pacer(per_minute: int) -> AsyncLimiter:
    rate = PACE_SHARE * per_minute
    burst = max(1, int(rate / 10))
    return AsyncLimiter(burst, 60.0 * burst / rate)


class Pacer(Protocol):
    """Pacing decided outside this process (a fleet's database): returns once one more call to
    ``endpoint`` (for ``pace_key``) keeps within ``per_minute``, counting every process that shares it."""

    async def acquire(self, endpoint: str, per_minute: int, pace_key: str | None) -> None: ...


IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# A provider asking for more is taken as asking for this: a job is never parked for days by one header.
MAX_RETRY_AFTER = 3600.0


def retry_after(response: httpx.Response) -> float | None:
    """Seconds the provider asks us to wait (capped at MAX_RETRY_AFTER); None when it says nothing
    usable (absent, unreadable, negative, not finite), so our own backoff decides."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (ValueError, TypeError, OverflowError):
            return None
        seconds = max(0.0, seconds)  # a date already past: retry now
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return min(seconds, MAX_RETRY_AFTER)


def _describe(response: httpx.Response) -> tuple[str, str | None]:
    """(a sentence, the provider's error code) from an error body of any of the shapes providers use."""
    try:
        body: Any = msgspec.json.decode(response.content)
    except msgspec.DecodeError:
        text = response.text.strip()[:300]
        return (text or response.reason_phrase), None
    if isinstance(body, dict):
        code = body.get("code") if isinstance(body.get("code"), str) else None
        for key in ("detail", "message", "error_description", "error"):
            if isinstance(body.get(key), str):
                return body[key], code
        # Django REST framework field errors: {"meeting_url": ["Invalid URL."]}
        parts = [f"{k}: {' '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in body.items()]
        return "; ".join(parts)[:500], code
    return str(body)[:300], None


class ProviderHttp:
    """Calls one provider account. ``rate_limits`` are calls per minute per endpoint name."""

    def __init__(
        self,
        name: str,
        client: httpx.AsyncClient,
        rate_limits: Mapping[str, int],
        *,
        max_pace_keys: int = MAX_PACE_KEYS,
        label: str | None = None,
        pacing: Pacer | None = None,
    ) -> None:
        """``pacing``: a shared pacer for this account (a fleet); without one, each endpoint is
        paced in this process."""
        if max_pace_keys < 1:
            raise ValueError("max_pace_keys must be at least 1")
        self.name = name
        # What metrics and logs call this provider: the adapter, never the URL (it may carry a key).
        self.label = label or name.split(" ", 1)[0]
        self.client = client
        self._limits = dict(rate_limits)
        self._pacers = {endpoint: pacer(limit) for endpoint, limit in rate_limits.items()}
        metrics.provider_known(self.label, rate_limits)
        self._keyed_pacers: OrderedDict[tuple[str, str], AsyncLimiter] = OrderedDict()
        self._max_pace_keys = max_pace_keys
        self._shared = pacing

    def _pacer(self, endpoint: str, pace_key: str | None) -> AsyncLimiter | None:
        """The endpoint's shared pacer, or with a ``pace_key`` its own one for that key."""
        if pace_key is None or endpoint not in self._limits:
            return self._pacers.get(endpoint)
        key = (endpoint, pace_key)
        found = self._keyed_pacers.get(key)
        if found is not None:
            self._keyed_pacers.move_to_end(key)
            return found
        found = self._keyed_pacers[key] = pacer(self._limits[endpoint])
        while len(self._keyed_pacers) > self._max_pace_keys:
            self._keyed_pacers.popitem(last=False)
        return found

    async def request(
        self,
        endpoint: str,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        ok: frozenset[int] = frozenset({200, 201, 202, 204}),
        pace_key: str | None = None,
    ) -> httpx.Response:
        """Send one request; any status outside ``ok`` raises the matching meetbridge error.

        ``pace_key`` names who the endpoint's limit applies to when it is not the whole account
        (a calendar user): the call then waits only for earlier calls with the same key.
        """
        if self._shared is not None and endpoint in self._limits:
            with metrics.paced(self.label, endpoint):
                await self._shared.acquire(endpoint, self._limits[endpoint], pace_key)
        elif (limiter := self._pacer(endpoint, pace_key)) is not None:
            with metrics.paced(self.label, endpoint):
                await limiter.acquire()
        with metrics.provider_call(self.label, endpoint, method) as answer:
            response = await self._send(method, path, json=json, params=params, headers=headers)
            answer.status = response.status_code
        if response.status_code in ok:
            return response
        message, code = _describe(response)
        status = response.status_code
        where = f"{self.name} answered {status} to {method} {path}"
        if status in TRANSIENT:
            raise ProviderUnavailable(f"{where}: {message}", retry_after=retry_after(response), status=status)
        if status == 401:
            raise ProviderAuthExpired(f"{where}: {message}")
        if status == 404:
            raise ProviderNotFound(f"{where}: {message}")
        raise ProviderRejected(f"{where}: {message}", status=status, code=code)

    async def _send(
        self,
        method: str,
        path: str,
        *,
        json: Any,
        params: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
    ) -> httpx.Response:
        try:
            try:
                return await self.client.request(method, path, json=json, params=params, headers=headers)
            except httpx.RemoteProtocolError:
                # A kept-alive connection the server closed as we reused it: the request never got an
                # answer. Sent once more on a new connection where sending twice changes nothing.
                if method.upper() not in IDEMPOTENT:
                    raise
                return await self.client.request(method, path, json=json, params=params, headers=headers)
        except httpx.TimeoutException as exc:
            raise ProviderUnavailable(f"{self.name} did not answer in time ({type(exc).__name__})") from exc
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(f"{self.name} could not be reached ({type(exc).__name__})") from exc

    def decode(self, response: httpx.Response, type_: type[T]) -> T:
        """Read a success body; an unreadable one is transient and ambiguous (status None), never a crash."""
        try:
            return msgspec.json.decode(response.content, type=type_)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise ProviderUnavailable(
                f"{self.name} sent an unreadable answer to {response.request.url.path}: {exc}"
            ) from exc

    def followable(self, link: str, *, carrying: str) -> str:
        """A page link the provider sent, made absolute, if it stays on the provider's own origin.

        A link elsewhere is refused (transient, so the sync is retried): following it would send
        ``carrying`` (the account's key or token) to whoever the link names.
        """
        base = self.client.base_url
        try:
            target = base.join(link)
        except httpx.InvalidURL as exc:
            raise ProviderUnavailable(f"{self.name} sent an unreadable page link") from exc
        if _origin(target) != _origin(base):
            raise ProviderUnavailable(
                f"{self.name} sent a page link to {target.scheme}://{target.netloc.decode()}; "
                f"not followed, it would carry {carrying} elsewhere"
            )
        return str(target)

    async def aclose(self) -> None:
        await self.client.aclose()


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    default = {"http": 80, "https": 443}.get(url.scheme)
    return url.scheme, url.host, url.port or default


def path_segment(identifier: str) -> str:
    """An id as one path segment: an id with a ``/`` or ``?`` cannot reach another route."""
    return quote(identifier, safe="")


def iso_utc(moment: datetime) -> str:
    """ISO-8601 in UTC with ``Z``, microseconds only when there are some. A naive time is refused:
    what meetbridge sends a provider is never a guess."""
    if moment.tzinfo is None:
        raise ValueError("provider times must be timezone-aware")
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if utc.microsecond else "%Y-%m-%dT%H:%M:%SZ")
