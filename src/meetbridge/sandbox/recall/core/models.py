"""Wire shapes of the Recall bot API (reference §2) and of the sandbox's admin API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

Config = dict[str, Any]

# The config objects Create Bot accepts and the Bot object echoes back (reference §2.2).
CONFIG_FIELDS: tuple[str, ...] = (
    "recording_config",
    "output_media",
    "automatic_video_output",
    "automatic_audio_output",
    "chat",
    "automatic_leave",
    "variant",
    "zoom",
    "google_meet",
    "webex",
    "breakout_room",
)


# --- meeting_url read shape (reference §2.4), tagged by platform --------------------------------


class ZoomMeetingUrl(msgspec.Struct, tag_field="platform", tag="zoom"):
    meeting_id: str
    meeting_password: str | None = None


class GoogleMeetMeetingUrl(msgspec.Struct, tag_field="platform", tag="google_meet"):
    meeting_id: str


class TeamsMeetingUrl(msgspec.Struct, tag_field="platform", tag="microsoft_teams"):
    meeting_id: str | None = None
    meeting_password: str | None = None
    organizer_id: str | None = None
    tenant_id: str | None = None
    message_id: str | None = None
    thread_id: str | None = None
    business_meeting_id: str | None = None
    business_meeting_password: str | None = None


class TeamsLiveMeetingUrl(TeamsMeetingUrl, tag="microsoft_teams_live"):
    pass


# One struct for both Webex variants: omitting unset fields yields exactly the standard-room shape
# (subdomain, mtid, path) or the personal-room shape (subdomain, personal_room_id).
class WebexMeetingUrl(msgspec.Struct, tag_field="platform", tag="webex", omit_defaults=True):
    meeting_subdomain: str
    meeting_mtid: str | None = None
    meeting_path: str | None = None
    meeting_personal_room_id: str | None = None


class GotoMeetingUrl(msgspec.Struct, tag_field="platform", tag="goto_meeting"):
    meeting_id: str


MeetingUrl = (
    ZoomMeetingUrl
    | GoogleMeetMeetingUrl
    | TeamsMeetingUrl
    | TeamsLiveMeetingUrl
    | WebexMeetingUrl
    | GotoMeetingUrl
)


# --- Bot object (reference §2.3) -----------------------------------------------------------------


class StatusChange(msgspec.Struct):
    code: str
    message: str | None
    created_at: datetime
    sub_code: str | None


class BotOut(msgspec.Struct):
    id: str
    meeting_url: MeetingUrl
    bot_name: str
    join_at: datetime | None
    metadata: dict[str, str]
    status_changes: list[StatusChange]
    recordings: list[Config]
    calendar_meetings: list[Config]
    slack_team: Config | None
    recording_config: Config | None
    output_media: Config | None
    automatic_video_output: Config | None
    automatic_audio_output: Config | None
    chat: Config | None
    automatic_leave: Config | None
    variant: Config | None
    zoom: Config | None
    google_meet: Config | None
    webex: Config | None
    breakout_room: Config | None


class BotPage(msgspec.Struct):
    count: int
    next: str | None
    previous: str | None
    results: list[BotOut]


class BotIn(msgspec.Struct):
    """Create Bot / Update Scheduled Bot body; UNSET tells "absent" from "null" for PATCH."""

    meeting_url: str | msgspec.UnsetType | None = msgspec.UNSET
    bot_name: str | msgspec.UnsetType = msgspec.UNSET
    join_at: str | msgspec.UnsetType | None = msgspec.UNSET
    metadata: dict[str, str] | msgspec.UnsetType | None = msgspec.UNSET
    recording_config: Config | msgspec.UnsetType | None = msgspec.UNSET
    output_media: Config | msgspec.UnsetType | None = msgspec.UNSET
    automatic_video_output: Config | msgspec.UnsetType | None = msgspec.UNSET
    automatic_audio_output: Config | msgspec.UnsetType | None = msgspec.UNSET
    chat: Config | msgspec.UnsetType | None = msgspec.UNSET
    automatic_leave: Config | msgspec.UnsetType | None = msgspec.UNSET
    variant: Config | msgspec.UnsetType | None = msgspec.UNSET
    zoom: Config | msgspec.UnsetType | None = msgspec.UNSET
    google_meet: Config | msgspec.UnsetType | None = msgspec.UNSET
    webex: Config | msgspec.UnsetType | None = msgspec.UNSET
    breakout_room: Config | msgspec.UnsetType | None = msgspec.UNSET


# --- webhooks (reference §5.1) -------------------------------------------------------------------


class WebhookBotRef(msgspec.Struct):
    id: str
    metadata: dict[str, str]


class WebhookStatus(msgspec.Struct):
    code: str
    sub_code: str | None
    updated_at: datetime


class WebhookData(msgspec.Struct):
    bot: WebhookBotRef
    data: WebhookStatus


class WebhookEvent(msgspec.Struct):
    event: str
    data: WebhookData


# --- admin API -----------------------------------------------------------------------------------


class AdminBotOut(BotOut):
    deleted: bool
    scheduled: bool
    dispatched: bool


HeaderFamily = Literal["webhook", "svix"]


class WebhookConfigIn(msgspec.Struct, forbid_unknown_fields=True):
    url: str | None
    secret: str | None = None
    header_family: HeaderFamily = "webhook"


class ForceStatusIn(msgspec.Struct, forbid_unknown_fields=True):
    code: str
    sub_code: str | None = None
    message: str | None = None
    hold: bool = False
