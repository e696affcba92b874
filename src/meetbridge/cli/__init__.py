"""The ``meetbridge`` command: serve, worker, reload, check-config, profiles, token, db, openapi,
sandbox, status, webhooks, audit."""

from meetbridge.cli.audit import audit
from meetbridge.cli.commands import CRONOFY_RECALL_PROFILE, main, openapi_document
from meetbridge.cli.sandbox import sandbox
from meetbridge.cli.status import status
from meetbridge.cli.tokens import token
from meetbridge.cli.webhooks import webhooks

main.add_command(audit)
main.add_command(sandbox)
main.add_command(token)
main.add_command(status)
main.add_command(webhooks)

__all__ = ["CRONOFY_RECALL_PROFILE", "main", "openapi_document"]
