"""What the wire tests share: a client on a respx router, what it sent, and closing it after the test."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
import respx

from meetbridge.providers.http import ProviderHttp


def mock_router(base_url: str) -> respx.MockRouter:
    """Routes on one origin. A request that no route answers fails the test."""
    return respx.MockRouter(base_url=base_url, assert_all_called=False)


@dataclass
class RecordedWire:
    """A provider client whose transport is `router`; each wire test's Wire adds its API on top."""

    router: respx.MockRouter
    http: ProviderHttp

    @property
    def sent(self) -> list[tuple[str, str]]:
        """(method, URL) of every request, in order."""
        return [(call.request.method, str(call.request.url)) for call in self.router.calls]

    def body(self, index: int) -> Any:
        """The JSON body of the index-th request."""
        return json.loads(self.router.calls[index].request.content)


W = TypeVar("W", bound=RecordedWire)


class Wires:
    """The wires one test made; the `wires` fixture closes their clients when the test ends."""

    def __init__(self) -> None:
        self.made: list[RecordedWire] = []

    def keep(self, wire: W) -> W:
        self.made.append(wire)
        return wire


@pytest.fixture
async def wires() -> AsyncIterator[Wires]:
    made = Wires()
    yield made
    for wire in made.made:
        await wire.http.aclose()
