"""``/v1/webhook_endpoints``: where an application wants its bots' news sent (outbound webhooks).

Thin: the URL check is the engine's SSRF guard, storage and tenancy are the repository's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from litestar import Controller, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from msgspec import UNSET

from meetbridge.api.events import INVALID, NOT_FOUND, VALIDATION
from meetbridge.api.responses import answer
from meetbridge.api.webhook_schemas import (
    AttemptRead,
    DeliveriesResponse,
    DeliveryRead,
    WebhookEndpointCreate,
    WebhookEndpointRead,
    WebhookEndpointResponse,
    WebhookEndpointSecretResponse,
    WebhookEndpointsResponse,
    WebhookEndpointUpdate,
    WebhookEndpointWithSecret,
)
from meetbridge.db.webhook_endpoints import Delivery, Endpoint
from meetbridge.domain.webhook_messages import MESSAGE_TYPES
from meetbridge.engine.webhooks_out.guard import registration_problem
from meetbridge.errors import InvalidRequest
from meetbridge.runtime.gateway import Gateway

_CREATED = {201: answer(WebhookEndpointSecretResponse, "Created; the secret is shown once")}


def _read(endpoint: Endpoint) -> WebhookEndpointRead:
    return WebhookEndpointRead(
        endpoint_id=endpoint.endpoint_id,
        url=endpoint.url,
        event_types=endpoint.event_types or list(MESSAGE_TYPES),
        description=endpoint.description,
        created=endpoint.created,
        status=endpoint.status,  # type: ignore[arg-type]  # the repository stores only these two
    )


def _with_secret(endpoint: Endpoint) -> WebhookEndpointSecretResponse:
    read = _read(endpoint)
    fields = {name: getattr(read, name) for name in read.__struct_fields__}
    return WebhookEndpointSecretResponse(
        endpoint=WebhookEndpointWithSecret(**fields, secret=endpoint.secret or "")
    )


def _delivery(found: Delivery) -> DeliveryRead:
    return DeliveryRead(
        message_id=found.message_id,
        type=found.type,
        event_uid=found.event_uid,
        state=found.state,  # type: ignore[arg-type]  # the outbox stores only the four states
        created=found.created,
        next_attempt=found.next_attempt,
        attempts=[
            AttemptRead(at=a.at, status_code=a.status_code, error=a.error, duration_ms=a.duration_ms)
            for a in found.attempts
        ],
    )


async def _checked_url(gateway: Gateway, url: str) -> str:
    problem = await registration_problem(url, allow_private=gateway.config.webhooks.allow_private_urls)
    if problem:
        raise InvalidRequest.single("url", "invalid", f"url {problem}")
    return url


def _secret_key(gateway: Gateway) -> str | None:
    key = gateway.config.server.secret_key
    return key.reveal() if key else None


def _types(value: Sequence[str] | None) -> list[str] | None:
    return sorted(set(value), key=MESSAGE_TYPES.index) if value else None


class WebhookEndpointsController(Controller):
    path = "/v1/webhook_endpoints"
    tags = ["webhook endpoints"]

    @post(
        operation_id="create_webhook_endpoint",
        responses={**VALIDATION, **_CREATED},
        summary="Register an endpoint",
    )
    async def create_endpoint(
        self,
        data: JSONBody[WebhookEndpointCreate],
        application_id: NamedDependency[str],
        gateway: NamedDependency[Gateway],
    ) -> WebhookEndpointSecretResponse:
        created = await gateway.webhook_endpoints.create(
            application_id,
            url=await _checked_url(gateway, data.url),
            event_types=_types(data.event_types or None),
            description=data.description or None,
            secret_key=_secret_key(gateway),
        )
        return _with_secret(created)

    @get(operation_id="list_webhook_endpoints", summary="This application's endpoints (never their secrets)")
    async def list_endpoints(
        self, application_id: NamedDependency[str], gateway: NamedDependency[Gateway]
    ) -> WebhookEndpointsResponse:
        return WebhookEndpointsResponse(
            endpoints=[_read(e) for e in await gateway.webhook_endpoints.all(application_id)]
        )

    @get(
        "/{endpoint_id:str}", operation_id="get_webhook_endpoint", responses=NOT_FOUND, summary="One endpoint"
    )
    async def get_endpoint(
        self,
        endpoint_id: FromPath[str],
        application_id: NamedDependency[str],
        gateway: NamedDependency[Gateway],
    ) -> WebhookEndpointResponse:
        return WebhookEndpointResponse(
            endpoint=_read(await gateway.webhook_endpoints.get(application_id, endpoint_id))
        )

    @patch(
        "/{endpoint_id:str}",
        operation_id="update_webhook_endpoint",
        responses=INVALID,
        summary="Change an endpoint's url, types or description, or enable it again",
    )
    async def update_endpoint(
        self,
        endpoint_id: FromPath[str],
        data: JSONBody[WebhookEndpointUpdate],
        application_id: NamedDependency[str],
        gateway: NamedDependency[Gateway],
    ) -> WebhookEndpointResponse:
        await gateway.webhook_endpoints.get(application_id, endpoint_id)  # 404 before judging the body
        changes: dict[str, Any] = {}
        if data.url is not UNSET:
            changes["url"] = await _checked_url(gateway, data.url)
        if data.event_types is not UNSET:
            changes["event_types"] = _types(data.event_types)
        if data.description is not UNSET:
            changes["description"] = data.description or None
        if data.status is not UNSET:
            changes["status"] = data.status
        updated = await gateway.webhook_endpoints.update(application_id, endpoint_id, changes)
        return WebhookEndpointResponse(endpoint=_read(updated))

    @delete(
        "/{endpoint_id:str}", operation_id="delete_webhook_endpoint", responses=NOT_FOUND, summary="Delete"
    )
    async def delete_endpoint(
        self,
        endpoint_id: FromPath[str],
        application_id: NamedDependency[str],
        gateway: NamedDependency[Gateway],
    ) -> None:
        await gateway.webhook_endpoints.delete(application_id, endpoint_id)

    @post(
        "/{endpoint_id:str}/rotate_secret",
        operation_id="rotate_webhook_endpoint_secret",
        status_code=200,
        responses=NOT_FOUND,
        summary="A new secret; the old one also signs for 24 hours",
    )
    async def rotate_secret(
        self,
        endpoint_id: FromPath[str],
        application_id: NamedDependency[str],
        gateway: NamedDependency[Gateway],
    ) -> WebhookEndpointSecretResponse:
        rotated = await gateway.webhook_endpoints.rotate_secret(
            application_id, endpoint_id, secret_key=_secret_key(gateway)
        )
        return _with_secret(rotated)

    @get(
        "/{endpoint_id:str}/deliveries",
        operation_id="list_webhook_deliveries",
        responses=INVALID,
        summary="Recent messages to the endpoint, newest first, with their attempts",
    )
    async def deliveries(
        self,
        endpoint_id: FromPath[str],
        application_id: NamedDependency[str],
        gateway: NamedDependency[Gateway],
        limit: Annotated[int, QueryParameter(ge=1, le=100, required=False)] = 20,
        cursor: Annotated[int | None, QueryParameter(ge=1, le=2**63 - 1, required=False)] = None,
    ) -> DeliveriesResponse:
        found, next_cursor = await gateway.webhook_endpoints.deliveries(
            application_id, endpoint_id, before=cursor, limit=limit
        )
        return DeliveriesResponse(deliveries=[_delivery(d) for d in found], next_cursor=next_cursor)

    @post(
        "/{endpoint_id:str}/deliveries/{message_id:str}/retry",
        operation_id="retry_webhook_delivery",
        status_code=202,
        responses=NOT_FOUND,
        summary="Send one message again now",
    )
    async def retry(
        self,
        endpoint_id: FromPath[str],
        message_id: FromPath[str],
        application_id: NamedDependency[str],
        gateway: NamedDependency[Gateway],
    ) -> None:
        await gateway.webhook_endpoints.retry(application_id, endpoint_id, message_id)
