"""The composition root: one ``Gateway`` per process (repositories, the adapter registry, the worker's
wiring) and the reload of its configuration on SIGHUP."""

from meetbridge.runtime.gateway import Gateway
from meetbridge.runtime.reload import Reloader, ReloadOnSignal, signal_server

__all__ = ["Gateway", "ReloadOnSignal", "Reloader", "signal_server"]
