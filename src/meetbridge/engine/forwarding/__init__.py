"""Forwarding links (Cronofy): sealed credentials opened for a job; link, unlink, and the pushes
that ask for a read-back."""

from meetbridge.engine.forwarding.credentials import ForwardingLinks, NewCredentials

__all__ = ["ForwardingLinks", "NewCredentials"]
