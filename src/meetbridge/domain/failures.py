"""A failed extension's reason as a short code, read off its ``last_error`` sentence.

The code is what metrics label and ``meetbridge status`` groups by, so it comes from a closed set:
a sentence naming its own ``(reason: code)`` keeps that code when it is a plain word; everything else
is classified by the few shapes the engine and adapters write.
"""

from __future__ import annotations

import re

_OWN_REASON = re.compile(r"\((?:reason|sub_code): ([a-z0-9_]{1,40})\)")
# (fragment of the sentence, code); the first that matches wins.
_SHAPES = (
    ("is disconnected", "link_disconnected"),
    ("is not linked for profile", "not_linked"),
    ("is no longer configured", "profile_removed"),
    ("gave up after", "retries_exhausted"),
    ("the bot failed at", "bot_fatal"),
    ("cannot be opened with this [server] secret_key", "credentials_unreadable"),
)
_PROVIDER_ANSWER = re.compile(r" answered (\d{3}) to ")
# Reason codes adapters name themselves; any other named code is counted as "other" so that a
# provider's free-form sub-codes cannot grow a metric's label set without bound.
KNOWN_OWN_REASONS = frozenset({"no_meeting_url", "all_day", "event_ended"})
# Every code failure_reason returns.
REASONS = tuple(
    sorted(
        {*KNOWN_OWN_REASONS, *(code for _, code in _SHAPES)}
        | {"provider_auth", "provider_rejected", "other", "unknown"}
    )
)


def failure_reason(last_error: str | None) -> str:
    """A bounded code for why an extension failed: ``no_meeting_url``, ``provider_rejected``..."""
    if not last_error:
        return "unknown"
    own = _OWN_REASON.search(last_error)
    if own and own.group(1) in KNOWN_OWN_REASONS:
        return own.group(1)
    for fragment, code in _SHAPES:
        if fragment in last_error:
            return code
    answer = _PROVIDER_ANSWER.search(last_error)
    if answer:
        status = int(answer.group(1))
        return "provider_auth" if status == 401 else "provider_rejected"
    return "other"
