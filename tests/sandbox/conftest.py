"""The Recall stand-in on a frozen clock and its calendar products, for the files that need no more."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from meetbridge.sandbox import CalendarV1Sandbox, CalendarV2Sandbox, RecallSandbox, SandboxClock
from tests.sandbox.common import KEY, START


@pytest.fixture
async def recall() -> AsyncIterator[RecallSandbox]:
    sandbox = RecallSandbox(api_keys=[KEY], clock=SandboxClock(start=START, frozen=True))
    yield sandbox
    await sandbox.aclose()


@pytest.fixture
async def calendar_v1(recall: RecallSandbox) -> AsyncIterator[CalendarV1Sandbox]:
    stand_in = CalendarV1Sandbox(recall)
    yield stand_in
    await stand_in.aclose()


@pytest.fixture
async def calendars(recall: RecallSandbox) -> AsyncIterator[CalendarV2Sandbox]:
    stand_in = CalendarV2Sandbox(recall)
    yield stand_in
    await stand_in.aclose()
