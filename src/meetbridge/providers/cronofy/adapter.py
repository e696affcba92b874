"""cronofy: forward meetbridge events to a linked Cronofy calendar; Cronofy's Recall integration makes
the bots, and their ids come back through the link's sync (push notifications, then a slow poll).

Per event the adapter keeps one record: the calendar it forwarded to, the digest of the last body
Cronofy accepted (an unchanged event is not sent again) and the attendee emails sent (Cronofy takes
attendee *changes*). The record outlives a cancelled bot, because the forwarded copy is still in the
user's calendar: deleting the event later must delete it there too.

A bot id is trusted only when Cronofy reported it after we last asked for a bot: the id of a bot we
cancelled is remembered, so a report that predates the cancel is not mistaken for the new bot (nor
one reported before a first forward: the audit forgets a record whose bot is gone, and the forward
that follows must wait for the new id).

The record also keeps the start and meeting link forwarded with the extension (``join_at``,
``meeting_url``: Cronofy's bot joins there), which the drift audit (audit.py) compares with the read-
back; where it records what Cronofy has instead, the event is forwarded again though unchanged.

It keeps the bot Cronofy last showed on the copy too (``shown_bot_id``): when a read-back then shows
none while the event still wants one (the copy deleted upstream, or its extension dropped there), the
event is forwarded again, once; the new bot's id comes back through the read-back. A copy that never
showed a bot is waiting for Cronofy's integration and is not forwarded again, so nothing loops.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar

from meetbridge.config.catalogue import AdapterSpec
from meetbridge.config.profiles import Profile
from meetbridge.domain.bot_plan import ENDED, DesiredBot, Refusal, desired_bot
from meetbridge.domain.extensions import NO_PROFILE, ExtensionStatus
from meetbridge.errors import ProviderNotFound, ProviderRejected
from meetbridge.providers.base import (
    Capabilities,
    EventSnapshot,
    ForwardedCalendar,
    ForwardTarget,
    Outcome,
    ProviderState,
    ReceivedWebhook,
    ReportedBot,
    SaveState,
)
from meetbridge.providers.cronofy.api import CronofyApi, CronofyInvalid
from meetbridge.providers.cronofy.audit import CronofyAudit
from meetbridge.providers.cronofy.forward import RECALL, attendee_emails, digest, forward_body
from meetbridge.providers.cronofy.link_request import CronofyLinkRequest
from meetbridge.providers.cronofy.options import CronofyOptions
from meetbridge.providers.cronofy.push import WEBHOOK_PATH as CRONOFY_WEBHOOK_PATH
from meetbridge.providers.cronofy.push import receive_cronofy_push
from meetbridge.providers.cronofy.wire import CronofyTokens
from meetbridge.providers.http import ProviderHttp

NOT_FORWARDABLE = "cronofy forwards managed events (with an event_id) of a calendar linked for this profile"


def tokens_of(credentials: Mapping[str, Any]) -> CronofyTokens:
    return CronofyTokens(
        access_token=str(credentials["access_token"]),
        refresh_token=str(credentials["refresh_token"]),
        expires_at=datetime.fromisoformat(str(credentials["expires_at"])),
    )


def credentials_of(tokens: CronofyTokens) -> dict[str, str]:
    return {
        "access_token": tokens.access_token,
        "refresh_token": tokens.refresh_token,
        "expires_at": tokens.expires_at.isoformat(),
    }


def _assigns_conferencing(fields: Mapping[str, Any]) -> bool:
    """``conferencing: {profile_id: "default"}`` (or a named profile): Cronofy adds the meeting link."""
    profile = (fields.get("conferencing") or {}).get("profile_id")
    return bool(profile) and profile not in ("explicit", NO_PROFILE)


def _moved(record: ProviderState, join_at: datetime, meeting_url: str | None) -> bool:
    """The record says Cronofy's copy starts or meets elsewhere than the event (the audit found it)."""
    recorded = record.get("join_at")
    try:
        if isinstance(recorded, str) and datetime.fromisoformat(recorded) != join_at:
            return True
    except ValueError:
        return True  # unreadable: forwarding again sets it right
    return "meeting_url" in record and record["meeting_url"] != meeting_url


def _lost(record: ProviderState, target: ForwardTarget) -> bool:
    """Cronofy showed a bot on the copy and its read-back now shows none."""
    return bool(record.get("shown_bot_id")) and target.reported_bot_id is None


class CronofyAdapter(CronofyAudit):
    name: ClassVar[str] = "cronofy"
    extension_provider: ClassVar[str] = RECALL  # Cronofy's Recall integration makes Recall bots
    capabilities: ClassVar[Capabilities] = Capabilities(
        forwards=True, receives_webhooks=True, audits_bots=True
    )
    link_request: ClassVar[type[CronofyLinkRequest]] = CronofyLinkRequest
    webhook_path: ClassVar[str] = CRONOFY_WEBHOOK_PATH
    calls: ClassVar[dict[str, str]] = {
        "make": "POST {base_url}/v1/calendars/{target}/events (event_id {event_id}, extension {upstream})",
        "cancel": "DELETE {base_url}/v1/calendars/{target}/events (event_id {event_id})",
    }

    def __init__(self, profile: Profile, spec: AdapterSpec, http: ProviderHttp) -> None:
        if not isinstance(profile.options, CronofyOptions):
            raise TypeError(f"profile {profile.profile_id} is not a cronofy profile")
        self.profile = profile
        self.options: CronofyOptions = profile.options
        self.http = http
        self.poll_interval = float(
            self.options.poll_interval_seconds or spec.windows["poll_interval_seconds"]
        )
        # One client per link (and generation of its credentials): its lock makes concurrent jobs
        # share one refresh, since Cronofy rotates refresh tokens.
        self._apis: dict[int, tuple[str, CronofyApi]] = {}

    def api(self, target: ForwardTarget) -> CronofyApi:
        cached = self._apis.get(target.link_id) if target.link_id is not None else None
        if cached is not None and cached[0] == target.generation:
            return cached[1]

        async def save(tokens: CronofyTokens) -> None:
            await target.save_credentials(credentials_of(tokens))

        async def reload() -> CronofyTokens | None:
            stored = await target.load_credentials()
            return tokens_of(stored) if stored else None

        api = CronofyApi(
            self.http,
            client_id=self.options.client_id.reveal(),
            client_secret=self.options.client_secret.reveal(),
            tokens=tokens_of(target.credentials),
            save_tokens=save,
            reload_tokens=reload,
        )
        if target.link_id is not None:
            self._apis[target.link_id] = (target.generation, api)
        return api

    def receive_webhook(self, headers: Mapping[str, str], body: bytes) -> ReceivedWebhook:
        return receive_cronofy_push(self.options.client_secret, headers, body)

    # --- the port -------------------------------------------------------------------------------

    async def reconcile(
        self,
        event: EventSnapshot,
        *,
        want_bot: bool,
        state: ProviderState | None,
        save_state: SaveState,
        now: datetime,
        released: bool = False,  # Cronofy has no defaults of its own to hand back to
    ) -> Outcome:
        target, event_id = event.forward, event.event_id
        if target is None or event_id is None:
            return Outcome(status=ExtensionStatus.FAILED, last_error=NOT_FORWARDABLE, provider_state=state)
        record = dict(state or {})
        if event.deleted:
            if record:
                await self._delete(target, event_id)
            return Outcome(status=ExtensionStatus.CANCELLED)
        desired = desired_bot(
            wanted=want_bot,
            deleted=False,
            all_day=event.all_day,
            start_at=event.start_at,
            end_at=event.end_at,
            # Without a link of its own, the event may still ask Cronofy to add one.
            meeting_url=event.meeting_url or ("assigned" if _assigns_conferencing(event.fields) else None),
            lead=timedelta(0),  # Cronofy's integration decides when its bot joins
            now=now,
        )
        if desired is ENDED:  # past events are left as they are: no calls
            return self._outcome(desired, record, target)
        upstream = self.options.upstream_profile_id if isinstance(desired, DesiredBot) else NO_PROFILE
        if not record and upstream == NO_PROFILE:
            return self._outcome(desired, record, target)  # nothing forwarded, nothing to cancel
        body = forward_body(
            event_id, event.fields, profile_id=upstream, forwarded_emails=record.get("attendees") or ()
        )
        body_digest = digest(body)
        wanted = isinstance(desired, DesiredBot)
        moved = wanted and _moved(record, event.start_at, event.meeting_url)
        lost = wanted and _lost(record, target)
        if lost:
            del record["shown_bot_id"]  # forwarded again once, whatever Cronofy answers
        if record.get("digest") != body_digest or moved or lost:
            record = await self._forward(target, body, body_digest, record, save_state, upstream)
            if wanted and not record.get("rejected"):
                record = {**record, "join_at": event.start_at.isoformat(), "meeting_url": event.meeting_url}
        return self._outcome(desired, record, target)

    async def _forward(
        self,
        target: ForwardTarget,
        body: dict[str, Any],
        body_digest: str,
        record: ProviderState,
        save_state: SaveState,
        upstream: str,
    ) -> ProviderState:
        base: ProviderState = {"profile_id": self.profile.profile_id, "calendar": target.provider_calendar_id}
        if not record:
            # Recorded before the first call: if we never hear the answer, a later delete still
            # knows there may be a copy upstream.
            record = {**base, "attendees": []}
            if target.reported_bot_id:  # reported before this first forward asked for a bot
                record["cancelled_bot_id"] = target.reported_bot_id
            await save_state(record)
        try:
            await self.api(target).upsert_event(target.provider_calendar_id, body)
        except CronofyInvalid as exc:
            # Kept with its digest: the same body is not sent again until the event changes.
            return {**record, "digest": body_digest, "rejected": str(exc)}
        except (ProviderRejected, ProviderNotFound) as exc:
            return {**record, "digest": None, "rejected": str(exc)}
        forwarded: ProviderState = {
            **base,
            "digest": body_digest,
            "attendees": attendee_emails({"attendees": body.get("attendees", {}).get("invite", [])}),
            "upstream": upstream,
        }
        cancelled = record.get("cancelled_bot_id")
        if upstream == NO_PROFILE:
            cancelled = target.reported_bot_id or cancelled
        if cancelled:
            forwarded["cancelled_bot_id"] = cancelled
        return forwarded

    async def _delete(self, target: ForwardTarget, event_id: str) -> None:
        try:
            await self.api(target).delete_event(target.provider_calendar_id, event_id)
        except ProviderNotFound:
            return  # the calendar is gone, and the copy with it

    def _outcome(
        self, desired: DesiredBot | Refusal | None, record: ProviderState, target: ForwardTarget
    ) -> Outcome:
        reported = target.reported_bot_id
        current = reported != record.get("cancelled_bot_id") and record.get("upstream") != NO_PROFILE
        bot_id = reported if reported and current else None
        provider_state = record or None
        if record.get("rejected"):
            message = f"Cronofy refused the event: {record['rejected']}"
            return Outcome(status=ExtensionStatus.FAILED, last_error=message, provider_state=provider_state)
        if isinstance(desired, Refusal):
            if desired is ENDED and bot_id:
                return Outcome(status=ExtensionStatus.SCHEDULED, bot_id=bot_id, provider_state=provider_state)
            return Outcome(status=desired.status, last_error=desired.message, provider_state=provider_state)
        if desired is None:
            return Outcome(status=ExtensionStatus.CANCELLED, provider_state=provider_state)
        if bot_id is None:
            return Outcome(status=ExtensionStatus.PENDING, provider_state=provider_state)
        shown = {**record, "shown_bot_id": bot_id}
        return Outcome(status=ExtensionStatus.SCHEDULED, bot_id=bot_id, provider_state=shown)

    # --- links (EventForwarder) -------------------------------------------------------------------

    async def open_link(
        self, target: ForwardTarget, *, callback_url: str, previous_channel_id: str | None
    ) -> ForwardedCalendar:
        api = self.api(target)
        calendar_id = target.provider_calendar_id
        found = [c for c in await api.list_calendars() if c.get("calendar_id") == calendar_id]
        if not found:
            raise ProviderNotFound(f"calendar {calendar_id} is not one of this Cronofy account's calendars")
        calendar = found[0]
        if calendar.get("calendar_readonly") or calendar.get("calendar_deleted"):
            state = "deleted" if calendar.get("calendar_deleted") else "read-only"
            raise ProviderRejected(
                f"calendar {calendar_id} is {state} at Cronofy; events cannot be written", status=422
            )
        channel = await api.create_channel(callback_url, calendar_ids=[calendar_id], only_managed=True)
        if previous_channel_id and previous_channel_id != channel.channel_id:
            await self.close_link(target, previous_channel_id)
        return ForwardedCalendar(
            provider_calendar_id=calendar_id,
            provider_name=calendar.get("provider_name"),
            profile_name=calendar.get("profile_name"),
            channel_id=channel.channel_id,
        )

    async def close_link(self, target: ForwardTarget, channel_id: str | None) -> None:
        if channel_id is None:
            return
        try:
            await self.api(target).close_channel(channel_id)
        except ProviderNotFound:
            return

    async def reported_bots(
        self, target: ForwardTarget, *, since: datetime | None
    ) -> AsyncIterator[list[ReportedBot]]:
        pages = self.api(target).read_events(
            calendar_ids=[target.provider_calendar_id],
            last_modified=since,
            include_managed=True,
            only_managed=True,
            include_deleted=True,
        )
        async for page in pages:
            yield [
                ReportedBot(
                    event_id=event.event_id,
                    bot_id=None if event.deleted else event.recall_bot_id,
                    updated_at=event.updated,
                )
                for event in page
                if event.event_id
            ]
