"""Configured profiles, as apps may name them in extensions. Never a secret."""

from __future__ import annotations

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromPath

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
