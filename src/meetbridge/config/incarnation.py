"""A profile's incarnation: what makes its bots a different mechanism's (adapter, provider, account).

Changing any of these means bots made before cannot be reached through the new configuration, so
they must be moved (make before break); other options (rate limits, poll intervals, webhook
secrets) change how meetbridge talks to the same bots and move nothing. Deduplication strategy and
bot configuration are the adapters' own business: they update their bots in place.
"""

from __future__ import annotations

import hashlib

import msgspec

from meetbridge.config.profiles import Profile
from meetbridge.config.secrets import Secret

# Options naming the account at the provider (hashed: the fingerprint is stored and shown).
_ACCOUNT_KEYS = ("api_key", "client_id")


def incarnation(profile: Profile) -> str:
    identity: dict[str, str] = {"adapter": profile.adapter, "base_url": profile.base_url}
    for key in _ACCOUNT_KEYS:
        secret = getattr(profile.options, key, None)
        if isinstance(secret, Secret):
            identity[key] = hashlib.sha256(secret.reveal().encode()).hexdigest()
    upstream = getattr(profile.options, "upstream_profile_id", None)
    if upstream:
        identity["upstream_profile_id"] = str(upstream)
    return hashlib.sha256(msgspec.json.encode(identity, order="sorted")).hexdigest()[:20]
