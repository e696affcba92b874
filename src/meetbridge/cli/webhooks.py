"""``meetbridge webhooks listen``: a tiny receiver that prints the outbound webhook messages it gets,
so a new user can watch them arrive without writing a server.

With ``--gateway`` and ``--token`` it registers itself as an endpoint of that application (and
deletes the endpoint when stopped), so it knows the secret to verify with; with ``--secret`` it
verifies messages for an endpoint registered some other way.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import click
import httpx
from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@click.group()
def webhooks() -> None:
    """Outbound webhooks to your app: watch them arrive."""


def _handler(secret: str | None) -> type[BaseHTTPRequestHandler]:
    verifier = Webhook(secret) if secret else None

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            verdict = "not verified (no --secret)"
            if verifier is not None:
                try:
                    verifier.verify(body, headers)
                    verdict = "signature verified"
                except WebhookVerificationError as exc:
                    verdict = f"REFUSED: {exc}"
            status = 401 if verdict.startswith("REFUSED") else 204
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()
            try:
                message = json.loads(body)
                data = message.get("data") or {}
                when = datetime.now(UTC).strftime("%H:%M:%S")
                summary = (
                    f"{when}  {message.get('type')}  seq {data.get('sequence')}  "
                    f"{data.get('event_id') or data.get('event_uid')}  bot {data.get('bot_id')}  ({verdict})"
                )
                click.echo(summary)
                click.echo(json.dumps(message, indent=2))
            except ValueError:
                click.echo(f"a body that is not JSON ({verdict}): {body[:200]!r}")

        def log_message(self, *_: object) -> None:  # the summary line says it all
            return

    return Handler


@webhooks.command("listen")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535), help="Port (0: any).")
@click.option("--gateway", help="Register with this meetbridge (e.g. http://127.0.0.1:8000) ...")
@click.option("--token", envvar="MEETBRIDGE_TOKEN", help="... as the application of this bearer token.")
@click.option(
    "--secret",
    envvar="MEETBRIDGE_WEBHOOK_SECRET",
    help="Verify with this whsec_ secret (an endpoint you made).",
)
def listen(host: str, port: int, gateway: str | None, token: str | None, secret: str | None) -> None:
    """Print every message meetbridge sends here, verified with the endpoint's secret."""
    server = ThreadingHTTPServer((host, port), BaseHTTPRequestHandler)
    url = f"http://{host}:{server.server_address[1]}/"
    endpoint_id = None
    auth = {"Authorization": f"Bearer {token}"}
    if gateway:
        if not token:
            raise click.UsageError("--gateway needs --token (the application's bearer token)")
        response = httpx.post(f"{gateway.rstrip('/')}/v1/webhook_endpoints", json={"url": url}, headers=auth)
        if response.status_code != 201:
            server.server_close()
            raise click.ClickException(f"registering {url} failed: {response.status_code} {response.text}")
        endpoint = response.json()["endpoint"]
        endpoint_id, secret = endpoint["endpoint_id"], endpoint["secret"]
        click.echo(f"registered endpoint {endpoint_id} for {url}; it is deleted when you stop this")
    server.RequestHandlerClass = _handler(secret)
    click.echo(f"listening on {url} for meetbridge webhooks; stop with Ctrl+C")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        if gateway and endpoint_id:
            httpx.delete(f"{gateway.rstrip('/')}/v1/webhook_endpoints/{endpoint_id}", headers=auth)
            click.echo(f"deleted endpoint {endpoint_id}")
