"""The port every adapter implements, and the values that cross it.

An adapter is asked one question per event: "make the provider match this event; here is what you
recorded last time". It answers with the new record and a status. Only meetbridge errors leave it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, Protocol, cast, runtime_checkable

import msgspec

from meetbridge.config.catalogue import AdapterSpec
from meetbridge.config.profiles import Profile
from meetbridge.domain.bot_plan import DesiredBot, Refusal, desired_bot
from meetbridge.domain.extensions import ExtensionStatus
from meetbridge.domain.recording_rules import Participant, RuleDecision
from meetbridge.providers.http import ProviderHttp

ProviderState = dict[str, Any]
# The one key of an adapter's own state that others read: the deduplication key an adapter that
# shares bots between calendars reports (the single-event read's ``explain`` shows it).
DEDUPLICATION_KEY = "deduplication_key"
SaveState = Callable[[ProviderState], Awaitable[None]]


class LinkedEvent(msgspec.Struct, frozen=True, kw_only=True):
    """Calendar adapters: the provider's calendar event an extension acts on, as last synced."""

    provider_event_id: str
    start_at: datetime
    meeting_url: str | None  # as the provider gives it: deduplication keys must agree across calendars
    deleted: bool
    calendar_email: str | None  # the linked calendar's owner
    provider_calendar_id: str | None = None  # the linked calendar (Calendar V1: the user id)
    bot_id: str | None = None  # the provider's bot on the event, where the provider reports one


def linked_bot(event: EventSnapshot, *, want_bot: bool, now: datetime) -> DesiredBot | Refusal | None:
    """What a calendar adapter's bot should be: the linked provider event's start and meeting link
    decide (the provider schedules from its own copy), and a deleted one wants none."""
    linked = event.linked
    return desired_bot(
        wanted=want_bot and linked is not None and not linked.deleted,
        deleted=event.deleted,
        all_day=event.all_day,
        start_at=linked.start_at if linked else event.start_at,
        end_at=event.end_at,
        meeting_url=linked.meeting_url if linked else None,
        lead=timedelta(0),
        now=now,
    )


@dataclass(frozen=True, kw_only=True, repr=False)
class ForwardTarget:
    """Forwarding adapters: the linked upstream calendar an event is copied to, and its credentials.

    Credentials are the adapter's own record (OAuth tokens), opened from storage for this job;
    ``save_credentials`` stores rotated ones at once, ``load_credentials`` reads the stored ones back
    (another process may have rotated them). ``generation`` changes each time the link is made
    again with new credentials. ``reported_bot_id`` is the bot the upstream service last reported
    for this event, as read back by the link's sync.
    """

    link_id: int | None  # None while a link request checks credentials not stored yet
    generation: str
    provider_calendar_id: str
    credentials: Mapping[str, Any]
    save_credentials: Callable[[Mapping[str, Any]], Awaitable[None]]
    load_credentials: Callable[[], Awaitable[Mapping[str, Any] | None]]
    reported_bot_id: str | None = None

    def __repr__(self) -> str:  # credentials must never reach a log through a repr
        return f"ForwardTarget(link_id={self.link_id}, calendar={self.provider_calendar_id!r})"


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
    linked: LinkedEvent | None = None  # set for calendar adapters when a provider event matches
    event_id: str | None = None  # the app's own id (managed events)
    fields: dict[str, Any] = msgspec.field(default_factory=dict)  # the stored Cronofy-shaped fields
    forward: ForwardTarget | None = None  # set for forwarding adapters: where the event is copied


class Outcome(msgspec.Struct, frozen=True, kw_only=True):
    status: ExtensionStatus
    bot_id: str | None = None
    last_error: str | None = None
    provider_state: ProviderState | None = None  # None: nothing of ours is left at the provider


class Capabilities(msgspec.Struct, frozen=True, kw_only=True):
    """What an adapter does besides ``reconcile``, declared once on its class: the engine, the API and
    switching ask this (through ``calendar_linker`` and its siblings), never the adapter's name.
    tests/contract checks every adapter implements the ports it declares."""

    # Acts on a linked provider calendar's events (CalendarLinker): the engine finds the provider
    # event first and waits (awaiting_sync) until there is one.
    links_calendars: bool = False
    # The provider records by the user's own preferences (PresetLinker; links calendars too).
    preset: bool = False
    # Copies events to an upstream calendar service that makes the bots (EventForwarder).
    forwards: bool = False
    # Takes its provider's webhooks at POST /v1/webhooks/{webhook_path}/{profile_id} (WebhookReceiver).
    receives_webhooks: bool = False
    # Lists the provider's bots for an audit and cancels one by id (providers/audit.py: BotAuditor).
    audits_bots: bool = False


class Adapter(Protocol):
    name: ClassVar[str]
    # The ``provider`` of the event extensions this adapter serves (``{"provider": "recall", ...}``),
    # which is also where the bot id shows in the event's metadata (``metadata.recall.bot_id``).
    extension_provider: ClassVar[str]
    capabilities: ClassVar[Capabilities]
    # Templates of the calls that make ("make") and cancel ("cancel") one event's bot, for the dry
    # run of a migration plan: {base_url}, {target} (the provider's event or calendar), {bot_id},
    # {event_id}, {start}, {upstream}.
    calls: ClassVar[dict[str, str]]

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
        """Create, move or cancel the provider's bot so it matches ``event``.

        ``released`` (with ``want_bot`` False): the app dropped the extension instead of saying
        "none"; an adapter whose provider has defaults of its own hands the decision back to them.

        ``save_state`` commits a record at once: call it before a provider call whose effect must not
        be forgotten if the process dies mid-call (a create). Raise ProviderUnavailable to be retried.
        """
        ...


AdapterFactory = Callable[[Profile, AdapterSpec, ProviderHttp], Adapter]


class ProviderCalendar(msgspec.Struct, frozen=True, kw_only=True):
    provider_calendar_id: str
    platform: str | None
    email: str | None
    status: str  # connecting | connected | disconnected
    status_detail: str | None = None


# The key in ProviderEvent.fields where a provider that assigns bots itself (Calendar V1) reports the
# bot; stored with the synced fields (not shown by the API), so a change of it re-plans the event.
PROVIDER_BOT_ID = "provider_bot_id"


class ProviderEvent(msgspec.Struct, frozen=True, kw_only=True):
    """A provider calendar event, read into what meetbridge stores and what recording rules read."""

    provider_event_id: str
    ical_uid: str | None
    start_at: datetime
    end_at: datetime
    meeting_url: str | None
    deleted: bool
    updated_at: datetime
    fields: dict[str, Any]  # Cronofy-shaped stored fields (summary, attendees, conferencing...)
    participants: list[Participant]
    organizer_email: str | None
    owner_response: str | None
    # Where the provider itself decides what is recorded (Calendar V1 preferences): its decision,
    # shown on the event instead of a meetbridge recording rule.
    provider_decision: RuleDecision | None = None


# What a polled provider lists on every sync: events starting from a day back to four weeks ahead.
POLL_WINDOW = (timedelta(days=1), timedelta(days=28))


@runtime_checkable
class CalendarLinker(Protocol):
    """What a calendar adapter does besides ``reconcile``: link, read and unlink provider calendars."""

    # Seconds between syncs for providers that send no change webhooks (None: webhooks drive syncs).
    # A polled provider lists every event in POLL_WINDOW each time, so one missing is gone.
    sync_interval: float | None

    async def find_calendar(self, provider_calendar_id: str) -> ProviderCalendar: ...

    async def create_calendar(
        self, *, platform: str, refresh_token: str, email: str | None
    ) -> ProviderCalendar: ...

    async def reconnect_calendar(self, provider_calendar_id: str, *, refresh_token: str) -> ProviderCalendar:
        """Give a linked calendar new credentials (after a disconnect) instead of making another."""
        ...

    async def delete_calendar(self, provider_calendar_id: str) -> None:
        """Remove it at the provider (and with it the bots scheduled from it); gone already is fine."""
        ...

    def changed_events(
        self, provider_calendar_id: str, *, since: datetime | None, owner_email: str | None
    ) -> AsyncIterator[list[ProviderEvent]]:
        """Pages of events updated at or after ``since`` (all of them when None).

        ``owner_email`` tells whose response in the attendee lists is the calendar owner's.
        """
        ...


class PresetConnection(msgspec.Struct, frozen=True, kw_only=True):
    platform: str
    connected: bool
    email: str | None


class Preset(msgspec.Struct, frozen=True, kw_only=True):
    """A provider calendar user that records by its own preferences (Calendar V1), as it is now."""

    user_id: str
    connections: list[PresetConnection]
    preferences: dict[str, Any]


@runtime_checkable
class PresetLinker(Protocol):
    """Calendar adapters whose provider decides recordings from the user's preferences (Calendar V1).

    ``find_calendar(user_id)`` links the user (creating it at the provider if needed); these add what
    only such providers have. The provider runs the OAuth consent itself: ``connect_url`` is where to
    send the user.
    """

    async def preset(self, user_id: str) -> Preset: ...

    async def set_preferences(self, user_id: str, preferences: Mapping[str, Any]) -> Preset: ...

    async def disconnect(self, user_id: str, platform: str) -> Preset: ...

    async def connect_url(
        self, user_id: str, platform: str, *, success_url: str | None, error_url: str | None
    ) -> str: ...


class ReportedBot(msgspec.Struct, frozen=True, kw_only=True):
    """What an upstream service says of one forwarded event's bot (None: it has none)."""

    event_id: str
    bot_id: str | None
    updated_at: datetime | None


class ForwardedCalendar(msgspec.Struct, frozen=True, kw_only=True):
    """An upstream calendar a link forwards to, as checked when linking."""

    provider_calendar_id: str
    provider_name: str | None  # the calendar service behind it (google, exchange...)
    profile_name: str | None  # the account's name there (usually the mailbox)
    channel_id: str | None  # the push channel that reports its changes


@runtime_checkable
class EventForwarder(Protocol):
    """Adapters that copy meetbridge events to an upstream calendar service which makes the bots
    (Cronofy); ``reconcile`` gets ``event.forward``. Bot ids come back through the link's sync:
    change notifications ask for one, and ``poll_interval`` seconds after each comes the next."""

    poll_interval: float

    async def open_link(
        self, target: ForwardTarget, *, callback_url: str, previous_channel_id: str | None
    ) -> ForwardedCalendar:
        """Check the calendar can be written with these credentials; open its push channel."""
        ...

    async def close_link(self, target: ForwardTarget, channel_id: str | None) -> None:
        """Close the push channel (gone already is fine)."""
        ...

    def reported_bots(
        self, target: ForwardTarget, *, since: datetime | None
    ) -> AsyncIterator[list[ReportedBot]]:
        """Pages of forwarded events changed at or after ``since`` (all when None), with their bots."""
        ...


class BotStatusReported(msgspec.Struct, frozen=True, kw_only=True):
    """The provider reports a bot's status (Recall's bot.* events)."""

    bot_id: str
    code: str
    sub_code: str | None = None
    # When the provider says the bot reached this status: reports arrive late and out of order.
    reported_at: datetime | None = None


class CalendarChanged(msgspec.Struct, frozen=True, kw_only=True):
    """Events of a provider calendar changed from ``since`` on: sync the links of that calendar."""

    provider_calendar_id: str
    since: datetime | None


class CalendarStatusChanged(msgspec.Struct, frozen=True, kw_only=True):
    """A provider calendar's connection changed: read its status again."""

    provider_calendar_id: str


class ForwardedEventsChanged(msgspec.Struct, frozen=True, kw_only=True):
    """Forwarded events behind a push channel changed from ``since`` on: read their bots back."""

    channel_id: str | None
    since: datetime | None


class NothingToDo(msgspec.Struct, frozen=True, kw_only=True):
    """A verified delivery that asks for nothing (a channel check, an event type not acted on)."""

    reason: str = ""


WebhookAction = (
    BotStatusReported | CalendarChanged | CalendarStatusChanged | ForwardedEventsChanged | NothingToDo
)


class ReceivedWebhook(msgspec.Struct, frozen=True, kw_only=True):
    action: WebhookAction
    # The provider's id of this delivery: a redelivery under the same id changes nothing twice.
    message_id: str | None = None


@runtime_checkable
class WebhookReceiver(Protocol):
    """Adapters whose provider calls meetbridge back; the engine applies what ``receive_webhook`` read."""

    webhook_path: ClassVar[str]  # the {webhook_path} of POST /v1/webhooks/{webhook_path}/{profile_id}

    def receive_webhook(self, headers: Mapping[str, str], body: bytes) -> ReceivedWebhook:
        """Verify the delivery with the profile's secret, then read it.

        Raises WebhookRejected (unsigned, forged, stale) before reading anything, InvalidRequest
        naming the field for a verified body it cannot read, NotFound when this profile is not set
        up to receive webhooks (no secret).
        """
        ...


def _declared(adapter: object) -> Capabilities:
    declared = getattr(adapter, "capabilities", None)
    return declared if isinstance(declared, Capabilities) else Capabilities()


def calendar_linker(adapter: object) -> CalendarLinker | None:
    """The adapter as a calendar linker, if it declares that it links calendars."""
    return cast(CalendarLinker, adapter) if _declared(adapter).links_calendars else None


def preset_linker(adapter: object) -> PresetLinker | None:
    """The adapter as a preset linker, if it declares that its provider records by preferences."""
    return cast(PresetLinker, adapter) if _declared(adapter).preset else None


def event_forwarder(adapter: object) -> EventForwarder | None:
    """The adapter as an event forwarder, if it declares that it forwards."""
    return cast(EventForwarder, adapter) if _declared(adapter).forwards else None


def webhook_receiver(adapter: object) -> WebhookReceiver | None:
    """The adapter as a webhook receiver, if it declares that it receives webhooks."""
    return cast(WebhookReceiver, adapter) if _declared(adapter).receives_webhooks else None
