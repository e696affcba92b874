"""One shared, paced httpx client per provider account; provider HTTP failures become our errors.

Adapters never build clients: the transport is injected (tests use respx or MockTransport), and this
is the only place that turns status codes into ``ProviderUnavailable`` / ``ProviderRejected`` / ….
"""

from __future__ import annotations

import contextlib
import email.utils
import time
from collections.abc import Mapping
from typing import Any, TypeVar

import httpx
import msgspec
from aiolimiter import AsyncLimiter

from meetbridge.errors import ProviderAuthExpired, ProviderNotFound, ProviderRejected, ProviderUnavailable

T = TypeVar("T")

# Statuses the provider asks us to retry (Recall: 409 conflict, 429 rate limit, 507 pool empty).
TRANSIENT = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 507})
# Pace at this share of the documented limit, with bursts of at most a tenth of it, so that no
# sliding 60-second window exceeds the limit.
PACE_SHARE = 0.9


def pacer(per_minute: int) -> AsyncLimiter:
    rate = PACE_SHARE * per_minute
    burst = max(1, int(rate / 10))
    return AsyncLimiter(burst, 60.0 * burst / rate)


def retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    with contextlib.suppress(ValueError):
        return max(0.0, float(value))
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (ValueError, TypeError):
        return None  # unreadable: our own backoff decides
    return max(0.0, parsed.timestamp() - time.time())


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
    ) -> None:
        self.name = name
        self.client = client
        self._pacers = {endpoint: pacer(limit) for endpoint, limit in rate_limits.items()}

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
    ) -> httpx.Response:
        """Send one request; any status outside ``ok`` raises the matching meetbridge error."""
        limiter = self._pacers.get(endpoint)
        if limiter is not None:
            await limiter.acquire()
        try:
            response = await self.client.request(method, path, json=json, params=params, headers=headers)
        except httpx.TimeoutException as exc:
            raise ProviderUnavailable(f"{self.name} did not answer in time ({type(exc).__name__})") from exc
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(f"{self.name} could not be reached ({type(exc).__name__})") from exc
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

    def decode(self, response: httpx.Response, type_: type[T]) -> T:
        """Read a success body; an unreadable one is transient and ambiguous (status None), never a crash."""
        try:
            return msgspec.json.decode(response.content, type=type_)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise ProviderUnavailable(
                f"{self.name} sent an unreadable answer to {response.request.url.path}: {exc}"
            ) from exc

    async def aclose(self) -> None:
        await self.client.aclose()
