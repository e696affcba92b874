"""What calendar links to a preset provider (Calendar V1) add: the user's connections and preferences
as Recall reports them, the connect URL (Recall takes the OAuth callback), and disconnecting."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from meetbridge.api.link_schemas import ConnectionRead, ConnectResponse, PresetRead
from meetbridge.config.profiles import Profile
from meetbridge.db.links import Link
from meetbridge.engine.link_errors import link_errors
from meetbridge.engine.links import calendar_profile
from meetbridge.errors import InvalidRequest, NotFound
from meetbridge.providers.base import Preset, PresetLinker, preset_linker
from meetbridge.runtime.gateway import Gateway

PLATFORMS = ("google", "microsoft")


def _read(preset: Preset) -> PresetRead:
    return PresetRead(
        user_id=preset.user_id,
        connections=[
            ConnectionRead(platform=c.platform, connected=c.connected, email=c.email)
            for c in preset.connections
        ],
        preferences=preset.preferences,
    )


async def preset_read(gateway: Gateway, link: Link) -> PresetRead | None:
    """The Recall calendar user behind a V1 link, read now; None for other links."""
    profile = gateway.config.profiles.get(link.profile_id)
    if profile is None:
        return None
    _, linker = calendar_profile(gateway, link.profile_id)
    preset = preset_linker(linker)
    if preset is None:
        return None
    async with link_errors(profile, "user_id"):
        return _read(await preset.preset(link.provider_calendar_id))


async def preset_connect(
    profile: Profile,
    linker: PresetLinker,
    link: Link,
    platform: str,
    success_url: str | None,
    error_url: str | None,
) -> ConnectResponse:
    if platform not in PLATFORMS:
        raise InvalidRequest.single("platform", "invalid", "platform is google or microsoft for Calendar V1")
    async with link_errors(profile, "platform"):
        url = await linker.connect_url(
            link.provider_calendar_id, platform, success_url=success_url, error_url=error_url
        )
    redirect = parse_qs(urlsplit(url).query).get("redirect_uri", [""])[0]
    return ConnectResponse(authorization_url=url, redirect_uri=redirect)


async def preset_disconnect(gateway: Gateway, link: Link, platform: str) -> None:
    profile, linker = calendar_profile(gateway, link.profile_id)
    preset = preset_linker(linker)
    if preset is None:
        raise NotFound(f"{profile.adapter} links have no provider-side connection to disconnect")
    async with link_errors(profile, "platform"):
        await preset.disconnect(link.provider_calendar_id, platform)
