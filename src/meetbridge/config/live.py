"""The configuration a running gateway acts on, replaceable while it runs (``meetbridge reload``).

The swap is one assignment of a whole, validated GatewayConfig: a reader sees the old one or the new
one, never a mix. Readers look a profile up when they need it; work already holding an adapter
finishes with it.
"""

from __future__ import annotations

from meetbridge.config.profiles import GatewayConfig


class LiveConfig:
    def __init__(self, config: GatewayConfig) -> None:
        self._current = config
        self.generation = 0  # how many times it was replaced

    @property
    def current(self) -> GatewayConfig:
        return self._current

    def replace(self, config: GatewayConfig) -> None:
        self._current = config
        self.generation += 1


def live(config: GatewayConfig | LiveConfig) -> LiveConfig:
    """Components built with a fixed configuration (tests, one-off commands) get one that never changes."""
    return config if isinstance(config, LiveConfig) else LiveConfig(config)
