"""The drift audit of a forwarding profile (Cronofy): its links opened for the adapter's listing.

A forwarding adapter holds no credentials of its own, so the audit hands it each link of the profile
with the events the profile forwarded there (``AuditedLink``). A link that cannot be read (
disconnected, or its credentials not to be opened) goes with no target: the adapter then takes what
meetbridge recorded there as in step, rather than reporting every bot on it missing.
"""

from __future__ import annotations

import logging
from datetime import datetime

from meetbridge.config.profiles import Profile
from meetbridge.config.sealing import SealError
from meetbridge.engine.forwarding.credentials import ForwardingLinks
from meetbridge.providers.audit import AuditedLink

log = logging.getLogger("meetbridge.audit")


async def audited_links(
    forwarding: ForwardingLinks, profile: Profile, provider: str, now: datetime
) -> list[AuditedLink]:
    found: list[AuditedLink] = []
    for link, forwarded in await forwarding.events.audited(profile.profile_id, provider, now):
        if not link.serves(profile.adapter):
            continue  # made for the profile's previous mechanism
        target = None
        if link.status != "disconnected":
            try:
                target = await forwarding.target(link)
            except SealError as exc:
                log.warning("audit of %s: link %s not read: %s", profile.profile_id, link.id, exc)
        found.append(AuditedLink(target=target, forwarded=forwarded))
    return found
