"""The link request body of Cronofy links."""

from __future__ import annotations

from typing import Annotated, ClassVar

import msgspec
from msgspec import UNSET, UnsetType

from meetbridge.errors import InvalidRequest
from meetbridge.providers.link_requests import ForwardAsk, given

# RFC 6750's b64token: the access token goes into an Authorization header, which holds ASCII only.
OAuthToken = Annotated[str, msgspec.Meta(min_length=1, max_length=4096, pattern=r"^[A-Za-z0-9\-._~+/]+=*$")]


class CronofyLinkRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """cronofy links: the Cronofy calendar events are forwarded to, and the user's OAuth tokens for it
    (stored encrypted, never returned). Linking again with new tokens reconnects the link."""

    cronofy_calendar_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | UnsetType = UNSET
    access_token: OAuthToken | UnsetType = UNSET
    refresh_token: OAuthToken | UnsetType = UNSET
    expires_in: Annotated[int, msgspec.Meta(ge=0, le=31_536_000)] | UnsetType = UNSET  # seconds
    reconnect_fields: ClassVar[tuple[str, ...]] = ("access_token", "refresh_token")

    def __repr__(self) -> str:  # the tokens must not reach a log
        return f"CronofyLinkRequest(cronofy_calendar_id={given(self.cronofy_calendar_id)!r})"

    def ask(self) -> ForwardAsk:
        required = {
            "cronofy_calendar_id": given(self.cronofy_calendar_id),
            "access_token": given(self.access_token),
            "refresh_token": given(self.refresh_token),
        }
        missing = {
            name: [("errors.required", f"{name} is required to link a Cronofy calendar")]
            for name, value in required.items()
            if value is None
        }
        if missing:
            raise InvalidRequest(missing)
        return ForwardAsk(
            provider_calendar_id=required["cronofy_calendar_id"],
            access_token=required["access_token"],
            refresh_token=required["refresh_token"],
            expires_in=given(self.expires_in),
            calendar_field="cronofy_calendar_id",
        )
