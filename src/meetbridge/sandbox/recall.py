"""A stateful stand-in of Recall.ai's bot API, served over real HTTP for demos and end-to-end tests.

Bot API (reference §1, §2): `/api/v1/bot/` create/list, `/api/v1/bot/{id}/` retrieve/update/delete,
`/api/v1/bot/{id}/leave_call/`; `Authorization: Token <key>`; paths with or without the trailing slash.
Test API (no auth): `/_sandbox/faults`, `/_sandbox/calls`, `/_sandbox/bots`,
`/_sandbox/bots/{id}/status`, `/_sandbox/clock`, `/_sandbox/webhook`, `/_sandbox/webhook/deliveries`,
`/_sandbox/reset`.
"""

from __future__ import annotations

from litestar import Litestar, Router
from litestar.di import Provide

from meetbridge.sandbox.clock import SandboxClock
from meetbridge.sandbox.recall_admin import ADMIN_HANDLERS
from meetbridge.sandbox.recall_app import BOT_API_HANDLERS
from meetbridge.sandbox.recall_state import RecallSandbox

__all__ = ["RecallSandbox", "SandboxClock", "create_recall_sandbox_app", "recall_sandbox_router"]


def recall_sandbox_router(sandbox: RecallSandbox, *, path_prefix: str = "") -> Router:
    """The sandbox's routes, for mounting next to other stand-ins in one app."""
    return Router(
        path=path_prefix.rstrip("/") or "/",
        route_handlers=[*BOT_API_HANDLERS, *ADMIN_HANDLERS],
        dependencies={"recall_sandbox": Provide(lambda: sandbox, use_cache=True, sync_to_thread=False)},
    )


def create_recall_sandbox_app(sandbox: RecallSandbox, *, path_prefix: str = "") -> Litestar:
    return Litestar(
        route_handlers=[recall_sandbox_router(sandbox, path_prefix=path_prefix)],
        on_startup=[sandbox.ensure_background],
        on_shutdown=[sandbox.aclose],
        # A stand-in of someone else's API: its schema is Recall's, not ours to publish.
        openapi_config=None,
    )
