"""Reload: a running ``meetbridge serve`` re-reads its configuration on SIGHUP (``meetbridge reload``).

The file is validated exactly as at start-up. A configuration with problems is refused, one problem
per log line, and the previous one keeps running. A valid one is swapped in place with
``Gateway.apply_config``: no restart, so requests in flight finish undisturbed. The server writes its
pid to a pid file once it handles SIGHUP, so that ``meetbridge reload`` (or ``kill -HUP``) knows
whom to signal; a clean exit removes the file.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Callable, Iterable
from pathlib import Path

from meetbridge.config.profiles import GatewayConfig
from meetbridge.errors import ConfigError, MeetbridgeError
from meetbridge.runtime.gateway import Gateway

log = logging.getLogger("meetbridge.reload")

RELOADED = "configuration reloaded"
NOT_RELOADED = "configuration NOT reloaded; still running the previous one"


class ServerNotRunning(MeetbridgeError):
    """``meetbridge reload`` found no server to signal (no pid file, or a stale one)."""


def _ids(profile_ids: Iterable[str]) -> str:
    return " ".join(sorted(profile_ids)) or "none"


def describe_change(old: GatewayConfig, new: GatewayConfig) -> str:
    """The one log line of a successful reload: what it added, removed and changed."""
    count = len(new.profiles)
    head = f"{RELOADED}: {count} profile{'' if count == 1 else 's'}"
    if new == old:
        return f"{head} (no changes)"
    kept = old.profiles.keys() & new.profiles.keys()
    line = (
        f"{head} (added: {_ids(new.profiles.keys() - old.profiles.keys())}, "
        f"removed: {_ids(old.profiles.keys() - new.profiles.keys())}, "
        f"changed: {_ids(p for p in kept if old.profiles[p] != new.profiles[p])})"
    )
    if new.server != old.server:
        line += "; [server] changed"
    return line


class Reloader:
    """Loads the configuration again and hands it to the gateway; one reload at a time.

    ``load`` is what start-up did to get its configuration (validation, and the ``--sandbox``
    additions): it returns a checked configuration or raises ConfigError.
    """

    def __init__(self, gateway: Gateway, load: Callable[[], GatewayConfig]) -> None:
        self._gateway = gateway
        self._load = load
        self._lock = asyncio.Lock()

    async def reload(self) -> bool:
        """True when the gateway now runs the file's configuration (also when it already did)."""
        async with self._lock:
            try:
                # Off the event loop: reading and checking the file must not stall requests.
                config = await asyncio.to_thread(self._load)
            except ConfigError as exc:
                return _refused(exc.problems)
            except Exception:
                log.exception("reading the configuration failed")
                return _refused([])
            current = self._gateway.config
            if config != current:
                try:
                    await self._gateway.apply_config(config)
                except Exception:
                    log.exception("applying the new configuration failed")
                    return _refused([])
            log.info("%s", describe_change(current, config))
            return True


def _refused(problems: Iterable[str]) -> bool:
    for line in problems:
        log.error("%s", line)
    log.error(NOT_RELOADED)
    return False


# --- the pid file -------------------------------------------------------------------------------


def write_pid_file(path: Path, pid: int) -> None:
    """Atomically: a reader sees no file or the whole pid, never an empty one."""
    temporary = path.with_name(f".{path.name}.{pid}.tmp")
    temporary.write_text(f"{pid}\n", encoding="ascii")
    os.replace(temporary, path)


def remove_pid_file(path: Path, pid: int) -> None:
    """Remove the file if it still names ``pid`` (another server may have taken it over since)."""
    with contextlib.suppress(OSError, ValueError):
        if int(path.read_text(encoding="ascii").strip()) == pid:
            path.unlink()


def _looks_like_meetbridge(pid: int) -> bool:
    """False only when the process is known to be something else (a pid reused after a crash);
    where /proc cannot tell, assume it is ours. One of its arguments must be the program itself
    (``…/bin/meetbridge serve``, ``python -m meetbridge serve``): "meetbridge" inside a path is not
    enough, since any program run from a checkout named meetbridge has that."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True
    return any(Path(os.fsdecode(arg)).name == "meetbridge" for arg in command.split(b"\0"))


def signal_server(pid_file: Path) -> int:
    """Send SIGHUP to the server named in ``pid_file``; returns its pid."""
    try:
        text = pid_file.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise ServerNotRunning(
            f"no pid file at {pid_file}: is `meetbridge serve` running from this directory? "
            "(else pass --pid-file or set MEETBRIDGE_PID_FILE as the server has it)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ServerNotRunning(f"cannot read the pid file {pid_file}: {exc}") from None
    if not text.isdigit() or int(text) <= 0:
        raise ServerNotRunning(f"{pid_file} holds no pid ({text[:40]!r})")
    pid = int(text)
    stale = f"no meetbridge server with pid {pid} is running (stale pid file {pid_file}?)"
    if not _looks_like_meetbridge(pid):
        raise ServerNotRunning(stale)
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        raise ServerNotRunning(stale) from None
    except PermissionError:
        raise ServerNotRunning(
            f"not allowed to signal pid {pid} (from {pid_file}): run as its user"
        ) from None
    return pid


# --- in the server ------------------------------------------------------------------------------


class ReloadOnSignal:
    """The server's side: ``start`` and ``stop`` are app start-up and shut-down hooks, so SIGHUP is
    handled in uvicorn's running loop (uvicorn itself handles only SIGINT and SIGTERM)."""

    def __init__(self, reloader: Reloader, pid_file: Path) -> None:
        self.reloader = reloader
        self.pid_file = pid_file
        self.pid = os.getpid()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._tasks: set[asyncio.Task[bool]] = set()

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._loop.add_signal_handler(signal.SIGHUP, self._on_sighup)
        # Only now: before this, SIGHUP would still end the process.
        try:
            write_pid_file(self.pid_file, self.pid)
        except OSError as exc:
            log.warning(
                "cannot write the pid file %s (%s); reload with kill -HUP %d", self.pid_file, exc, self.pid
            )

    def _on_sighup(self) -> None:
        task = asyncio.create_task(self.reloader.reload(), name="meetbridge-reload")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        if self._loop is not None:
            self._loop.remove_signal_handler(signal.SIGHUP)
            self._loop = None
        # A reload under way finishes (it is short): cancelled midway, it could leave half a swap.
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.remove_pid_file()

    def remove_pid_file(self) -> None:
        remove_pid_file(self.pid_file, self.pid)
