"""The pieces of operating meetbridge that need no process: reason codes, log lines, settings."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from prometheus_client import REGISTRY

from meetbridge.config.catalogue import load_catalogue
from meetbridge.config.profiles import ServerConfig, parse_config
from meetbridge.domain.audit import AuditedBot, Meeting, Wanted
from meetbridge.domain.failures import REASONS, failure_reason
from meetbridge.engine.audit import DriftAudit
from meetbridge.errors import ConfigError
from meetbridge.observability import logs, metrics
from meetbridge.observability.logs import ContextFilter, JsonFormatter, TextFormatter, secrets_of
from meetbridge.providers.audit import AuditScope, BotListing
from meetbridge.providers.base import Capabilities
from meetbridge.settings import Settings, default_catalogue_dir

API_KEY = "recall-api-key-0123456789"
WEBHOOK_SECRET = "whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ="
METRICS_TOKEN = "metrics-token-0123456789"
ENV = {"K": API_KEY, "W": WEBHOOK_SECRET, "M": METRICS_TOKEN, "SHORT": "short"}


@pytest.mark.parametrize(
    ("last_error", "reason"),
    [
        ("no meeting link was found in ... (reason: no_meeting_url)", "no_meeting_url"),
        ("all-day events have no meeting time (reason: all_day)", "all_day"),
        (
            "the bot failed at Recall (sub_code: meeting_not_found)",
            "bot_fatal",
        ),  # sub-codes stay unbounded out
        ("recall-bot at http://x answered 403 to POST /api/v1/bot/: forbidden", "provider_rejected"),
        ("recall-bot at http://x answered 401 to GET /api/v1/bot/: bad key", "provider_auth"),
        ("gave up after 12 attempts: recall-bot could not be reached (ConnectError)", "retries_exhausted"),
        ("the link of calendar cal_1 for profile p is disconnected: revoked; PUT ...", "link_disconnected"),
        ("calendar cal_1 is not linked for profile p: PUT /v1/calendars/cal_1/links/p first", "not_linked"),
        ("profile 'gone' is no longer configured; meetbridge cannot reach its bot", "profile_removed"),
        ("something nobody foresaw (reason: made_up_code)", "other"),
        (None, "unknown"),
    ],
)
def test_failure_reasons_are_a_closed_set(last_error: str | None, reason: str) -> None:
    assert failure_reason(last_error) == reason
    assert reason in REASONS  # what metrics export at zero for every profile


def record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    made = logging.LogRecord("meetbridge.test", logging.INFO, __file__, 1, message, args, None)
    made.__dict__.update(extra)
    ContextFilter().filter(made)
    return made


def test_a_json_line_carries_the_context_and_no_configured_secret() -> None:
    config = parse_config(
        {
            "server": {"metrics_token": "env:M"},
            "profiles": {"p": {"adapter": "recall-bot", "api_key": "env:K", "webhook_secret": "env:W"}},
        },
        load_catalogue(default_catalogue_dir()),
        ENV,
    )
    assert set(secrets_of(config)) == {API_KEY, WEBHOOK_SECRET, METRICS_TOKEN}
    logs.hide_secrets_of(config)
    token = logs.bind(request_id="req-1", profile_id="p")
    try:
        line = JsonFormatter().format(
            record(
                "called with %s", API_KEY, provider="recall-bot", endpoint="create_bot", provider_status=201
            )
        )
    finally:
        logs.unbind(token)
    decoded = json.loads(line)
    assert decoded["message"] == "called with [redacted]"
    assert (decoded["level"], decoded["logger"], decoded["request_id"], decoded["profile_id"]) == (
        "INFO",
        "meetbridge.test",
        "req-1",
        "p",
    )
    assert (decoded["endpoint"], decoded["provider_status"]) == ("create_bot", 201)
    assert decoded["time"].endswith("+00:00")
    assert "job_id" not in decoded  # a field the context does not have is left out, not null
    text = TextFormatter().format(record("plain %s", WEBHOOK_SECRET))
    assert WEBHOOK_SECRET not in text
    assert text.endswith("plain [redacted]")  # no context outside a request or job


def test_the_access_log_drops_query_strings() -> None:
    level = logging.getLogger().level
    logs.configure_logging("INFO", "json")
    try:
        access = logging.getLogger("uvicorn.access")
        made = logging.LogRecord(
            "uvicorn.access",
            logging.INFO,
            __file__,
            1,
            '%s - "%s %s HTTP/%s" %d',
            ("127.0.0.1:1", "GET", "/v1/oauth/callback?code=secret-code&state=s", "1.1", 400),
            None,
        )
        for log_filter in access.filters:
            log_filter.filter(made)  # type: ignore[union-attr]
        assert made.getMessage() == '127.0.0.1:1 - "GET /v1/oauth/callback HTTP/1.1" 400'
        assert (made.path, made.status) == ("/v1/oauth/callback", 400)  # type: ignore[attr-defined]
    finally:
        root = logging.getLogger()
        for handler in [h for h in root.handlers if h.get_name() == "meetbridge"]:
            root.removeHandler(handler)
        root.setLevel(level)


def test_log_format_is_checked_at_start_up() -> None:
    assert Settings.from_env({"MEETBRIDGE_LOG_FORMAT": "JSON"}).log_format == "json"
    assert Settings.from_env({}).log_format == "text"
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"MEETBRIDGE_LOG_FORMAT": "xml"})
    assert raised.value.problems == ["MEETBRIDGE_LOG_FORMAT: one of text, json (got 'xml')"]


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("env:SHORT", "server: metrics_token: must be at least 16 characters"),
        ("a-literal-token-in-the-file", 'must be an environment reference like "env:NAME"'),
        ("env:UNSET", "environment variable UNSET is not set"),
    ],
)
def test_metrics_token_is_checked_like_the_other_server_keys(value: str, problem: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config({"server": {"metrics_token": value}}, load_catalogue(default_catalogue_dir()), ENV)
    assert len(raised.value.problems) == 1
    assert problem in raised.value.problems[0]
    assert "0123456789" not in raised.value.problems[0]


class _Auditor:
    """A provider with one orphan, one bot moved, and one foreign bot; the missing bot is gone."""

    capabilities = Capabilities(audits_bots=True)

    def __init__(self, bots: list[AuditedBot]) -> None:
        self.bots, self.cancelled = bots, list[str]()

    async def audit_bots(self, scope: AuditScope) -> BotListing:
        return BotListing(bots=self.bots, calls=1)

    async def find_bot(self, bot_id: str) -> AuditedBot | None:
        return None

    async def cancel_bot(self, bot_id: str) -> None:
        self.cancelled.append(bot_id)


class _Store:
    def __init__(self, wanted: list[Wanted]) -> None:
        self.rows = wanted

    async def wanted(self, *_: object) -> list[Wanted]:
        return list(self.rows)

    async def of_events(self, *_: object) -> list[Wanted]:
        return []

    async def linked_calendars(self, *_: object) -> list[str]:
        return []

    async def mark_missing(self, *_: object) -> bool:
        return True

    async def mark_stale(self, *_: object) -> bool:
        return True

    async def still_unwanted(self, *_: object) -> bool:
        return True

    async def note(self, *_: object) -> None:
        return None

    async def finish(self, *_: object, **__: object) -> None:
        return None


def _audit_sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(f"meetbridge_audit_{name}", {"profile": "metered", **labels}) or 0.0


async def test_audit_metrics_move_by_what_one_audit_found_and_did() -> None:
    later = datetime.now(UTC) + timedelta(days=2)
    zoom = "https://zoom.us/j/"

    def row(uid: str, bot_id: str, meeting: str) -> Wanted:
        return Wanted(
            event_pk=len(uid),
            event_uid=uid,
            calendar_id="cal",
            event_id=uid,
            application_id="app",
            wants_bot=True,
            owned=True,
            status="scheduled",
            bot_id=bot_id,
            join_at=later,
            meeting_url=f"{zoom}{meeting}",
            busy=False,
        )

    def bot(bot_id: str, uid: str | None, meeting: str, shift: timedelta = timedelta(0)) -> AuditedBot:
        return AuditedBot(
            bot_id=bot_id,
            join_at=later + shift,
            meeting=Meeting("zoom", meeting),
            event_uid=uid,
            profile_id="metered" if uid else None,
        )

    auditor = _Auditor(
        [
            bot("moved", "e-moved", "222222222", timedelta(hours=1)),  # stale
            bot("left-over", "e-gone", "333333333"),  # orphan
            bot("stranger", None, "222222222"),  # foreign
        ]
    )
    audit = DriftAudit.__new__(DriftAudit)
    profile = SimpleNamespace(profile_id="metered", adapter="recall-bot")
    audit.live = SimpleNamespace(  # type: ignore[assignment]  # only these two are read
        current=SimpleNamespace(profiles={"metered": profile}, server=ServerConfig())
    )
    audit.registry = SimpleNamespace(  # type: ignore[assignment]  # the adapter and its extension name
        adapter=lambda _: auditor, extension_provider=lambda _: "recall"
    )
    audit.store = _Store([row("e-gone-bot", "gone", "111111111"), row("e-moved", "moved", "222222222")])  # type: ignore[assignment]  # the reads and writes a run makes
    audit.on_enqueue = lambda: None
    metrics.audits_known(["metered"])
    classes = ("missing", "orphan", "stale", "foreign")
    before = {
        "runs": {o: _audit_sample("runs_total", outcome=o) for o in ("in_step", "drifted", "failed")},
        "found": {k: _audit_sample("differences_total", **{"class": k}) for k in classes},
        "done": {
            (k, a): _audit_sample("repairs_total", **{"class": k, "action": a})
            for k in classes
            for a in ("repaired", "reported", "skipped", "failed")
        },
        "took": _audit_sample("duration_seconds_count"),
    }
    result = await audit.audit_and_record("metered", run_id=7)

    assert sorted(str(d.kind) for d in result.differences) == sorted(classes)
    assert auditor.cancelled == ["left-over"]
    moved = {o: _audit_sample("runs_total", outcome=o) - n for o, n in before["runs"].items()}
    assert moved == {"in_step": 0, "drifted": 1, "failed": 0}
    assert {
        k: _audit_sample("differences_total", **{"class": k}) - n for k, n in before["found"].items()
    } == (dict.fromkeys(classes, 1))
    done = {
        key: _audit_sample("repairs_total", **{"class": key[0], "action": key[1]}) - n
        for key, n in before["done"].items()
    }
    assert {key: n for key, n in done.items() if n} == {
        ("missing", "repaired"): 1,
        ("orphan", "repaired"): 1,
        ("stale", "repaired"): 1,
        ("foreign", "reported"): 1,
    }
    assert _audit_sample("duration_seconds_count") - before["took"] == 1
    assert abs(_audit_sample("last_finished_timestamp_seconds") - time.time()) < 60
