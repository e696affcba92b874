"""The port every adapter implements, and the values that cross it.

An adapter is asked one question per event: "make the provider match this event; here is what you
recorded last time". It answers with the new record and a status. Only meetbridge errors leave it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, ClassVar, Protocol

import msgspec

from meetbridge.config.catalogue import AdapterSpec
from meetbridge.config.profiles import Profile
from meetbridge.domain.extensions import ExtensionStatus
from meetbridge.providers.http import ProviderHttp

ProviderState = dict[str, Any]
SaveState = Callable[[ProviderState], Awaitable[None]]


class EventSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """What an adapter may know of a meetbridge event (read once per job)."""

    pk: int
    event_uid: str
    calendar_id: str
    version: int
    deleted: bool
    summary: str
    start_at: datetime
    end_at: datetime
    all_day: bool
    meeting_url: str | None  # the normalised joinable link found in the event, if any


class Outcome(msgspec.Struct, frozen=True, kw_only=True):
    status: ExtensionStatus
    bot_id: str | None = None
    last_error: str | None = None
    provider_state: ProviderState | None = None  # None: nothing of ours is left at the provider


class Adapter(Protocol):
    name: ClassVar[str]

    async def reconcile(
        self,
        event: EventSnapshot,
        *,
        want_bot: bool,
        state: ProviderState | None,
        save_state: SaveState,
        now: datetime,
    ) -> Outcome:
        """Create, move or cancel the provider's bot so it matches ``event``.

        ``save_state`` commits a record at once: call it before a provider call whose effect must not
        be forgotten if the process dies mid-call (a create). Raise ProviderUnavailable to be retried.
        """
        ...


AdapterFactory = Callable[[Profile, AdapterSpec, ProviderHttp], Adapter]
