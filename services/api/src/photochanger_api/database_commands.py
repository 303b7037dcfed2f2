"""Every MongoDB command the api starts, counted by name
(`photochanger_database_commands_total{command}`): what a request costs the database, visible
from outside (the ingest budget of ADR-0012, a refused login's zero)."""

from __future__ import annotations

from photochanger_runtime.observability import metrics
from pymongo import monitoring


class _Counter(monitoring.CommandListener):
    def started(self, event: monitoring.CommandStartedEvent) -> None:
        metrics.DATABASE_COMMANDS.labels(command=event.command_name).inc()

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        return None

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        return None


_registered = False


def count() -> None:
    """Count the commands of every client made from now on (once per process)."""
    global _registered
    if not _registered:
        monitoring.register(_Counter())
        _registered = True
