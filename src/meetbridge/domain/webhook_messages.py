"""What an extension's change tells the app (outbound webhooks, issue 16): which message types, from
what it was last told and what is true now. Pure: the outbox in ``db/webhook_outbox`` stores the
result in the transaction of the change.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import msgspec

from meetbridge.domain.extensions import ExtensionStatus

SCHEDULED, UPDATED, CANCELLED, FAILED, STATUS, MOVED = (
    "bot.scheduled",
    "bot.updated",
    "bot.cancelled",
    "bot.failed",
    "bot.status",
    "bot.moved",
)
MESSAGE_TYPES = (SCHEDULED, UPDATED, CANCELLED, FAILED, STATUS, MOVED)

_REASON_CODE = re.compile(r"\((?:reason|sub_code): ([\w.-]+)\)")


class Announced(msgspec.Struct, frozen=True, kw_only=True):
    """One extension as the app knows it (last told), or as it is now."""

    status: str | None
    bot_id: str | None
    adapter: str | None = None
    join_at: datetime | None = None
    meeting_url: str | None = None


class Told(msgspec.Struct, frozen=True):
    type: str
    previous_bot_id: str | None = None


def _moved_in_time_or_place(before: Announced, now: Announced) -> bool:
    # Unknown values (None before) are not a change: nothing was said about them.
    return (before.join_at is not None and before.join_at != now.join_at) or (
        before.meeting_url is not None and before.meeting_url != now.meeting_url
    )


def messages_for(before: Announced | None, now: Announced, *, report: bool = False) -> list[Told]:
    """The messages one change owes the app. ``report``: the provider reported the bot's status."""
    told: list[Told] = []
    was = before or Announced(status=None, bot_id=None)
    if report:
        told.append(Told(STATUS))
    if now.status == ExtensionStatus.SCHEDULED and now.bot_id:
        if was.bot_id is None:
            told.append(Told(SCHEDULED))
        elif was.bot_id != now.bot_id:
            switched = was.adapter is not None and now.adapter is not None and was.adapter != now.adapter
            told.append(Told(MOVED if switched else UPDATED, previous_bot_id=was.bot_id))
        elif was.status != ExtensionStatus.SCHEDULED:
            told.append(Told(SCHEDULED))
        elif _moved_in_time_or_place(was, now):
            told.append(Told(UPDATED))
    elif now.status == ExtensionStatus.CANCELLED:
        if was.status is not None and was.status != ExtensionStatus.CANCELLED:
            told.append(Told(CANCELLED, previous_bot_id=was.bot_id))
    elif now.status == ExtensionStatus.FAILED and was.status != ExtensionStatus.FAILED:
        told.append(Told(FAILED, previous_bot_id=was.bot_id if was.bot_id != now.bot_id else None))
    return told


def reason_of(last_error: str | None, sub_code: str | None = None) -> dict[str, str] | None:
    """A failure's reason as a code and the sentence the single-event read shows."""
    if not last_error:
        return {"code": sub_code, "message": f"the bot failed (sub_code: {sub_code})"} if sub_code else None
    found = _REASON_CODE.search(last_error)
    if sub_code:
        code = sub_code
    elif found:
        code = found.group(1)
    elif "disconnected" in last_error:
        code = "calendar_disconnected"
    elif "is not linked" in last_error:
        code = "calendar_not_linked"
    else:
        code = "provider_error"
    return {"code": code, "message": last_error}


def message_body(kind: str, timestamp: datetime, data: dict[str, Any]) -> bytes:
    """The JSON body: signed and sent byte for byte the same on every attempt."""
    when = timestamp.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return msgspec.json.encode({"type": kind, "timestamp": when, "data": data})
