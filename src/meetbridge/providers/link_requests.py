"""Link requests: each linking adapter's own request body, and what it asks of the engine.

``PUT /v1/calendars/{calendar_id}/links/{profile_id}`` is decoded with the Struct the profile's adapter
declares as ``link_request`` (so the OpenAPI document shows one shape per adapter, and a field of
another adapter's shape is named, not ignored). The Struct turns itself into one of the asks below,
in the engine's terms; its ``*_field`` values name the request's own fields in the errors the engine
raises.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

import msgspec


class CalendarAsk(msgspec.Struct, frozen=True, kw_only=True):
    """Link a provider calendar named by id, or one made from OAuth credentials, with recording rules.
    On an existing link every field may be left out to change only the rules."""

    provider_calendar_id: str | None = None
    platform: str | None = None
    refresh_token: str | None = None
    email: str | None = None
    record: str | None = None
    series: list[str] | None = None
    calendar_field: str
    platform_field: str
    credentials_field: str

    def __repr__(self) -> str:  # the refresh token must not reach a log
        return f"CalendarAsk(provider_calendar_id={self.provider_calendar_id!r}, platform={self.platform!r})"


class PresetAsk(msgspec.Struct, frozen=True, kw_only=True):
    """Link the provider's calendar user (who records by its own preferences), setting preferences."""

    user_id: str | None = None
    preferences: dict[str, Any] | None = None
    user_field: str


class ForwardAsk(msgspec.Struct, frozen=True, kw_only=True):
    """Forward events to an upstream calendar, written with the user's OAuth tokens."""

    provider_calendar_id: str
    access_token: str
    refresh_token: str
    expires_in: int | None
    calendar_field: str

    def __repr__(self) -> str:  # the tokens must not reach a log
        return f"ForwardAsk(provider_calendar_id={self.provider_calendar_id!r})"


LinkAsk = CalendarAsk | PresetAsk | ForwardAsk


class LinkRequest(Protocol):
    """What every adapter's link request Struct does (msgspec Structs: decoded with unknown fields
    forbidden)."""

    __struct_fields__: ClassVar[tuple[str, ...]]
    # The fields that give a disconnected link new credentials, for the message that says how.
    reconnect_fields: ClassVar[tuple[str, ...]]

    def ask(self) -> LinkAsk:
        """The request in the engine's terms; InvalidRequest naming the field for a shape it refuses."""
        ...


def link_request_type(adapter: object) -> type[LinkRequest] | None:
    """The link request Struct an adapter (or its class) declares; None for adapters that do not link."""
    declared = getattr(adapter, "link_request", None)
    return declared if isinstance(declared, type) else None


def given(value: Any) -> Any:
    """A request field's value, or None where it was left out (msgspec's UNSET)."""
    return None if value is msgspec.UNSET else value
