"""One suite every adapter passes, against its provider's in-process sandbox; plus catalogue ⇄ code.

Adding an adapter is one entry in ``HARNESSES``: a factory that yields the adapter (built through the
AdapterRegistry, speaking real HTTP to a sandbox) and a way to see the provider's live bots and count
the calls it received.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import inspect
import pkgutil
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import msgspec
import pytest
from litestar import Litestar

import meetbridge.providers
from meetbridge.config.catalogue import AdapterSpec, Catalogue, load_catalogue
from meetbridge.config.profiles import parse_config
from meetbridge.domain.extensions import ExtensionStatus
from meetbridge.domain.meeting_urls import parse_meeting_url
from meetbridge.errors import ConfigError
from meetbridge.providers.audit import AuditedLink, Forwarded
from meetbridge.providers.base import (
    Adapter,
    EventSnapshot,
    ForwardTarget,
    LinkedEvent,
    Outcome,
    ProviderState,
)
from meetbridge.providers.recall.calendar_v1 import invite_url
from meetbridge.providers.recall.calendar_v1_api import CalendarMeeting
from meetbridge.providers.registry import AdapterRegistry, load_factory
from meetbridge.sandbox import (
    DEFAULT_RECALL_PROFILE,
    BotQuery,
    CalendarV1Sandbox,
    CalendarV2Sandbox,
    CronofySandbox,
    RecallSandbox,
    SandboxClock,
    create_cronofy_sandbox_app,
    create_recall_sandbox_app,
)
from meetbridge.sandbox.recall import TERMINAL_CODES
from meetbridge.sandbox.recall.calendar_v1 import ChangeMeetingIn, SeedMeetingIn, ZoomInvite
from meetbridge.sandbox.recall.calendar_v2 import ChangeEventIn, NewCalendar, SeedEventIn
from meetbridge.settings import default_catalogue_dir

START = datetime(2026, 5, 11, 12, 0, tzinfo=UTC)
ZOOM = "https://zoom.us/j/1234567890?pwd=abc"
CATALOGUE = load_catalogue(default_catalogue_dir())


# --- harnesses: one per adapter ------------------------------------------------------------------


@dataclass(frozen=True)
class LiveBot:
    bot_id: str
    join_at: datetime | None  # None: the provider sends it now (no scheduled time)


async def as_is(event: EventSnapshot) -> EventSnapshot:
    return event


@dataclass
class Harness:
    adapter: Adapter
    now: Callable[[], datetime]
    live_bots: Callable[[], Awaitable[list[LiveBot]]]
    provider_calls: Callable[[], int]
    join_lead: timedelta = timedelta(0)
    # Calendar adapters act on the provider's copy of the event: make the user's calendar say what
    # the snapshot says (as a sync would have seen it) and hand the adapter the linked event.
    prepare: Callable[[EventSnapshot], Awaitable[EventSnapshot]] = as_is
    # Forwarding adapters learn the bot id after the call (the link's read-back): the run reconciles
    # once more after each call, as the read-back's re-plan does.
    reports_later: bool = False
    # ... and their copy of the event outlives a cancelled bot (a later delete removes it).
    keeps_copy: bool = False
    # ... and their audit reads the links the engine hands over: these, given the bot recorded.
    audit_links: Callable[[str | None], list[AuditedLink]] | None = None


HarnessFactory = Callable[[], AbstractAsyncContextManager[Harness]]


KEY = "contract-recall-key"
WEBHOOK_SECRET = "whsec_Y29udHJhY3Qtd2ViaG9vay1zZWNyZXQ="  # base64 of "contract-webhook-secret"


def contract_sandbox() -> RecallSandbox:
    return RecallSandbox(api_keys=[KEY], clock=SandboxClock(start=START, frozen=True))


async def undeleted_bots(sandbox: RecallSandbox) -> list[LiveBot]:
    return [LiveBot(bot.id, bot.join_at) for bot in await sandbox.admin_bots(BotQuery()) if not bot.deleted]


@asynccontextmanager
async def on_sandbox(
    sandbox: RecallSandbox,
    app: Litestar,
    adapter: str,
    *,
    live_bots: Callable[[], Awaitable[list[LiveBot]]],
    prepare: Callable[[EventSnapshot], Awaitable[EventSnapshot]] = as_is,
    closers: tuple[Callable[[], Awaitable[None]], ...] = (),
    provider_calls: Callable[[], int] | None = None,
    profile: dict[str, Any] | None = None,
    **options: Any,
) -> AsyncIterator[Harness]:
    """A harness for ``adapter`` built through the registry, speaking HTTP to ``app``; closes all after."""
    profile = profile or {
        "base_url": "http://recall.sandbox",
        "api_key": "env:CONTRACT_RECALL_KEY",
        "webhook_secret": "env:CONTRACT_WEBHOOK_SECRET",
    }
    config = parse_config(
        {"profiles": {"int_contract": {"adapter": adapter, **profile, **options}}},
        CATALOGUE,
        environ={"CONTRACT_RECALL_KEY": KEY, "CONTRACT_WEBHOOK_SECRET": WEBHOOK_SECRET, **CRONOFY_ENV},
    )
    registry = AdapterRegistry(CATALOGUE, transport=httpx.ASGITransport(app=app))
    try:
        yield Harness(
            adapter=registry.adapter(config.profiles["int_contract"]),
            now=sandbox.clock.now,
            live_bots=live_bots,
            provider_calls=provider_calls or (lambda: len(sandbox.calls.entries())),
            prepare=prepare,
        )
    finally:
        await registry.aclose()
        for close in closers:
            await close()
        await sandbox.aclose()


@asynccontextmanager
async def recall_bot_harness() -> AsyncIterator[Harness]:
    sandbox = contract_sandbox()
    gone = TERMINAL_CODES | {"call_ended"}

    async def live_bots() -> list[LiveBot]:
        bots = await sandbox.admin_bots(BotQuery())
        return [
            LiveBot(bot.id, bot.join_at)
            for bot in bots
            if not bot.deleted and bot.status_changes[-1].code not in gone
        ]

    async with on_sandbox(
        sandbox, create_recall_sandbox_app(sandbox), "recall-bot", live_bots=live_bots
    ) as made:
        yield made


def google_raw(url: str | None) -> dict[str, Any]:
    return {"summary": "Contract meeting", **({"location": url} if url else {})}


@asynccontextmanager
async def recall_calendar_v2_harness() -> AsyncIterator[Harness]:
    sandbox = contract_sandbox()
    calendars = CalendarV2Sandbox(sandbox)
    owner = "owner@example.com"
    calendar = await calendars.create_calendar(
        NewCalendar("google_calendar", "client", "secret", "refresh-contract", owner)
    )
    copies: dict[int, str] = {}  # meetbridge event pk -> the provider event id

    async def prepare(event: EventSnapshot) -> EventSnapshot:
        end = event.end_at
        if event.pk not in copies:
            seeded = await calendars.seed_event(
                calendar.id, SeedEventIn(event.start_at, end, raw=google_raw(event.meeting_url))
            )
            copies[event.pk] = seeded.id
            found = seeded
        else:
            found = await calendars.change_event(
                copies[event.pk],
                ChangeEventIn(start_time=event.start_at, end_time=end, raw={"location": event.meeting_url}),
            )
        linked = LinkedEvent(
            provider_event_id=found.id,
            start_at=found.start_time,
            meeting_url=found.meeting_url,
            deleted=found.is_deleted,
            calendar_email=owner,
            provider_calendar_id=calendar.id,
        )
        return msgspec.structs.replace(event, linked=linked)

    async with on_sandbox(
        sandbox,
        create_recall_sandbox_app(sandbox, calendar_v2=calendars),
        "recall-calendar-v2",
        live_bots=lambda: undeleted_bots(sandbox),
        prepare=prepare,
        closers=(calendars.aclose,),
        bot_config={"bot_name": "Contract"},
    ) as made:
        yield made


def zoom_invite(url: str | None) -> ZoomInvite | None:
    found = parse_meeting_url(url) if url else None
    return ZoomInvite(meeting_id=found.meeting_id) if found else None


@asynccontextmanager
async def recall_calendar_v1_harness() -> AsyncIterator[Harness]:
    sandbox = contract_sandbox()
    calendars = CalendarV1Sandbox(sandbox)
    user, owner = "contract-user", "owner@example.com"
    await calendars.admin_connect(user, "google", owner)
    copies: dict[int, str] = {}  # meetbridge event pk -> the Recall meeting id

    async def prepare(event: EventSnapshot) -> EventSnapshot:
        invite = zoom_invite(event.meeting_url)
        if event.pk not in copies:
            seed = SeedMeetingIn(start_time=event.start_at, end_time=event.end_at, zoom_invite=invite)
            meeting = await calendars.seed_meeting(user, seed)
            copies[event.pk] = meeting.id
        else:
            change = ChangeMeetingIn(start_time=event.start_at, end_time=event.end_at, zoom_invite=invite)
            meeting = await calendars.change_meeting(copies[event.pk], change)
        linked = LinkedEvent(
            provider_event_id=meeting.id,
            start_at=meeting.start_time,
            meeting_url=invite_url(msgspec.convert(msgspec.to_builtins(meeting), CalendarMeeting)),
            deleted=False,
            calendar_email=owner,
            provider_calendar_id=user,
            bot_id=meeting.bot_id,
        )
        return msgspec.structs.replace(event, linked=linked)

    async with on_sandbox(
        sandbox,
        create_recall_sandbox_app(sandbox, calendar_v1=calendars),
        "recall-calendar-v1",
        live_bots=lambda: undeleted_bots(sandbox),
        prepare=prepare,
        closers=(calendars.aclose,),
        rate_limits={"calendar_v1_user": 6000, "calendar_v1_meetings": 6000},
    ) as made:
        yield made


CRONOFY_ENV = {"CONTRACT_CRONOFY_ID": "contract-client", "CONTRACT_CRONOFY_SECRET": "contract-secret"}


def cronofy_fields(event: EventSnapshot) -> dict[str, Any]:
    """The stored fields an app's upsert would have left for this snapshot."""

    def wire(moment: datetime) -> str:
        return moment.date().isoformat() if event.all_day else moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    fields: dict[str, Any] = {
        "summary": event.summary,
        "start": wire(event.start_at),
        "end": wire(event.end_at),
        "tzid": "Etc/UTC",
    }
    if event.meeting_url:
        fields["conferencing"] = {"profile_id": "explicit", "join_url": event.meeting_url}
    return fields


@asynccontextmanager
async def cronofy_harness() -> AsyncIterator[Harness]:
    recall = contract_sandbox()
    cronofy = CronofySandbox(
        client_id=CRONOFY_ENV["CONTRACT_CRONOFY_ID"],
        client_secret=CRONOFY_ENV["CONTRACT_CRONOFY_SECRET"],
        recall=recall,
        clock=recall.clock,
    )
    access_token, refresh_token = cronofy.add_account(calendar_ids=["cal_upstream"])
    credentials: dict[str, Any] = {
        "access_token": access_token,
        "refresh_token": refresh_token,
        "expires_at": (recall.clock.now() + timedelta(hours=1)).isoformat(),
    }

    async def save(new: Mapping[str, Any]) -> None:
        credentials.update(new)

    async def load() -> Mapping[str, Any]:
        return credentials

    targets: list[ForwardTarget] = []

    async def prepare(event: EventSnapshot) -> EventSnapshot:
        # What the link's read-back would have recorded: the bot Cronofy shows on the event now.
        shown = [
            e.bot_id for e in await cronofy.admin_events() if e.event_id == "contract-1" and not e.deleted
        ]
        target = ForwardTarget(
            link_id=1,
            generation="g1",
            provider_calendar_id="cal_upstream",
            credentials=dict(credentials),
            save_credentials=save,
            load_credentials=load,
            reported_bot_id=shown[0] if shown else None,
        )
        targets.append(target)
        return msgspec.structs.replace(
            event, event_id="contract-1", fields=cronofy_fields(event), forward=target
        )

    async with on_sandbox(
        recall,
        create_cronofy_sandbox_app(cronofy),
        "cronofy",
        live_bots=lambda: undeleted_bots(recall),
        prepare=prepare,
        closers=(cronofy.aclose,),
        provider_calls=lambda: len(cronofy.calls.entries()),
        profile={
            "base_url": "http://cronofy.sandbox",
            "client_id": "env:CONTRACT_CRONOFY_ID",
            "client_secret": "env:CONTRACT_CRONOFY_SECRET",
            "upstream_profile_id": DEFAULT_RECALL_PROFILE,
        },
    ) as made:

        def audit_links(recorded: str | None) -> list[AuditedLink]:
            forwarded = Forwarded(event_uid="evt_contract", bot_id=recorded, wants_bot=True)
            return [AuditedLink(target=targets[-1], forwarded={"contract-1": forwarded})]

        yield dataclasses.replace(made, reports_later=True, keeps_copy=True, audit_links=audit_links)


HARNESSES = [
    pytest.param(recall_bot_harness, id="recall-bot"),
    pytest.param(recall_calendar_v2_harness, id="recall-calendar-v2"),
    pytest.param(recall_calendar_v1_harness, id="recall-calendar-v1"),
    pytest.param(cronofy_harness, id="cronofy"),
]


# --- the contract --------------------------------------------------------------------------------


class Run:
    """Drives one adapter like the reconciler does: the state it returns is what it gets next time."""

    def __init__(self, harness: Harness) -> None:
        self.harness = harness
        self.state: ProviderState | None = None
        self.saved: list[ProviderState] = []

    async def save(self, state: ProviderState) -> None:
        self.saved.append(dict(state))
        self.state = state or None

    async def reconcile(self, event: EventSnapshot, *, want_bot: bool = True) -> Outcome:
        outcome = await self._once(event, want_bot)
        if self.harness.reports_later:
            outcome = await self._once(event, want_bot)
        return outcome

    async def _once(self, event: EventSnapshot, want_bot: bool) -> Outcome:
        event = await self.harness.prepare(event)
        outcome = await self.harness.adapter.reconcile(
            event, want_bot=want_bot, state=self.state, save_state=self.save, now=self.harness.now()
        )
        self.state = outcome.provider_state
        return outcome


def snapshot(start: datetime, *, url: str | None = ZOOM, version: int = 1, **overrides: Any) -> EventSnapshot:
    fields: dict[str, Any] = {
        "pk": 1,
        "event_uid": "evt_contract",
        "calendar_id": "cal_contract",
        "version": version,
        "deleted": False,
        "summary": "Contract meeting",
        "start_at": start,
        "end_at": start + timedelta(hours=1),
        "all_day": False,
        "meeting_url": url,
    }
    return EventSnapshot(**{**fields, **overrides})


@pytest.fixture(params=HARNESSES)
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    factory: HarnessFactory = request.param
    async with factory() as made:
        yield made


async def test_a_future_event_gets_exactly_one_bot(harness: Harness) -> None:
    run = Run(harness)
    start = harness.now() + timedelta(hours=2)
    outcome = await run.reconcile(snapshot(start))

    [bot] = await harness.live_bots()
    assert outcome.status == ExtensionStatus.SCHEDULED
    assert outcome.bot_id == bot.bot_id
    assert outcome.last_error is None
    assert outcome.provider_state is not None
    assert bot.join_at == start - harness.join_lead


async def test_the_same_call_again_makes_no_provider_call_and_keeps_the_bot(harness: Harness) -> None:
    run = Run(harness)
    event = snapshot(harness.now() + timedelta(hours=2))
    first = await run.reconcile(event)
    calls = harness.provider_calls()

    again = await run.reconcile(event)
    assert harness.provider_calls() == calls
    assert again == first
    assert [bot.bot_id for bot in await harness.live_bots()] == [first.bot_id]


@pytest.mark.parametrize(
    "move",
    [
        pytest.param(timedelta(minutes=30), id="later"),
        pytest.param(timedelta(minutes=-90), id="earlier"),
        pytest.param(timedelta(days=3), id="days-later"),
    ],
)
async def test_moving_the_start_keeps_one_bot_that_follows_the_event(
    harness: Harness, move: timedelta
) -> None:
    run = Run(harness)
    start = harness.now() + timedelta(hours=2)
    await run.reconcile(snapshot(start))

    moved = start + move
    outcome = await run.reconcile(snapshot(moved, version=2))

    [bot] = await harness.live_bots()
    assert outcome.status == ExtensionStatus.SCHEDULED
    assert outcome.bot_id == bot.bot_id
    assert bot.join_at == moved - harness.join_lead


async def test_moving_the_start_to_within_minutes_still_leaves_one_bot(harness: Harness) -> None:
    run = Run(harness)
    await run.reconcile(snapshot(harness.now() + timedelta(hours=2)))
    outcome = await run.reconcile(snapshot(harness.now() + timedelta(minutes=3), version=2))
    [bot] = await harness.live_bots()
    assert (outcome.status, outcome.bot_id) == (ExtensionStatus.SCHEDULED, bot.bot_id)


@pytest.mark.parametrize(
    ("want_bot", "overrides"),
    [
        pytest.param(False, {}, id="not-wanted"),
        pytest.param(True, {"deleted": True}, id="event-deleted"),
        pytest.param(True, {"meeting_url": None}, id="link-removed"),
    ],
)
async def test_a_bot_no_longer_wanted_is_removed_at_the_provider(
    harness: Harness, want_bot: bool, overrides: dict[str, Any]
) -> None:
    run = Run(harness)
    start = harness.now() + timedelta(hours=2)
    await run.reconcile(snapshot(start))
    assert len(await harness.live_bots()) == 1

    outcome = await run.reconcile(snapshot(start, version=2, **overrides), want_bot=want_bot)

    assert await harness.live_bots() == []
    assert outcome.bot_id is None
    # A forwarded copy stays upstream (without its bot) until the event is deleted.
    kept = harness.keeps_copy and not overrides.get("deleted")
    assert (outcome.provider_state is not None) == kept
    if overrides.get("meeting_url", ZOOM) is None:
        assert outcome.status == ExtensionStatus.FAILED
    else:
        assert (outcome.status, outcome.last_error) == (ExtensionStatus.CANCELLED, None)


async def test_cancel_then_want_again_makes_one_new_bot(harness: Harness) -> None:
    run = Run(harness)
    event = snapshot(harness.now() + timedelta(hours=2))
    first = await run.reconcile(event)
    await run.reconcile(event, want_bot=False)
    again = await run.reconcile(event)
    [bot] = await harness.live_bots()
    assert again.bot_id == bot.bot_id != first.bot_id


async def test_no_meeting_url_fails_without_calling_the_provider(harness: Harness) -> None:
    run = Run(harness)
    outcome = await run.reconcile(snapshot(harness.now() + timedelta(hours=2), url=None))
    assert harness.provider_calls() == 0
    assert await harness.live_bots() == []
    assert outcome.status == ExtensionStatus.FAILED
    assert outcome.last_error is not None
    assert "no_meeting_url" in outcome.last_error
    assert (outcome.bot_id, outcome.provider_state) == (None, None)


@pytest.mark.parametrize(
    "start_ago",
    [
        pytest.param(timedelta(hours=2), id="ended-an-hour-ago"),
        pytest.param(timedelta(hours=1), id="just-ended"),
    ],
)
async def test_an_ended_event_gets_no_new_bot(harness: Harness, start_ago: timedelta) -> None:
    run = Run(harness)
    outcome = await run.reconcile(snapshot(harness.now() - start_ago))
    assert harness.provider_calls() == 0
    assert await harness.live_bots() == []
    assert outcome.bot_id is None
    assert outcome.provider_state is None
    assert outcome.status != ExtensionStatus.SCHEDULED


async def test_an_all_day_event_fails_without_calling_the_provider(harness: Harness) -> None:
    run = Run(harness)
    outcome = await run.reconcile(snapshot(harness.now() + timedelta(days=1), all_day=True))
    assert harness.provider_calls() == 0
    assert outcome.status == ExtensionStatus.FAILED


# --- catalogue ⇄ code ----------------------------------------------------------------------------

# Catalogue entries whose code arrives with later issues. When one lands, this set must shrink.
NOT_IMPLEMENTED_YET: set[str] = set()


def module_exists(dotted: str) -> bool:
    module_name = dotted.partition(":")[0]
    try:
        return importlib.util.find_spec(module_name) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


def test_exactly_the_expected_catalogue_entries_have_no_code_yet() -> None:
    missing = {name for name, spec in CATALOGUE.adapters.items() if not module_exists(spec.implementation)}
    assert missing == NOT_IMPLEMENTED_YET


@pytest.mark.parametrize(
    "name", sorted(name for name, spec in CATALOGUE.adapters.items() if module_exists(spec.implementation))
)
def test_an_implemented_adapter_imports_and_declares_its_catalogue_name(name: str) -> None:
    spec = CATALOGUE.adapters[name]
    factory = load_factory(spec.implementation)  # the module exists, so it must import cleanly
    assert getattr(factory, "name", None) == name
    assert inspect.iscoroutinefunction(getattr(factory, "reconcile", None))
    assert AdapterRegistry(CATALOGUE).factory(name) is factory


def adapter_classes() -> set[str]:
    """Every class under meetbridge.providers that looks like an adapter: a `name` and `reconcile`."""
    found: set[str] = set()
    for module_info in pkgutil.walk_packages(meetbridge.providers.__path__, "meetbridge.providers."):
        module = importlib.import_module(module_info.name)
        for attribute, value in vars(module).items():
            if (
                inspect.isclass(value)
                and value.__module__ == module.__name__
                and isinstance(getattr(value, "name", None), str)
                and inspect.iscoroutinefunction(getattr(value, "reconcile", None))
            ):
                found.add(f"{module.__name__}:{attribute}")
    return found


def test_every_adapter_class_has_a_catalogue_entry() -> None:
    implementations = {spec.implementation for spec in CATALOGUE.adapters.values()}
    classes = adapter_classes()
    assert "meetbridge.providers.recall.bot:RecallBotAdapter" in classes
    assert classes <= implementations


def spec_named(name: str, base: AdapterSpec) -> AdapterSpec:
    return msgspec.structs.replace(base, name=name)


def test_the_registry_refuses_two_entries_naming_the_same_class() -> None:
    base = CATALOGUE.adapters["recall-bot"]
    doubled = Catalogue({"recall-bot": base, "recall-bot-eu": spec_named("recall-bot-eu", base)})
    with pytest.raises(ConfigError) as info:
        AdapterRegistry(doubled)
    assert info.value.problems == [
        "adapter catalogue: recall-bot-eu and recall-bot both name "
        "meetbridge.providers.recall.bot:RecallBotAdapter"
    ]


def test_the_registry_refuses_a_class_that_says_it_is_another_adapter() -> None:
    base = CATALOGUE.adapters["recall-bot"]
    registry = AdapterRegistry(Catalogue({"recall-bot-eu": spec_named("recall-bot-eu", base)}))
    with pytest.raises(ConfigError) as info:
        registry.factory("recall-bot-eu")
    assert info.value.problems == [
        "adapter catalogue recall-bot-eu: "
        "meetbridge.providers.recall.bot:RecallBotAdapter says it is 'recall-bot'"
    ]
