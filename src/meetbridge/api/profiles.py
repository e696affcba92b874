"""Configured profiles, as apps may name them in extensions. Never a secret."""

from __future__ import annotations

from litestar import Controller, get
from litestar.di import NamedDependency

from meetbridge.api.schemas import ProfileRead, ProfilesResponse
from meetbridge.gateway import Gateway


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
