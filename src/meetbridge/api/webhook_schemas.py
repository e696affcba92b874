"""Request and response shapes of ``/v1/webhook_endpoints`` (outbound webhooks to the apps)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, UnsetType

MessageType = Literal[
    "bot.scheduled", "bot.updated", "bot.cancelled", "bot.failed", "bot.status", "bot.moved"
]
EndpointURL = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=2048,
        pattern=r"^https?://[^\x00-\x20\x7f]+$",  # no spaces or control characters
        description="https URL to a public address (http and private addresses with [webhooks] "
        "allow_private_urls)",
    ),
]
MessageTypes = Annotated[
    list[MessageType],
    msgspec.Meta(min_length=1, max_length=6, description="The message types to send; omitted: all"),
]
Description = Annotated[str, msgspec.Meta(max_length=1024, pattern=r"^[^\x00]*$")]


class WebhookEndpointCreate(msgspec.Struct, kw_only=True):
    url: EndpointURL
    event_types: MessageTypes | UnsetType | None = UNSET
    description: Description | UnsetType | None = UNSET


class WebhookEndpointUpdate(msgspec.Struct, kw_only=True):
    """Only the fields sent change; ``status: "enabled"`` re-enables a disabled endpoint."""

    url: EndpointURL | UnsetType = UNSET
    event_types: MessageTypes | UnsetType | None = UNSET
    description: Description | UnsetType | None = UNSET
    status: Literal["enabled", "disabled"] | UnsetType = UNSET


class WebhookEndpointRead(msgspec.Struct, kw_only=True):
    endpoint_id: str
    url: str
    event_types: list[str]
    description: str | None
    created: datetime
    status: Literal["enabled", "disabled"]


class WebhookEndpointWithSecret(WebhookEndpointRead, kw_only=True):
    """Only in the answers of create and rotate_secret: keep the secret, it is not shown again."""

    secret: str


class WebhookEndpointResponse(msgspec.Struct):
    endpoint: WebhookEndpointRead


class WebhookEndpointSecretResponse(msgspec.Struct):
    endpoint: WebhookEndpointWithSecret


class WebhookEndpointsResponse(msgspec.Struct):
    endpoints: list[WebhookEndpointRead]


class AttemptRead(msgspec.Struct, kw_only=True):
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int


class DeliveryRead(msgspec.Struct, kw_only=True):
    message_id: str
    type: str
    event_uid: str | None
    state: Literal["pending", "delivered", "failing", "failed"]
    created: datetime
    next_attempt: datetime | None
    attempts: list[AttemptRead]


class DeliveriesResponse(msgspec.Struct, kw_only=True):
    deliveries: list[DeliveryRead]
    next_cursor: int | None = msgspec.field(default=None)
