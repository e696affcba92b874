"""``meetbridge sandbox``: the Recall stand-in alone (and the Cronofy one beside it), for tests and
demos against real HTTP."""

from __future__ import annotations

import click

from meetbridge.cli.commands import CRONOFY_RECALL_PROFILE, CRONOFY_SANDBOX_PATH, _configure_logging


@click.command("sandbox")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=9000, show_default=True, type=int)
@click.option(
    "--api-key", default="sandbox-recall-api-key", show_default=True, help="The key the stand-in accepts."
)
@click.option("--webhook-url", default=None, help="Where to POST signed bot status webhooks.")
@click.option("--webhook-secret", default=None, help="whsec_... secret that signs them.")
@click.option(
    "--cronofy-client-id",
    default=None,
    help="With --cronofy-client-secret: also serve the Cronofy stand-in under /cronofy.",
)
@click.option(
    "--cronofy-client-secret",
    default=None,
    help="The Cronofy client secret: checked on token calls, signs push notifications.",
)
@click.option(
    "--cronofy-recall-profile",
    default=CRONOFY_RECALL_PROFILE,
    show_default=True,
    help="The Cronofy Extension Profile ID whose upserts get a bot in this Recall stand-in.",
)
@click.option(
    "--cronofy-token-lifetime",
    default=3600,
    show_default=True,
    type=click.IntRange(min=1),
    help="Seconds a Cronofy access token lives.",
)
@click.option(
    "--rate-limit",
    "rate_limits",
    multiple=True,
    metavar="ENDPOINT=CALLS[/min|/<n>s]",
    help="Answer 429 with Retry-After past CALLS per minute (or per n seconds) per API key and endpoint,"
    " e.g. create_bot=120; repeatable. Off by default.",
)
@click.option(
    "--cronofy-bot-id-delay",
    default=0.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds before a new bot's id shows as metadata.recall.bot_id on Cronofy reads.",
)
def sandbox(
    host: str,
    port: int,
    api_key: str,
    webhook_url: str | None,
    webhook_secret: str | None,
    cronofy_client_id: str | None,
    cronofy_client_secret: str | None,
    cronofy_recall_profile: str,
    cronofy_token_lifetime: int,
    cronofy_bot_id_delay: float,
    rate_limits: tuple[str, ...],
) -> None:
    """Run the Recall stand-in (bot API plus /_sandbox/ test controls); with the Cronofy client
    credentials, the Cronofy stand-in too, under /cronofy, making its bots in the same Recall stand-in."""
    import uvicorn

    from meetbridge.sandbox import (
        CronofySandbox,
        RecallSandbox,
        create_recall_sandbox_app,
        cronofy_sandbox_router,
    )
    from meetbridge.sandbox.recall.core import RateLimitError, parse_rate_limit

    if (cronofy_client_id is None) != (cronofy_client_secret is None):
        raise click.UsageError("--cronofy-client-id and --cronofy-client-secret go together")
    _configure_logging()
    recall = RecallSandbox(api_keys={api_key}, webhook_url=webhook_url, webhook_secret=webhook_secret)
    try:
        recall.throttle.configure(dict(parse_rate_limit(text) for text in rate_limits))
    except RateLimitError as exc:
        raise click.BadParameter(str(exc), param_hint="--rate-limit") from None
    if cronofy_client_id is None or cronofy_client_secret is None:
        app = create_recall_sandbox_app(recall)
    else:
        cronofy = CronofySandbox(
            client_id=cronofy_client_id,
            client_secret=cronofy_client_secret,
            recall=recall,
            access_token_lifetime=cronofy_token_lifetime,
            recall_profiles=(cronofy_recall_profile,),
            bot_id_delay=cronofy_bot_id_delay,
        )
        app = create_recall_sandbox_app(
            recall,
            extra_routes=[cronofy_sandbox_router(cronofy, path_prefix=CRONOFY_SANDBOX_PATH)],
            on_startup=[cronofy.ensure_background],
            on_shutdown=[cronofy.aclose],
        )
    click.echo(f"Recall sandbox on http://{host}:{port} (api key: {api_key})")
    if cronofy_client_id is not None:
        click.echo(
            f"Cronofy sandbox on http://{host}:{port}{CRONOFY_SANDBOX_PATH} (client id: {cronofy_client_id},"
            f" extension profile: {cronofy_recall_profile})"
        )
    uvicorn.run(app, host=host, port=port, log_level="warning")
