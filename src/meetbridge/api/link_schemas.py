"""Response shapes of calendar links (meetbridge's addition to the Cronofy API); the request bodies
are each linking adapter's own (``link_request``, read by api/link_bodies.py)."""

from __future__ import annotations

from typing import Literal

import msgspec

RecordRule = Literal["all", "external", "confirmed", "none"]


class LinkRead(msgspec.Struct, kw_only=True):
    calendar_id: str
    profile_id: str
    adapter: str
    # The Recall calendar (Calendar V2), or the calendar user id (Calendar V1); None for cronofy links.
    recall_calendar_id: str | None
    platform: str | None
    email: str | None
    status: Literal["connecting", "connected", "disconnected"]
    status_detail: str | None
    record: RecordRule
    series: list[str]
    last_synced: str | None
    last_error: str | None
    created: str
    updated: str
    preset: PresetRead | None = None  # recall-calendar-v1 links
    cronofy_calendar_id: str | None = None  # cronofy links: where events are forwarded


class ConnectionRead(msgspec.Struct, kw_only=True):
    platform: str
    connected: bool
    email: str | None


class PresetRead(msgspec.Struct, kw_only=True):
    """Calendar V1: the Recall calendar user as Recall reports it now."""

    user_id: str
    connections: list[ConnectionRead]
    preferences: dict[str, bool | str | None]


class LinkResponse(msgspec.Struct):
    link: LinkRead


class LinkDeleted(msgspec.Struct, kw_only=True, omit_defaults=True):
    calendar_id: str
    profile_id: str
    recall_calendar_id: str | None
    cancelled_extensions: int  # extensions that acted for this link, now cancelled
    cronofy_calendar_id: str | None = None  # cronofy links only


class DisconnectRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    platform: Literal["google", "microsoft"]


class ConnectResponse(msgspec.Struct, kw_only=True):
    authorization_url: str  # send the user's browser here; the provider redirects to redirect_uri
    redirect_uri: str
