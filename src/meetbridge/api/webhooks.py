"""Inbound provider webhooks: one route for every adapter that receives them. The profile's adapter
verifies the delivery before anything of it is read and says what it asks for; the engine applies it."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, post
from litestar.di import NamedDependency
from litestar.params import FromPath

from meetbridge.api.responses import answer
from meetbridge.api.schemas import ErrorBody, Health, ValidationErrors
from meetbridge.db.tables import utcnow
from meetbridge.engine.webhooks import apply_webhook
from meetbridge.errors import NotFound, WebhookRejected
from meetbridge.observability import logs, metrics
from meetbridge.providers.base import webhook_receiver
from meetbridge.runtime.gateway import Gateway


class WebhooksController(Controller):
    path = "/v1/webhooks"
    tags = ["webhooks"]

    @post(
        "/{webhook_path:str}/{profile_id:str}",
        operation_id="provider_webhook",
        status_code=200,
        security=[],
        responses={
            401: answer(ErrorBody, "Signature missing, wrong or stale"),
            404: answer(ErrorBody, "The profile takes no such webhooks"),
            413: answer(ErrorBody, "The body is over the configured limit"),
            422: answer(ValidationErrors, "A verified delivery the provider did not shape"),
            503: answer(ErrorBody, "The provider was unreachable while acting on it: retry"),
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
        metrics.webhook(webhook_path, "received")
        logs.bind(profile_id=profile_id, adapter=profile.adapter)  # unbound with the request's context
        try:
            received = receiver.receive_webhook(request.headers, await request.body())
        except WebhookRejected as exc:
            metrics.webhook(webhook_path, exc.reason)
            await gateway.webhook_receipts.record(profile_id, utcnow(), exc.reason)
            raise
        metrics.webhook(webhook_path, "verified")
        await gateway.webhook_receipts.record(profile_id, utcnow())
        if received.message_id is None:
            return Health(status=await apply_webhook(gateway, profile, received.action))
        # In the database: a retry that reaches another replica is still the same delivery.
        seen = gateway.inbound_webhook_ids
        key = f"{profile_id}:{received.message_id}"
        if not await seen.start(key):
            metrics.webhook(webhook_path, "duplicate")
            return Health(status="duplicate ignored")
        handled = False
        try:
            status = await apply_webhook(gateway, profile, received.action)
            handled = True
        finally:
            await seen.finish(key, handled=handled)
        return Health(status=status)
