"""The audit port: what the provider has for a profile's future events, and cancelling one bot.

An adapter declares ``Capabilities(audits_bots=True)`` and implements ``BotAuditor``; the engine's
audit (engine/audit.py) asks ``bot_auditor(adapter)``, never the adapter's name. A forwarding
adapter (Cronofy) holds no credentials of its own: the engine hands it the profile's links as
``AuditedLink``s, each with the events meetbridge forwarded there.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, cast, runtime_checkable

import msgspec

from meetbridge.domain.audit import AuditedBot
from meetbridge.providers.base import Capabilities, ForwardTarget


class Forwarded(msgspec.Struct, frozen=True, kw_only=True):
    """A meetbridge event the profile forwarded to a link's calendar, as its extension stands."""

    event_uid: str
    bot_id: str | None  # the bot meetbridge recorded (read back)
    wants_bot: bool  # the extension names the profile and the event is not deleted


@dataclass(frozen=True, kw_only=True)
class AuditedLink:
    """One forwarding link of the audited profile: where to read, and what meetbridge put there."""

    target: ForwardTarget | None  # None: its credentials cannot be opened (taken as in step)
    forwarded: Mapping[str, Forwarded]  # by the app's event_id (the forwarded copy's event_id)


@dataclass(frozen=True, kw_only=True)
class AuditScope:
    """What one audit of a profile reads. Each adapter takes the part it needs of ``calendars``
    (listed per calendar: Calendar V1, per user) and ``links`` (a forwarding adapter's)."""

    after: datetime  # the end of the safety window: nothing joining sooner is listed
    until: datetime  # the furthest join time meetbridge set (bots of others are listed up to it)
    calendars: Sequence[str] = ()  # the provider calendar ids linked under the profile
    links: Sequence[AuditedLink] = ()


class BotListing(msgspec.Struct, frozen=True, kw_only=True):
    bots: list[AuditedBot]
    calls: int  # provider calls the listing took (pages)
    # A new bot on an event replaces the one there (Calendar V2: one scheduled bot per event), so a
    # missing bot is not made again over another integration's: both are reported instead.
    exclusive: bool = False
    # Whether ``find_bot`` asks the provider (one call each) or answers from this listing.
    finds_by_call: bool = True


@runtime_checkable
class BotAuditor(Protocol):
    async def audit_bots(self, scope: AuditScope) -> BotListing:
        """The live bots joining at or after ``scope.after``: every one this profile made (however far
        ahead), and every other one joining up to ``scope.until`` (foreign bots on its meetings)."""
        ...

    async def find_bot(self, bot_id: str) -> AuditedBot | None:
        """One bot by id (None: the provider does not have it). Confirms a bot is missing."""
        ...

    async def cancel_bot(self, bot_id: str) -> None:
        """Cancel a bot (make it leave when already dispatched); gone already is fine."""
        ...


def bot_auditor(adapter: object) -> BotAuditor | None:
    """The adapter as a bot auditor, if it declares that it audits bots."""
    declared = getattr(adapter, "capabilities", None)
    audits = isinstance(declared, Capabilities) and declared.audits_bots
    return cast(BotAuditor, adapter) if audits else None
