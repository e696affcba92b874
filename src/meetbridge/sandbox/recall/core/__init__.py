"""What the Recall stand-in's APIs share: `RecallSandbox` (bots, faults, calls, webhooks behind one
lock), the bot API's wire shapes, its validation and DRF-style errors, the List Bots query, meeting-link
parsing, and `serve_call`, through which every Recall route answers."""

from meetbridge.sandbox.recall.core.bots import TERMINAL_CODES, is_far
from meetbridge.sandbox.recall.core.meeting_url import parse_meeting_url
from meetbridge.sandbox.recall.core.models import (
    CONFIG_FIELDS,
    AdminBotOut,
    BotPage,
    ForceStatusIn,
    HeaderFamily,
    WebhookConfigIn,
)
from meetbridge.sandbox.recall.core.query import PAGE_SIZE, BotQuery
from meetbridge.sandbox.recall.core.serving import Action, Reply, admin_answer, serve_call
from meetbridge.sandbox.recall.core.state import RecallSandbox
from meetbridge.sandbox.recall.core.throttle import RateLimit, RateLimitError, RateLimitsIn, parse_rate_limit
from meetbridge.sandbox.recall.core.validation import (
    BOT_NAME_MAX,
    DEFAULT_BOT_NAME,
    BotChanges,
    SandboxError,
    decode_object,
    parse_bot_body,
    query_datetime,
)
from meetbridge.sandbox.recall.core.webhooks import Delivery, WebhookDispatcher

__all__ = [
    "BOT_NAME_MAX",
    "CONFIG_FIELDS",
    "DEFAULT_BOT_NAME",
    "PAGE_SIZE",
    "TERMINAL_CODES",
    "Action",
    "AdminBotOut",
    "BotChanges",
    "BotPage",
    "BotQuery",
    "Delivery",
    "ForceStatusIn",
    "HeaderFamily",
    "RateLimit",
    "RateLimitError",
    "RateLimitsIn",
    "RecallSandbox",
    "Reply",
    "SandboxError",
    "WebhookConfigIn",
    "WebhookDispatcher",
    "admin_answer",
    "decode_object",
    "is_far",
    "parse_bot_body",
    "parse_meeting_url",
    "parse_rate_limit",
    "query_datetime",
    "serve_call",
]
