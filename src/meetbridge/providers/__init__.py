"""The ports every adapter implements (``base``), what a link request asks (``link_requests``), the
explicit registry of the catalogue's adapters, the HTTP client they share, and one package per
provider (``recall/``, ``cronofy/``). The engine, the API and switching ask an adapter's declared
capabilities, never its name."""

from meetbridge.providers.base import (
    Adapter,
    CalendarLinker,
    Capabilities,
    EventForwarder,
    EventSnapshot,
    Outcome,
    PresetLinker,
    ProviderState,
    WebhookReceiver,
    calendar_linker,
    event_forwarder,
    preset_linker,
    webhook_receiver,
)
from meetbridge.providers.http import ProviderHttp
from meetbridge.providers.link_requests import CalendarAsk, ForwardAsk, LinkAsk, LinkRequest, PresetAsk
from meetbridge.providers.registry import AdapterRegistry

__all__ = [
    "Adapter",
    "AdapterRegistry",
    "CalendarAsk",
    "CalendarLinker",
    "Capabilities",
    "EventForwarder",
    "EventSnapshot",
    "ForwardAsk",
    "LinkAsk",
    "LinkRequest",
    "Outcome",
    "PresetAsk",
    "PresetLinker",
    "ProviderHttp",
    "ProviderState",
    "WebhookReceiver",
    "calendar_linker",
    "event_forwarder",
    "preset_linker",
    "webhook_receiver",
]
