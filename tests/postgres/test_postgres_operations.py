"""The operator's reads on PostgreSQL: the status report, the scrape-time gauges, webhook receipts and
the schema state run there as on SQLite and say the same."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from meetbridge.db.link_rows import LinkRules
from meetbridge.db.migrate import schema_state
from meetbridge.db.tables import utcnow
from meetbridge.providers.base import ProviderCalendar
from meetbridge.runtime.gateway import Gateway
from meetbridge.runtime.status import status_report, status_report_of
from tests.conftest import Api
from tests.service.test_operations_status import linkless_event, reconcile_due

pytestmark = pytest.mark.postgres


async def test_status_and_metrics_read_postgres(pg_gateway: Gateway, pg_api: Api, postgres_url: str) -> None:
    calendar_id = await pg_api.calendar()
    other = await pg_api.another("pg-other")
    theirs = await other.calendar("Theirs")
    assert (await pg_api.upsert(calendar_id, linkless_event("pg-1"))).status_code == 202
    assert (await other.upsert(theirs, linkless_event("pg-2"))).status_code == 202
    calendar = ProviderCalendar(provider_calendar_id="rc_pg", platform=None, email=None, status="connected")
    link, _ = await pg_gateway.links.save(theirs, "int_sales_0000", calendar, LinkRules(record="all"))
    await pg_gateway.links.set_status(link, "disconnected", "revoked")
    assert await reconcile_due(pg_gateway) == 2
    now = utcnow()
    await pg_gateway.webhook_receipts.record("int_sales_0000", now)
    await pg_gateway.webhook_receipts.record("int_sales_0000", now, "stale")

    everything = await status_report(pg_gateway.database, utcnow())
    assert [(g.reason, g.count) for g in everything.failing_extensions] == [("no_meeting_url", 2)]
    assert [(ln.calendar_id, ln.detail) for ln in everything.disconnected_links] == [(theirs, "revoked")]
    assert [(w.profile_id, w.last_rejection) for w in everything.webhooks] == [("int_sales_0000", "stale")]
    assert [d.kind for d in everything.queue] == ["sync"]  # the link's sync, left claimed above
    mine = await status_report(pg_gateway.database, utcnow(), await _application(pg_api))
    assert [e.calendar_id for g in mine.failing_extensions for e in g.examples] == [calendar_id]
    assert mine.disconnected_links == []
    assert mine.queue == []
    assert (await status_report_of(postgres_url)).needs_attention == everything.needs_attention

    scraped = await pg_api.client.get("/metrics")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(scraped.text)
        for s in family.samples
    }
    failed = (
        "meetbridge_extensions",
        (("adapter", "recall-bot"), ("profile", "int_sales_0000"), ("status", "failed")),
    )
    assert samples[failed] == 2
    disconnected = (
        "meetbridge_links",
        (("adapter", "recall-bot"), ("profile", "int_sales_0000"), ("status", "disconnected")),
    )
    assert samples[disconnected] == 1
    assert samples[("meetbridge_database_up", ())] == 1
    async with pg_gateway.database.read() as connection:
        assert (await schema_state(connection)).status == "current"


async def _application(api: Api) -> str:
    application_id = await api.gateway.applications.application_for_token(api.token)
    assert application_id is not None
    return application_id
