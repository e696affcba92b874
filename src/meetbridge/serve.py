"""``meetbridge serve``: validate, migrate, then serve HTTP with uvicorn."""

from __future__ import annotations

import asyncio
import secrets
import shlex
import signal
import sys
from datetime import UTC, date, datetime, timedelta
from typing import Any

import click
import msgspec
import uvicorn
from prometheus_client import start_http_server

from meetbridge.app import build_gateway, create_app
from meetbridge.config.catalogue import load_catalogue
from meetbridge.config.profiles import GatewayConfig, Profile, load_config, sealing_problems
from meetbridge.config.secrets import Secret
from meetbridge.db.migrate import upgrade
from meetbridge.errors import ConfigError, SchemaAhead
from meetbridge.observability import tracing
from meetbridge.providers.registry import availability_problems
from meetbridge.runtime.gateway import Gateway
from meetbridge.runtime.reload import Reloader, ReloadOnSignal
from meetbridge.runtime.sandbox_profiles import (
    CRONOFY_PATH,
    RECALL_PATH,
    SANDBOX_BOT_PROFILE,
    cronofy_sandbox,
    recall_sandbox,
    sandbox_profiles,
)
from meetbridge.sandbox import cronofy_sandbox_router, recall_sandbox_router
from meetbridge.settings import Settings

DEMO_APPLICATION = "demo"
DEMO_CALENDAR = "Demo calendar"


def load_checked_config(settings: Settings) -> GatewayConfig:
    """The profiles file, validated, with every profile's adapter available in this build."""
    catalogue = load_catalogue(settings.catalogue_dir)
    config = load_config(settings.config_path, catalogue)
    problems = availability_problems(config.profiles.values(), catalogue) + sealing_problems(config)
    if problems:
        raise ConfigError(problems)
    return config


def load_or_exit(settings: Settings) -> GatewayConfig:
    """The checked configuration, with tracing started when configured; exit 2 naming each problem."""
    try:
        tracing.start()
    except RuntimeError as exc:
        click.echo(f"meetbridge: {exc}", err=True)
        raise SystemExit(2) from None
    try:
        return load_checked_config(settings)
    except ConfigError as exc:
        for line in exc.problems:
            click.echo(line, err=True)
        click.echo("meetbridge: refusing to start until the configuration is fixed", err=True)
        raise SystemExit(2) from None


def upgrade_or_exit(database_url: str) -> None:
    """Apply pending migrations (replicas starting together take turns); refuse a newer schema."""
    try:
        upgrade(database_url)
    except SchemaAhead as exc:
        click.echo(f"meetbridge: refusing to start: {exc}", err=True)
        raise SystemExit(2) from None


async def _demo_credentials(gateway: Gateway) -> tuple[str, str]:
    """A fresh token for the demo application and its calendar (created once, reused after)."""
    application_id, token = await gateway.applications.create_token(DEMO_APPLICATION)
    existing = [c for c in await gateway.calendars.list(application_id) if c.name == DEMO_CALENDAR]
    calendar = existing[0] if existing else await gateway.calendars.create(application_id, DEMO_CALENDAR)
    return token, calendar.calendar_id


def demo_banner(
    base_url: str, token: str, calendar_id: str, profile_id: str | None, *, today: date | None = None
) -> str:
    # Tomorrow at 16:00 UTC: far enough ahead that Recall schedules the bot, whenever the demo runs.
    day = (today or datetime.now(UTC).date()) + timedelta(days=1)
    body = (
        '{"event_id": "demo-1", "summary": "Demo meeting", '
        f'"start": "{day}T16:00:00Z", "end": "{day}T17:00:00Z", '
        '"conferencing": {"profile_id": "explicit", "provider_description": "Zoom", '
        '"join_url": "https://zoom.us/j/1234567890"}'
        + (f', "extensions": [{{"provider": "recall", "profile_id": "{profile_id}"}}]' if profile_id else "")
        + "}"
    )
    auth = shlex.quote(f"Authorization: Bearer {token}")
    return "\n".join(
        [
            "",
            f"meetbridge is serving on {base_url}",
            f"  bearer token: {token}",
            f"  calendar:     {calendar_id}",
            "",
            "Try it:",
            f"  curl -sS -X POST {base_url}/v1/calendars/{calendar_id}/events -H {auth} \\",
            f"       -H 'Content-Type: application/json' -d {shlex.quote(body)}",
            f"  curl -sS {base_url}/v1/calendars/{calendar_id}/events/demo-1 -H {auth}",
            "",
            "Watch what happens to the bots (webhooks to your app) in another terminal",
            "(in a clone, after `. .venv/bin/activate`):",
            f"  meetbridge webhooks listen --gateway {base_url} --token {token}",
            "",
        ]
    )


class SandboxAdditions:
    """What ``--sandbox`` lays over the file's configuration: at start-up, and again on every reload."""

    def __init__(self, profiles: dict[str, Profile], *, public_url: str | None = None) -> None:
        self.profiles = profiles  # the file's profiles win over these
        # A demo on loopback is reached at its own address: the stand-ins' callbacks go there.
        self.public_url = public_url
        # The connect flow signs its state with it; a demo without one gets a key per process (the
        # same one after a reload, so that what it signed or sealed before still opens).
        self.secret_key = Secret(secrets.token_urlsafe(32), "generated")

    def apply(self, config: GatewayConfig) -> GatewayConfig:
        profiles = {**self.profiles, **config.profiles}
        server = config.server
        if server.secret_key is None:
            server = msgspec.structs.replace(server, secret_key=self.secret_key)
        if server.public_url is None and self.public_url is not None:
            server = msgspec.structs.replace(server, public_url=self.public_url)
        # A sandbox runs on one machine: its webhook endpoints (`meetbridge webhooks listen`) are local.
        webhooks = msgspec.structs.replace(config.webhooks, allow_private_urls=True)
        return msgspec.structs.replace(config, profiles=profiles, server=server, webhooks=webhooks)


# Hosts only this machine reaches: a sandbox there may be its own public URL (no one else's Host).
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def sandbox_public_url(host: str, port: int) -> str | None:
    """The public URL `serve --sandbox` assumes when none is configured: its own address, on loopback
    only. Anywhere else the callbacks it registers need a public_url the operator chose."""
    if host not in LOOPBACK:
        return None
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def run(settings: Settings, *, host: str, port: int, sandbox: bool) -> None:
    config = load_or_exit(settings)
    upgrade_or_exit(settings.database_url)
    # The gateway calls its own sandbox over loopback, whatever address it listens on.
    local_url = f"http://127.0.0.1:{port}"
    app_options: dict[str, Any] = {}
    additions: SandboxAdditions | None = None
    if sandbox:
        additions = SandboxAdditions(
            sandbox_profiles(local_url, load_catalogue(settings.catalogue_dir)),
            public_url=sandbox_public_url(host, port),
        )
        config = additions.apply(config)
        recall = recall_sandbox(local_url)
        cronofy = cronofy_sandbox(recall)  # its bots are made in the Recall stand-in above
        app_options = {
            "extra_routes": [
                recall_sandbox_router(recall, path_prefix=RECALL_PATH),
                cronofy_sandbox_router(cronofy, path_prefix=CRONOFY_PATH),
            ],
            "on_startup": [recall.ensure_background, cronofy.ensure_background],
            # The Cronofy stand-in first: it uses the Recall one until it stops.
            "on_shutdown": [cronofy.aclose, recall.aclose],
        }
    gateway = build_gateway(settings, config)

    def reload_config() -> GatewayConfig:
        # What start-up did: the same checks, then the same --sandbox additions.
        fresh = load_checked_config(settings)
        return fresh if additions is None else additions.apply(fresh)

    # SIGHUP (`meetbridge reload`) swaps the configuration in place; the hooks run in uvicorn's loop.
    reloads = ReloadOnSignal(Reloader(gateway, reload_config), settings.pid_file)
    app_options["on_startup"] = [*app_options.get("on_startup", ()), reloads.start]
    app_options["on_shutdown"] = [reloads.stop, *app_options.get("on_shutdown", ())]
    app = create_app(settings, gateway=gateway, **app_options)
    if sandbox:
        token, calendar_id = asyncio.run(_demo_credentials(gateway))
        click.echo(demo_banner(f"http://{host}:{port}", token, calendar_id, SANDBOX_BOT_PROFILE))
        sys.stdout.flush()
    try:
        # log_config=None: uvicorn's loggers propagate to the handler configure_logging put on the root,
        # so its lines take MEETBRIDGE_LOG_FORMAT too. The access log (one line a request, its
        # request_id) is on with JSON logs, which are for machines; a terminal keeps only errors.
        uvicorn.run(
            app,
            host=host,
            port=port,
            log_level=settings.log_level.lower(),
            log_config=None,
            access_log=settings.log_format == "json",
        )
    finally:
        reloads.remove_pid_file()  # the shut-down hook did, unless start-up failed half-way


def run_worker(settings: Settings, *, metrics: tuple[str, int] | None = None) -> None:
    """The worker alone, until SIGINT/SIGTERM; jobs from API processes are found by polling.
    ``metrics``: (host, port) to serve this process's counters on (it has no HTTP API to carry
    them); the database's gauges are any ``serve`` process's /metrics."""
    config = load_or_exit(settings)
    upgrade_or_exit(settings.database_url)
    gateway = build_gateway(settings, config)
    if metrics is not None:
        start_http_server(metrics[1], addr=metrics[0])

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        # A worker on its own takes SIGHUP too (kill -HUP), so both halves can switch together.
        reloader = Reloader(gateway, lambda: load_checked_config(settings))
        pending: set[asyncio.Task[bool]] = set()

        def on_sighup() -> None:
            task = loop.create_task(reloader.reload())
            pending.add(task)
            task.add_done_callback(pending.discard)

        loop.add_signal_handler(signal.SIGHUP, on_sighup)
        try:
            await gateway.begin()
            worker = gateway.worker()
            await asyncio.gather(
                worker.run(stop),
                gateway.webhook_sender().run(stop),
                gateway.audit_schedule(worker.wake).run(stop),
            )
        finally:
            await gateway.aclose()

    click.echo("meetbridge worker running; stop with Ctrl+C")
    asyncio.run(main())
