"""One conformance suite per capability port, run over every adapter that declares the port, each
against its provider's in-process sandbox (the harnesses of the adapter contract). First: an adapter
implements exactly the ports its ``capabilities`` declare, so the engine may trust the declaration."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from meetbridge.errors import WebhookRejected
from meetbridge.providers.audit import AuditScope, BotAuditor, bot_auditor
from meetbridge.providers.base import (
    CalendarLinker,
    Capabilities,
    EventForwarder,
    PresetLinker,
    WebhookReceiver,
    calendar_linker,
    event_forwarder,
    preset_linker,
    webhook_receiver,
)
from meetbridge.providers.registry import load_factory
from tests.contract.test_adapter_contract import (
    CATALOGUE,
    HARNESSES,
    START,
    Harness,
    HarnessFactory,
    Run,
    snapshot,
)


def declared(param: Any) -> Capabilities:
    """An adapter's declaration, read off its class (no instance needed to choose the tests)."""
    capabilities: Capabilities = load_factory(CATALOGUE.adapters[param.id].implementation).capabilities
    return capabilities


def claiming(port: str) -> list[Any]:
    return [param for param in HARNESSES if getattr(declared(param), port)]


async def built(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    factory: HarnessFactory = request.param
    async with factory() as made:
        yield made


@pytest.fixture(params=HARNESSES)
async def any_adapter(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    async for made in built(request):
        yield made


@pytest.fixture(params=claiming("links_calendars"))
async def linking(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    async for made in built(request):
        yield made


@pytest.fixture(params=claiming("preset"))
async def preset(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    async for made in built(request):
        yield made


@pytest.fixture(params=claiming("receives_webhooks"))
async def receiving(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    async for made in built(request):
        yield made


@pytest.fixture(params=claiming("audits_bots"))
async def auditing(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    async for made in built(request):
        yield made


@pytest.fixture(params=claiming("forwards"))
async def forwarding(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    async for made in built(request):
        yield made


def test_every_port_has_an_adapter_that_claims_it() -> None:
    # Otherwise a port's suite below would run over nothing and prove nothing.
    ports = ("links_calendars", "preset", "forwards", "receives_webhooks", "audits_bots")
    assert [len(claiming(port)) > 0 for port in ports] == [True] * len(ports)


async def test_an_adapter_implements_exactly_the_ports_it_declares(any_adapter: Harness) -> None:
    adapter = any_adapter.adapter
    capabilities = adapter.capabilities
    assert isinstance(adapter, CalendarLinker) is capabilities.links_calendars
    assert isinstance(adapter, PresetLinker) is capabilities.preset
    assert isinstance(adapter, EventForwarder) is capabilities.forwards
    assert isinstance(adapter, WebhookReceiver) is capabilities.receives_webhooks
    assert not capabilities.preset or capabilities.links_calendars  # a preset user is a linked calendar
    assert (calendar_linker(adapter) is not None) is capabilities.links_calendars
    assert (preset_linker(adapter) is not None) is capabilities.preset
    assert (event_forwarder(adapter) is not None) is capabilities.forwards
    assert (webhook_receiver(adapter) is not None) is capabilities.receives_webhooks
    assert isinstance(adapter, BotAuditor) is capabilities.audits_bots
    assert (bot_auditor(adapter) is not None) is capabilities.audits_bots


# --- BotAuditor ----------------------------------------------------------------------------------


async def test_an_audit_lists_the_bot_it_made_tagged_finds_it_and_cancels_it(auditing: Harness) -> None:
    auditor = bot_auditor(auditing.adapter)
    assert auditor is not None
    event = snapshot(START + timedelta(days=1))
    outcome = await Run(auditing).reconcile(event)
    assert outcome.bot_id is not None
    linked = (await auditing.prepare(event)).linked
    calendars = [linked.provider_calendar_id] if linked and linked.provider_calendar_id else []
    links = auditing.audit_links(outcome.bot_id) if auditing.audit_links else []
    scope = AuditScope(after=START, until=START + timedelta(days=2), calendars=calendars, links=links)
    listing = await auditor.audit_bots(scope)
    [bot] = listing.bots
    assert (bot.bot_id, bot.join_at) == (outcome.bot_id, event.start_at)
    # Recognised as the profile's: by its tag naming the event, or (Calendar V2, whose listing shows
    # no tags) by the deduplication key the profile computes for the event it sits on, or (Calendar
    # V1) by meetbridge's override on the meeting it names, which the engine attributes to the event.
    by_meeting = bot.target_id is not None
    assert bot.event_uid == (None if listing.exclusive or by_meeting else event.event_uid)
    assert bot.target_id == (linked.provider_event_id if by_meeting and linked else None)
    assert bot.profile_id is not None
    assert bot.meeting is not None
    assert bot.meeting.meeting_id == "1234567890"
    # recall-bot: every bot in the range, then this profile's beyond it; V2: one page of events;
    # V1: one list of meetings per linked user; cronofy: one page of the link's forwarded copies.
    assert listing.calls == (1 if listing.exclusive or by_meeting or links else 2)
    found = await auditor.find_bot(outcome.bot_id)
    assert found is not None
    assert found.bot_id == bot.bot_id
    await auditor.cancel_bot(outcome.bot_id)
    await auditor.cancel_bot(outcome.bot_id)  # gone already is fine
    assert await auditor.find_bot(outcome.bot_id) is None
    again = await auditor.audit_bots(scope)
    assert again.bots == []


# --- CalendarLinker ------------------------------------------------------------------------------


async def test_a_linked_calendar_is_found_and_lists_its_changed_events(linking: Harness) -> None:
    linker = calendar_linker(linking.adapter)
    assert linker is not None
    event = await linking.prepare(snapshot(START + timedelta(hours=2)))
    assert event.linked is not None
    assert event.linked.provider_calendar_id is not None
    calendar = await linker.find_calendar(event.linked.provider_calendar_id)
    assert calendar.provider_calendar_id == event.linked.provider_calendar_id
    if linker.sync_interval is not None:
        return  # a polled provider lists what is near the wall clock's now, not the sandbox's
    listing = linker.changed_events(calendar.provider_calendar_id, since=None, owner_email=None)
    listed = {e.provider_event_id async for page in listing for e in page}
    assert event.linked.provider_event_id in listed


async def test_deleting_a_calendar_that_is_gone_already_is_fine(linking: Harness) -> None:
    linker = calendar_linker(linking.adapter)
    assert linker is not None
    event = await linking.prepare(snapshot(START + timedelta(hours=2)))
    assert event.linked is not None
    assert event.linked.provider_calendar_id is not None
    await linker.delete_calendar(event.linked.provider_calendar_id)
    await linker.delete_calendar(event.linked.provider_calendar_id)  # gone already: no error


# --- PresetLinker --------------------------------------------------------------------------------


async def test_preferences_set_are_the_preferences_read(preset: Harness) -> None:
    linker, calendars = preset_linker(preset.adapter), calendar_linker(preset.adapter)
    assert linker is not None
    assert calendars is not None
    event = await preset.prepare(snapshot(START + timedelta(hours=2)))
    assert event.linked is not None
    assert event.linked.provider_calendar_id is not None
    user_id = event.linked.provider_calendar_id
    changed = await linker.set_preferences(user_id, {"record_external": True})
    assert changed.preferences["record_external"] is True
    read = await linker.preset(user_id)
    assert (read.user_id, read.preferences["record_external"]) == (user_id, True)


# --- EventForwarder ------------------------------------------------------------------------------


async def test_a_forward_target_opens_and_closes_and_closing_twice_is_fine(forwarding: Harness) -> None:
    forwarder = event_forwarder(forwarding.adapter)
    assert forwarder is not None
    event = await forwarding.prepare(snapshot(START + timedelta(hours=2)))
    assert event.forward is not None
    opened = await forwarder.open_link(
        event.forward, callback_url="http://gw.test/push", previous_channel_id=None
    )
    assert opened.provider_calendar_id == event.forward.provider_calendar_id
    assert opened.channel_id is not None
    await forwarder.close_link(event.forward, opened.channel_id)
    await forwarder.close_link(event.forward, opened.channel_id)  # gone already: no error


# --- WebhookReceiver -----------------------------------------------------------------------------

BODY = b'{"event": "bot.done", "data": {"bot": {"id": "b1"}, "data": {"code": "done"}}}'


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"webhook-id": "msg_1", "webhook-timestamp": "1", "webhook-signature": "v1,Zm9yZ2Vk"},
        {"svix-id": "msg_1", "svix-timestamp": "1", "svix-signature": "v1,Zm9yZ2Vk"},
        {"cronofy-hmac-sha256": "Zm9yZ2Vk"},
    ],
    ids=["unsigned", "forged-webhook", "forged-svix", "forged-cronofy"],
)
def test_an_unsigned_or_forged_delivery_is_rejected_before_it_is_read(
    receiving: Harness, headers: dict[str, str]
) -> None:
    receiver = webhook_receiver(receiving.adapter)
    assert receiver is not None
    with pytest.raises(WebhookRejected):
        receiver.receive_webhook(headers, BODY)


async def test_a_join_time_the_audit_recorded_as_stale_is_put_back_by_the_next_reconcile(
    auditing: Harness,
) -> None:
    """What AuditStore.mark_stale does (record the provider's join time), then the event's job."""
    if auditing.adapter.capabilities.preset:
        pytest.skip(
            "the provider places a preset adapter's bot at its meeting: there is no join time to put back"
        )
    run = Run(auditing)
    event = snapshot(START + timedelta(days=1))
    await run.reconcile(event)
    assert run.state is not None
    calls = auditing.provider_calls()
    run.state = {**run.state, "join_at": (event.start_at + timedelta(hours=3)).isoformat()}
    again = await run.reconcile(event)
    assert auditing.provider_calls() > calls  # not taken for in step: the bot is moved back
    assert again.bot_id is not None
    listing = await auditing_listing(auditing, again.bot_id)
    assert [(bot.bot_id, bot.join_at) for bot in listing] == [(again.bot_id, event.start_at)]


async def auditing_listing(harness: Harness, recorded: str | None) -> list[Any]:
    auditor = bot_auditor(harness.adapter)
    assert auditor is not None
    links = harness.audit_links(recorded) if harness.audit_links else []
    listing = await auditor.audit_bots(AuditScope(after=START, until=START + timedelta(days=2), links=links))
    return list(listing.bots)
