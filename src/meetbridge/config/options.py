"""The base of every adapter's profile options: what an operator may write under ``[profiles.<id>]``.

Each adapter package defines its own options class (``providers/<adapter>/options.py``) and the
catalogue (``adapters/<adapter>.toml``) names it; loading checks every key against it, so an unknown
key or a value an adapter cannot honour fails start-up. What the engine must know of any adapter's
options (which keys name the provider account, whether its links hold tokens) is declared here as
class attributes, never found by attribute names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar

import msgspec

BotName = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
PerMinute = Annotated[int, msgspec.Meta(ge=1, le=100_000)]


class AdapterOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Keys every profile accepts besides its adapter's own."""

    region: str | None = None
    base_url: str | None = None
    rate_limits: dict[str, PerMinute] = msgspec.field(default_factory=dict)

    # Keys refused with a sentence of their own instead of "unknown key".
    refused_keys: ClassVar[dict[str, str]] = {}
    # The keys that name the account at the provider: bots made under one account cannot be reached
    # with another, so changing one is a switch of mechanism (config/incarnation.py). Secrets among
    # them are fingerprinted, never stored.
    account_keys: ClassVar[tuple[str, ...]] = ()
    # Whether the adapter's links keep a user's OAuth tokens (sealed under [server] secret_key).
    holds_tokens: ClassVar[bool] = False

    @classmethod
    def problems(cls, values: Mapping[str, Any]) -> list[tuple[str, str]]:
        """Checks across keys, on the keys that converted: (key, what is wrong)."""
        return []
