"""Cursor pagination for the Calendar V2 lists, in the shape of DRF's CursorPagination (reference §4.1).

`next`/`previous` are absolute URLs carrying an opaque `cursor`; there is no `count`. The cursor is a
keyset position (timestamp, sequence number), not an offset, so a row that changes while a client pages
moves behind the client's position and shows up again later instead of being skipped.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar
from urllib.parse import urlencode

from meetbridge.sandbox._shared import AnyRequest
from meetbridge.sandbox.recall.core import SandboxError

T = TypeVar("T")
Position = tuple[datetime, int]


@dataclass(frozen=True)
class Cursor:
    position: Position
    reverse: bool

    def encode(self) -> str:
        payload = {"p": [self.position[0].isoformat(), self.position[1]], "r": self.reverse}
        return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> Cursor:
        """DRF answers an unreadable cursor with 404 `Invalid cursor`; so do we."""
        invalid = SandboxError(404, {"detail": "Invalid cursor"})
        try:
            payload = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            moment, seq = payload["p"]
            position = (datetime.fromisoformat(moment), int(seq))
            reverse = bool(payload["r"])
        except (ValueError, TypeError, KeyError, binascii.Error):
            raise invalid from None
        if position[0].tzinfo is None:  # not one of ours: it would not compare with stored times
            raise invalid
        return cls(position, reverse)


@dataclass(frozen=True)
class Page(Generic[T]):
    results: list[T]
    next: Cursor | None
    previous: Cursor | None


def paginate(items: Sequence[T], key: Callable[[T], Position], cursor: Cursor | None, size: int) -> Page[T]:
    """One page of `items` (sorted by `key`) after, or before, the cursor's position; an empty page past
    either end links nowhere."""
    ordered = sorted(items, key=key)
    if cursor is None:
        window, more_before, more_after = ordered[:size], False, len(ordered) > size
    elif not cursor.reverse:
        after = [item for item in ordered if key(item) > cursor.position]
        window, more_after = after[:size], len(after) > size
        more_before = any(key(item) <= cursor.position for item in ordered)
    else:
        before = [item for item in ordered if key(item) < cursor.position]
        window, more_before = before[-size:], len(before) > size
        more_after = any(key(item) >= cursor.position for item in ordered)
    return Page(
        window,
        Cursor(key(window[-1]), reverse=False) if window and more_after else None,
        Cursor(key(window[0]), reverse=True) if window and more_before else None,
    )


def page_url(request: AnyRequest, cursor: Cursor | None) -> str | None:
    """Absolute URL of another page: the same query with `cursor` replaced, slash form of the path."""
    if cursor is None:
        return None
    params = [(name, value) for name, value in request.query_params.multi_items() if name != "cursor"]
    params.append(("cursor", cursor.encode()))
    url = request.url
    return f"{url.scheme}://{url.netloc}{url.path.rstrip('/')}/?{urlencode(params)}"
