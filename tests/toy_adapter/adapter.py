"""The toy vendor's adapter: one bot per event, made, moved and cancelled on its bot API.

``POST /bots`` {meeting_url, join_at, bot_name, metadata} -> {id, ...}; ``PATCH /bots/{id}`` {join_at};
``DELETE /bots/{id}``. It implements only the ``Adapter`` port, and uses only what src/ offers any
adapter: the ports' values, the options base class, the injected paced HTTP client.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import ClassVar

import msgspec

from meetbridge.config.catalogue import AdapterSpec
from meetbridge.config.options import AdapterOptions
from meetbridge.config.profiles import Profile
from meetbridge.config.secrets import Secret
from meetbridge.domain.extensions import ExtensionStatus
from meetbridge.errors import ProviderNotFound
from meetbridge.providers.base import Capabilities, EventSnapshot, Outcome, ProviderState, SaveState
from meetbridge.providers.http import ProviderHttp


class ToyOptions(AdapterOptions, kw_only=True, forbid_unknown_fields=True):
    account_keys: ClassVar[tuple[str, ...]] = ("api_key",)
    api_key: Secret
    bot_name: str = "Toy Notetaker"


class ToyBot(msgspec.Struct):
    id: str


class ToyBotAdapter:
    name: ClassVar[str] = "toy-bot"
    extension_provider: ClassVar[str] = "toy"
    capabilities: ClassVar[Capabilities] = Capabilities()
    calls: ClassVar[dict[str, str]] = {
        "make": "POST {base_url}/bots",
        "cancel": "DELETE {base_url}/bots/{bot_id}",
    }

    def __init__(self, profile: Profile, spec: AdapterSpec, http: ProviderHttp) -> None:
        if not isinstance(profile.options, ToyOptions):
            raise TypeError(f"profile {profile.profile_id} is not a toy-bot profile")
        self.options: ToyOptions = profile.options
        self.http = http

    async def reconcile(
        self,
        event: EventSnapshot,
        *,
        want_bot: bool,
        state: ProviderState | None,
        save_state: SaveState,
        now: datetime,
        released: bool = False,
    ) -> Outcome:
        bot_id = (state or {}).get("bot_id")
        problem = self._problem(event, now) if want_bot and not event.deleted else None
        if not want_bot or event.deleted or problem is not None:
            if bot_id:
                await self._delete(str(bot_id))
            if problem is None or problem == "ended":
                return Outcome(status=ExtensionStatus.CANCELLED)
            return Outcome(status=ExtensionStatus.FAILED, last_error=problem)
        wanted = {"meeting_url": event.meeting_url, "join_at": event.start_at.isoformat()}
        if state and bot_id and state.get("wanted") == wanted:
            return Outcome(status=ExtensionStatus.SCHEDULED, bot_id=str(bot_id), provider_state=state)
        if state and bot_id and (state.get("wanted") or {}).get("meeting_url") == event.meeting_url:
            await self.http.request("bots", "PATCH", f"/bots/{bot_id}", json={"join_at": wanted["join_at"]})
        else:
            if bot_id:
                await self._delete(str(bot_id))
            body = {**wanted, "bot_name": self.options.bot_name, "metadata": {"event": event.event_uid}}
            bot_id = self.http.decode(await self.http.request("bots", "POST", "/bots", json=body), ToyBot).id
        made = {"bot_id": bot_id, "wanted": wanted}
        await save_state(made)
        return Outcome(status=ExtensionStatus.SCHEDULED, bot_id=str(bot_id), provider_state=made)

    @staticmethod
    def _problem(event: EventSnapshot, now: datetime) -> str | None:
        if event.all_day:
            return "all-day events get no bot (reason: all_day)"
        if not event.meeting_url:
            return "no meeting link in the event (reason: no_meeting_url)"
        return "ended" if event.end_at <= now else None

    async def _delete(self, bot_id: str) -> None:
        with contextlib.suppress(ProviderNotFound):  # gone already
            await self.http.request("bots", "DELETE", f"/bots/{bot_id}")
