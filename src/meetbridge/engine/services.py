"""What the engine's request-time services (linking calendars, forwarding links) use of a gateway.

A protocol rather than the runtime's ``Gateway`` class, so that the engine never imports the layer
that composes it; ``runtime.Gateway`` is the one implementation.
"""

from __future__ import annotations

from typing import Protocol

from meetbridge.config.profiles import GatewayConfig
from meetbridge.db.calendars import CalendarRepository
from meetbridge.db.events import EventRepository
from meetbridge.db.links import LinkRepository
from meetbridge.engine.forwarding.credentials import ForwardingLinks
from meetbridge.providers.registry import AdapterRegistry


class Services(Protocol):
    calendars: CalendarRepository
    events: EventRepository
    links: LinkRepository
    forwarding: ForwardingLinks
    registry: AdapterRegistry

    @property
    def config(self) -> GatewayConfig: ...
