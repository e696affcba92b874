"""The fleet's settings: leases, heartbeats, the stop grace and the connection pool (issue 15)."""

from __future__ import annotations

import pytest

from meetbridge.errors import ConfigError
from meetbridge.settings import Settings


def test_defaults_fit_six_replicas_in_a_hundred_connections() -> None:
    settings = Settings.from_env({})
    assert (settings.job_lease_seconds, settings.job_heartbeat_seconds) == (30.0, 10.0)
    assert settings.worker_stop_grace_seconds == 2.0
    assert (settings.db_pool_size, settings.db_max_overflow) == (10, 5)
    assert 6 * (settings.db_pool_size + settings.db_max_overflow) <= 100 - 3  # superuser_reserved


def test_the_heartbeat_follows_the_lease_unless_given() -> None:
    short = Settings.from_env({"MEETBRIDGE_JOB_LEASE_SECONDS": "3"})
    assert (short.job_lease_seconds, short.job_heartbeat_seconds) == (3.0, 1.0)
    given = Settings.from_env(
        {"MEETBRIDGE_JOB_LEASE_SECONDS": "2.5", "MEETBRIDGE_JOB_HEARTBEAT_SECONDS": "0.5"}
    )
    assert (given.job_lease_seconds, given.job_heartbeat_seconds) == (2.5, 0.5)


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"MEETBRIDGE_JOB_LEASE_SECONDS": "0"}, "MEETBRIDGE_JOB_LEASE_SECONDS"),
        ({"MEETBRIDGE_JOB_LEASE_SECONDS": "nan"}, "MEETBRIDGE_JOB_LEASE_SECONDS"),
        ({"MEETBRIDGE_JOB_LEASE_SECONDS": "soon"}, "MEETBRIDGE_JOB_LEASE_SECONDS"),
        (
            {"MEETBRIDGE_JOB_LEASE_SECONDS": "10", "MEETBRIDGE_JOB_HEARTBEAT_SECONDS": "6"},
            "MEETBRIDGE_JOB_HEARTBEAT",
        ),
        ({"MEETBRIDGE_WORKER_STOP_GRACE_SECONDS": "-1"}, "MEETBRIDGE_WORKER_STOP_GRACE_SECONDS"),
        ({"MEETBRIDGE_DB_POOL_SIZE": "0"}, "MEETBRIDGE_DB_POOL_SIZE"),
        ({"MEETBRIDGE_DB_MAX_OVERFLOW": "lots"}, "MEETBRIDGE_DB_MAX_OVERFLOW"),
    ],
)
def test_a_fleet_setting_that_cannot_work_is_named(environ: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(environ)
    [problem] = caught.value.problems
    assert problem.startswith(named)
