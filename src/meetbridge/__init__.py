"""meetbridge: one Cronofy-compatible event API for Recall.ai meeting bots."""

__version__ = "0.1.0"
