"""Inbound provider webhooks: one route for every adapter that receives them. The profile's adapter
verifies the delivery before anything of it is read and says what it asks for; the engine applies it."""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any

from litestar import Controller, Request, post
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import FromPath

from meetbridge.api.schemas import ErrorBody, Health, ValidationErrors
from meetbridge.engine.webhooks import apply_webhook
from meetbridge.errors import NotFound
from meetbridge.providers.base import webhook_receiver
from meetbridge.runtime.gateway import Gateway

_SEEN_SECONDS = 600.0


class SeenMessages:
    """Webhook ids handled recently: a redelivery of the same id changes nothing twice.

    An id counts as handled only once its effect is applied: a delivery answered with an error (a
    503 asks the provider to retry) is handled again when the provider retries it. While one is
    being handled, the same id arriving again is answered as a duplicate.
    """

    def __init__(self) -> None:
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._in_flight: set[str] = set()

    def start(self, key: str) -> bool:
        """True if ``key`` is neither handled nor being handled; it is then being handled."""
        now = time.monotonic()
        while self._seen and next(iter(self._seen.values())) < now - _SEEN_SECONDS:
            self._seen.popitem(last=False)
        if key in self._seen or key in self._in_flight:
            return False
        self._in_flight.add(key)
        return True

    def finish(self, key: str, *, handled: bool) -> None:
        self._in_flight.discard(key)
        if handled:
            self._seen[key] = time.monotonic()


class WebhooksController(Controller):
    path = "/v1/webhooks"
    tags = ["webhooks"]

    @post(
        "/{webhook_path:str}/{profile_id:str}",
        operation_id="provider_webhook",
        status_code=200,
        security=[],
        responses={
            401: ResponseSpec(data_container=ErrorBody, description="Signature missing, wrong or stale"),
            404: ResponseSpec(data_container=ErrorBody, description="The profile takes no such webhooks"),
            413: ResponseSpec(data_container=ErrorBody, description="The body is over the configured limit"),
            422: ResponseSpec(
                data_container=ValidationErrors, description="A verified delivery the provider did not shape"
            ),
            503: ResponseSpec(
                data_container=ErrorBody, description="The provider was unreachable while acting on it: retry"
            ),
        },
        summary="Provider webhooks: recall (Svix / Standard Webhooks signatures), cronofy (push "
        "notifications, Cronofy-HMAC-SHA256)",
    )
    async def provider_webhook(
        self,
        request: Request[Any, Any, Any],
        webhook_path: FromPath[str],
        profile_id: FromPath[str],
        gateway: NamedDependency[Gateway],
    ) -> Health:
        profile = gateway.config.profiles.get(profile_id)
        receiver = webhook_receiver(gateway.registry.adapter(profile)) if profile else None
        if profile is None or receiver is None or receiver.webhook_path != webhook_path:
            raise NotFound(f"profile {profile_id} does not receive {webhook_path} webhooks")
        received = receiver.receive_webhook(request.headers, await request.body())
        if received.message_id is None:
            return Health(status=await apply_webhook(gateway, profile, received.action))
        seen: SeenMessages = request.app.state.seen_webhooks
        key = f"{profile_id}:{received.message_id}"
        if not seen.start(key):
            return Health(status="duplicate ignored")
        handled = False
        try:
            status = await apply_webhook(gateway, profile, received.action)
            handled = True
        finally:
            seen.finish(key, handled=handled)
        return Health(status=status)
