"""The explicit adapter registry: catalogue names → classes, imported lazily, one per profile.

Nothing is discovered by scanning folders. Every catalogue entry names its implementation; a test
keeps the catalogue and the classes in step. One paced HTTP client is shared per provider account.
"""

from __future__ import annotations

import hashlib
import importlib
import re
from collections.abc import Callable, Iterable, Mapping

import httpx

from meetbridge.config.catalogue import Catalogue
from meetbridge.config.incarnation import incarnation
from meetbridge.config.profiles import Profile
from meetbridge.errors import ConfigError
from meetbridge.providers.base import Adapter, AdapterFactory
from meetbridge.providers.http import Pacer, ProviderHttp
from meetbridge.providers.link_requests import LinkRequest, link_request_type

DEFAULT_TIMEOUT = httpx.Timeout(15.0, connect=5.0)
# An account's shared pacer, by the account's id (a digest: never the credential itself).
PacingFactory = Callable[[str], Pacer]


def account_id(base_url: str, credential: str) -> str:
    """Who a provider's limits apply to, the same in every process: base URL and credential, hashed."""
    return hashlib.sha256(f"{base_url}\0{credential}".encode()).hexdigest()[:32]


def load_factory(dotted: str) -> AdapterFactory:
    module_name, _, attribute = dotted.partition(":")
    factory: AdapterFactory = getattr(importlib.import_module(module_name), attribute)
    return factory


class AdapterRegistry:
    def __init__(
        self,
        catalogue: Catalogue,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        pacing: PacingFactory | None = None,
    ) -> None:
        """``pacing``: where a fleet's shared pacers come from (PostgreSQL); None paces per process."""
        implementations: dict[str, str] = {}
        for name, spec in catalogue.adapters.items():
            if spec.implementation in implementations:
                raise ConfigError(
                    [
                        f"adapter catalogue: {name} and {implementations[spec.implementation]} "
                        f"both name {spec.implementation}"
                    ]
                )
            implementations[spec.implementation] = name
        self.catalogue = catalogue
        self.transport = transport
        self.pacing = pacing
        self._factories: dict[str, AdapterFactory] = {}
        # By base URL, account and auth scheme: a Calendar V1 client must not get the Authorization
        # header a recall-bot profile on the same account put on the client it made first.
        self._clients: dict[tuple[str, str, str], ProviderHttp] = {}
        # By profile and incarnation: while a switched profile's bots move, both mechanisms are in use.
        self._adapters: dict[tuple[str, str], tuple[Profile, Adapter]] = {}

    def factory(self, adapter_name: str) -> AdapterFactory:
        if adapter_name not in self._factories:
            spec = self.catalogue.adapters[adapter_name]
            factory = load_factory(spec.implementation)
            declared = getattr(factory, "name", None)
            if declared != adapter_name:
                raise ConfigError(
                    [f"adapter catalogue {adapter_name}: {spec.implementation} says it is {declared!r}"]
                )
            self._factories[adapter_name] = factory
        return self._factories[adapter_name]

    def extension_provider(self, adapter_name: str) -> str:
        """The extensions ``provider`` the adapter serves (and its key in the event's metadata)."""
        declared = getattr(self.factory(adapter_name), "extension_provider", None)
        if not isinstance(declared, str) or not declared:
            raise ConfigError([f"adapter {adapter_name} declares no extension_provider"])
        return declared

    def link_requests(self) -> dict[str, type[LinkRequest]]:
        """Each catalogued adapter that links calendars, and the link request body it reads (adapters
        this build cannot load are left out: no profile can use them, see availability_problems)."""
        found = {}
        for name in self.catalogue.adapters:
            try:
                request = link_request_type(self.factory(name))
            except (ImportError, AttributeError, ConfigError):
                continue
            if request is not None:
                found[name] = request
        return found

    def _client(
        self, profile: Profile, credential: str, auth_scheme: str, headers: Mapping[str, str]
    ) -> ProviderHttp:
        key = (profile.base_url, credential, auth_scheme)
        if key not in self._clients:
            client = httpx.AsyncClient(
                base_url=profile.base_url,
                headers=dict(headers),
                timeout=DEFAULT_TIMEOUT,
                transport=self.transport,
            )
            shared = self.pacing(account_id(profile.base_url, credential)) if self.pacing else None
            self._clients[key] = ProviderHttp(
                # Named in error messages and logs: the base URL without any user:password@ in it.
                f"{profile.adapter} at {re.sub(r'//[^/@]*@', '//', profile.base_url)}",
                client,
                profile.rate_limits,
                label=profile.adapter,
                pacing=shared,
            )
        return self._clients[key]

    def adapter(self, profile: Profile) -> Adapter:
        """The adapter for ``profile``; rebuilt when the profile's configuration changed."""
        key = (profile.profile_id, incarnation(profile))
        cached = self._adapters.get(key)
        if cached is not None and cached[0] == profile:
            return cached[1]
        factory = self.factory(profile.adapter)
        spec = self.catalogue.adapters[profile.adapter]
        credential, headers = auth_headers(profile, spec.auth_scheme)
        adapter = factory(profile, spec, self._client(profile, credential, spec.auth_scheme, headers))
        self._adapters[key] = (profile, adapter)
        return adapter

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()
        self._adapters.clear()


def availability_problems(profiles: Iterable[Profile], catalogue: Catalogue) -> list[str]:
    """Profiles whose adapter this build cannot run: refused at start-up, not discovered by the worker."""
    problems = []
    for profile in profiles:
        try:
            load_factory(catalogue.adapters[profile.adapter].implementation)
        except (ImportError, AttributeError):
            problems.append(
                f"profile {profile.profile_id}: adapter: {profile.adapter} is not available in this version "
                "of meetbridge yet"
            )
    return problems


def auth_headers(profile: Profile, auth_scheme: str = "token") -> tuple[str, dict[str, str]]:
    """(a key identifying the account, the headers every call carries) for a profile.

    ``auth_scheme`` is the catalogue's: only ``token`` puts ``Authorization: Token <api_key>`` on every
    call. ``calendar_token`` (Recall Calendar V1) must not: its calls carry a per-user calendar token
    alone, and the key goes only on the one call that mints those tokens, which adds it itself. Clients
    are kept per account and scheme, so the two kinds never share one.
    """
    api_key = getattr(profile.options, "api_key", None)
    if api_key is not None:
        key: str = api_key.reveal()
        return key, ({"Authorization": f"Token {key}"} if auth_scheme == "token" else {})
    # Adapters that authenticate per call (Cronofy's per-calendar OAuth tokens) add their own headers.
    return profile.profile_id, {}
