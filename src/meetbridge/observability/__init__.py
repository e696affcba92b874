"""Metrics and structured logs: the definitions every layer above records through."""
