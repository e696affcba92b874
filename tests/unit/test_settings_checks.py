"""Settings and secrets that cannot work are refused when the process starts, naming what to fix
(issue 14, item 11)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from meetbridge.cli import main
from meetbridge.config.catalogue import load_catalogue
from meetbridge.config.profiles import parse_config
from meetbridge.errors import ConfigError
from meetbridge.settings import Settings, default_catalogue_dir


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MEETBRIDGE_EVENTS_PAGE_SIZE", "0"),  # divided by zero in every Read Events
        ("MEETBRIDGE_EVENTS_PAGE_SIZE", "many"),
        ("MEETBRIDGE_WORKER_CONCURRENCY", "-1"),
        ("MEETBRIDGE_LOG_LEVEL", "LOUD"),
    ],
)
def test_a_setting_that_cannot_work_is_named(name: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({name: value})
    [problem] = caught.value.problems
    assert problem.startswith(f"{name}: ")


def test_the_cli_refuses_to_start_on_such_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MEETBRIDGE_EVENTS_PAGE_SIZE", "0")

    result = CliRunner().invoke(main, ["check-config"])

    assert result.exit_code == 2
    assert "MEETBRIDGE_EVENTS_PAGE_SIZE: must be a whole number from 1 to 1000" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("secret", ["not-a-secret!", "whsec_", "whsec_%%%%"])
def test_a_webhook_secret_that_cannot_verify_anything_is_a_config_error(secret: str) -> None:
    document = {
        "profiles": {
            "bots": {
                "adapter": "recall-bot",
                "base_url": "https://us-east-1.recall.ai",
                "api_key": "env:CHECK_RECALL_KEY",
                "webhook_secret": "env:CHECK_WEBHOOK_SECRET",
            }
        }
    }
    environ = {"CHECK_RECALL_KEY": "key", "CHECK_WEBHOOK_SECRET": secret}

    with pytest.raises(ConfigError) as caught:
        parse_config(document, load_catalogue(default_catalogue_dir()), environ)

    [problem] = caught.value.problems
    assert problem.startswith("profile bots: webhook_secret: must be whsec_<base64>")
    assert secret not in problem or secret == "whsec_"
