"""The MongoDB client. FerretDB is the embedded default, so we use only what both support:
single-document atomic updates, plain indexes, `$match`/`$group` aggregation. No transactions,
no change streams, no TTL indexes (the ttl-reaper owns expiry)."""

from __future__ import annotations

import asyncio
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import ConnectionFailure, OperationFailure, PyMongoError

from .observability.dbcommands import CommandCounter

Document = dict[str, Any]

#: FerretDB answers `InternalError` (code 1) with its backend's words when PostgreSQL is away
#: or restarting; MongoDB has no such case (its own storage is in the process)
_BACKEND_AWAY = (
    "failed to connect",
    "dial error",
    "connection refused",
    "the database system is starting up",
    "the database system is shutting down",
    "terminating connection",
)


def database_unavailable(exc: BaseException) -> bool:
    """The database could not do it now but may soon: a lost or refused connection, a
    timeout, a retryable write, or the server's own storage away (FerretDB's backend)."""
    if not isinstance(exc, PyMongoError):
        return False
    if isinstance(exc, ConnectionFailure) or exc.timeout:
        return True
    if exc.has_error_label("RetryableWriteError"):
        return True
    if isinstance(exc, OperationFailure) and exc.code == 1:
        said = str((exc.details or {}).get("errmsg", exc)).lower()
        return any(words in said for words in _BACKEND_AWAY)
    return False


def create_client(
    uri: str, *, app_name: str, timeout_seconds: float = 10.0
) -> AsyncMongoClient[Document]:
    """`timeout_seconds` bounds every operation, retries included (`timeoutMS`): pymongo
    retries a read or write cut by a lost connection until it runs out, so this, not the
    server selection timeout, is how long a caller waits for a database that went away.
    `pymongo.timeout(seconds)` overrides it for a block (the api's admin requests)."""
    return AsyncMongoClient(
        uri,
        tz_aware=True,
        appname=app_name,
        serverSelectionTimeoutMS=min(1500, int(timeout_seconds * 1000 * 2 / 3)),
        connectTimeoutMS=3000,
        timeoutMS=int(timeout_seconds * 1000),
        event_listeners=[CommandCounter()],
    )


def database(client: AsyncMongoClient[Document], name: str) -> AsyncDatabase[Document]:
    return client[name]


async def ping(db: AsyncDatabase[Document]) -> None:
    """Readiness: the server answers within two seconds."""
    async with asyncio.timeout(2.0):
        await db.command("ping")
