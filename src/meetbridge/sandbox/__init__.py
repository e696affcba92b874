"""Stateful stand-ins of the providers the gateway talks to, served as Litestar apps: Recall.ai
(`recall/`: bot API, Calendar V1, Calendar V2, Google/Microsoft OAuth) and Cronofy (`cronofy/`).

They are an independent check of the gateway, so they import nothing of it: what they share lives in
`_shared/` (clock, faults and call log, deliveries, admin routes, OAuth stand-ins). `meetbridge sandbox`,
`meetbridge serve --sandbox` (see `runtime/sandbox_profiles`) and the tests use them through this face.
"""

from meetbridge.sandbox._shared import DEFAULT_EMAIL, OAUTH_HANDLERS, FaultIn, OAuthStandIn, SandboxClock
from meetbridge.sandbox.cronofy import (
    DEFAULT_RECALL_PROFILE,
    CronofySandbox,
    create_cronofy_sandbox_app,
    cronofy_sandbox_router,
)
from meetbridge.sandbox.recall import (
    BotQuery,
    CalendarV1Sandbox,
    CalendarV2Sandbox,
    RecallSandbox,
    create_recall_sandbox_app,
    recall_sandbox_router,
)

__all__ = [
    "DEFAULT_EMAIL",
    "DEFAULT_RECALL_PROFILE",
    "OAUTH_HANDLERS",
    "BotQuery",
    "CalendarV1Sandbox",
    "CalendarV2Sandbox",
    "CronofySandbox",
    "FaultIn",
    "OAuthStandIn",
    "RecallSandbox",
    "SandboxClock",
    "create_cronofy_sandbox_app",
    "create_recall_sandbox_app",
    "cronofy_sandbox_router",
    "recall_sandbox_router",
]
