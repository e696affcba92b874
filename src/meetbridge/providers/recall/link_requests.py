"""The link request bodies of Recall's two calendar products."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

import msgspec
from msgspec import UNSET, UnsetType

from meetbridge.domain.recording_rules import RecordRule
from meetbridge.errors import InvalidRequest
from meetbridge.providers.link_requests import CalendarAsk, PresetAsk, given

Platform = Literal["google_calendar", "microsoft_outlook"]
Uid = Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]


class CalendarV2LinkRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """recall-calendar-v2 links.

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
    reconnect_fields: ClassVar[tuple[str, ...]] = ("oauth_refresh_token",)

    def ask(self) -> CalendarAsk:
        calendar_id, platform = given(self.recall_calendar_id), given(self.platform)
        refresh_token = given(self.oauth_refresh_token)
        if calendar_id is not None and (platform is not None or refresh_token is not None):
            raise InvalidRequest.single(
                "recall_calendar_id", "conflict", "give recall_calendar_id or OAuth credentials, not both"
            )
        if (platform is None) != (refresh_token is None):
            missing = "oauth_refresh_token" if refresh_token is None else "platform"
            raise InvalidRequest.single(missing, "required", "platform and oauth_refresh_token go together")
        return CalendarAsk(
            provider_calendar_id=calendar_id,
            platform=platform,
            refresh_token=refresh_token,
            email=given(self.oauth_email),
            record=given(self.record),
            series=given(self.series),
            calendar_field="recall_calendar_id",
            platform_field="platform",
            credentials_field="oauth_refresh_token",
        )


class PresetPreferences(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, omit_defaults=True):
    """Calendar V1 recording preferences (Recall's; every one set true must hold for a recording)."""

    record_external: bool | UnsetType = UNSET
    record_internal: bool | UnsetType = UNSET
    record_non_host: bool | UnsetType = UNSET
    record_recurring: bool | UnsetType = UNSET
    record_confirmed: bool | UnsetType = UNSET
    record_only_host: bool | UnsetType = UNSET
    bot_name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)] | UnsetType = UNSET


class CalendarV1LinkRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """recall-calendar-v1 links: the stable Recall calendar user id, and Recall's preferences."""

    user_id: Annotated[str, msgspec.Meta(min_length=1, max_length=255)] | UnsetType = UNSET
    preferences: PresetPreferences | UnsetType = UNSET
    reconnect_fields: ClassVar[tuple[str, ...]] = ()  # Recall runs the consent: the connect flow

    def ask(self) -> PresetAsk:
        preferences = given(self.preferences)
        return PresetAsk(
            user_id=given(self.user_id),
            preferences=msgspec.to_builtins(preferences) if preferences else None,
            user_field="user_id",
        )
