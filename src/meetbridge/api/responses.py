"""The answers a route declares besides its success, for the OpenAPI document."""

from __future__ import annotations

from typing import Any

from litestar.openapi import ResponseSpec


def answer(container: Any, description: str) -> ResponseSpec:
    """One documented answer, without generated examples: Litestar draws those from one seeded random
    stream per process, so the document would differ with whatever had built an app before it."""
    return ResponseSpec(data_container=container, description=description, generate_examples=False)
