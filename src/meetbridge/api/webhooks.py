"""Inbound provider webhooks: verified before the body is read as data, then applied."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

from litestar import Controller, Request, post
from litestar.di import NamedDependency
from litestar.openapi import ResponseSpec
from litestar.params import FromPath

from meetbridge.api.schemas import ErrorBody, Health
from meetbridge.engine.forwarding.links import request_read_back
from meetbridge.engine.links import refresh_status, request_sync
from meetbridge.errors import InvalidRequest, NotAuthenticated, NotFound
from meetbridge.providers.cronofy.options import CronofyOptions
from meetbridge.providers.cronofy.push import (
    ChangePush,
    OtherPush,
    PushPayloadError,
    PushVerificationError,
    parse_cronofy_push,
    verify_cronofy_push,
)
from meetbridge.providers.recall.webhooks import (
    BotStatusEvent,
    CalendarSyncEvent,
    CalendarUpdateEvent,
    WebhookPayloadError,
    WebhookVerificationError,
    parse_recall_webhook,
    verify_recall_webhook,
)
from meetbridge.runtime.gateway import Gateway

_SEEN_SECONDS = 600.0
log = logging.getLogger("meetbridge.webhooks")


class SeenMessages:
    """Webhook ids handled recently: a redelivery of the same id changes nothing twice."""

    def __init__(self) -> None:
        self._seen: OrderedDict[str, float] = OrderedDict()

    def first_time(self, key: str) -> bool:
        now = time.monotonic()
        while self._seen and next(iter(self._seen.values())) < now - _SEEN_SECONDS:
            self._seen.popitem(last=False)
        if key in self._seen:
            return False
        self._seen[key] = now
        return True


def _instant(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidRequest.single(
            "data.last_updated_ts", "invalid", f"not an ISO-8601 time: {value!r}"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class WebhooksController(Controller):
    path = "/v1/webhooks"
    tags = ["webhooks"]

    @post(
        "/recall/{profile_id:str}",
        operation_id="recall_webhook",
        status_code=200,
        security=[],
        responses={
            401: ResponseSpec(data_container=ErrorBody, description="Signature missing, wrong or stale")
        },
        summary="Recall.ai webhook receiver (Svix / Standard Webhooks signatures)",
    )
    async def recall_webhook(
        self, request: Request[Any, Any, Any], profile_id: FromPath[str], gateway: NamedDependency[Gateway]
    ) -> Health:
        profile = gateway.config.profiles.get(profile_id)
        secret = getattr(profile.options, "webhook_secret", None) if profile else None
        if profile is None or secret is None:
            raise NotFound(f"profile {profile_id} does not receive Recall webhooks (no webhook_secret)")
        body = await request.body()
        try:
            verify_recall_webhook(secret.reveal(), request.headers, body)
        except WebhookVerificationError as exc:
            raise NotAuthenticated(f"webhook rejected: {exc}") from None
        message_id = request.headers.get("webhook-id") or request.headers.get("svix-id") or ""
        seen: SeenMessages = request.app.state.seen_webhooks
        if not seen.first_time(f"{profile_id}:{message_id}"):
            return Health(status="duplicate ignored")
        try:
            event = parse_recall_webhook(body)
        except WebhookPayloadError as exc:
            raise InvalidRequest.single("body", "invalid", str(exc)) from None
        if isinstance(event, BotStatusEvent):
            await gateway.events.record_bot_status(event.bot_id, event.code, event.sub_code)
        elif isinstance(event, CalendarSyncEvent):
            await request_sync(gateway, profile_id, event.calendar_id, _instant(event.last_updated_ts))
        elif isinstance(event, CalendarUpdateEvent):
            await refresh_status(gateway, profile_id, event.calendar_id)
        return Health(status="ok")

    @post(
        "/cronofy/{profile_id:str}",
        operation_id="cronofy_push_notification",
        status_code=200,
        security=[],
        responses={
            401: ResponseSpec(data_container=ErrorBody, description="Cronofy-HMAC-SHA256 missing or wrong")
        },
        summary="Cronofy push notification receiver (a change reads the forwarded events' bot ids back)",
    )
    async def cronofy_push(
        self, request: Request[Any, Any, Any], profile_id: FromPath[str], gateway: NamedDependency[Gateway]
    ) -> Health:
        profile = gateway.config.profiles.get(profile_id)
        if profile is None or not isinstance(profile.options, CronofyOptions):
            raise NotFound(f"profile {profile_id} does not receive Cronofy push notifications")
        body = await request.body()
        try:
            verify_cronofy_push(profile.options.client_secret.reveal(), request.headers, body)
        except PushVerificationError as exc:
            raise NotAuthenticated(f"push notification rejected: {exc}") from None
        try:
            push = parse_cronofy_push(body)
        except PushPayloadError as exc:
            raise InvalidRequest.single("body", "invalid", str(exc)) from None
        if isinstance(push, ChangePush):
            read = await request_read_back(gateway, profile, push.channel_id, push.changes_since)
            return Health(status="ok" if read else "no link on this channel")
        if isinstance(push, OtherPush):
            log.info(
                "cronofy push %r on channel %s for profile %s ignored", push.type, push.channel_id, profile_id
            )
        return Health(status="ok")
