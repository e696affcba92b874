"""Moving an event's bot to its profile's new mechanism after the operator switched it: make before
break.

The record of what the old mechanism made stays where it is (the extension's provider state, stamped
with the incarnation it was made under) while the new mechanism's record grows beside it, under
``migration``, saved before and after every call: a crash anywhere resumes from what was saved and
makes nothing twice (each adapter's own recovery covers a call whose answer was lost). Only once the
new bot is confirmed (scheduled, with an id) is the old one cancelled; until then, or when the new
mechanism cannot take the event, the old bot stays and the extension says why. A meeting starting
within the safety window keeps its bot. Every step is written to the audit trail.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from meetbridge.config.incarnation import incarnation
from meetbridge.config.profiles import Profile
from meetbridge.db.switching import MigrationLog, MigrationStep
from meetbridge.db.tables import utcnow
from meetbridge.domain.extensions import ExtensionState, ExtensionStatus
from meetbridge.engine.calls import MIGRATION, ProfileCalls, adapter_state
from meetbridge.errors import ProviderAuthExpired, ProviderNotFound, ProviderRejected
from meetbridge.providers.base import EventSnapshot, Outcome, ProviderState

_PERMANENT = (ProviderRejected, ProviderNotFound, ProviderAuthExpired)


class Migrator:
    def __init__(self, calls: ProfileCalls, log: MigrationLog) -> None:
        self.calls = calls
        self.log = log

    async def move(self, event: EventSnapshot, extension: ExtensionState, new: Profile) -> Outcome:
        state: ProviderState = dict(extension.provider_state or {})
        target = incarnation(new)
        if (state.get(MIGRATION) or {}).get("to") not in (None, target):
            # Switched again before the last move finished: withdraw what that one made first.
            state = dict(await self.abandon(event, extension) or {})
        old = await self.calls.profile_of(new.profile_id, state)
        old_bot = extension.bot_id
        status = ExtensionStatus(extension.status)
        from_adapter = old.adapter if isinstance(old, Profile) else "unknown"
        slot: dict[str, Any] = dict(state.get(MIGRATION) or {})
        if slot.get("to") != target:
            slot = {"to": target, "state": None}

        async def note(outcome: str, detail: str | None, new_bot: str | None = None) -> None:
            step = MigrationStep(
                profile_id=new.profile_id,
                from_adapter=from_adapter,
                to_adapter=new.adapter,
                old_bot_id=old_bot,
                new_bot_id=new_bot,
                outcome=outcome,
                detail=detail,
            )
            await self.log.note(event.pk, step)

        def stay(detail: str) -> Outcome:
            """The old bot stays (and with it everything recorded so far)."""
            message = f"not moved to {new.adapter} yet: {detail}; the current bot stays"
            return Outcome(status=status, bot_id=old_bot, last_error=message, provider_state=state)

        window = timedelta(seconds=self.calls.config.server.migration_window_seconds)
        if old_bot and event.start_at - utcnow() < window:
            detail = f"starts within the {int(window.total_seconds() // 60)}-minute safety window"
            if slot.get("state"):
                # A move cut short before the window: what it made goes, or two bots would join.
                await self.calls.call_profile(
                    new, event, extension.provider, want_bot=False, state=slot["state"], drop_copy=True
                )
                state.pop(MIGRATION, None)
                await self.calls.save_state_of(event.pk, extension.provider, state, moving=True)
            await note("kept", detail)
            return stay(detail)
        if isinstance(old, str):
            await note("failed", old)  # a new bot now could not be matched by cancelling this one
            return stay(old)

        async def save_new(new_state: ProviderState) -> None:
            state[MIGRATION] = {"to": target, "state": new_state or None}
            await self.calls.save_state_of(event.pk, extension.provider, state, moving=True)

        try:
            made = await self.calls.call_profile(
                new, event, extension.provider, want_bot=True, state=slot["state"], save=save_new
            )
        except Exception as exc:
            cause = getattr(exc, "error", exc)
            if not isinstance(cause, _PERMANENT):
                raise  # transient: the worker retries; what the new adapter saved is kept
            await note("failed", str(cause))
            return stay(str(cause))
        await save_new(made.provider_state or {})
        if made.status != ExtensionStatus.SCHEDULED or not made.bot_id:
            detail = f"{made.status}" + (f": {made.last_error}" if made.last_error else "")
            await note("waiting" if made.status != ExtensionStatus.FAILED else "failed", detail)
            return stay(detail)
        # Confirmed: now break. A failure here retries the job, which finds the new bot saved.
        previous = {k: v for k, v in state.items() if k != MIGRATION}
        if adapter_state(previous):
            gone = await self.calls.call_profile(
                old, event, extension.provider, want_bot=False, state=previous, drop_copy=True
            )
            if gone.status == ExtensionStatus.FAILED or gone.bot_id:
                # The old bot cannot be cancelled: two must not stay, so the new one goes again.
                await self.calls.call_profile(
                    new, event, extension.provider, want_bot=False, state=made.provider_state, drop_copy=True
                )
                await save_new({})
                detail = f"the {from_adapter} bot could not be cancelled: {gone.last_error or 'it remains'}"
                await note("failed", detail)
                return stay(detail)
        await note("moved", None, made.bot_id)
        return made

    async def abandon(self, event: EventSnapshot, extension: ExtensionState) -> ProviderState | None:
        """The profile went back to the mechanism the bot was made under before a move finished:
        what the move made at the new one is withdrawn (a bot there could join too)."""
        state: ProviderState = dict(extension.provider_state or {})
        slot: dict[str, Any] = dict(state.pop(MIGRATION, None) or {})
        if slot.get("state"):
            towards = await self.calls.incarnations.profile(
                str(slot.get("to")), self.calls.registry.catalogue
            )
            detail = "switched back before the move was confirmed; what it made was withdrawn"
            if isinstance(towards, Profile):
                await self.calls.call_profile(
                    towards, event, extension.provider, want_bot=False, state=slot["state"], drop_copy=True
                )
            else:
                detail = f"switched back before the move was confirmed; {towards}"
            current = await self.calls.profile_of(extension.profile_id, state)
            step = MigrationStep(
                profile_id=extension.profile_id,
                from_adapter=towards.adapter if isinstance(towards, Profile) else "unknown",
                to_adapter=current.adapter if isinstance(current, Profile) else "unknown",
                old_bot_id=None,
                new_bot_id=extension.bot_id,
                outcome="failed",
                detail=detail,
            )
            await self.log.note(event.pk, step)
        await self.calls.save_state_of(event.pk, extension.provider, state, moving=True)
        return state or None
