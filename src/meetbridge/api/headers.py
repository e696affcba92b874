"""Headers on every answer, errors included (an ASGI middleware: exception handlers' answers do not
pass through Litestar's layered response headers), and a true ``Allow`` on OPTIONS answers."""

from __future__ import annotations

from typing import Any

from litestar.enums import ScopeType
from litestar.routes import HTTPRoute
from litestar.types import ASGIApp, Message, Receive, Scope, Send

# Answers hold tenants' data and tokens: never cached, never sniffed into another type.
ANSWER_HEADERS = ((b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff"))


def _allowed_methods(app: Any) -> dict[str, bytes]:
    """Each path template's methods, as the route holds them once every handler is registered."""
    allowed: dict[str, bytes] = getattr(app.state, "allowed_methods", None) or {
        route.path_format: ", ".join(sorted(route.methods)).encode()
        for route in app.routes
        if isinstance(route, HTTPRoute)
    }
    app.state.allowed_methods = allowed
    return allowed


def answer_headers(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        allow = None
        if scope.get("method") == "OPTIONS":
            # Litestar 2's own OPTIONS answer lists only the methods of the path's first registered
            # handler (litestar-org/litestar#4169, fixed in 3.0): GET /v1/calendars was missing.
            allow = _allowed_methods(scope["app"]).get(scope.get("path_template", ""))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if allow is not None and message["status"] == 204:
                    headers = [(name, value) for name, value in headers if name.lower() != b"allow"]
                    headers.append((b"allow", allow))
                present = {name.lower() for name, _ in headers}
                headers += [(name, value) for name, value in ANSWER_HEADERS if name not in present]
                message = {**message, "headers": headers}
            await send(message)

        await app(scope, receive, send_with_headers)

    return middleware
