"""Configuration loading: the operator's meetbridge.toml, the adapter catalogue, `meetbridge check-config`.

Every problem is one line naming the profile and the key; secrets are resolved from the environment
and never printed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from meetbridge.cli import main
from meetbridge.config.catalogue import Catalogue, load_catalogue
from meetbridge.config.profiles import GatewayConfig, load_config, parse_config
from meetbridge.errors import ConfigError
from meetbridge.providers.recall.options import RecallBotOptions
from meetbridge.settings import default_catalogue_dir

ENV = {
    "RECALL_KEY": "rk-live-0123456789abcdef",
    "RECALL_WHSEC": "whsec_c2VjcmV0LXdlYmhvb2stdmFsdWU=",
    "CRONOFY_ID": "cronofy-client-id-value",
    "CRONOFY_SECRET": "cronofy-client-secret-value",
    "GOOGLE_ID": "google-client-id-value",
    "GOOGLE_SECRET": "google-client-secret-value",
    "MEETBRIDGE_SECRET_KEY": "server-secret-key-value",
}
LITERAL_SECRET = "sk_live_literal_in_the_file"
SECRETS = (*ENV.values(), LITERAL_SECRET)
CATALOGUE_DIR = default_catalogue_dir()

RECALL_BOT = """
    [profiles.p]
    adapter = "recall-bot"
    api_key = "env:RECALL_KEY"
"""
V1 = """
    [profiles.p]
    adapter = "recall-calendar-v1"
    api_key = "env:RECALL_KEY"
"""
V2 = """
    [profiles.p]
    adapter = "recall-calendar-v2"
    api_key = "env:RECALL_KEY"
"""
CRONOFY = """
    [profiles.p]
    adapter = "cronofy"
    client_id = "env:CRONOFY_ID"
    client_secret = "env:CRONOFY_SECRET"
    upstream_profile_id = "int_abc_0000000000"
"""


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue(CATALOGUE_DIR)


def toml(*parts: str) -> str:
    return "\n".join(textwrap.dedent(part) for part in parts)


def parse(text: str, catalogue: Catalogue) -> GatewayConfig:
    return parse_config(tomllib.loads(text), catalogue, ENV)


def problems_of(text: str, catalogue: Catalogue) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        parse(text, catalogue)
    problems = raised.value.problems
    assert str(raised.value) == "\n".join(problems)
    for secret in SECRETS:
        assert secret not in str(raised.value)
    return problems


def subject(problem: str) -> str:
    """What a problem line is about: ``profile <id>: <key>``, or the top-level name."""
    found = re.match(r"(profile [^:]+: [\w.]+|[^:]+):", problem)
    assert found, problem
    return found.group(1)


def catalogue_regions(adapter: str) -> dict[str, str]:
    """The region table straight from the catalogue file, not through the loader."""
    regions: dict[str, str] = tomllib.loads((CATALOGUE_DIR / f"{adapter}.toml").read_text())["regions"]
    return regions


def check_config(*args: str, env: dict[str, str] | None = None) -> Result:
    runner = CliRunner()
    environment = {"MEETBRIDGE_CATALOGUE_DIR": str(CATALOGUE_DIR), "MEETBRIDGE_CONFIG": None, **(env or ENV)}
    return runner.invoke(main, ["check-config", *args], env=environment)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "meetbridge.toml"
    path.write_text(text)
    return path


# --- valid files -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("adapter", "profile", "region_key", "region"),
    [
        ("recall-bot", RECALL_BOT, "region", "eu-central-1"),
        ("recall-calendar-v1", V1, "region", "ap-northeast-1"),
        ("recall-calendar-v2", V2, "region", "us-west-2"),
        ("cronofy", CRONOFY, "data_center", "de"),
    ],
)
def test_each_adapter_loads_and_takes_its_base_url_from_the_catalogue(
    catalogue: Catalogue, adapter: str, profile: str, region_key: str, region: str
) -> None:
    config = parse(toml(profile, f'{region_key} = "{region}"'), catalogue)

    loaded = config.profiles["p"]
    assert (loaded.profile_id, loaded.adapter, loaded.region) == ("p", adapter, region)
    assert loaded.base_url == catalogue_regions(adapter)[region]
    assert loaded.rate_limits == catalogue.adapters[adapter].rate_limits


@pytest.mark.parametrize(
    ("adapter", "profile", "region_key", "region"),
    [
        ("recall-bot", RECALL_BOT, "region", "eu-central-1"),
        ("cronofy", CRONOFY, "data_center", "uk"),
    ],
)
def test_base_url_wins_over_the_region(
    catalogue: Catalogue, adapter: str, profile: str, region_key: str, region: str
) -> None:
    text = toml(profile, f'{region_key} = "{region}"', 'base_url = "http://127.0.0.1:9000/"')

    loaded = parse(text, catalogue).profiles["p"]

    assert loaded.base_url == "http://127.0.0.1:9000"
    assert loaded.adapter == adapter


def test_without_region_the_catalogue_default_region_is_used(catalogue: Catalogue) -> None:
    loaded = parse(toml(RECALL_BOT), catalogue).profiles["p"]

    default = tomllib.loads((CATALOGUE_DIR / "recall-bot.toml").read_text())["default_region"]
    assert (loaded.region, loaded.base_url) == (default, catalogue_regions("recall-bot")[default])


def test_options_are_kept_and_secrets_resolved_from_the_environment(catalogue: Catalogue) -> None:
    text = toml(
        RECALL_BOT,
        """
        webhook_secret = "env:RECALL_WHSEC"
        bot_name = "Sales Notetaker"
        bot_config = { recording_config = { video_mixed_layout = "speaker_view" } }
        rate_limits = { create_bot = 30 }
        """,
    )

    loaded = parse(text, catalogue).profiles["p"]

    options = loaded.options
    assert isinstance(options, RecallBotOptions)
    assert options.api_key.reveal() == ENV["RECALL_KEY"]
    assert options.webhook_secret is not None
    assert options.webhook_secret.reveal() == ENV["RECALL_WHSEC"]
    assert options.bot_name == "Sales Notetaker"
    assert options.bot_config == {"recording_config": {"video_mixed_layout": "speaker_view"}}
    assert loaded.rate_limits == {"create_bot": 30, "list_bots": 60, "bot": 300}


def test_repr_of_a_loaded_configuration_shows_sources_never_secret_values(catalogue: Catalogue) -> None:
    text = toml(
        CRONOFY,
        V2.replace("[profiles.p]", "[profiles.q]"),
        'google_client_id = "env:GOOGLE_ID"',
        'google_client_secret = "env:GOOGLE_SECRET"',
    )

    config = parse(text, catalogue)

    shown = "\n".join([repr(config), str(config), *(repr(p) for p in config.profiles.values())])
    for secret in ENV.values():
        assert secret not in shown
    assert "env:CRONOFY_SECRET" in shown
    assert "env:GOOGLE_SECRET" in shown
    assert config.server.secret_key is not None
    assert config.server.secret_key.reveal() == ENV["MEETBRIDGE_SECRET_KEY"]


# --- one line per problem, naming profile and key ---------------------------------------------------

V1_PRESET = "recall-calendar-v2"


@pytest.mark.parametrize(
    ("text", "prefix", "mentions"),
    [
        pytest.param(
            toml(RECALL_BOT, "colour = 'red'"), "profile p: colour:", "unknown key", id="unknown-key"
        ),
        pytest.param(
            toml(RECALL_BOT.replace("env:RECALL_KEY", LITERAL_SECRET)),
            "profile p: api_key:",
            "env:",
            id="literal",
        ),
        pytest.param(
            toml(RECALL_BOT.replace("env:RECALL_KEY", "env:NOT_SET_ANYWHERE")),
            "profile p: api_key:",
            "NOT_SET_ANYWHERE is not set",
            id="env-not-set",
        ),
        pytest.param(
            toml(RECALL_BOT, 'bot_name = ""'), "profile p: bot_name:", "length", id="bot_name-empty"
        ),
        pytest.param(
            toml(RECALL_BOT, f'bot_name = "{"n" * 101}"'),
            "profile p: bot_name:",
            "100",
            id="bot_name-too-long",
        ),
        pytest.param(
            toml(RECALL_BOT, 'region = "mars-1"'), "profile p: region:", "mars-1", id="unknown-region"
        ),
        pytest.param(
            toml(CRONOFY, 'data_center = "xx"'), "profile p: data_center:", "xx", id="unknown-data_center"
        ),
        pytest.param(
            toml(RECALL_BOT, "rate_limits = { create_bots = 10 }"),
            "profile p: rate_limits.create_bots:",
            "unknown endpoint",
            id="rate-limit-endpoint",
        ),
        pytest.param(
            toml(RECALL_BOT, "bot_config = { colour = 'red' }"),
            "profile p: bot_config.colour:",
            "Create Bot",
            id="bot_config-unknown-field",
        ),
        pytest.param(
            toml(RECALL_BOT, "bot_config = { join_at = '2026-05-11T16:00:00Z' }"),
            "profile p: bot_config.join_at:",
            "Create Bot",
            id="bot_config-join_at",
        ),
        pytest.param(
            toml(V1, "bot_config = { bot_name = 'Notetaker' }"),
            "profile p: bot_config:",
            V1_PRESET,
            id="v1-bot_config",
        ),
        pytest.param(toml(V1, 'bot_name = "Notetaker"'), "profile p: bot_name:", V1_PRESET, id="v1-bot_name"),
        pytest.param(
            toml(RECALL_BOT.replace('"recall-bot"', '"recall-bots"')),
            "profile p: adapter:",
            "recall-bots",
            id="bad-adapter",
        ),
        pytest.param(
            toml(RECALL_BOT.replace('adapter = "recall-bot"', "")), "profile p: adapter:", "", id="no-adapter"
        ),
        pytest.param(
            toml(RECALL_BOT.replace("[profiles.p]", "[profiles.none]")),
            "profile none:",
            "'none'",
            id="reserved-none",
        ),
        pytest.param(
            toml(RECALL_BOT, "[logging]", "level = 'debug'"), "logging:", "top-level", id="top-level-table"
        ),
        pytest.param(
            toml(RECALL_BOT.replace('api_key = "env:RECALL_KEY"', "")),
            "profile p: api_key:",
            "required",
            id="no-key",
        ),
        pytest.param(
            toml(V2, 'google_client_id = "env:GOOGLE_ID"'),
            "profile p: google_client_secret:",
            "together",
            id="oauth-pair",
        ),
    ],
)
def test_each_problem_is_one_line_naming_profile_and_key(
    catalogue: Catalogue, text: str, prefix: str, mentions: str
) -> None:
    [problem] = problems_of(text, catalogue)

    assert problem.startswith(prefix), problem
    assert mentions in problem
    assert "\n" not in problem


def test_every_problem_in_a_file_is_reported(catalogue: Catalogue) -> None:
    text = toml(
        RECALL_BOT.replace("env:RECALL_KEY", LITERAL_SECRET),
        'bot_name = ""',
        "colour = 'red'",
        CRONOFY.replace("[profiles.p]", "[profiles.c]"),
        'data_center = "xx"',
        "[profiles.none]",
        'adapter = "recall-bot"',
        "[extras]",
    )

    problems = problems_of(text, catalogue)

    assert sorted(subject(line) for line in problems) == [
        "extras",
        "profile c: data_center",
        "profile none",
        "profile p: api_key",
        "profile p: bot_name",
        "profile p: colour",
    ]


def test_key_problems_do_not_hide_the_other_problems_of_the_same_profile(catalogue: Catalogue) -> None:
    text = toml(RECALL_BOT, "colour = 'red'", 'region = "mars-1"', "rate_limits = { create_bots = 10 }")

    problems = problems_of(text, catalogue)

    assert [subject(line) for line in problems] == [
        "profile p: colour",
        "profile p: region",
        "profile p: rate_limits.create_bots",
    ]


def test_no_file_means_no_profiles(catalogue: Catalogue) -> None:
    config = load_config(None, catalogue, ENV)

    assert config.profiles == {}


@pytest.mark.parametrize(
    ("content", "mentions"),
    [(None, "configuration file not found"), ("[profiles.p\nadapter = 1", "not valid TOML")],
    ids=["missing-file", "invalid-toml"],
)
def test_an_unreadable_file_is_one_problem_naming_the_file(
    catalogue: Catalogue, tmp_path: Path, content: str | None, mentions: str
) -> None:
    path = tmp_path / "meetbridge.toml"
    if content is not None:
        path.write_text(content)

    with pytest.raises(ConfigError) as raised:
        load_config(path, catalogue, ENV)

    [problem] = raised.value.problems
    assert problem.startswith(str(path))
    assert mentions in problem


# --- the adapter catalogue ---------------------------------------------------------------------------


def test_the_shipped_catalogue_has_the_four_adapters(catalogue: Catalogue) -> None:
    assert sorted(catalogue.adapters) == ["cronofy", "recall-bot", "recall-calendar-v1", "recall-calendar-v2"]
    for name, spec in catalogue.adapters.items():
        assert spec.name == name
        assert spec.default_region in spec.regions


def broken_catalogue(tmp_path: Path, adapter: str, drop: str) -> Path:
    """A copy of the catalogue where ``adapter``'s file loses the line starting with ``drop``."""
    directory = tmp_path / "adapters"
    shutil.copytree(CATALOGUE_DIR, directory)
    path = directory / f"{adapter}.toml"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(line for line in lines if not line.startswith(drop)) + "\n")
    return directory


@pytest.mark.parametrize(
    ("adapter", "drop", "mentions"),
    [("recall-bot", "auth_scheme", "auth_scheme"), ("cronofy", "default_region", "default_region")],
)
def test_a_broken_catalogue_file_is_reported_by_name(
    tmp_path: Path, adapter: str, drop: str, mentions: str
) -> None:
    directory = broken_catalogue(tmp_path, adapter, drop)

    with pytest.raises(ConfigError) as raised:
        load_catalogue(directory)

    [problem] = raised.value.problems
    assert problem.startswith(f"adapter catalogue {adapter}.toml:")
    assert mentions in problem


def test_an_empty_catalogue_directory_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load_catalogue(tmp_path)

    assert raised.value.problems == [f"adapter catalogue {tmp_path}: no adapter files found"]


# --- `meetbridge check-config` -----------------------------------------------------------------------


def test_check_config_accepts_a_valid_file(tmp_path: Path) -> None:
    path = write(tmp_path, toml(RECALL_BOT, RECALL_BOT.replace("[profiles.p]", "[profiles.q]")))

    result = check_config("--config", str(path))

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("configuration ok")
    assert "p (recall-bot)" in result.stdout
    assert "q (recall-bot)" in result.stdout
    assert result.stderr == ""


def test_check_config_refuses_a_cronofy_profile_without_a_secret_key_to_seal_its_tokens(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, toml(RECALL_BOT, CRONOFY.replace("[profiles.p]", "[profiles.c]")))

    refused = check_config("--config", str(path), env={**ENV, "MEETBRIDGE_SECRET_KEY": ""})
    accepted = check_config("--config", str(path))

    assert refused.exit_code == 2
    assert refused.stderr.strip().splitlines() == [
        "profile c: cronofy links keep OAuth tokens encrypted with [server] secret_key; set it "
        '(secret_key = "env:...", or MEETBRIDGE_SECRET_KEY)'
    ]
    assert accepted.exit_code == 0, accepted.output


def test_check_config_prints_every_problem_on_its_own_line_and_exits_2(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        toml(
            RECALL_BOT.replace("env:RECALL_KEY", LITERAL_SECRET),
            'bot_name = ""',
            V1.replace("[profiles.p]", "[profiles.v1]"),
            "bot_config = { bot_name = 'x' }",
            "[profiles.none]",
            'adapter = "recall-bot"',
        ),
    )

    result = check_config("--config", str(path))

    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert [subject(line) for line in lines] == [
        "profile p: api_key",
        "profile p: bot_name",
        "profile v1: bot_config",
        "profile none",
    ]
    assert "configuration ok" not in result.output
    for secret in SECRETS:
        assert secret not in result.output


@pytest.mark.parametrize(
    ("content", "mentions"),
    [(None, "configuration file not found"), ("[profiles.p\n", "not valid TOML")],
    ids=["missing-file", "invalid-toml"],
)
def test_check_config_reports_an_unreadable_file(tmp_path: Path, content: str | None, mentions: str) -> None:
    path = tmp_path / "meetbridge.toml"
    if content is not None:
        path.write_text(content)

    result = check_config("--config", str(path))

    assert result.exit_code == 2, result.output
    [line] = result.stderr.splitlines()
    assert str(path) in line
    assert mentions in line


def test_check_config_reports_a_missing_environment_variable(tmp_path: Path) -> None:
    path = write(tmp_path, toml(RECALL_BOT))

    result = check_config("--config", str(path), env={k: v for k, v in ENV.items() if k != "RECALL_KEY"})

    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines() == ["profile p: api_key: environment variable RECALL_KEY is not set"]


def test_check_config_reports_a_broken_catalogue(tmp_path: Path) -> None:
    path = write(tmp_path, toml(RECALL_BOT))
    directory = broken_catalogue(tmp_path, "recall-calendar-v2", "auth_scheme")

    result = check_config("--config", str(path), env={**ENV, "MEETBRIDGE_CATALOGUE_DIR": str(directory)})

    assert result.exit_code == 2, result.output
    [line] = result.stderr.splitlines()
    assert line.startswith("adapter catalogue recall-calendar-v2.toml:")
    assert "auth_scheme" in line


def test_check_config_as_a_module(tmp_path: Path) -> None:
    """`python -m meetbridge check-config` is the same command."""
    path = write(tmp_path, toml(RECALL_BOT, "colour = 'red'"))
    src = Path(__file__).resolve().parents[2] / "src"
    env = {**os.environ, **ENV, "PYTHONPATH": str(src), "MEETBRIDGE_CATALOGUE_DIR": str(CATALOGUE_DIR)}

    done = subprocess.run(
        [sys.executable, "-m", "meetbridge", "check-config", "--config", str(path)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )

    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == ["profile p: colour: unknown key for adapter recall-bot"]


def test_the_audit_interval_defaults_to_hourly_takes_zero_and_refuses_a_bad_value(
    catalogue: Catalogue,
) -> None:
    assert parse("", catalogue).server.audit_interval_seconds == 3600
    assert parse("[server]\naudit_interval_seconds = 0\n", catalogue).server.audit_interval_seconds == 0
    assert parse("[server]\naudit_interval_seconds = 120\n", catalogue).server.audit_interval_seconds == 120
    for bad in ("-1", '"hourly"', "1.5", "999999999"):
        [problem] = problems_of(f"[server]\naudit_interval_seconds = {bad}\n", catalogue)
        assert problem.startswith("server: ")
        assert "audit_interval_seconds" in problem
