"""Pure rules, no I/O: merging an upsert, event times, meeting links, extensions and their statuses,
what bot an event wants, deduplication keys and recording rules."""

from meetbridge.domain.bot_plan import DesiredBot, Refusal, desired_bot, plan_bot
from meetbridge.domain.dedup import deduplication_key
from meetbridge.domain.events import MergedEvent, merge_upsert
from meetbridge.domain.extensions import NO_PROFILE, DesiredExtension, ExtensionStatus
from meetbridge.domain.meeting_urls import find_meeting_url
from meetbridge.domain.recording_rules import Participant, RecordRule, RuleDecision, evaluate

__all__ = [
    "NO_PROFILE",
    "DesiredBot",
    "DesiredExtension",
    "ExtensionStatus",
    "MergedEvent",
    "Participant",
    "RecordRule",
    "Refusal",
    "RuleDecision",
    "deduplication_key",
    "desired_bot",
    "evaluate",
    "find_meeting_url",
    "merge_upsert",
    "plan_bot",
]
