"""A stateful stand-in of Recall.ai, served over real HTTP for demos and end-to-end tests: the bot API
(`bot/`), Calendar V1 (`calendar_v1/`) and V2 (`calendar_v2/`) over one shared state (`core/`), wired
into one router by `app`."""

from meetbridge.sandbox._shared import SandboxClock
from meetbridge.sandbox.recall.app import create_recall_sandbox_app, recall_sandbox_router
from meetbridge.sandbox.recall.calendar_v1 import CalendarV1Sandbox
from meetbridge.sandbox.recall.calendar_v2 import CalendarV2Sandbox
from meetbridge.sandbox.recall.core import (
    TERMINAL_CODES,
    AdminBotOut,
    BotQuery,
    RecallSandbox,
    parse_meeting_url,
)

__all__ = [
    "TERMINAL_CODES",
    "AdminBotOut",
    "BotQuery",
    "CalendarV1Sandbox",
    "CalendarV2Sandbox",
    "RecallSandbox",
    "SandboxClock",
    "create_recall_sandbox_app",
    "parse_meeting_url",
    "recall_sandbox_router",
]
