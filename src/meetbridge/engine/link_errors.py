"""Provider failures during a link request, as errors the caller can act on (one mapping for every
linking adapter)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import msgspec

from meetbridge.config.profiles import Profile
from meetbridge.errors import (
    InvalidRequest,
    ProviderAuthExpired,
    ProviderAuthRevoked,
    ProviderError,
    ProviderNotFound,
    ProviderRejected,
    ProviderUnavailable,
    UpstreamFailed,
    UpstreamUnavailable,
)


class UserTokens(msgspec.Struct, frozen=True):
    """The request's names for the user's own OAuth tokens, where a link carries them."""

    access: str = "access_token"
    refresh: str = "refresh_token"


@asynccontextmanager
async def link_errors(
    profile: Profile, field: str, *, tokens: UserTokens | None = None
) -> AsyncIterator[None]:
    """``field``: the request field the provider object is named by. ``tokens``: where the request
    carries the user's tokens (forwarding links), an auth failure is theirs to fix; without, it is the
    profile's own credentials, the operator's to fix."""
    try:
        yield
    except ProviderAuthRevoked as exc:
        if tokens is None:
            raise UpstreamFailed(
                f"{profile.adapter} revoked profile {profile.profile_id}'s credentials"
            ) from None
        raise InvalidRequest.single(tokens.refresh, "rejected", str(exc)) from None
    except ProviderAuthExpired:
        if tokens is None:
            raise UpstreamFailed(
                f"{profile.adapter} refused profile {profile.profile_id}'s credentials (401); "
                "check its configuration"
            ) from None
        raise InvalidRequest.single(
            tokens.access, "rejected", f"{profile.adapter} refused the access token, also after refreshing it"
        ) from None
    except ProviderNotFound as exc:
        raise InvalidRequest.single(
            field, "not_found", f"no such calendar at the provider for profile {profile.profile_id}: {exc}"
        ) from None
    except ProviderRejected as exc:
        named = tokens.access if tokens is not None and exc.status == 403 else field
        raise InvalidRequest.single(named, "rejected", f"the provider refused it: {exc}") from None
    except ProviderUnavailable as exc:
        raise UpstreamUnavailable(f"{profile.adapter} is unavailable, try again: {exc}") from None
    except ProviderError as exc:
        raise UpstreamFailed(str(exc)) from None
