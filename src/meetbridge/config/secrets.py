"""Secrets are named in files as ``env:NAME`` and resolved once, at load; the value never prints."""

from __future__ import annotations

from collections.abc import Mapping

ENV_PREFIX = "env:"


class Secret:
    """A resolved secret. ``repr``/``str`` show only where it came from."""

    __slots__ = ("_value", "source")

    def __init__(self, value: str, source: str) -> None:
        self._value = value
        self.source = source

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"Secret({self.source})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def resolve_secret(reference: object, environ: Mapping[str, str]) -> Secret:
    """Turn ``"env:NAME"`` into a Secret; raise ValueError with a sentence that never holds a value."""
    if not isinstance(reference, str) or not reference.startswith(ENV_PREFIX):
        raise ValueError('must be an environment reference like "env:NAME", never a literal secret')
    name = reference[len(ENV_PREFIX) :]
    if not name:
        raise ValueError('names no environment variable (write "env:NAME")')
    value = environ.get(name)
    if not value:
        raise ValueError(f"environment variable {name} is not set")
    return Secret(value, reference)
