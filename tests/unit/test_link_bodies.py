"""A link request body is read with the shape of the profile's adapter, and nothing else."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from meetbridge.api.link_bodies import read_link_request
from meetbridge.config.catalogue import load_catalogue
from meetbridge.config.options import AdapterOptions
from meetbridge.config.profiles import Profile
from meetbridge.errors import InvalidRequest
from meetbridge.providers.cronofy.link_request import CronofyLinkRequest
from meetbridge.providers.link_requests import CalendarAsk, ForwardAsk, LinkRequest, PresetAsk
from meetbridge.providers.recall.link_requests import CalendarV1LinkRequest, CalendarV2LinkRequest
from meetbridge.providers.registry import AdapterRegistry
from meetbridge.settings import default_catalogue_dir

CATALOGUE = load_catalogue(default_catalogue_dir())
SHAPES: dict[str, type[LinkRequest]] = AdapterRegistry(CATALOGUE).link_requests()
ADAPTERS = {shape: adapter for adapter, shape in SHAPES.items()}


def profile(adapter: str) -> Profile:
    return Profile(
        profile_id="p1",
        adapter=adapter,
        base_url="http://provider.test",
        region=None,
        options=AdapterOptions(),
        rate_limits={},
    )


def read(body: Any, shape: type[LinkRequest] = CalendarV2LinkRequest) -> Any:
    raw = body if isinstance(body, bytes) else msgspec.json.encode(body)
    return read_link_request(raw, profile(ADAPTERS[shape]), SHAPES)


def errors_of(body: Any, shape: type[LinkRequest] = CalendarV2LinkRequest) -> dict[str, list[str]]:
    with pytest.raises(InvalidRequest) as caught:
        read(body, shape)
    return {field: [key for key, _ in items] for field, items in caught.value.errors.items()}


def test_every_linking_adapter_of_the_catalogue_declares_its_own_shape() -> None:
    assert {
        "recall-calendar-v2": CalendarV2LinkRequest,
        "recall-calendar-v1": CalendarV1LinkRequest,
        "cronofy": CronofyLinkRequest,
    } == SHAPES


def test_each_shape_reads_into_what_it_asks_of_the_engine() -> None:
    assert read({"recall_calendar_id": "rc_1", "record": "external", "series": ["u@x"]}) == CalendarAsk(
        provider_calendar_id="rc_1",
        record="external",
        series=["u@x"],
        calendar_field="recall_calendar_id",
        platform_field="platform",
        credentials_field="oauth_refresh_token",
    )
    assert read({"user_id": "u-1", "preferences": {"record_external": True}}, CalendarV1LinkRequest) == (
        PresetAsk(user_id="u-1", preferences={"record_external": True}, user_field="user_id")
    )
    forward = read(
        {"cronofy_calendar_id": "cal_1", "access_token": "tok-a", "refresh_token": "tok-r"},
        CronofyLinkRequest,
    )
    assert forward == ForwardAsk(
        provider_calendar_id="cal_1",
        access_token="tok-a",
        refresh_token="tok-r",
        expires_in=None,
        calendar_field="cronofy_calendar_id",
    )
    assert "tok-" not in repr(forward)


def test_fields_of_another_adapter_and_unknown_fields_are_all_named_at_once() -> None:
    assert errors_of({"user_id": "u", "access_token": "t", "bogus": 1, "record": "all"}) == {
        "user_id": ["errors.not_applicable"],
        "access_token": ["errors.not_applicable"],
        "bogus": ["errors.invalid"],
    }


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(b"{", {"body": ["errors.invalid"]}, id="not-json"),
        pytest.param([1], {"body": ["errors.invalid"]}, id="not-an-object"),
        pytest.param({"series": ["ok", 7]}, {"series": ["errors.invalid"]}, id="bad-item"),
        pytest.param({"record": "sometimes"}, {"record": ["errors.invalid"]}, id="bad-rule"),
        pytest.param({"recall_calendar_id": None}, {"recall_calendar_id": ["errors.invalid"]}, id="null"),
        pytest.param(
            {"recall_calendar_id": "rc", "platform": "google_calendar", "oauth_refresh_token": "r"},
            {"recall_calendar_id": ["errors.conflict"]},
            id="id-and-credentials",
        ),
        pytest.param(
            {"platform": "google_calendar"}, {"oauth_refresh_token": ["errors.required"]}, id="half"
        ),
    ],
)
def test_a_bad_body_names_its_field(body: Any, expected: dict[str, list[str]]) -> None:
    assert errors_of(body) == expected


def test_a_cronofy_link_names_each_missing_field() -> None:
    assert errors_of({"access_token": "t"}, CronofyLinkRequest) == {
        "cronofy_calendar_id": ["errors.required"],
        "refresh_token": ["errors.required"],
    }
