"""Calendar links: link a meetbridge calendar to a Recall calendar, read, unlink, or connect by OAuth."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from litestar import Controller, Request, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.response import Response

from meetbridge.api.events import INVALID, NOT_FOUND
from meetbridge.api.link_bodies import read_link_request
from meetbridge.api.link_schemas import (
    ConnectResponse,
    DisconnectRequest,
    LinkDeleted,
    LinkRead,
    LinkResponse,
)
from meetbridge.api.presenters import wire_time
from meetbridge.api.preset_links import preset_connect, preset_disconnect, preset_read
from meetbridge.api.responses import answer
from meetbridge.api.schemas import ErrorBody
from meetbridge.db.links import Link, LinkRules
from meetbridge.engine.link_errors import link_errors
from meetbridge.engine.links import (
    calendar_for_credentials,
    calendar_profile,
    link_calendar,
    unlink_calendar,
)
from meetbridge.errors import InvalidRequest, NotFound
from meetbridge.providers.base import event_forwarder, preset_linker
from meetbridge.providers.link_requests import CalendarAsk
from meetbridge.providers.oauth_connect import (
    InvalidConnectState,
    authorization_url,
    complete_connect,
    open_state,
)
from meetbridge.providers.recall.calendar_v2 import PLATFORM_CLIENTS
from meetbridge.providers.recall.options import RecallCalendarV2Options
from meetbridge.runtime.gateway import Gateway

CALLBACK_PATH = "/v1/oauth/callback"
# Calendar V2's platform names, and Calendar V1's for the same providers.
ConnectPlatform = Literal["google_calendar", "microsoft_outlook", "google", "microsoft"]
UPSTREAM = {
    502: answer(ErrorBody, "Recall refused the profile's credentials"),
    503: answer(ErrorBody, "Recall is unavailable; try again"),
}


def _forwards(gateway: Gateway, link: Link) -> bool:
    profile = gateway.config.profiles.get(link.profile_id)
    return profile is not None and event_forwarder(gateway.registry.adapter(profile)) is not None


async def link_read(gateway: Gateway, link: Link) -> LinkRead:
    profile = gateway.config.profiles.get(link.profile_id)
    forwards = _forwards(gateway, link)
    return LinkRead(
        calendar_id=link.calendar_id,
        profile_id=link.profile_id,
        adapter=profile.adapter if profile else "unknown",
        recall_calendar_id=None if forwards else link.provider_calendar_id,
        cronofy_calendar_id=link.provider_calendar_id if forwards else None,
        platform=link.platform,
        email=link.email,
        status=link.status,  # type: ignore[arg-type]  # the column only holds the provider's three statuses
        status_detail=link.status_detail,
        record=link.record,  # type: ignore[arg-type]  # validated by the link request before it was stored
        series=link.series,
        last_synced=wire_time(link.last_synced_at) if link.last_synced_at else None,
        last_error=link.last_error,
        created=wire_time(link.created_at),
        updated=wire_time(link.updated_at),
        preset=await preset_read(gateway, link),
    )


def _secret_key(gateway: Gateway) -> str:
    secret = gateway.config.server.secret_key
    if secret is None:
        raise InvalidRequest.single(
            "platform",
            "not_configured",
            "the connect flow needs [server] secret_key (or MEETBRIDGE_SECRET_KEY) to sign its state",
        )
    return secret.reveal()


def _redirect_uri(gateway: Gateway, request: Request[Any, Any, Any]) -> str:
    return (gateway.public_url or str(request.base_url)).rstrip("/") + CALLBACK_PATH


def _client(gateway: Gateway, profile_id: str, platform: str) -> tuple[str, str]:
    profile = gateway.config.profiles.get(profile_id)
    options = profile.options if profile else None
    client = PLATFORM_CLIENTS.get(platform, "")
    client_id = getattr(options, f"{client}_client_id", None)
    client_secret = getattr(options, f"{client}_client_secret", None)
    if client_id is None or client_secret is None:
        raise InvalidRequest.single(
            "platform",
            "not_configured",
            f"profile {profile_id} has no {client}_client_id / {client}_client_secret for {platform}",
        )
    return client_id.reveal(), client_secret.reveal()


def _oauth_base_url(gateway: Gateway, profile_id: str) -> str | None:
    profile = gateway.config.profiles.get(profile_id)
    options = profile.options if profile else None
    return options.oauth_base_url if isinstance(options, RecallCalendarV2Options) else None


class LinksController(Controller):
    path = "/v1/calendars/{calendar_id:str}/links/{profile_id:str}"
    tags = ["links"]

    @put(
        operation_id="link_calendar",
        responses={
            201: answer(LinkResponse, "Linked (200: an existing link updated)"),
            **INVALID,
            **UPSTREAM,
        },
        summary="Link this calendar to a Recall calendar for a calendar profile (then a full sync)",
    )
    async def link_calendar(
        self,
        request: Request[Any, Any, Any],
        calendar_id: FromPath[str],
        profile_id: FromPath[str],
        application_id: NamedDependency[str],
        gateway: NamedDependency[Gateway],
    ) -> Response[LinkResponse]:
        await gateway.calendars.get(application_id, calendar_id)
        profile, _ = calendar_profile(gateway, profile_id)
        ask = read_link_request(await request.body(), profile, gateway.registry.link_requests())
        link, created = await link_calendar(
            gateway,
            application_id,
            calendar_id,
            profile_id,
            ask,
            public_url=gateway.public_url,
        )
        return Response(LinkResponse(await link_read(gateway, link)), status_code=201 if created else 200)

    @get(operation_id="get_link", responses=NOT_FOUND, summary="A calendar link, its status and last sync")
    async def get_link(
        self,
        calendar_id: FromPath[str],
        profile_id: FromPath[str],
        application_id: NamedDependency[str],
        gateway: NamedDependency[Gateway],
    ) -> LinkResponse:
        return LinkResponse(
            await link_read(gateway, await gateway.links.get(application_id, calendar_id, profile_id))
        )

    @delete(
        operation_id="unlink_calendar",
        status_code=200,
        responses={**NOT_FOUND, **UPSTREAM},
        summary="Unlink: delete the Recall calendar (and its bots) and cancel the extensions acting for it",
    )
    async def unlink_calendar(
        self,
        calendar_id: FromPath[str],
        profile_id: FromPath[str],
        application_id: NamedDependency[str],
        gateway: NamedDependency[Gateway],
    ) -> LinkDeleted:
        link, cancelled = await unlink_calendar(gateway, application_id, calendar_id, profile_id)
        forwards = _forwards(gateway, link)
        return LinkDeleted(
            calendar_id=calendar_id,
            profile_id=profile_id,
            recall_calendar_id=None if forwards else link.provider_calendar_id,
            cronofy_calendar_id=link.provider_calendar_id if forwards else None,
            cancelled_extensions=cancelled,
        )

    @get(
        "/connect",
        operation_id="connect_calendar",
        responses=INVALID,
        summary="Start the OAuth connect flow: the provider authorization URL to send the user to",
    )
    async def connect_calendar(
        self,
        request: Request[Any, Any, Any],
        calendar_id: FromPath[str],
        profile_id: FromPath[str],
        platform: FromQuery[ConnectPlatform],
        application_id: NamedDependency[str],
        gateway: NamedDependency[Gateway],
        success_url: Annotated[str | None, QueryParameter(required=False, max_length=2048)] = None,
        error_url: Annotated[str | None, QueryParameter(required=False, max_length=2048)] = None,
    ) -> ConnectResponse:
        await gateway.calendars.get(application_id, calendar_id)
        profile, linker = calendar_profile(gateway, profile_id)
        preset = preset_linker(linker)
        # Either adapter's platform names are taken by both: the path's profile decides the adapter.
        if preset is not None:
            link = await gateway.links.get(application_id, calendar_id, profile_id)
            provider = {"google_calendar": "google", "microsoft_outlook": "microsoft"}.get(platform, platform)
            return await preset_connect(profile, preset, link, provider, success_url, error_url)
        if event_forwarder(linker) is not None:
            raise NotFound(f"profile {profile_id} ({profile.adapter}) has no connect flow")
        v2_platform = {"google": "google_calendar", "microsoft": "microsoft_outlook"}.get(platform, platform)
        client_id, _ = _client(gateway, profile_id, v2_platform)
        redirect_uri = _redirect_uri(gateway, request)
        url = authorization_url(
            v2_platform,
            client_id=client_id,
            redirect_uri=redirect_uri,
            secret_key=_secret_key(gateway),
            calendar_id=calendar_id,
            profile_id=profile_id,
            oauth_base_url=_oauth_base_url(gateway, profile_id),
        )
        return ConnectResponse(authorization_url=url, redirect_uri=redirect_uri)

    @post(
        "/disconnect",
        operation_id="disconnect_calendar",
        status_code=200,
        responses={**INVALID, **UPSTREAM},
        summary="Calendar V1: disconnect the user's Google or Microsoft calendar at Recall",
    )
    async def disconnect_calendar(
        self,
        calendar_id: FromPath[str],
        profile_id: FromPath[str],
        data: JSONBody[DisconnectRequest],
        application_id: NamedDependency[str],
        gateway: NamedDependency[Gateway],
    ) -> LinkResponse:
        link = await gateway.links.get(application_id, calendar_id, profile_id)
        await preset_disconnect(gateway, link, data.platform)
        return LinkResponse(await link_read(gateway, link))


class OAuthCallbackController(Controller):
    path = CALLBACK_PATH
    tags = ["links"]

    @get(
        operation_id="oauth_callback",
        security=[],
        responses={
            401: answer(ErrorBody, "The state is forged or has expired"),
            **INVALID,
            **UPSTREAM,
        },
        summary="OAuth redirect target: finishes the link (authorised by the signed state)",
    )
    async def oauth_callback(
        self,
        request: Request[Any, Any, Any],
        gateway: NamedDependency[Gateway],
        # "state" is a name Litestar reserves for the application state.
        oauth_state: Annotated[str, QueryParameter(name="state")],
        code: FromQuery[str | None] = None,
        error: FromQuery[str | None] = None,
        error_description: Annotated[str | None, QueryParameter(required=False)] = None,
    ) -> Response[LinkResponse]:
        # The sealed state is what authorises this request: nothing else is read before it opens.
        secret = gateway.config.server.secret_key
        if secret is None:
            raise InvalidConnectState("no connect state can be valid: [server] secret_key is not set")
        secret_key = secret.reveal()
        profile_id = open_state(oauth_state, secret_key).get("profile_id", "")
        if error is not None or not code:
            reason = error_description or error or "no code"
            raise InvalidRequest.single(
                "code", "denied", f"the provider did not authorise the calendar: {reason}"
            )
        profile, linker = calendar_profile(gateway, profile_id)
        async with link_errors(profile, "code"):
            grant = await complete_connect(
                code=code,
                state=oauth_state,
                secret_key=secret_key,
                client_for=lambda profile_id, platform: _client(gateway, profile_id, platform),
                redirect_uri=_redirect_uri(gateway, request),
                oauth_base_url=_oauth_base_url(gateway, profile_id),
                transport=gateway.registry.transport,
            )
        existing = await gateway.links.for_mechanism(grant.calendar_id, grant.profile_id, profile.adapter)
        granted = CalendarAsk(
            platform=grant.platform,
            refresh_token=grant.refresh_token,
            email=grant.email,
            calendar_field="code",
            platform_field="code",
            credentials_field="code",
        )
        calendar = await calendar_for_credentials(linker, profile, existing, granted)
        rules = LinkRules(record=existing.record, series=existing.series) if existing else LinkRules()
        link, created = await gateway.links.save(
            grant.calendar_id, grant.profile_id, calendar, rules, adapter=profile.adapter
        )
        return Response(LinkResponse(await link_read(gateway, link)), status_code=201 if created else 200)
