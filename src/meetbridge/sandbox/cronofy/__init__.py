"""A stateful stand-in of Cronofy's account API and its Recall.ai integration, served over real HTTP
for the `cronofy` adapter, demos and end-to-end tests (the routes are listed in `app`)."""

from meetbridge.sandbox._shared import SandboxClock
from meetbridge.sandbox.cronofy.app import create_cronofy_sandbox_app, cronofy_sandbox_router
from meetbridge.sandbox.cronofy.events import generated_join_url
from meetbridge.sandbox.cronofy.models import ChannelFilters, ChannelOut, Notification, NotificationBody
from meetbridge.sandbox.cronofy.push import SIGNATURE_HEADER, PushDispatcher, sign_push
from meetbridge.sandbox.cronofy.state import DEFAULT_RECALL_PROFILE, CronofySandbox

__all__ = [
    "DEFAULT_RECALL_PROFILE",
    "SIGNATURE_HEADER",
    "ChannelFilters",
    "ChannelOut",
    "CronofySandbox",
    "Notification",
    "NotificationBody",
    "PushDispatcher",
    "SandboxClock",
    "create_cronofy_sandbox_app",
    "cronofy_sandbox_router",
    "generated_join_url",
    "sign_push",
]
