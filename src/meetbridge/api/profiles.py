"""Configured profiles, as apps may name them in extensions. Never a secret."""

from __future__ import annotations

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromPath

from meetbridge.api.audit_schemas import AuditCountsRead, AuditFindingRead, AuditResponse, AuditRunRead
from meetbridge.api.events import NOT_FOUND
from meetbridge.api.presenters import wire_time
from meetbridge.api.schemas import (
    MigrationPlanRead,
    MigrationPlanResponse,
    PlannedEventRead,
    ProfileRead,
    ProfilesResponse,
)
from meetbridge.engine.switching.plan import MigrationPlan, Planner
from meetbridge.errors import NotFound
from meetbridge.runtime.gateway import Gateway

MAX_EXAMPLES = 20  # differences shown by GET /v1/profiles/{profile_id}/audit; the counts cover all


def plan_read(plan: MigrationPlan) -> MigrationPlanRead:
    return MigrationPlanRead(
        profile_id=plan.profile_id,
        adapter=plan.adapter,
        move=plan.count("move"),
        keep=plan.count("keep"),
        cannot_move=plan.count("cannot_move"),
        events=[
            PlannedEventRead(
                calendar_id=e.calendar_id,
                event_id=e.event_id,
                event_uid=e.event_uid,
                start=wire_time(e.start),
                from_adapter=e.from_adapter,
                to_adapter=e.to_adapter,
                old_bot_id=e.old_bot_id,
                action=e.action,
                reason=e.reason,
                calls=e.calls,
            )
            for e in plan.events
        ],
    )


class ProfilesController(Controller):
    path = "/v1/profiles"
    tags = ["profiles"]

    @get(operation_id="list_profiles", summary="List configured profiles and their adapters")
    async def list_profiles(
        self, application_id: NamedDependency[str], gateway: NamedDependency[Gateway]
    ) -> ProfilesResponse:
        del application_id  # required for authentication only
        return ProfilesResponse(
            profiles=[
                ProfileRead(profile_id=p.profile_id, adapter=p.adapter, region=p.region, base_url=p.base_url)
                for p in sorted(gateway.config.profiles.values(), key=lambda p: p.profile_id)
            ]
        )

    @get(
        "/{profile_id:str}/migration",
        operation_id="get_profile_migration",
        responses=NOT_FOUND,
        summary="What switching the profile to its configured mechanism does to each future event",
    )
    async def get_migration(
        self,
        profile_id: FromPath[str],
        application_id: NamedDependency[str],
        gateway: NamedDependency[Gateway],
    ) -> MigrationPlanResponse:
        config = gateway.config
        if profile_id not in config.profiles:
            raise NotFound(f"profile {profile_id} is not configured")
        plan = await Planner(gateway.database, gateway.registry).plan(
            config, profile_id, application_id=application_id
        )
        return MigrationPlanResponse(migration=plan_read(plan))

    @get(
        "/{profile_id:str}/audit",
        operation_id="get_profile_audit",
        responses=NOT_FOUND,
        summary="The profile's last drift audit, as it concerns this application's events",
    )
    async def get_audit(
        self,
        profile_id: FromPath[str],
        application_id: NamedDependency[str],
        gateway: NamedDependency[Gateway],
    ) -> AuditResponse:
        if profile_id not in gateway.config.profiles:
            raise NotFound(f"profile {profile_id} is not configured")
        run = await gateway.audit_log.last_run(profile_id)
        if run is None or run.finished_at is None:
            return AuditResponse(audit=None)
        findings = await gateway.audit_log.findings(run.run_id, application_id)
        totals = dict.fromkeys(("missing", "orphan", "stale", "foreign"), 0)
        for finding in findings:
            totals[finding.kind] = totals.get(finding.kind, 0) + 1
        return AuditResponse(
            audit=AuditRunRead(
                profile_id=profile_id,
                started=wire_time(run.started_at),
                finished=wire_time(run.finished_at),
                error=run.error,
                counts=AuditCountsRead(**totals),
                examples=[
                    AuditFindingRead(
                        kind=f.kind,  # type: ignore[arg-type]  # the column only holds the four classes
                        calendar_id=f.calendar_id,
                        event_id=f.event_id,
                        event_uid=f.event_uid,
                        bot_id=f.bot_id,
                        action=f.action,  # type: ignore[arg-type]  # ... and the four actions
                        detail=f.detail,
                    )
                    for f in findings[:MAX_EXAMPLES]
                ],
            )
        )
