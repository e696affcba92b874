"""The cronofy adapter's profile options."""

from __future__ import annotations

from typing import Annotated, ClassVar

import msgspec

from meetbridge.config.options import AdapterOptions
from meetbridge.config.secrets import Secret


class CronofyOptions(AdapterOptions, kw_only=True, forbid_unknown_fields=True):
    # The application's Cronofy client, and the Recall integration profile it makes the bots through.
    account_keys: ClassVar[tuple[str, ...]] = ("client_id", "upstream_profile_id")
    holds_tokens: ClassVar[bool] = True
    data_center: str | None = None
    client_id: Secret
    client_secret: Secret
    upstream_profile_id: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    # The slow poll that catches bot ids whose push notification never arrived (default: the
    # catalogue's poll_interval_seconds).
    poll_interval_seconds: Annotated[int, msgspec.Meta(ge=1, le=86_400)] | None = None
    refused_keys: ClassVar[dict[str, str]] = {
        "region": "a cronofy profile names its region as data_center (us, de, uk, au, ca, sg)"
    }
