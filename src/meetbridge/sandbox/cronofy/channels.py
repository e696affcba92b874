"""Push notification channels (reference §5): an account's callbacks, each told of every change to the
calendars its filters let through; a new channel is sent a `verification` first."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from meetbridge.sandbox.cronofy.models import (
    ChannelFilters,
    ChannelOut,
    Notification,
    NotificationBody,
    utc_text,
    whole_second,
)
from meetbridge.sandbox.cronofy.push import PushDispatcher
from meetbridge.sandbox.cronofy.validation import CronofyError, single_error

MAX_CHANNELS = 128  # per account (reference §5)


@dataclass(frozen=True)
class Channel:
    account_id: str
    out: ChannelOut


class ChannelBook:
    def __init__(self, push: PushDispatcher) -> None:
        self._push = push
        self._channels: dict[str, Channel] = {}

    def create(self, account_id: str, callback_url: str, filters: ChannelFilters) -> ChannelOut:
        mine = self.of(account_id)
        for out in mine:
            if (out.callback_url, out.filters) == (callback_url, filters):
                return out  # "an identical request may return the existing channel" (reference §5)
        if len(mine) >= MAX_CHANNELS:
            raise single_error("callback_url", "invalid", f"at most {MAX_CHANNELS} channels per account")
        out = ChannelOut(
            channel_id=f"chn_{secrets.token_hex(12)}", callback_url=callback_url, filters=filters
        )
        self._channels[out.channel_id] = Channel(account_id=account_id, out=out)
        self._push.enqueue(NotificationBody(notification=Notification(type="verification"), channel=out))
        return out

    def of(self, account_id: str) -> list[ChannelOut]:
        return [channel.out for channel in self._channels.values() if channel.account_id == account_id]

    def close(self, account_id: str, channel_id: str) -> None:
        channel = self._channels.get(channel_id)
        if channel is None or channel.account_id != account_id:
            raise CronofyError(404)
        del self._channels[channel_id]

    def notify(self, account_id: str, calendar_id: str, at: datetime) -> None:
        """A `change` to every channel of the account whose filters let the calendar through. Every
        sandbox event is managed, so `only_managed` never filters one out."""
        since = utc_text(whole_second(at))
        for channel in self._channels.values():
            calendars = channel.out.filters.calendar_ids
            if channel.account_id == account_id and (calendars is None or calendar_id in calendars):
                notification = Notification(type="change", changes_since=since)
                self._push.enqueue(NotificationBody(notification=notification, channel=channel.out))

    def clear(self) -> None:
        self._channels.clear()
