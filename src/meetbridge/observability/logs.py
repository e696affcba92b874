"""Structured logs through the standard logging machinery: a context (request, job, event, profile)
carried in a contextvar, and one Formatter for each of the two formats.

The standard library rather than structlog: every logger already in the process — meetbridge's,
uvicorn's, httpx's, SQLAlchemy's — goes through ``logging``, so one root handler and one Formatter put
all of them in the same format with nothing to bridge; the context needs only a contextvar and a
filter. ``json``: one object per line (time, level, logger, message, and the context fields).
``text``: the same line for a person, the context appended as ``key=value``.

Secrets never reach a line on purpose; as a net, the values of the configured secrets (API keys,
webhook secrets, [server] keys) are replaced by ``[redacted]`` in every line either formatter writes.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import msgspec

from meetbridge.config.profiles import GatewayConfig
from meetbridge.config.secrets import Secret

FORMATS = ("text", "json")
# What a line may carry besides its message, in this order: the context, then what a call site gave
# as ``extra`` (provider calls, the access log).
CONTEXT_FIELDS = ("request_id", "job_id", "event_uid", "profile_id", "adapter")
EXTRA_FIELDS = ("provider", "endpoint", "method", "provider_status", "status", "path")

_context: contextvars.ContextVar[Mapping[str, str] | None] = contextvars.ContextVar(
    "meetbridge_log_context", default=None
)
_REDACTED = "[redacted]"
# Secrets shorter than this are not searched for: replacing every "abc" would garble lines and hide
# nothing (configured secrets are far longer).
_MIN_SECRET = 8


def bind(**fields: str | None) -> contextvars.Token[Mapping[str, str] | None]:
    """Add fields to the current context: for the rest of this task (each job and each request runs
    in a task of its own), or until ``unbind`` with the returned token."""
    merged = {**(_context.get() or {}), **{k: v for k, v in fields.items() if v is not None}}
    return _context.set(merged)


def unbind(token: contextvars.Token[Mapping[str, str] | None]) -> None:
    _context.reset(token)


def current() -> Mapping[str, str]:
    return _context.get() or {}


class _Redactor:
    def __init__(self) -> None:
        self.values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def add(self, values: Iterable[str]) -> None:
        fresh = {v for v in values if len(v) >= _MIN_SECRET} - self.values
        if fresh:
            self.values |= fresh
            # Longest first, so a secret containing another is replaced whole.
            ordered = sorted(self.values, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(v) for v in ordered))

    def __call__(self, line: str) -> str:
        return line if self._pattern is None else self._pattern.sub(_REDACTED, line)


redact = _Redactor()


def secrets_of(config: GatewayConfig) -> list[str]:
    """Every secret value the configuration holds (its [server] keys, each profile's options)."""
    holders: list[Any] = [config.server, *(profile.options for profile in config.profiles.values())]
    found = []
    for holder in holders:
        for field in msgspec.structs.fields(holder):
            value = getattr(holder, field.name)
            if isinstance(value, Secret):
                found.append(value.reveal())
    return found


def hide_secrets_of(config: GatewayConfig) -> None:
    redact.add(secrets_of(config))


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    found: dict[str, Any] = dict(getattr(record, "context", None) or {})
    for name in EXTRA_FIELDS:
        value = getattr(record, name, None)
        if value is not None:
            found[name] = value
    return found


class ContextFilter(logging.Filter):
    """Stamps each record with the context of the task that logged it (before any thread hop)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "context"):
            record.context = dict(_context.get() or {})
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return redact(json.dumps(line, default=str, ensure_ascii=False))


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = _fields(record)
        if fields:
            head, _, tail = line.partition("\n")  # a traceback stays below the line it belongs to
            suffix = " ".join(f"{k}={v}" for k, v in fields.items())
            line = f"{head} [{suffix}]" + (f"\n{tail}" if tail else "")
        return redact(line)


class _AccessLogPaths(logging.Filter):
    """uvicorn's access log without query strings (an OAuth callback's ``code`` travels in one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5:
            client, method, path, version, status = args
            path = str(path).split("?", 1)[0]
            record.args = (client, method, path, version, status)
            record.method, record.path, record.status = method, path, status
        return True


_HANDLER_NAME = "meetbridge"


def configure_logging(level: str, log_format: str) -> None:
    """One handler on the root logger, in ``log_format``; uvicorn's loggers propagate to it. Calling
    it again replaces the handler (tests, reloads)."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(ContextFilter())
    root.addHandler(handler)
    root.setLevel(level)
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, _AccessLogPaths) for f in access.filters):
        access.addFilter(_AccessLogPaths())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    # httpx logs every request's full URL at INFO; provider calls are logged by meetbridge instead.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLevelName(level)))
