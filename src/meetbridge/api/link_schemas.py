"""Request and response shapes of calendar links (meetbridge's addition to the Cronofy API)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, UnsetType

Platform = Literal["google_calendar", "microsoft_outlook"]
RecordRule = Literal["all", "external", "confirmed", "none"]
Uid = Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]


class PresetPreferences(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """Calendar V1 recording preferences (Recall's; every one set true must hold for a recording)."""

    record_external: bool | UnsetType = UNSET
    record_internal: bool | UnsetType = UNSET
    record_non_host: bool | UnsetType = UNSET
    record_recurring: bool | UnsetType = UNSET
    record_confirmed: bool | UnsetType = UNSET
    record_only_host: bool | UnsetType = UNSET
    bot_name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)] | UnsetType = UNSET


class LinkUpsert(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """``PUT /v1/calendars/{calendar_id}/links/{profile_id}``.

    Name the provider calendar with ``recall_calendar_id`` (one that exists at Recall) or with OAuth
    credentials (``platform`` + ``oauth_refresh_token``: meetbridge creates the Recall calendar with
    the profile's OAuth client). On an existing link both may be left out to change only the rules.
    """

    recall_calendar_id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | UnsetType = UNSET
    platform: Platform | UnsetType = UNSET
    oauth_refresh_token: Annotated[str, msgspec.Meta(min_length=1, max_length=4096)] | UnsetType = UNSET
    oauth_email: Annotated[str, msgspec.Meta(min_length=3, max_length=320)] | UnsetType = UNSET
    record: RecordRule | UnsetType = UNSET  # default "none": bots only where the app asks
    series: Annotated[list[Uid], msgspec.Meta(max_length=1000)] | UnsetType = UNSET
    # recall-calendar-v1 links: the stable Recall calendar user id, and Recall's preferences.
    user_id: Annotated[str, msgspec.Meta(min_length=1, max_length=255)] | UnsetType = UNSET
    preferences: PresetPreferences | UnsetType = UNSET
    # cronofy links: the Cronofy calendar events are forwarded to, and the user's OAuth tokens for it
    # (stored encrypted, never returned). Linking again with new tokens reconnects the link.
    cronofy_calendar_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | UnsetType = UNSET
    access_token: Annotated[str, msgspec.Meta(min_length=1, max_length=4096)] | UnsetType = UNSET
    refresh_token: Annotated[str, msgspec.Meta(min_length=1, max_length=4096)] | UnsetType = UNSET
    expires_in: Annotated[int, msgspec.Meta(ge=0, le=31_536_000)] | UnsetType = UNSET  # seconds


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
