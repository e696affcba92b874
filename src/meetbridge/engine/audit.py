"""The drift audit: compare a profile's future bots at the provider with what the extensions want,
and repair what differs through the normal paths.

- missing → the extension forgets the gone bot and its event's job makes a new one (the create is
  recorded before it is sent, so exactly one bot even across a crash);
- stale → the extension records what the provider's bot has now and the job moves it back;
- orphan → cancelled at once (made to leave the call when already dispatched), unless the adapter
  finds it does not carry the profile's tag (``BotNotOurs``: skipped);
- foreign → reported only; where a new bot replaces the event's (``BotListing.exclusive``), a missing
  bot whose event now holds a foreign one is reported too, not made again over it.

The job's write-back tells the app (bot.updated with the new bot id, ...) through the outbound
webhook outbox, as for any other change. A meeting starting within ``[server]
migration_window_seconds`` is never compared, so never touched. Provider calls go through the
profile's adapter, paced under its rate limits like every other call of this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import msgspec

from meetbridge.config.live import LiveConfig, live
from meetbridge.config.profiles import GatewayConfig, Profile
from meetbridge.db.audit import AuditStore
from meetbridge.db.database import Database
from meetbridge.db.links import LinkRepository
from meetbridge.db.tables import utcnow
from meetbridge.domain.audit import (
    AuditedBot,
    Difference,
    DriftKind,
    attributed,
    audit_until,
    compare,
)
from meetbridge.engine.forwarding.audit import audited_links
from meetbridge.engine.forwarding.credentials import ForwardingLinks
from meetbridge.errors import BotNotOurs, MeetbridgeError
from meetbridge.observability import metrics
from meetbridge.providers.audit import AuditScope, BotAuditor, BotListing, bot_auditor
from meetbridge.providers.base import event_forwarder
from meetbridge.providers.registry import AdapterRegistry

log = logging.getLogger("meetbridge.audit")


class AuditResult(msgspec.Struct, frozen=True, kw_only=True):
    profile_id: str
    differences: list[Difference]
    provider_calls: int
    # What was done about each difference, by bot id (repaired, reported, skipped, failed); empty
    # when the audit only looked.
    actions: dict[str, str] = msgspec.field(default_factory=dict)
    # Why the profile was not audited (its mechanism has no audit), or what stopped the audit.
    error: str | None = None


class DriftAudit:
    def __init__(
        self, database: Database, config: GatewayConfig | LiveConfig, registry: AdapterRegistry
    ) -> None:
        self.live = live(config)
        self.registry = registry
        self.store = AuditStore(database)
        self.forwarding = ForwardingLinks(database, config, LinkRepository(database))
        self.on_enqueue: Callable[[], None] = lambda: None  # a repair enqueued jobs (wake the worker)

    def audited_profiles(self) -> list[str]:
        """The configured profiles whose mechanism can be audited."""
        config = self.live.current
        return [
            p.profile_id
            for p in sorted(config.profiles.values(), key=lambda p: p.profile_id)
            if bot_auditor(self.registry.adapter(p)) is not None
        ]

    async def _listing(
        self,
        adapter: object,
        auditor: BotAuditor,
        profile: Profile,
        provider: str,
        *,
        horizon: datetime,
        until: datetime,
    ) -> BotListing:
        """What the provider has, its bots named by meetbridge's events where the listing could name
        only the calendar event they sit on (``target_id``)."""
        if event_forwarder(adapter) is not None:  # reads each link's calendar with its own credentials
            links = await audited_links(self.forwarding, profile, provider, utcnow())
            listing = await auditor.audit_bots(AuditScope(after=horizon, until=until, links=links))
        else:
            calendars = await self.store.linked_calendars(profile.profile_id)
            listing = await auditor.audit_bots(AuditScope(after=horizon, until=until, calendars=calendars))
        if targets := {b.target_id for b in listing.bots if b.target_id is not None}:
            events = await self.store.targets(profile.profile_id, provider, targets)
            listing = msgspec.structs.replace(listing, bots=attributed(listing.bots, events))
        return listing

    async def run(self, profile_id: str, *, run_id: int | None = None) -> AuditResult:
        """Audit one profile; with a ``run_id`` (a claimed run) also repair and record, else only look."""
        config = self.live.current
        profile = config.profiles.get(profile_id)
        if profile is None:
            return AuditResult(
                profile_id=profile_id, differences=[], provider_calls=0, error="not configured"
            )
        adapter = self.registry.adapter(profile)
        auditor = bot_auditor(adapter)
        if auditor is None:
            return AuditResult(
                profile_id=profile_id,
                differences=[],
                provider_calls=0,
                error=f"the {profile.adapter} adapter has no audit in this version",
            )
        provider = self.registry.extension_provider(profile.adapter)
        now = utcnow()
        horizon = now + timedelta(seconds=config.server.migration_window_seconds)
        until = audit_until(await self.store.wanted(profile_id, provider, now), horizon)
        listing = await self._listing(adapter, auditor, profile, provider, horizon=horizon, until=until)
        bots, calls = list(listing.bots), listing.calls
        # Read again after the listing, which may take minutes: a bot made meanwhile is then recorded
        # (a bot the listing missed is confirmed below), never taken for an orphan.
        wanted = await self.store.wanted(profile_id, provider, utcnow())
        known = {w.event_uid for w in wanted}
        tagged = {b.event_uid for b in bots if b.event_uid and b.profile_id == profile_id} - known
        wanted += await self.store.of_events(profile_id, provider, tagged)
        differences = compare(wanted, bots, profile_id=profile_id, horizon=horizon)
        # A bot not listed may still exist (one made before bots carried the profile tag): only a
        # provider that says it does not have it makes the bot missing.
        confirmed: list[AuditedBot] = []
        for difference in differences:
            if difference.kind is DriftKind.MISSING:
                calls += 1 if listing.finds_by_call else 0
                found = await auditor.find_bot(difference.bot_id)
                if found is not None:
                    confirmed.append(found)
        if confirmed:
            differences = compare(wanted, bots + confirmed, profile_id=profile_id, horizon=horizon)
        if run_id is None:
            return AuditResult(profile_id=profile_id, differences=differences, provider_calls=calls)
        actions: dict[str, str] = {}
        enqueued = False
        held = (
            {d.event_uid for d in differences if d.kind is DriftKind.FOREIGN} if listing.exclusive else set()
        )
        for difference in differences:
            if difference.kind is DriftKind.MISSING and difference.event_uid in held:
                why = (
                    "; another integration's bot holds the event now, and adding meetbridge's would remove it"
                )
                await self.store.note(
                    run_id, msgspec.structs.replace(difference, detail=difference.detail + why), "reported"
                )
                actions[difference.bot_id] = "reported"
                continue
            action = await self._repair(run_id, provider, difference, auditor.cancel_bot)
            actions[difference.bot_id] = action
            enqueued |= action == "repaired" and difference.kind is not DriftKind.ORPHAN
        if enqueued:
            self.on_enqueue()
        return AuditResult(
            profile_id=profile_id, differences=differences, provider_calls=calls, actions=actions
        )

    async def _repair(
        self, run_id: int, provider: str, difference: Difference, cancel: Callable[[str], Awaitable[None]]
    ) -> str:
        kind = difference.kind
        if kind is DriftKind.FOREIGN:
            await self.store.note(run_id, difference, "reported")
            return "reported"
        if kind is DriftKind.MISSING:
            done = await self.store.mark_missing(run_id, provider, difference)
            return "repaired" if done else "skipped"
        if kind is DriftKind.STALE:
            done = await self.store.mark_stale(run_id, provider, difference)
            return "repaired" if done else "skipped"
        if not await self.store.still_unwanted(provider, difference):
            await self.store.note(run_id, difference, "skipped")
            return "skipped"
        return await self._cancel_orphan(run_id, difference, cancel)

    async def _cancel_orphan(
        self, run_id: int, difference: Difference, cancel: Callable[[str], Awaitable[None]]
    ) -> str:
        try:
            await cancel(difference.bot_id)
        except BotNotOurs as exc:
            await self.store.note(run_id, msgspec.structs.replace(difference, detail=str(exc)), "skipped")
            return "skipped"
        except MeetbridgeError as exc:
            failed = msgspec.structs.replace(
                difference, detail=f"{difference.detail}; cancelling failed: {exc}"
            )
            await self.store.note(run_id, failed, "failed")
            return "failed"
        await self.store.note(run_id, difference, "repaired")
        return "repaired"

    async def audit_and_record(self, profile_id: str, run_id: int) -> AuditResult:
        """A claimed run: audit with repairs, then close the run (with what stopped it, if anything)."""
        started = time.perf_counter()
        try:
            result = await self.run(profile_id, run_id=run_id)
        except MeetbridgeError as exc:
            await self.store.finish(run_id, provider_calls=0, error=str(exc))
            result = AuditResult(profile_id=profile_id, differences=[], provider_calls=0, error=str(exc))
        else:
            await self.store.finish(run_id, provider_calls=result.provider_calls, error=result.error)
        metrics.audit_finished(
            profile_id,
            kinds=(str(d.kind) for d in result.differences),
            repairs=(
                (str(d.kind), result.actions[d.bot_id])
                for d in result.differences
                if d.bot_id in result.actions
            ),
            failed=result.error is not None,
            took=time.perf_counter() - started,
        )
        return result


class AuditSchedule:
    """Audits (and repairs) each auditable profile every ``[server] audit_interval_seconds``, the first
    one an interval after start. Replicas claim runs in the database: one audits a profile per interval."""

    IDLE_CHECK = 60.0  # with the schedule off, how often to look whether a reload turned it on

    def __init__(self, audit: DriftAudit) -> None:
        self.audit = audit

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            interval = self.audit.live.current.server.audit_interval_seconds
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=float(interval or self.IDLE_CHECK))
            if stop.is_set() or not interval:
                continue
            # A round may take minutes (paced listings): stopping cancels it between provider calls;
            # each repair is its own transaction, and a run left unfinished is simply not shown.
            work = asyncio.create_task(self.round(interval), name="meetbridge-audit-round")
            stopping = asyncio.create_task(stop.wait())
            try:
                await asyncio.wait([work, stopping], return_when=asyncio.FIRST_COMPLETED)
            finally:
                stopping.cancel()
                if not work.done():
                    work.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await work

    async def round(self, interval: float) -> None:
        not_since = utcnow() - timedelta(seconds=interval * 0.9)  # a run a little early still counts
        profile_ids = self.audit.audited_profiles()
        metrics.audits_known(profile_ids)
        for profile_id in profile_ids:
            try:
                run_id = await self.audit.store.claim(profile_id, not_since=not_since)
                if run_id is None:
                    continue  # another replica audits it this round
                result = await self.audit.audit_and_record(profile_id, run_id)
            except Exception:
                log.exception("the drift audit of profile %s failed; it runs again next interval", profile_id)
                continue
            if result.differences or result.error:
                log.info(
                    "audit of %s: %d differences, %d provider calls%s",
                    profile_id,
                    len(result.differences),
                    result.provider_calls,
                    f" ({result.error})" if result.error else "",
                )
