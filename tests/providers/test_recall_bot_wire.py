"""The recall-bot adapter on the wire (respx): request bodies, paths, headers, and which calls are made."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import respx

from meetbridge.config.catalogue import load_catalogue
from meetbridge.config.profiles import parse_config
from meetbridge.domain.extensions import ExtensionStatus
from meetbridge.errors import ProviderAuthExpired, ProviderError, ProviderRejected, ProviderUnavailable
from meetbridge.providers.base import Adapter, EventSnapshot, Outcome, ProviderState
from meetbridge.providers.recall.bot import EVENT_KEY, NONCE_KEY
from meetbridge.providers.recall.bot_audit import PROFILE_KEY
from meetbridge.providers.registry import AdapterRegistry
from meetbridge.settings import default_catalogue_dir

BASE_URL = "https://us-east-1.recall.ai"
KEY = "recall-test-key"
PROFILE_ID = "int_sales_0000"
NOW = datetime(2026, 5, 11, 12, 0, tzinfo=UTC)
START = NOW + timedelta(hours=2)
ZOOM = "https://zoom.us/j/1234567890?pwd=abc"
EVENT_UID = "evt_0123456789abcdef"
BOTS = "/api/v1/bot/"
BOT_CONFIG = {
    "recording_config": {
        "video_mixed_layout": "gallery_view",
        "transcript": {"provider": {"meeting_captions": {}}},
    },
    "automatic_leave": {"waiting_room_timeout": 600},
    "metadata": {"team": "sales"},
}


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event(*, start: datetime = START, url: str | None = ZOOM, **overrides: Any) -> EventSnapshot:
    fields: dict[str, Any] = {
        "pk": 7,
        "event_uid": EVENT_UID,
        "calendar_id": "cal_1",
        "version": 1,
        "deleted": False,
        "summary": "Pipeline review",
        "start_at": start,
        "end_at": start + timedelta(hours=1),
        "all_day": False,
        "meeting_url": url,
    }
    return EventSnapshot(**{**fields, **overrides})


def bot_json(bot_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": bot_id,
        "meeting_url": {"platform": "zoom", "meeting_id": "1234567890", "meeting_password": "abc"},
        "status_changes": [{"code": "ready", "message": None, "created_at": iso(NOW), "sub_code": None}],
        "recordings": [],
        "calendar_meetings": [],
        "slack_team": None,
        **fields,
    }


@dataclass
class Saves:
    """A recording ``save_state``: every record the adapter commits, in order."""

    states: list[ProviderState] = field(default_factory=list)

    async def __call__(self, state: ProviderState) -> None:
        self.states.append(copy.deepcopy(state))


@dataclass
class Recall:
    router: respx.MockRouter
    adapter: Adapter
    saves: Saves

    async def reconcile(
        self, snapshot: EventSnapshot, *, want_bot: bool = True, state: ProviderState | None = None
    ) -> Outcome:
        return await self.adapter.reconcile(
            snapshot, want_bot=want_bot, state=state, save_state=self.saves, now=NOW
        )

    @property
    def sent(self) -> list[tuple[str, str]]:
        """(method, path with query) of every request, in order."""
        return [(call.request.method, call.request.url.raw_path.decode()) for call in self.router.calls]

    def body(self, index: int) -> Any:
        return json.loads(self.router.calls[index].request.content)


Make = Callable[..., Recall]


@pytest.fixture
async def make() -> AsyncIterator[Make]:
    registries: list[AdapterRegistry] = []
    catalogue = load_catalogue(default_catalogue_dir())

    def build(**options: Any) -> Recall:
        table: dict[str, Any] = {
            "adapter": "recall-bot",
            "region": "us-east-1",
            "api_key": "env:RECALL_KEY",
            "bot_name": "Sales Notetaker",
            "bot_config": BOT_CONFIG,
            **options,
        }
        table = {key: value for key, value in table.items() if value is not None}
        config = parse_config({"profiles": {PROFILE_ID: table}}, catalogue, environ={"RECALL_KEY": KEY})
        router = respx.MockRouter(base_url=BASE_URL, assert_all_called=False)
        registry = AdapterRegistry(catalogue, transport=httpx.MockTransport(router.async_handler))
        registries.append(registry)
        return Recall(router, registry.adapter(config.profiles[PROFILE_ID]), Saves())

    yield build
    for registry in registries:
        await registry.aclose()


@pytest.fixture
def recall(make: Make) -> Recall:
    return make()


async def scheduled_state(recall: Recall, start: datetime = START, bot_id: str = "bot-1") -> ProviderState:
    """The record a successful scheduled create leaves, made through the adapter itself."""
    recall.router.post(BOTS).respond(201, json=bot_json(bot_id, join_at=iso(start)))
    outcome = await recall.reconcile(event(start=start))
    recall.router.clear()  # routes
    recall.router.reset()  # recorded calls
    recall.saves.states.clear()
    assert outcome.provider_state is not None
    assert outcome.provider_state["scheduled"] is True
    return outcome.provider_state


# --- create ----------------------------------------------------------------------------------------


async def test_create_posts_the_event_and_profile_settings_with_a_tagged_nonce(recall: Recall) -> None:
    recall.router.post(BOTS).respond(201, json=bot_json("bot-1", join_at=iso(START)))

    outcome = await recall.reconcile(event())

    assert recall.sent == [("POST", BOTS)]
    request = recall.router.calls[0].request
    assert request.headers["authorization"] == f"Token {KEY}"
    assert request.headers["content-type"] == "application/json"
    [saved] = recall.saves.states
    nonce = saved[NONCE_KEY]
    assert recall.body(0) == {
        "bot_name": "Sales Notetaker",
        "recording_config": BOT_CONFIG["recording_config"],
        "automatic_leave": {"waiting_room_timeout": 600},
        "meeting_url": ZOOM,
        "join_at": "2026-05-11T14:00:00.000000Z",
        "metadata": {"team": "sales", EVENT_KEY: EVENT_UID, PROFILE_KEY: PROFILE_ID, NONCE_KEY: nonce},
    }
    facts = {
        "profile_id": PROFILE_ID,
        "meeting_url": ZOOM,
        "join_at": "2026-05-11T14:00:00.000000Z",
        "config_digest": saved["intended"]["config_digest"],
        "scheduled": True,
    }
    # The record committed before the call lets a crash mid-call be recovered by the nonce.
    assert saved == {NONCE_KEY: nonce, "intended": facts}
    assert len(nonce) >= 16
    assert outcome == Outcome(
        status=ExtensionStatus.SCHEDULED, bot_id="bot-1", provider_state={**facts, "bot_id": "bot-1"}
    )


async def test_every_create_carries_a_fresh_nonce(make: Make) -> None:
    nonces = []
    for _ in range(3):
        recall = make()
        recall.router.post(BOTS).respond(201, json=bot_json("bot-1"))
        await recall.reconcile(event())
        nonces.append(recall.body(0)["metadata"][NONCE_KEY])
    assert len(set(nonces)) == 3


@pytest.mark.parametrize(
    ("ahead", "scheduled"),
    [
        pytest.param(timedelta(hours=2), True, id="2h"),
        pytest.param(timedelta(minutes=10, seconds=1), True, id="10min+1s"),
        pytest.param(timedelta(minutes=10), False, id="exactly-10min"),
        pytest.param(timedelta(minutes=5), False, id="5min"),
        pytest.param(timedelta(minutes=-5), False, id="started-5min-ago"),
    ],
)
async def test_join_at_is_sent_only_when_more_than_ten_minutes_ahead(
    recall: Recall, ahead: timedelta, scheduled: bool
) -> None:
    recall.router.post(BOTS).respond(201, json=bot_json("bot-1"))
    outcome = await recall.reconcile(event(start=NOW + ahead))
    body = recall.body(0)
    if scheduled:
        assert body["join_at"] == iso(NOW + ahead)
        assert body["join_at"].endswith("Z")
    else:
        assert "join_at" not in body  # an ad-hoc bot from the warm pool, sent now
    assert outcome.provider_state is not None
    assert outcome.provider_state["scheduled"] is scheduled
    assert outcome.provider_state["join_at"] == iso(NOW + ahead)


async def test_join_lead_moves_join_at_earlier(make: Make) -> None:
    recall = make(join_lead_seconds=120)
    recall.router.post(BOTS).respond(201, json=bot_json("bot-1"))
    await recall.reconcile(event())
    assert recall.body(0)["join_at"] == "2026-05-11T13:58:00.000000Z"


async def test_join_at_is_sent_in_utc_whatever_the_events_zone(recall: Recall) -> None:
    recall.router.post(BOTS).respond(201, json=bot_json("bot-1"))
    from zoneinfo import ZoneInfo  # noqa: PLC0415 - only this test needs a zone

    await recall.reconcile(event(start=START.astimezone(ZoneInfo("Asia/Tokyo"))))
    assert recall.body(0)["join_at"] == "2026-05-11T14:00:00.000000Z"


@pytest.mark.parametrize(
    ("options", "bot_name"),
    [
        pytest.param({"bot_name": None, "bot_config": {}}, "Meeting Notetaker", id="default"),
        pytest.param({"bot_config": {}}, "Sales Notetaker", id="profile-bot-name"),
        pytest.param(
            {"bot_config": {"bot_name": "From bot_config"}}, "From bot_config", id="bot-config-wins"
        ),
    ],
)
async def test_bot_name_comes_from_bot_config_then_the_profile_then_recalls_default(
    make: Make, options: dict[str, Any], bot_name: str
) -> None:
    recall = make(**options)
    recall.router.post(BOTS).respond(201, json=bot_json("bot-1"))
    await recall.reconcile(event())
    body = recall.body(0)
    assert body["bot_name"] == bot_name
    assert set(body) == {"bot_name", "meeting_url", "join_at", "metadata"}
    assert set(body["metadata"]) == {EVENT_KEY, PROFILE_KEY, NONCE_KEY}


# --- update ----------------------------------------------------------------------------------------


async def test_a_moved_event_patches_join_at_on_the_same_bot(recall: Recall) -> None:
    state = await scheduled_state(recall)
    moved = START + timedelta(minutes=30)
    recall.router.patch(f"{BOTS}bot-1/").respond(200, json=bot_json("bot-1", join_at=iso(moved)))

    outcome = await recall.reconcile(event(start=moved), state=state)

    assert recall.sent == [("PATCH", f"{BOTS}bot-1/")]
    assert recall.body(0) == {"meeting_url": ZOOM, "join_at": iso(moved)}
    assert recall.saves.states == []
    assert outcome == Outcome(
        status=ExtensionStatus.SCHEDULED,
        bot_id="bot-1",
        provider_state={**state, "join_at": iso(moved)},
    )


async def test_a_changed_profile_config_is_patched_onto_the_bot(make: Make) -> None:
    before = make(bot_config={})
    state = await scheduled_state(before)
    after = make()
    after.router.patch(f"{BOTS}bot-1/").respond(200, json=bot_json("bot-1"))

    outcome = await after.reconcile(event(), state=state)

    assert after.sent == [("PATCH", f"{BOTS}bot-1/")]
    patch = after.body(0)
    assert {
        key: patch[key] for key in ("bot_name", "recording_config", "automatic_leave", "meeting_url")
    } == {
        "bot_name": "Sales Notetaker",
        "recording_config": BOT_CONFIG["recording_config"],
        "automatic_leave": {"waiting_room_timeout": 600},
        "meeting_url": ZOOM,
    }
    assert patch["join_at"] == iso(START)
    assert outcome.provider_state is not None
    assert outcome.provider_state["config_digest"] != state["config_digest"]
    assert outcome.bot_id == "bot-1"


async def test_a_config_patch_keeps_the_event_tag_in_the_bots_metadata(make: Make) -> None:
    state = await scheduled_state(make(bot_config={}))
    after = make()
    after.router.patch(f"{BOTS}bot-1/").respond(200, json=bot_json("bot-1"))
    await after.reconcile(event(), state=state)
    assert after.body(0)["metadata"] == {"team": "sales", EVENT_KEY: EVENT_UID, PROFILE_KEY: PROFILE_ID}


@pytest.mark.parametrize(
    ("patch_reply", "delete_reply", "expected_calls"),
    [
        pytest.param(
            (400, {"code": "update_bot_failed", "detail": "Not enough time to launch new bot"}),
            (204, None),
            ["PATCH", "DELETE", "POST"],
            id="too-late-to-move",
        ),
        pytest.param(
            (400, {"code": "update_bot_failed", "detail": "Only non-dispatched bots can be updated"}),
            (405, {"detail": "The bot has already been dispatched"}),
            ["PATCH", "DELETE", "POST leave_call", "POST"],
            id="dispatched",
        ),
        pytest.param(
            (404, {"detail": "Not found."}),
            (404, {"detail": "Not found."}),
            ["PATCH", "DELETE", "POST"],
            id="gone-at-recall",
        ),
    ],
)
async def test_a_bot_that_cannot_be_patched_is_replaced(
    recall: Recall,
    patch_reply: tuple[int, Any],
    delete_reply: tuple[int, Any],
    expected_calls: list[str],
) -> None:
    state = await scheduled_state(recall)
    moved = START + timedelta(minutes=30)
    recall.router.patch(f"{BOTS}bot-1/").respond(patch_reply[0], json=patch_reply[1])
    recall.router.delete(f"{BOTS}bot-1/").respond(delete_reply[0], json=delete_reply[1])
    recall.router.post(f"{BOTS}bot-1/leave_call/").respond(200, json=bot_json("bot-1"))
    recall.router.post(BOTS).respond(201, json=bot_json("bot-2", join_at=iso(moved)))

    outcome = await recall.reconcile(event(start=moved), state=state)

    paths = {
        "PATCH": ("PATCH", f"{BOTS}bot-1/"),
        "DELETE": ("DELETE", f"{BOTS}bot-1/"),
        "POST leave_call": ("POST", f"{BOTS}bot-1/leave_call/"),
        "POST": ("POST", BOTS),
    }
    assert recall.sent == [paths[name] for name in expected_calls]
    assert recall.body(0) == {"meeting_url": ZOOM, "join_at": iso(moved)}
    created = recall.body(len(expected_calls) - 1)
    assert created["join_at"] == iso(moved)
    # The old bot's record is dropped before the new create is recorded.
    assert [sorted(saved) for saved in recall.saves.states] == [[], ["intended", NONCE_KEY]]
    assert created["metadata"][NONCE_KEY] == recall.saves.states[1][NONCE_KEY]
    assert outcome.bot_id == "bot-2"
    assert outcome.status == ExtensionStatus.SCHEDULED


@pytest.mark.parametrize("status", [403, 405])
async def test_a_patch_refused_for_another_reason_is_not_papered_over(recall: Recall, status: int) -> None:
    state = await scheduled_state(recall)
    recall.router.patch(f"{BOTS}bot-1/").respond(status, json={"detail": "no"})
    with pytest.raises(ProviderRejected):
        await recall.reconcile(event(start=START + timedelta(minutes=30)), state=state)
    assert recall.sent == [("PATCH", f"{BOTS}bot-1/")]
    assert recall.saves.states == []


async def test_moving_a_bot_inside_the_ten_minute_window_deletes_then_creates_ad_hoc(recall: Recall) -> None:
    state = await scheduled_state(recall)
    soon = NOW + timedelta(minutes=5)
    recall.router.delete(f"{BOTS}bot-1/").respond(204)
    recall.router.post(BOTS).respond(201, json=bot_json("bot-2"))

    outcome = await recall.reconcile(event(start=soon), state=state)

    assert recall.sent == [("DELETE", f"{BOTS}bot-1/"), ("POST", BOTS)]
    assert "join_at" not in recall.body(1)
    assert outcome.provider_state is not None
    assert (outcome.bot_id, outcome.provider_state["scheduled"]) == ("bot-2", False)


async def test_an_ad_hoc_bot_is_never_patched(recall: Recall) -> None:
    recall.router.post(BOTS).respond(201, json=bot_json("bot-1"))
    first = await recall.reconcile(event(start=NOW + timedelta(minutes=5)))
    assert first.provider_state is not None
    recall.router.clear()
    recall.router.reset()
    recall.saves.states.clear()
    later = NOW + timedelta(hours=1)
    recall.router.delete(f"{BOTS}bot-1/").respond(405, json={"detail": "The bot has already been dispatched"})
    recall.router.post(f"{BOTS}bot-1/leave_call/").respond(200, json=bot_json("bot-1"))
    recall.router.post(BOTS).respond(201, json=bot_json("bot-2", join_at=iso(later)))

    outcome = await recall.reconcile(event(start=later), state=first.provider_state)

    assert recall.sent == [
        ("DELETE", f"{BOTS}bot-1/"),
        ("POST", f"{BOTS}bot-1/leave_call/"),
        ("POST", BOTS),
    ]
    assert recall.body(2)["join_at"] == iso(later)
    assert outcome.bot_id == "bot-2"


async def test_an_unchanged_event_makes_no_call(recall: Recall) -> None:
    state = await scheduled_state(recall)
    outcome = await recall.reconcile(event(), state=state)
    assert recall.sent == []
    assert recall.saves.states == []
    assert outcome == Outcome(status=ExtensionStatus.SCHEDULED, bot_id="bot-1", provider_state=state)


# --- cancel ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("delete_reply", "leave_reply", "expected"),
    [
        pytest.param((204, None), None, [("DELETE", f"{BOTS}bot-1/")], id="deleted"),
        pytest.param(
            (405, {"detail": "The bot has already been dispatched"}),
            (200, bot_json("bot-1")),
            [("DELETE", f"{BOTS}bot-1/"), ("POST", f"{BOTS}bot-1/leave_call/")],
            id="dispatched-leaves-the-call",
        ),
        pytest.param(
            (405, {"detail": "The bot has already been dispatched"}),
            (404, {"detail": "Not found."}),
            [("DELETE", f"{BOTS}bot-1/"), ("POST", f"{BOTS}bot-1/leave_call/")],
            id="dispatched-then-gone",
        ),
        pytest.param((404, {"detail": "Not found."}), None, [("DELETE", f"{BOTS}bot-1/")], id="already-gone"),
    ],
)
async def test_cancel_removes_the_bot_however_far_it_got(
    recall: Recall,
    delete_reply: tuple[int, Any],
    leave_reply: tuple[int, Any] | None,
    expected: list[tuple[str, str]],
) -> None:
    state = await scheduled_state(recall)
    if delete_reply[1] is None:
        recall.router.delete(f"{BOTS}bot-1/").respond(delete_reply[0])
    else:
        recall.router.delete(f"{BOTS}bot-1/").respond(delete_reply[0], json=delete_reply[1])
    if leave_reply is not None:
        recall.router.post(f"{BOTS}bot-1/leave_call/").respond(leave_reply[0], json=leave_reply[1])

    outcome = await recall.reconcile(event(), want_bot=False, state=state)

    assert recall.sent == expected
    assert recall.saves.states == []
    assert outcome == Outcome(status=ExtensionStatus.CANCELLED, bot_id=None, provider_state=None)


@pytest.mark.parametrize(
    ("status", "error"),
    [(503, ProviderUnavailable), (401, ProviderAuthExpired), (400, ProviderRejected)],
)
async def test_a_failed_delete_keeps_the_bot_for_the_next_attempt(
    recall: Recall, status: int, error: type[ProviderError]
) -> None:
    state = await scheduled_state(recall)
    recall.router.delete(f"{BOTS}bot-1/").respond(status, json={"detail": "no"})
    with pytest.raises(error):
        await recall.reconcile(event(), want_bot=False, state=state)
    assert recall.sent == [("DELETE", f"{BOTS}bot-1/")]
    assert recall.saves.states == []  # the record still names bot-1


async def test_an_ended_event_keeps_its_bot_and_calls_nothing(recall: Recall) -> None:
    state = await scheduled_state(recall, start=NOW + timedelta(hours=2))
    ended = event(start=NOW - timedelta(hours=2))
    outcome = await recall.reconcile(ended, state=state)
    assert recall.sent == []
    # The bot went to the meeting: that is the success the app asked for, not a refusal.
    assert outcome == Outcome(status=ExtensionStatus.SCHEDULED, bot_id="bot-1", provider_state=state)


async def test_an_event_that_ended_before_any_bot_gets_none(recall: Recall) -> None:
    outcome = await recall.reconcile(event(start=NOW - timedelta(hours=2)))
    assert recall.sent == []
    assert recall.saves.states == []
    assert (outcome.status, outcome.bot_id, outcome.provider_state) == (ExtensionStatus.CANCELLED, None, None)
    assert outcome.last_error is not None
    assert "event_ended" in outcome.last_error


# --- an interrupted create -------------------------------------------------------------------------


def interrupted(nonce: str = "a" * 32, start: datetime = START) -> ProviderState:
    return {
        NONCE_KEY: nonce,
        "intended": {
            "profile_id": PROFILE_ID,
            "meeting_url": ZOOM,
            "join_at": iso(start),
            "config_digest": "",  # filled in by the test from a real create
            "scheduled": True,
        },
    }


async def digest_of(recall: Recall) -> str:
    state = await scheduled_state(recall)
    return str(state["config_digest"])


async def test_recovery_adopts_the_bot_the_lost_create_made_without_a_new_create(recall: Recall) -> None:
    state = interrupted()
    state["intended"]["config_digest"] = await digest_of(recall)
    listed = recall.router.get(BOTS, params={f"metadata__{NONCE_KEY}": "a" * 32}).respond(
        200,
        json={
            "count": 1,
            "next": None,
            "previous": None,
            "results": [bot_json("bot-9", join_at=iso(START), metadata={NONCE_KEY: "a" * 32})],
        },
    )
    created = recall.router.post(BOTS).respond(201, json=bot_json("bot-10"))

    outcome = await recall.reconcile(event(), state=state)

    assert recall.sent == [("GET", f"{BOTS}?metadata__{NONCE_KEY}={'a' * 32}")]
    assert listed.call_count == 1
    assert created.call_count == 0
    adopted = {**state["intended"], "bot_id": "bot-9"}
    assert recall.saves.states == [adopted]  # committed at once: a crash now cannot lose bot-9
    assert outcome == Outcome(status=ExtensionStatus.SCHEDULED, bot_id="bot-9", provider_state=adopted)


async def test_recovery_that_finds_nothing_creates_with_a_new_nonce(recall: Recall) -> None:
    state = interrupted()
    recall.router.get(BOTS).respond(200, json={"count": 0, "next": None, "previous": None, "results": []})
    recall.router.post(BOTS).respond(201, json=bot_json("bot-1"))

    outcome = await recall.reconcile(event(), state=state)

    assert recall.sent == [("GET", f"{BOTS}?metadata__{NONCE_KEY}={'a' * 32}"), ("POST", BOTS)]
    new_nonce = recall.body(1)["metadata"][NONCE_KEY]
    assert new_nonce != "a" * 32
    assert [sorted(saved) for saved in recall.saves.states] == [[], ["intended", NONCE_KEY]]
    assert recall.saves.states[1][NONCE_KEY] == new_nonce
    assert outcome.bot_id == "bot-1"


async def test_recovery_then_cancel_when_the_bot_is_no_longer_wanted(recall: Recall) -> None:
    state = interrupted()
    recall.router.get(BOTS).respond(
        200, json={"count": 1, "next": None, "previous": None, "results": [bot_json("bot-9")]}
    )
    recall.router.delete(f"{BOTS}bot-9/").respond(204)

    outcome = await recall.reconcile(event(), want_bot=False, state=state)

    assert recall.sent == [("GET", f"{BOTS}?metadata__{NONCE_KEY}={'a' * 32}"), ("DELETE", f"{BOTS}bot-9/")]
    assert outcome == Outcome(status=ExtensionStatus.CANCELLED, provider_state=None)


async def test_a_failed_recovery_lookup_keeps_the_nonce(recall: Recall) -> None:
    state = interrupted()
    recall.router.get(BOTS).respond(503, json={"detail": "A server error occurred."})
    with pytest.raises(ProviderUnavailable):
        await recall.reconcile(event(), state=state)
    assert recall.saves.states == []
    assert [method for method, _ in recall.sent] == ["GET"]


# --- a create without an answer vs a create refused --------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error", "retry_after"),
    [
        pytest.param(507, ProviderUnavailable, 30.0, id="507-pool-empty"),
        pytest.param(429, ProviderUnavailable, 12.0, id="429-throttled"),
        pytest.param(409, ProviderUnavailable, None, id="409-conflict"),
        pytest.param(502, ProviderUnavailable, None, id="502"),
        pytest.param(400, ProviderRejected, None, id="400-refused"),
        pytest.param(401, ProviderAuthExpired, None, id="401-refused"),
    ],
)
async def test_a_create_recall_answered_clears_the_nonce_so_the_next_try_skips_list_bots(
    recall: Recall, status: int, error: type[ProviderError], retry_after: float | None
) -> None:
    headers = {"Retry-After": str(int(retry_after))} if retry_after is not None else {}
    recall.router.post(BOTS).mock(
        side_effect=[
            httpx.Response(
                status, json={"detail": "No ad-hoc bots are available right now"}, headers=headers
            ),
            httpx.Response(201, json=bot_json("bot-1")),
        ]
    )
    listed = recall.router.get(BOTS).respond(
        200, json={"count": 0, "next": None, "previous": None, "results": []}
    )
    soon = event(start=NOW + timedelta(minutes=2))

    with pytest.raises(error) as info:
        await recall.reconcile(soon)
    if isinstance(info.value, ProviderUnavailable):
        assert info.value.retry_after == retry_after
    assert [sorted(saved) for saved in recall.saves.states] == [["intended", NONCE_KEY], []]

    outcome = await recall.reconcile(soon, state=recall.saves.states[-1])
    assert listed.call_count == 0
    assert recall.sent == [("POST", BOTS), ("POST", BOTS)]
    assert outcome.bot_id == "bot-1"


@pytest.mark.parametrize(
    "exception",
    [httpx.ReadTimeout("no answer"), httpx.RemoteProtocolError("connection dropped")],
)
async def test_a_create_without_an_answer_keeps_the_nonce_and_the_next_try_looks_first(
    recall: Recall, exception: Exception
) -> None:
    recall.router.post(BOTS).mock(side_effect=[exception, httpx.Response(201, json=bot_json("bot-2"))])
    listed = recall.router.get(BOTS).respond(
        200, json={"count": 1, "next": None, "previous": None, "results": [bot_json("bot-1")]}
    )

    with pytest.raises(ProviderUnavailable):
        await recall.reconcile(event())
    [pending] = recall.saves.states
    assert sorted(pending) == ["intended", NONCE_KEY]
    nonce = recall.body(0)["metadata"][NONCE_KEY]
    assert pending[NONCE_KEY] == nonce

    outcome = await recall.reconcile(event(), state=pending)
    # The timed-out create did make bot-1: it is found by its nonce and adopted, not made twice.
    assert recall.sent == [("POST", BOTS), ("GET", f"{BOTS}?metadata__{NONCE_KEY}={nonce}")]
    assert listed.call_count == 1
    assert outcome.bot_id == "bot-1"
