"""The one error tree of meetbridge.

::

    MeetbridgeError
     ├── ConfigError              the configuration cannot be used (one problem per line)
     ├── RequestError             the caller asked for something we refuse; rendered by api/errors.py
     │    ├── InvalidRequest      422, Cronofy-shaped {"errors": {field: [{key, description}]}}
     │    │    └── Taken          409, same shape: a provider object another application linked
     │    ├── NotAuthenticated    401
     │    │    └── WebhookRejected   an inbound delivery is unsigned, forged or stale
     │    ├── NotFound            404
     │    ├── UpstreamFailed      502  a provider call made for this request failed for good
     │    └── UpstreamUnavailable 503  ... or failed for now: try again
     ├── StorageError             the database failed in a way callers cannot fix
     │    └── Conflict            a uniqueness rule was broken by a concurrent writer
     └── ProviderError            only these leave providers/: no provider wire format escapes
          ├── ProviderUnavailable(retry_after)   transient: network, 5xx, 409, 429, 507
          ├── ProviderRejected(status, code)     permanent: the provider refused the request
          ├── BotNotOurs                         the audit would remove a bot not tagged as the profile's
          ├── ProviderAuthExpired                credentials must be refreshed before a retry
          │    └── ProviderAuthRevoked           ... and cannot be: the user must link again
          └── ProviderNotFound                   the provider object is gone

    AdapterFailure(adapter, error)   not a MeetbridgeError: the engine wraps whatever one adapter call
                                     raised with the adapter's name, so the worker applies that
                                     adapter's retry budget; ``error`` is the cause
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping


class MeetbridgeError(Exception):
    """Base of every error meetbridge raises on purpose."""


class ConfigError(MeetbridgeError):
    """The configuration has problems; each is one line naming the profile and key."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class RequestError(MeetbridgeError):
    status_code = 400
    code = "bad_request"


class InvalidRequest(RequestError):
    """Field errors in Cronofy's shape; ``errors`` maps field name to (key, description) pairs."""

    status_code = 422
    code = "invalid_request"

    def __init__(self, errors: Mapping[str, list[tuple[str, str]]]) -> None:
        self.errors = {field: list(items) for field, items in errors.items()}
        super().__init__("; ".join(f"{f}: {d}" for f, items in self.errors.items() for _, d in items))

    @classmethod
    def single(cls, field: str, kind: str, description: str) -> InvalidRequest:
        return cls({field: [(f"errors.{kind}", description)]})


class Taken(InvalidRequest):
    """The provider object named by the field is linked by another application: it stays theirs, and
    the answer says nothing about them."""

    status_code = 409
    code = "taken"


class NotHeld(InvalidRequest):
    """The body names an object the calendar does not hold (yet), such as an external event before
    its calendar synced it: a conflict with the calendar's state, which the same request may not meet
    later."""

    status_code = 409
    code = "not_held"


class NotAuthenticated(RequestError):
    status_code = 401
    code = "unauthorized"


class WebhookRejected(NotAuthenticated):
    """A provider webhook failed its adapter's verification: nothing of it is read or applied."""

    def __init__(self, message: str, *, reason: str = "bad_signature") -> None:
        self.reason = reason  # bad_signature | stale: what metrics and `meetbridge status` count
        super().__init__(message)


class NotFound(RequestError):
    status_code = 404
    code = "not_found"


class UpstreamFailed(RequestError):
    status_code = 502
    code = "provider_failed"


class UpstreamUnavailable(RequestError):
    status_code = 503
    code = "provider_unavailable"


class StorageError(MeetbridgeError):
    """The database failed; translated from driver errors in db/ only."""


class Conflict(StorageError):
    """A concurrent writer broke a uniqueness rule; the caller may retry."""


class SchemaAhead(StorageError):
    """The database was upgraded by a newer release: this code must not run on it."""


class LeaseLost(StorageError):
    """A job's lease passed to another worker while this one ran it: its result is not written."""


class ProviderError(MeetbridgeError):
    """A provider call failed; raised only by providers/."""


class ProviderUnavailable(ProviderError):
    """Transient: try again later, no sooner than ``retry_after`` seconds when given."""

    def __init__(self, message: str, *, retry_after: float | None = None, status: int | None = None) -> None:
        self.retry_after = retry_after
        self.status = status
        super().__init__(message)


class ProviderRejected(ProviderError):
    """Permanent: the provider refused; ``code`` is the provider's own error code where it gives one."""

    def __init__(self, message: str, *, status: int, code: str | None = None) -> None:
        self.status = status
        self.code = code
        super().__init__(message)


class BotNotOurs(ProviderError):
    """The drift audit would remove a bot whose provider-side tag does not name the profile."""


class ProviderAuthExpired(ProviderError):
    """The provider no longer accepts our credentials; refresh them, then retry once."""


class ProviderAuthRevoked(ProviderAuthExpired):
    """The provider refused to refresh a linked user's credentials (OAuth ``invalid_grant``).

    Retrying cannot help: the link is disconnected until the user links again.
    """


class ProviderNotFound(ProviderError):
    """The provider object (bot, calendar, event) no longer exists."""


class AdapterFailure(Exception):
    """An adapter call failed; carries which adapter, so the worker applies that adapter's budget."""

    def __init__(self, adapter: str, error: BaseException) -> None:
        self.adapter = adapter
        self.error = error
        super().__init__(str(error))
