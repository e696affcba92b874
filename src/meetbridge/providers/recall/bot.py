"""recall-bot: meetbridge manages Recall bots itself on ``/api/v1/bot/``, the way Cronofy does.

Exactly one bot per event, even across crashes: before Create Bot we commit a record with a fresh
nonce, and the bot carries that nonce in its ``metadata``. A job that finds such a record without a
bot id (the process died, or the call timed out) asks List Bots for that nonce and adopts what it
finds, before planning anything else. A create that got a definite answer clears the record, so a
normal retry costs no List Bots call (60 a minute).
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import msgspec

from meetbridge.config.catalogue import AdapterSpec
from meetbridge.config.profiles import Profile
from meetbridge.domain.bot_plan import (
    ENDED,
    ActualBot,
    Cancel,
    Create,
    DesiredBot,
    Refusal,
    Update,
    desired_bot,
    plan_bot,
)
from meetbridge.domain.extensions import ExtensionStatus
from meetbridge.errors import ProviderError, ProviderNotFound, ProviderRejected, ProviderUnavailable
from meetbridge.providers.base import (
    Capabilities,
    EventSnapshot,
    Outcome,
    ProviderState,
    SaveState,
)
from meetbridge.providers.http import ProviderHttp
from meetbridge.providers.recall.bot_audit import BOTS, EVENT_KEY, PROFILE_KEY, RecallBotAudit
from meetbridge.providers.recall.options import EXTENSION_PROVIDER, RecallBotOptions
from meetbridge.providers.recall.webhooks import RecallWebhooks

__all__ = ["BOTS", "EVENT_KEY", "NONCE_KEY", "RecallBotAdapter"]

NONCE_KEY = "meetbridge_create"


class RecallBot(msgspec.Struct, kw_only=True):
    """The parts of Recall's Bot object we read; everything else is ignored."""

    id: str
    join_at: datetime | None = None
    metadata: dict[str, Any] | None = None


class BotPage(msgspec.Struct, kw_only=True):
    results: list[RecallBot]
    next: str | None = None


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class RecallBotAdapter(RecallWebhooks, RecallBotAudit):
    name: ClassVar[str] = "recall-bot"
    extension_provider: ClassVar[str] = EXTENSION_PROVIDER
    capabilities: ClassVar[Capabilities] = Capabilities(receives_webhooks=True, audits_bots=True)
    # The calls that make and cancel a bot, as a migration plan's dry run prints them.
    calls: ClassVar[dict[str, str]] = {
        "make": "POST {base_url}/api/v1/bot/ (meeting_url, join_at {start})",
        "cancel": "DELETE {base_url}/api/v1/bot/{bot_id}/",
    }

    def __init__(self, profile: Profile, spec: AdapterSpec, http: ProviderHttp) -> None:
        if not isinstance(profile.options, RecallBotOptions):
            raise TypeError(f"profile {profile.profile_id} is not a recall-bot profile")
        self.profile = profile
        self.profile_id = profile.profile_id
        self.options: RecallBotOptions = profile.options
        self.http = http
        self.scheduled_lead = timedelta(seconds=spec.windows["scheduled_bot_min_lead_seconds"])
        self.config = {
            **self.options.bot_config,
            "bot_name": self.options.bot_config.get("bot_name", self.options.bot_name),
        }
        self.config_digest = hashlib.sha256(msgspec.json.encode(self.config, order="sorted")).hexdigest()[:16]

    # --- the port ---------------------------------------------------------------------------

    async def reconcile(
        self,
        event: EventSnapshot,
        *,
        want_bot: bool,
        state: ProviderState | None,
        save_state: SaveState,
        now: datetime,
        released: bool = False,  # nothing to hand back: no provider-side defaults decide bots here
    ) -> Outcome:
        state = dict(state or {})
        if state.get(NONCE_KEY) and not state.get("bot_id"):
            state = await self._recover_create(state, save_state)
        desired = desired_bot(
            wanted=want_bot,
            deleted=event.deleted,
            all_day=event.all_day,
            start_at=event.start_at,
            end_at=event.end_at,
            meeting_url=event.meeting_url,
            lead=timedelta(seconds=self.options.join_lead_seconds),
            now=now,
        )
        actual = _actual(state)
        action = plan_bot(desired, actual, self.config_digest)
        if isinstance(action, Create):
            state = await self._create(event, action.bot, save_state, now)
        elif isinstance(action, Update):
            state = await self._update(event, action, state, save_state, now)
        elif isinstance(action, Cancel):
            await self._cancel(action.bot_id)
            state = {}
        return _outcome(desired, state)

    # --- steps --------------------------------------------------------------------------------

    async def _create(
        self, event: EventSnapshot, bot: DesiredBot, save_state: SaveState, now: datetime
    ) -> ProviderState:
        nonce = uuid.uuid4().hex
        body: dict[str, Any] = {**self.config, "meeting_url": bot.meeting_url}
        # Recall schedules a bot only when join_at is more than 10 minutes away; closer than that it
        # takes an ad-hoc bot from its warm pool now (and may answer 507: retried by the worker).
        scheduled = bot.join_at - now > self.scheduled_lead
        if scheduled:
            body["join_at"] = _iso(bot.join_at)
        body["metadata"] = {
            **(self.config.get("metadata") or {}),
            EVENT_KEY: event.event_uid,
            PROFILE_KEY: self.profile_id,  # what the audit's listing filters on
            NONCE_KEY: nonce,
        }
        facts = self._facts(bot, scheduled=scheduled)
        # Committed before the call: if we never hear the answer, recovery adopts the bot with these facts.
        await save_state({NONCE_KEY: nonce, "intended": facts})
        try:
            response = await self.http.request(
                "create_bot", "POST", BOTS, json=body, ok=frozenset({200, 201})
            )
        except ProviderError as exc:
            if not (isinstance(exc, ProviderUnavailable) and exc.status is None):
                # Recall answered (even if only to refuse): no bot was made, so the next attempt
                # need not look for one. Only a lost answer (network, timeout) leaves it unknown.
                await save_state({})
            raise
        return {**facts, "bot_id": self.http.decode(response, RecallBot).id}

    async def _update(
        self, event: EventSnapshot, action: Update, state: ProviderState, save_state: SaveState, now: datetime
    ) -> ProviderState:
        patch: dict[str, Any] = {"meeting_url": action.bot.meeting_url}
        if action.config_changed:
            # The bot keeps the tag that names its event: the configured metadata must not replace it.
            patch.update(
                self.config,
                metadata={
                    **(self.config.get("metadata") or {}),
                    EVENT_KEY: event.event_uid,
                    PROFILE_KEY: self.profile_id,
                },
            )
        if action.bot.join_at - now > self.scheduled_lead and state.get("scheduled"):
            patch["join_at"] = _iso(action.bot.join_at)
            try:
                await self.http.request("bot", "PATCH", f"{BOTS}{action.bot_id}/", json=patch)
            except ProviderRejected as exc:
                if exc.status != 400:
                    raise
                # update_bot_failed: dispatched already, or too late to move; replace the bot.
            except ProviderNotFound:
                pass  # gone at Recall: replace it
            else:
                return {**self._facts(action.bot, scheduled=True), "bot_id": action.bot_id}
        # Ad-hoc bots and bots inside Recall's window cannot be patched: delete, then create.
        await self._cancel(action.bot_id)
        await save_state({})
        return await self._create(event, action.bot, save_state, now)

    async def cancel_bot(self, bot_id: str) -> None:
        """The audit port: cancel a bot no extension wants."""
        await self._cancel(bot_id)

    async def _cancel(self, bot_id: str) -> None:
        try:
            await self.http.request("bot", "DELETE", f"{BOTS}{bot_id}/")
        except ProviderNotFound:
            return  # already gone
        except ProviderRejected as exc:
            if exc.status != 405:
                raise
            # 405: the bot was dispatched; the only way to stop it now is to make it leave.
            try:
                await self.http.request("bot", "POST", f"{BOTS}{bot_id}/leave_call/")
            except ProviderNotFound:
                return

    async def _recover_create(self, state: ProviderState, save_state: SaveState) -> ProviderState:
        """A create may have happened without us hearing the answer: find it by its nonce."""
        response = await self.http.request(
            "list_bots", "GET", BOTS, params={f"metadata__{NONCE_KEY}": str(state[NONCE_KEY])}
        )
        found = self.http.decode(response, BotPage).results
        if not found:
            await save_state({})
            return {}
        keep, *extra = found
        for bot in extra:
            await self._cancel(bot.id)  # cannot happen with one nonce per create; never keep two
        adopted: ProviderState = {**state["intended"], "bot_id": keep.id}
        await save_state(adopted)
        return adopted

    def _facts(self, bot: DesiredBot, *, scheduled: bool) -> ProviderState:
        return {
            "profile_id": self.profile.profile_id,
            "meeting_url": bot.meeting_url,
            "join_at": _iso(bot.join_at),
            "config_digest": self.config_digest,
            "scheduled": scheduled,
        }


def _actual(state: ProviderState) -> ActualBot | None:
    bot_id = state.get("bot_id")
    if not bot_id:
        return None
    join_at = (
        datetime.fromisoformat(state["join_at"]) if state.get("join_at") else datetime.min.replace(tzinfo=UTC)
    )
    return ActualBot(
        bot_id=bot_id,
        meeting_url=state.get("meeting_url") or "",
        join_at=join_at,
        config_digest=state.get("config_digest") or "",
    )


def _outcome(desired: DesiredBot | Refusal | None, state: ProviderState) -> Outcome:
    bot_id = state.get("bot_id")
    provider_state = state or None
    if desired is ENDED and bot_id:
        # The meeting is over and its bot went to it: that is success, not a refusal.
        return Outcome(status=ExtensionStatus.SCHEDULED, bot_id=bot_id, provider_state=provider_state)
    if isinstance(desired, Refusal):
        return Outcome(
            status=desired.status, bot_id=bot_id, last_error=desired.message, provider_state=provider_state
        )
    if desired is None:
        return Outcome(status=ExtensionStatus.CANCELLED, provider_state=provider_state)
    return Outcome(status=ExtensionStatus.SCHEDULED, bot_id=bot_id, provider_state=provider_state)
