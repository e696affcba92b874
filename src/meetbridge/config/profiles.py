"""The operator's file, ``meetbridge.toml``: ``[server]`` and ``[profiles.<profile_id>]``.

Every problem is collected and reported as one line naming the profile and the key, so an operator
fixes a file in one pass instead of one start-up per mistake.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import msgspec

from meetbridge.config.catalogue import AdapterSpec, Catalogue
from meetbridge.config.options import AdapterOptions
from meetbridge.config.secrets import Secret, resolve_secret
from meetbridge.config.webhooks import WebhooksConfig, parse_webhooks
from meetbridge.errors import ConfigError

PROFILE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
RESERVED_PROFILE_IDS = frozenset({"none"})
SECRET_KEY_ENV = "MEETBRIDGE_SECRET_KEY"  # noqa: S105 - the variable's name, not a secret


class Profile(msgspec.Struct, frozen=True):
    profile_id: str
    adapter: str
    base_url: str
    region: str | None
    options: AdapterOptions
    rate_limits: dict[str, int]
    # The profile's table as written (secrets as their env: references): kept so that a bot made
    # under this configuration can still be reached after the operator changed it (switching).
    source: dict[str, Any] = msgspec.field(default_factory=dict)


DEFAULT_MIGRATION_WINDOW = 900  # seconds before a meeting in which its bot is no longer moved
DEFAULT_AUDIT_INTERVAL = 3600  # seconds between drift audits of each profile (0: none scheduled)


class ServerConfig(msgspec.Struct, frozen=True):
    public_url: str | None = None
    secret_key: Secret | None = None
    migration_window_seconds: int = DEFAULT_MIGRATION_WINDOW
    metrics_token: Secret | None = None  # GET /metrics wants it as a bearer token; open without one
    audit_interval_seconds: int = DEFAULT_AUDIT_INTERVAL


class GatewayConfig(msgspec.Struct, frozen=True):
    server: ServerConfig
    profiles: dict[str, Profile]
    webhooks: WebhooksConfig = WebhooksConfig()


class _ServerFile(msgspec.Struct, forbid_unknown_fields=True):
    public_url: str | None = None
    secret_key: Secret | None = None
    # Switching a profile's mechanism: a meeting starting within this many seconds keeps its bot.
    migration_window_seconds: Annotated[int, msgspec.Meta(ge=0, le=86_400)] = DEFAULT_MIGRATION_WINDOW
    metrics_token: Secret | None = None
    # The drift audit (engine/audit.py) of every profile that supports it; 0 turns the schedule off.
    # Recall asks integrators not to poll its API: keep it rare (hourly by default).
    audit_interval_seconds: Annotated[int, msgspec.Meta(ge=0, le=604_800)] = DEFAULT_AUDIT_INTERVAL


# A bearer token anyone could guess in a day of tries is no protection.
MIN_METRICS_TOKEN = 16


def _converter(environ: Mapping[str, str]) -> Any:
    def dec_hook(type_: type, obj: object) -> object:
        if type_ is Secret:
            return resolve_secret(obj, environ)
        raise NotImplementedError

    return dec_hook


def _convert_error(exc: msgspec.ValidationError) -> str:
    # msgspec appends " - at `$...`"; the key is already named by the caller.
    return re.sub(r" - at `\$[^`]*`$", "", str(exc))


def _base_url(
    values: Mapping[str, Any], options_class: type[AdapterOptions], spec: AdapterSpec
) -> tuple[str | None, str, list[str]]:
    """(region, base URL, problems): ``base_url`` wins over the region's URL from the catalogue."""
    has_data_center = any(f.name == "data_center" for f in msgspec.structs.fields(options_class))
    region_key = "data_center" if has_data_center else "region"
    region: str | None = values.get(region_key)
    base_url: str | None = values.get("base_url")
    if base_url is not None:
        if not re.match(r"^https?://[^\s/]+", base_url):
            return region, "", ["base_url: must be an http(s) URL"]
        return region, base_url.rstrip("/"), []
    region = region or spec.default_region
    if region not in spec.regions:
        known = ", ".join(sorted(spec.regions))
        return region, "", [f"{region_key}: unknown {region_key} {region!r} (one of {known})"]
    return region, spec.regions[region], []


def _convert_keys(
    table: Mapping[str, Any], options_class: type[AdapterOptions], adapter: str, environ: Mapping[str, str]
) -> tuple[dict[str, Any], list[str]]:
    """Convert key by key so that every bad key is reported, not only the first."""
    fields = {f.name: f for f in msgspec.structs.fields(options_class)}
    dec_hook = _converter(environ)
    clean: dict[str, Any] = {}
    problems: list[str] = []
    for key, value in table.items():
        if key in options_class.refused_keys:
            problems.append(f"{key}: {options_class.refused_keys[key]}")
        elif key not in fields:
            problems.append(f"{key}: unknown key for adapter {adapter}")
        else:
            try:
                clean[key] = msgspec.convert(value, fields[key].type, dec_hook=dec_hook)
            except msgspec.ValidationError as exc:
                problems.append(f"{key}: {_convert_error(exc)}")
    problems += [
        f"{n}: required for adapter {adapter}" for n, f in fields.items() if f.required and n not in table
    ]
    return clean, problems


def _load_profile(
    profile_id: str, table: Mapping[str, Any], spec: AdapterSpec, environ: Mapping[str, str]
) -> tuple[Profile | None, list[str]]:
    options_class = spec.options_class()
    clean, problems = _convert_keys(table, options_class, spec.name, environ)
    # The checks across keys run on whatever converted, so one bad key does not hide the others.
    problems += [f"{key}: {what}" for key, what in options_class.problems(clean)]
    region, base_url, found = _base_url(clean, options_class, spec)
    problems += found
    known = ", ".join(sorted(spec.rate_limits))
    problems += [
        f"rate_limits.{endpoint}: unknown endpoint (one of {known})"
        for endpoint in sorted(clean.get("rate_limits") or {})
        if endpoint not in spec.rate_limits
    ]
    if problems:
        return None, [f"profile {profile_id}: {problem}" for problem in problems]
    options = options_class(**clean)
    limits = {**spec.rate_limits, **options.rate_limits}
    source = {"adapter": spec.name, **table}
    return Profile(profile_id, spec.name, base_url, region, options, limits, source), []


def parse_config(
    document: Mapping[str, Any], catalogue: Catalogue, environ: Mapping[str, str] | None = None
) -> GatewayConfig:
    env = os.environ if environ is None else environ
    problems: list[str] = []
    for key in sorted(set(document) - {"server", "profiles", "webhooks"}):
        problems.append(
            f"{key}: unknown top-level table (expected [server], [webhooks] and [profiles.<profile_id>])"
        )
    webhooks, found_problems = parse_webhooks(document.get("webhooks", {}))
    problems += found_problems
    server = ServerConfig()
    try:
        server_file = msgspec.convert(document.get("server", {}), _ServerFile, dec_hook=_converter(env))
        secret_key = server_file.secret_key
        if secret_key is None and env.get(SECRET_KEY_ENV):
            secret_key = Secret(env[SECRET_KEY_ENV], f"env:{SECRET_KEY_ENV}")
        server = ServerConfig(
            public_url=server_file.public_url,
            secret_key=secret_key,
            migration_window_seconds=server_file.migration_window_seconds,
            metrics_token=server_file.metrics_token,
            audit_interval_seconds=server_file.audit_interval_seconds,
        )
        token = server_file.metrics_token
        if token is not None and len(token.reveal()) < MIN_METRICS_TOKEN:
            problems.append(f"server: metrics_token: must be at least {MIN_METRICS_TOKEN} characters")
    except msgspec.ValidationError as exc:
        problems.append(f"server: {exc}")
    profiles: dict[str, Profile] = {}
    raw_profiles = document.get("profiles", {})
    if not isinstance(raw_profiles, dict):
        raw_profiles = {}
        problems.append("profiles: must be tables, [profiles.<profile_id>]")
    for profile_id, table in raw_profiles.items():
        if not isinstance(table, dict):
            problems.append(f"profile {profile_id}: must be a table [profiles.{profile_id}]")
            continue
        if profile_id.lower() in RESERVED_PROFILE_IDS or not PROFILE_ID.match(profile_id):
            problems.append(
                f"profile {profile_id}: profile_id must be 1-100 letters, digits, '_', '-' or '.', "
                "and not 'none'"
            )
            continue
        body = dict(table)
        adapter = body.pop("adapter", None)
        spec = catalogue.get(adapter) if isinstance(adapter, str) else None
        if spec is None:
            known = ", ".join(sorted(catalogue.adapters))
            problems.append(f"profile {profile_id}: adapter: {adapter!r} is not an adapter (one of {known})")
            continue
        profile, found = _load_profile(profile_id, body, spec, env)
        problems += found
        if profile is not None:
            profiles[profile_id] = profile
    if problems:
        raise ConfigError(problems)
    return GatewayConfig(server=server, profiles=profiles, webhooks=webhooks)


def sealing_problems(config: GatewayConfig) -> list[str]:
    """Profiles that cannot store their links' tokens: checked before serving (a test may build
    a gateway without a key; the links then say what is missing)."""
    server, profiles = config.server, config.profiles
    if server.secret_key is not None:
        return []
    return [
        f"profile {profile_id}: {profile.adapter} links keep OAuth tokens encrypted with [server] "
        f'secret_key; set it (secret_key = "env:...", or {SECRET_KEY_ENV})'
        for profile_id, profile in profiles.items()
        if type(profile.options).holds_tokens
    ]


def load_config(
    path: Path | None, catalogue: Catalogue, environ: Mapping[str, str] | None = None
) -> GatewayConfig:
    """Load ``path``; no path means no profiles (the gateway still serves calendars and events)."""
    if path is None:
        return parse_config({}, catalogue, environ)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError([f"{path}: configuration file not found"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: not valid TOML: {exc}"]) from None
    return parse_config(document, catalogue, environ)
