"""Outbound webhooks to the apps: the SSRF guard and the sender (the outbox writes are in ``db``)."""

from meetbridge.engine.webhooks_out.guard import UnsafeURL, registration_problem, resolve, url_problem
from meetbridge.engine.webhooks_out.sender import WebhookSender, signature_header

__all__ = ["UnsafeURL", "WebhookSender", "registration_problem", "resolve", "signature_header", "url_problem"]
