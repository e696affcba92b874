"""The app's side of outbound webhooks in e2e tests: a real HTTP server on a free loopback port that
keeps every message it is sent and answers from a script (then 200), and the helpers that register
an endpoint with a gateway and wait for messages."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from svix.webhooks import Webhook as SvixWebhook

from tests.e2e.server import free_port, wait_until

Json = dict[str, Any]
SHORT_RETRIES = "\n[webhooks]\nallow_private_urls = true\nretry_schedule_seconds = [1, 2]\n"


class Received:
    def __init__(self, headers: dict[str, str], body: bytes, at: float, answered: int) -> None:
        self.headers = headers
        self.body = body
        self.at = at  # time.monotonic() on arrival
        self.answered = answered

    @property
    def message(self) -> Json:
        decoded: Json = json.loads(self.body)
        return decoded

    @property
    def type(self) -> str:
        return str(self.message["type"])

    @property
    def data(self) -> Json:
        data: Json = self.message["data"]
        return data


class Receiver:
    """``start()`` serves ``POST /hook`` on ``port`` (a fixed one may be given to come back on it)."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.received: list[Received] = []
        self.script: list[int] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                with receiver._lock:
                    status = receiver.script.pop(0) if receiver.script else 200
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    receiver.received.append(Received(headers, body, time.monotonic(), status))
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_: object) -> None:  # quiet: the test reads `received`
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        self._server = None

    def delivered(self) -> list[Received]:
        """Messages answered 2xx, in arrival order."""
        with self._lock:
            return [r for r in self.received if 200 <= r.answered < 300]

    def of(self, event_uid: str, kind: str | None = None) -> list[Received]:
        return [
            r
            for r in self.delivered()
            if r.data["event_uid"] == event_uid and (kind is None or r.type == kind)
        ]

    def wait_for(self, event_uid: str, kind: str, *, count: int = 1, timeout: float = 30) -> list[Received]:
        wait_until(
            lambda: len(self.of(event_uid, kind)) >= count, timeout=timeout, what=f"{kind} for {event_uid}"
        )
        return self.of(event_uid, kind)


def register(base_url: str, token: str, url: str, **body: Any) -> Json:
    """POST /v1/webhook_endpoints; the created endpoint, with its secret."""
    response = httpx.post(
        f"{base_url}/v1/webhook_endpoints",
        json={"url": url, **body},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    created: Json = response.json()["endpoint"]
    return created


def verify_all(received: list[Received], secret: str) -> None:
    """Every message verifies with Svix's own verifier (an independent Standard Webhooks one)."""
    for message in received:
        SvixWebhook(secret).verify(message.body, message.headers)


def only(found: list[Received], what: Callable[[Received], bool] = lambda _: True) -> Received:
    matching = [r for r in found if what(r)]
    assert len(matching) == 1, [r.message for r in found]
    return matching[0]
