"""What ``meetbridge serve --sandbox`` adds: the stand-ins mounted in the gateway, and profiles using them.

The sandbox's key and webhook secret are fixed, public values: they open nothing but the local stand-in.
"""

from __future__ import annotations

import base64

from meetbridge.config.catalogue import Catalogue
from meetbridge.config.profiles import Profile, parse_config
from meetbridge.sandbox import DEFAULT_RECALL_PROFILE, CronofySandbox, RecallSandbox

RECALL_PATH = "/sandbox/recall"
CRONOFY_PATH = "/sandbox/cronofy"
SANDBOX_RECALL_KEY = "sandbox-recall-api-key"
SANDBOX_WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"meetbridge-sandbox-webhook-secret").decode()
SANDBOX_BOT_PROFILE = "sandbox-bot"
SANDBOX_CALENDAR_PROFILE = "sandbox-calendar"
SANDBOX_PRESET_PROFILE = "sandbox-preset"
SANDBOX_CRONOFY_PROFILE = "sandbox-cronofy"
SANDBOX_CRONOFY_CLIENT_ID = "sandbox-cronofy-client"
SANDBOX_CRONOFY_CLIENT_SECRET = "sandbox-cronofy-secret"  # noqa: S105 - public, opens only the stand-in
_ENV = {
    "MEETBRIDGE_SANDBOX_RECALL_KEY": SANDBOX_RECALL_KEY,
    "MEETBRIDGE_SANDBOX_WEBHOOK_SECRET": SANDBOX_WEBHOOK_SECRET,
    # The OAuth stand-ins accept any client; these only make the connect flow run end to end.
    "MEETBRIDGE_SANDBOX_OAUTH_CLIENT": "sandbox-oauth-client",
    "MEETBRIDGE_SANDBOX_OAUTH_SECRET": "sandbox-oauth-secret",
    "MEETBRIDGE_SANDBOX_CRONOFY_CLIENT": SANDBOX_CRONOFY_CLIENT_ID,
    "MEETBRIDGE_SANDBOX_CRONOFY_SECRET": SANDBOX_CRONOFY_CLIENT_SECRET,
}


def sandbox_profiles(gateway_url: str, catalogue: Catalogue) -> dict[str, Profile]:
    document = {
        "profiles": {
            SANDBOX_BOT_PROFILE: {
                "adapter": "recall-bot",
                "base_url": f"{gateway_url}{RECALL_PATH}",
                "api_key": "env:MEETBRIDGE_SANDBOX_RECALL_KEY",
                "webhook_secret": "env:MEETBRIDGE_SANDBOX_WEBHOOK_SECRET",
                "bot_name": "meetbridge sandbox bot",
            },
            SANDBOX_CALENDAR_PROFILE: {
                "adapter": "recall-calendar-v2",
                "base_url": f"{gateway_url}{RECALL_PATH}",
                "api_key": "env:MEETBRIDGE_SANDBOX_RECALL_KEY",
                "webhook_secret": "env:MEETBRIDGE_SANDBOX_WEBHOOK_SECRET",
                "deduplication": "all",
                "bot_config": {"bot_name": "meetbridge sandbox bot"},
                "google_client_id": "env:MEETBRIDGE_SANDBOX_OAUTH_CLIENT",
                "google_client_secret": "env:MEETBRIDGE_SANDBOX_OAUTH_SECRET",
                "microsoft_client_id": "env:MEETBRIDGE_SANDBOX_OAUTH_CLIENT",
                "microsoft_client_secret": "env:MEETBRIDGE_SANDBOX_OAUTH_SECRET",
                "oauth_base_url": f"{gateway_url}{RECALL_PATH}/_oauth",
            },
            SANDBOX_PRESET_PROFILE: {
                "adapter": "recall-calendar-v1",
                "base_url": f"{gateway_url}{RECALL_PATH}",
                "api_key": "env:MEETBRIDGE_SANDBOX_RECALL_KEY",
                "google_client_id": "sandbox-oauth-client",
                "microsoft_client_id": "sandbox-oauth-client",
                "oauth_base_url": f"{gateway_url}{RECALL_PATH}/_oauth",
                "sync_interval_seconds": 10,  # a demo shows new meetings quickly
                # The stand-in has no rate limits to respect.
                "rate_limits": {"calendar_v1_user": 600, "calendar_v1_meetings": 600},
            },
            SANDBOX_CRONOFY_PROFILE: {
                "adapter": "cronofy",
                "base_url": f"{gateway_url}{CRONOFY_PATH}",
                "client_id": "env:MEETBRIDGE_SANDBOX_CRONOFY_CLIENT",
                "client_secret": "env:MEETBRIDGE_SANDBOX_CRONOFY_SECRET",
                # The Cronofy stand-in's Recall integration makes the bots in the Recall stand-in.
                "upstream_profile_id": DEFAULT_RECALL_PROFILE,
                "poll_interval_seconds": 60,  # pushes carry the bot ids; the poll only backs them up
            },
        }
    }
    return dict(parse_config(document, catalogue, _ENV).profiles)


def recall_sandbox(gateway_url: str) -> RecallSandbox:
    return RecallSandbox(
        api_keys={SANDBOX_RECALL_KEY},
        webhook_url=f"{gateway_url}/v1/webhooks/recall/{SANDBOX_BOT_PROFILE}",
        webhook_secret=SANDBOX_WEBHOOK_SECRET,
    )


def cronofy_sandbox(recall: RecallSandbox) -> CronofySandbox:
    """The Cronofy stand-in; its Recall integration makes bots in `recall`, the stand-in served next to it.

    Accounts (the users an app links) are made with `POST {CRONOFY_PATH}/_sandbox/accounts`.
    """
    return CronofySandbox(
        client_id=SANDBOX_CRONOFY_CLIENT_ID,
        client_secret=SANDBOX_CRONOFY_CLIENT_SECRET,
        recall=recall,
        recall_profiles=(DEFAULT_RECALL_PROFILE,),
    )
