"""The ``meetbridge`` command: serve, worker, reload, check-config, profiles, token, db, openapi,
sandbox."""

from meetbridge.cli.commands import CRONOFY_RECALL_PROFILE, main, openapi_document
from meetbridge.cli.tokens import token

main.add_command(token)

__all__ = ["CRONOFY_RECALL_PROFILE", "main", "openapi_document"]
