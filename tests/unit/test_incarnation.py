"""A profile's incarnation is stored with every bot it made: the same configuration must give the
same fingerprint in every release, or an upgrade would look like a switch and move every bot."""

from __future__ import annotations

import pytest

from meetbridge.config.catalogue import load_catalogue
from meetbridge.config.incarnation import incarnation
from meetbridge.config.profiles import GatewayConfig, parse_config
from meetbridge.settings import default_catalogue_dir

ENV = {"K": "k" * 40, "R1": "recall-key-1", "R2": "recall-key-2", "CID": "cid", "CS": "cs"}
PROFILES = {
    "bot": {"adapter": "recall-bot", "api_key": "env:R1"},
    "v2": {"adapter": "recall-calendar-v2", "api_key": "env:R1", "region": "eu-central-1"},
    "v1": {"adapter": "recall-calendar-v1", "api_key": "env:R2"},
    "cron": {
        "adapter": "cronofy",
        "client_id": "env:CID",
        "client_secret": "env:CS",
        "upstream_profile_id": "int_up",
        "data_center": "de",
    },
}


def config(**changes: dict[str, object]) -> GatewayConfig:
    profiles = {pid: {**table, **changes.get(pid, {})} for pid, table in PROFILES.items()}
    document = {"server": {"secret_key": "env:K"}, "profiles": profiles}
    return parse_config(document, load_catalogue(default_catalogue_dir()), ENV)


def test_fingerprints_are_those_of_earlier_releases() -> None:
    # Computed by the release before account keys were declared on the options classes.
    assert {pid: incarnation(p) for pid, p in config().profiles.items()} == {
        "bot": "685a8fa01b61713eb488",
        "v2": "d6b802032a6db23c26cd",
        "v1": "0532bf3136507e7071af",
        "cron": "4ac48af9077e468c8bbe",
    }


@pytest.mark.parametrize(
    ("profile_id", "change", "moves"),
    [
        ("bot", {"api_key": "env:R2"}, True),  # another Recall workspace
        ("bot", {"region": "eu-central-1"}, True),  # another base URL
        ("bot", {"bot_name": "Other"}, False),  # the adapter updates its bots in place
        ("cron", {"upstream_profile_id": "int_other"}, True),
        ("cron", {"client_secret": "env:R1"}, False),  # the same client with a rotated secret
        ("cron", {"poll_interval_seconds": 60}, False),
    ],
)
def test_only_account_keys_and_where_the_provider_is_make_another_incarnation(
    profile_id: str, change: dict[str, object], moves: bool
) -> None:
    before = incarnation(config().profiles[profile_id])
    after = incarnation(config(**{profile_id: change}).profiles[profile_id])
    assert (after != before) is moves
