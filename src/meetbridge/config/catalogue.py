"""The adapter catalogue: ``adapters/<adapter>.toml``, one file per adapter, validated at start-up."""

from __future__ import annotations

import importlib
import tomllib
from pathlib import Path
from typing import Annotated

import msgspec

from meetbridge.config.options import AdapterOptions
from meetbridge.errors import ConfigError

PositiveFloat = Annotated[float, msgspec.Meta(gt=0)]


class RetryBudget(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    max_attempts: Annotated[int, msgspec.Meta(ge=1)]
    base_delay_seconds: PositiveFloat
    max_delay_seconds: PositiveFloat


class AdapterSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: str
    implementation: str
    options: str
    auth_scheme: str
    default_region: str
    regions: dict[str, str]
    rate_limits: dict[str, Annotated[int, msgspec.Meta(ge=1)]]
    retry: RetryBudget
    windows: dict[str, int]

    def options_class(self) -> type[AdapterOptions]:
        found = _import(self.options)
        if not (isinstance(found, type) and issubclass(found, AdapterOptions)):
            raise TypeError(f"{self.options} is not an AdapterOptions class")
        return found


class Catalogue(msgspec.Struct, frozen=True):
    adapters: dict[str, AdapterSpec]

    def get(self, name: str) -> AdapterSpec | None:
        return self.adapters.get(name)


def _import(dotted: str) -> object:
    module_name, _, attribute = dotted.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


def load_catalogue(directory: Path) -> Catalogue:
    """Read every ``*.toml`` in ``directory``; every problem is reported, not just the first."""
    problems: list[str] = []
    adapters: dict[str, AdapterSpec] = {}
    files = sorted(directory.glob("*.toml")) if directory.is_dir() else []
    if not files:
        raise ConfigError([f"adapter catalogue {directory}: no adapter files found"])
    for path in files:
        name = path.stem
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
            spec = msgspec.convert({"name": name, **raw}, AdapterSpec)
        except (tomllib.TOMLDecodeError, msgspec.ValidationError) as exc:
            problems.append(f"adapter catalogue {path.name}: {exc}")
            continue
        if spec.default_region not in spec.regions:
            problems.append(f"adapter catalogue {path.name}: default_region {spec.default_region} has no URL")
        try:
            spec.options_class()
        except (ImportError, AttributeError, TypeError) as exc:
            problems.append(f"adapter catalogue {path.name}: options {spec.options}: {exc}")
        adapters[name] = spec
    if problems:
        raise ConfigError(problems)
    return Catalogue(adapters)
