"""The Recall adapters' profile options (recall-bot, recall-calendar-v2, recall-calendar-v1)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

import msgspec

from meetbridge.config.options import AdapterOptions, BotName
from meetbridge.config.secrets import Secret

# Create Bot fields an operator may preset (reference §2.2). meeting_url and join_at are absent on
# purpose: meetbridge takes them from the event.
CREATE_BOT_FIELDS = frozenset(
    {
        "bot_name",
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
        "metadata",
    }
)

V1_PRESET_MESSAGE = (
    "Calendar V1 bots take their configuration from the Recall preset and cannot be configured per bot; "
    'use adapter = "recall-calendar-v2" for per-event bot configuration'
)


def _bot_config_problems(bot_config: dict[str, Any], allowed: frozenset[str]) -> list[tuple[str, str]]:
    return [
        (
            f"bot_config.{key}",
            f"is not a Create Bot field meetbridge passes on (allowed: {', '.join(sorted(allowed))})",
        )
        for key in sorted(bot_config)
        if key not in allowed
    ]


EXTENSION_PROVIDER = "recall"  # what apps write in extensions for a Recall bot, whichever mechanism


class RecallOptions(AdapterOptions, kw_only=True, forbid_unknown_fields=True):
    """What every Recall profile has: the workspace's API key (its account) and the webhook secret."""

    account_keys: ClassVar[tuple[str, ...]] = ("api_key",)
    api_key: Secret
    webhook_secret: Secret | None = None

    @classmethod
    def problems(cls, values: Mapping[str, Any]) -> list[tuple[str, str]]:
        """A webhook secret that cannot verify anything is refused at start-up, not met as a 500 on
        every delivery."""
        secret = values.get("webhook_secret")
        if not isinstance(secret, Secret):
            return []
        encoded = secret.reveal().strip().removeprefix("whsec_")
        try:
            key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except binascii.Error:
            key = b""
        if key:
            return []
        return [("webhook_secret", "must be whsec_<base64> as Recall shows it (the value is not shown here)")]


class RecallBotOptions(RecallOptions, kw_only=True, forbid_unknown_fields=True):
    bot_name: BotName = "Meeting Notetaker"
    join_lead_seconds: Annotated[int, msgspec.Meta(ge=0, le=3600)] = 0
    bot_config: dict[str, Any] = msgspec.field(default_factory=dict)

    @classmethod
    def problems(cls, values: Mapping[str, Any]) -> list[tuple[str, str]]:
        return super().problems(values) + _bot_config_problems(
            values.get("bot_config") or {}, CREATE_BOT_FIELDS
        )


class RecallCalendarV2Options(RecallOptions, kw_only=True, forbid_unknown_fields=True):
    deduplication: Literal["all", "domain", "none"] = "all"
    bot_config: dict[str, Any] = msgspec.field(default_factory=dict)
    google_client_id: Secret | None = None
    google_client_secret: Secret | None = None
    microsoft_client_id: Secret | None = None
    microsoft_client_secret: Secret | None = None
    # Where the connect flow's OAuth endpoints are, when not Google's and Microsoft's own
    # ({oauth_base_url}/google/authorize ...): the sandbox's stand-ins, a proxy.
    oauth_base_url: str | None = None

    @classmethod
    def problems(cls, values: Mapping[str, Any]) -> list[tuple[str, str]]:
        # Calendar V2 fills meeting_url from the event but lets bot_config override it.
        found = super().problems(values)
        found += _bot_config_problems(values.get("bot_config") or {}, CREATE_BOT_FIELDS | {"meeting_url"})
        for platform in ("google", "microsoft"):
            pair = (values.get(f"{platform}_client_id"), values.get(f"{platform}_client_secret"))
            if (pair[0] is None) != (pair[1] is None):
                found.append((f"{platform}_client_secret", f"{platform}_client_id and _secret go together"))
        return found


class RecallCalendarV1Options(RecallOptions, kw_only=True, forbid_unknown_fields=True):
    # The OAuth apps saved in the Recall dashboard (Recall holds their secrets and takes the callback);
    # their public client ids go into the connect URLs meetbridge builds.
    google_client_id: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)] | None = None
    microsoft_client_id: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)] | None = None
    oauth_base_url: str | None = None  # Google/Microsoft authorize endpoints elsewhere (the sandbox)
    # Calendar V1 sends no change webhooks: a linked user's meetings are read again this often.
    sync_interval_seconds: Annotated[int, msgspec.Meta(ge=5, le=86_400)] = 300

    refused_keys: ClassVar[dict[str, str]] = {
        key: V1_PRESET_MESSAGE for key in CREATE_BOT_FIELDS | {"bot_config", "join_lead_seconds"}
    }
