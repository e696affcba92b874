"""Forwarding links (Cronofy): a link's sealed credentials opened for a job; link, unlink, push.

Credentials are stored as ``<generation>.<Fernet token>``: the token seals the OAuth tokens under
``[server] secret_key``; the generation (not secret) changes each time the link is made again with
new credentials, so a job still holding the old ones can neither use them against the new link's
client nor save its rotations over the new tokens.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from meetbridge.config.live import LiveConfig, live
from meetbridge.config.profiles import GatewayConfig, Profile
from meetbridge.config.sealing import PROVIDER_TOKENS, SealError, seal_json, unseal_json
from meetbridge.db.database import Database
from meetbridge.db.forwarded import ForwardedEvents
from meetbridge.db.links import Link, LinkRepository
from meetbridge.db.tables import utcnow
from meetbridge.providers.base import ForwardedCalendar, ForwardTarget

log = logging.getLogger("meetbridge.forwarding")

DEFAULT_TOKEN_LIFETIME = 3600  # Cronofy's (reference §6), when the app does not say
WEBHOOK_PATH = "/v1/webhooks/cronofy/{profile_id}"


def split_sealed(stored: str | None) -> tuple[str, str] | None:
    if not stored or "." not in stored:
        return None
    generation, _, sealed = stored.partition(".")
    return generation, sealed


class ForwardingLinks:
    """Opens and stores a forwarding link's credentials; the one place that holds the secret key."""

    def __init__(self, database: Database, config: GatewayConfig | LiveConfig, links: LinkRepository) -> None:
        self.live = live(config)
        self.links = links
        self.events = ForwardedEvents(database)

    @property
    def config(self) -> GatewayConfig:
        return self.live.current

    def _secret_key(self) -> str:
        secret = self.config.server.secret_key
        if secret is None:  # the configuration refuses cronofy profiles without one
            raise SealError("no [server] secret_key is configured to open stored credentials")
        return secret.reveal()

    def seal(self, generation: str, credentials: Mapping[str, Any]) -> str:
        return f"{generation}.{seal_json(credentials, self._secret_key(), purpose=PROVIDER_TOKENS)}"

    def _open(self, stored: str | None, generation: str | None = None) -> tuple[str, dict[str, Any]] | None:
        parts = split_sealed(stored)
        if parts is None or (generation is not None and parts[0] != generation):
            return None
        return parts[0], unseal_json(parts[1], self._secret_key(), purpose=PROVIDER_TOKENS)

    async def target(self, link: Link, *, reported_bot_id: str | None = None) -> ForwardTarget:
        """The link's target for one job; SealError if its credentials cannot be opened."""
        opened = self._open(link.credentials)
        if opened is None:
            raise SealError(f"link {link.id} holds no credentials")
        generation, credentials = opened

        async def save(new: Mapping[str, Any]) -> None:
            await self.events.save_credentials(link.id, generation, self.seal(generation, new))

        async def load() -> Mapping[str, Any] | None:
            found = self._open(await self.events.credentials(link.id), generation)
            return found[1] if found else None

        return ForwardTarget(
            link_id=link.id,
            generation=generation,
            provider_calendar_id=link.provider_calendar_id,
            credentials=credentials,
            save_credentials=save,
            load_credentials=load,
            reported_bot_id=reported_bot_id,
        )


class NewCredentials:
    """Credentials given in a link request, before the link row holds them.

    Rotations during the link request (an expired access token is refreshed while checking the
    calendar) are kept here and sealed with the link.
    """

    def __init__(self, access_token: str, refresh_token: str, expires_in: int | None) -> None:
        lifetime = expires_in if expires_in is not None else DEFAULT_TOKEN_LIFETIME
        self.generation = secrets.token_hex(8)
        self.current: dict[str, Any] = {
            "access_token": access_token,
            "refresh_token": refresh_token,
            "expires_at": (utcnow() + timedelta(seconds=lifetime)).isoformat(),
        }

    def target(self, provider_calendar_id: str) -> ForwardTarget:
        async def save(new: Mapping[str, Any]) -> None:
            self.current = dict(new)

        async def load() -> Mapping[str, Any] | None:
            return self.current

        return ForwardTarget(
            link_id=None,
            generation=self.generation,
            provider_calendar_id=provider_calendar_id,
            credentials=dict(self.current),
            save_credentials=save,
            load_credentials=load,
        )


def callback_url(base_url: str, profile: Profile) -> str:
    return base_url.rstrip("/") + WEBHOOK_PATH.format(profile_id=profile.profile_id)


def link_calendar_of(calendar: ForwardedCalendar) -> dict[str, Any]:
    """The link row's columns for a checked upstream calendar."""
    return {
        "provider_calendar_id": calendar.provider_calendar_id,
        "platform": calendar.provider_name,
        "email": calendar.profile_name,
        "channel_id": calendar.channel_id,
    }
