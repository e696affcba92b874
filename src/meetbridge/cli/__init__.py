"""The ``meetbridge`` command: serve, worker, reload, check-config, profiles, token, db, openapi,
sandbox, status."""

from meetbridge.cli.commands import CRONOFY_RECALL_PROFILE, main, openapi_document
from meetbridge.cli.status import status
from meetbridge.cli.tokens import token

main.add_command(token)
main.add_command(status)

__all__ = ["CRONOFY_RECALL_PROFILE", "main", "openapi_document"]
