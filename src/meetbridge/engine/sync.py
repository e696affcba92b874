"""The "sync" job: read a linked provider calendar's changed events into meetbridge.

A full sync after linking (or after the link's rules changed); afterwards incremental, from the
earliest change a webhook reported or the newest ``updated_at`` already stored, so the provider calls
grow with the number of changed events, not with the calendar. Pages are stored as they arrive: a
sync cut short keeps what it stored and the retry starts again from the same point.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import cast

from meetbridge.config.live import LiveConfig, live
from meetbridge.config.profiles import GatewayConfig
from meetbridge.config.sealing import SealError
from meetbridge.db.database import Database
from meetbridge.db.links import Link, LinkRepository
from meetbridge.db.synced_events import SyncedEventStore
from meetbridge.db.tables import utcnow
from meetbridge.domain.recording_rules import RecordRule, RuleDecision, evaluate
from meetbridge.engine.forwarding.credentials import ForwardingLinks
from meetbridge.errors import AdapterFailure, ProviderAuthRevoked
from meetbridge.providers.base import (
    POLL_WINDOW,
    CalendarLinker,
    EventForwarder,
    ProviderEvent,
    calendar_linker,
    event_forwarder,
)
from meetbridge.providers.registry import AdapterRegistry

log = logging.getLogger("meetbridge.sync")


class SyncRunner:
    def __init__(
        self, database: Database, config: GatewayConfig | LiveConfig, registry: AdapterRegistry
    ) -> None:
        self.live = live(config)
        self.registry = registry
        self.links = LinkRepository(database)
        self.store = SyncedEventStore(database)
        self.forwarding = ForwardingLinks(database, config, self.links)

    @property
    def config(self) -> GatewayConfig:
        return self.live.current

    def linker(self, link: Link) -> tuple[str, CalendarLinker] | None:
        profile = self.config.profiles.get(link.profile_id)
        if profile is None:
            return None
        linker = calendar_linker(self.registry.adapter(profile))
        return None if linker is None else (profile.adapter, linker)

    async def run(self, subject: int) -> None:
        link = await self.links.by_id(subject)
        if link is None:
            return  # unlinked meanwhile
        profile = self.config.profiles.get(link.profile_id)
        if profile is not None and not link.serves(profile.adapter):
            return  # made for the profile's previous mechanism: nothing reads it any more
        forwarder = event_forwarder(self.registry.adapter(profile)) if profile else None
        if profile is not None and forwarder is not None:
            await self._read_back(link, profile.adapter, forwarder)
            return
        found = self.linker(link)
        if found is None:
            await self.links.note_error(
                link.id, f"profile {link.profile_id} is not a configured calendar profile"
            )
            return
        adapter_name, linker = found
        marks = [mark for mark in (link.sync_from, link.sync_cursor) if mark is not None]
        full = link.full_sync or not marks
        since = None if full else min(marks)

        def decide(event: ProviderEvent) -> RuleDecision:
            if event.provider_decision is not None:
                return event.provider_decision
            return evaluate(
                cast(RecordRule, link.record),
                link.series,
                ical_uid=event.ical_uid,
                meeting_url=event.meeting_url,
                owner_email=link.email,
                participants=event.participants,
                owner_response=event.owner_response,
            )

        cursor: datetime | None = None
        changed: set[str] = set()
        seen: set[str] = set()
        listed_at = utcnow()
        try:
            async for page in linker.changed_events(
                link.provider_calendar_id, since=since, owner_email=link.email
            ):
                changed |= await self.store.apply(
                    link,
                    page,
                    decide,
                    provider=self.registry.extension_provider(adapter_name),
                    attach=linker.sync_interval is None,
                )
                seen |= {event.provider_event_id for event in page}
                newest = max((event.updated_at for event in page), default=None)
                if newest is not None and (cursor is None or newest > cursor):
                    cursor = newest
        except Exception as exc:
            raise AdapterFailure(adapter_name, exc) from exc
        if linker.sync_interval is not None:
            # Inside the listed window with a margin: its edges moved by a few ms while we listed.
            past, ahead = POLL_WINDOW
            margin = timedelta(minutes=5)
            changed |= await self.store.retire_missing(
                link, seen, listed_at - past + margin, listed_at + ahead - margin
            )
        await self.links.sync_done(link, cursor=cursor, full=full, sync_from=link.sync_from, error=None)
        if link.status == "connecting" or linker.sync_interval is not None:
            # The calendar.update ending "connecting" may have come before this link was saved (Recall
            # sends it as soon as a new calendar connects) and found no link: read the status here.
            # Polled providers send no status webhooks at all: every poll reads it.
            try:
                calendar = await linker.find_calendar(link.provider_calendar_id)
            except Exception as exc:
                raise AdapterFailure(adapter_name, exc) from exc
            await self.links.set_status(link, calendar.status, calendar.status_detail)
        replanned = await self.store.replan_matched(link, changed)
        if linker.sync_interval is not None:
            await self.links.schedule_sync(link, utcnow() + timedelta(seconds=linker.sync_interval))
        log.info(
            "link %s (%s → %s): %s sync, %d changed, %d managed events re-planned",
            link.id,
            link.calendar_id,
            link.provider_calendar_id,
            "full" if full else "incremental",
            len(changed),
            replanned,
        )

    async def _read_back(self, link: Link, adapter_name: str, forwarder: EventForwarder) -> None:
        """Forwarding links: read the bot ids upstream reports for events changed since the last
        read (push notifications ask for one; a slow poll catches the ones never delivered)."""
        if link.status == "disconnected":
            return  # nothing can be read until the link is made again (which asks for a sync)
        # The next poll is booked first: a notification arriving while this one reads makes the
        # job due again, rather than being pushed back to the poll by it.
        await self.links.schedule_sync(link, utcnow() + timedelta(seconds=forwarder.poll_interval))
        marks = [mark for mark in (link.sync_from, link.sync_cursor) if mark is not None]
        full = link.full_sync or not marks
        try:
            target = await self.forwarding.target(link)
        except SealError:
            await self.links.set_status(
                link,
                "disconnected",
                "stored credentials cannot be opened (changed secret_key?)",
                forget_bots=False,
            )
            return
        cursor: datetime | None = None
        replanned = 0
        try:
            async for page in forwarder.reported_bots(target, since=None if full else min(marks)):
                replanned += await self.forwarding.events.record_reports(
                    link, page, self.registry.extension_provider(adapter_name)
                )
                newest = max((r.updated_at for r in page if r.updated_at is not None), default=None)
                if newest is not None and (cursor is None or newest > cursor):
                    cursor = newest
        except ProviderAuthRevoked as exc:
            await self.links.set_status(link, "disconnected", str(exc), forget_bots=False)
            return
        except Exception as exc:
            raise AdapterFailure(adapter_name, exc) from exc
        await self.links.sync_done(link, cursor=cursor, full=full, sync_from=link.sync_from, error=None)
        log.info(
            "link %s (%s → %s): %s read-back, %d events re-planned",
            link.id,
            link.calendar_id,
            link.provider_calendar_id,
            "full" if full else "incremental",
            replanned,
        )

    async def fail(self, subject: int, reason: str) -> None:
        await self.links.note_error(subject, reason)

    async def note_retry(self, subject: int, error: str, delay: float) -> None:
        await self.links.note_error(subject, f"{error} (retrying in {delay:.0f}s)")
