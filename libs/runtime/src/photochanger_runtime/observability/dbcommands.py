"""Every database command a process sends, counted by command, collection and origin.

`origin` separates the job's path (message handlers and HTTP requests: "request") from the
periodic work of sweeps and heartbeats ("background"), so the commands a job costs can be read
off `/metrics` — the budget is a handful per job (ADR-0012), and a test holds it there."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Final

from prometheus_client import Counter
from pymongo import monitoring

DB_COMMANDS: Final = Counter(
    "photochanger_db_commands_total",
    "Database commands sent, by command, collection and origin (request or background)",
    ["command", "collection", "origin"],
)

_origin: ContextVar[str] = ContextVar("db_origin", default="request")
#: commands that belong to the connection, not to any work
_HOUSEKEEPING: Final = frozenset(
    {"hello", "ismaster", "isMaster", "ping", "endSessions", "buildInfo"}
)


def background() -> None:
    """Mark the current task (and the tasks it starts) as periodic background work."""
    _origin.set("background")


class CommandCounter(monitoring.CommandListener):
    def started(self, event: monitoring.CommandStartedEvent) -> None:
        name = event.command_name
        if name in _HOUSEKEEPING:
            return
        target = event.command.get(name)
        collection = target if isinstance(target, str) else "-"
        DB_COMMANDS.labels(command=name, collection=collection, origin=_origin.get()).inc()

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        return None

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        return None
