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


def incarnation(profile: Profile) -> str:
    """A fingerprint of the profile's adapter, base URL and the account keys its options declare.

    Stored with every bot, so it must stay the same across releases for the same configuration
    (tests/unit/test_incarnation.py pins it): secrets enter as their SHA-256, other values as given.
    """
    identity: dict[str, str] = {"adapter": profile.adapter, "base_url": profile.base_url}
    for key in type(profile.options).account_keys:
        value = getattr(profile.options, key, None)
        if isinstance(value, Secret):
            identity[key] = hashlib.sha256(value.reveal().encode()).hexdigest()
        elif value:
            identity[key] = str(value)
    return hashlib.sha256(msgspec.json.encode(identity, order="sorted")).hexdigest()[:20]
