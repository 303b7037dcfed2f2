"""The MongoDB client. FerretDB is the embedded default, so we use only what both support:
single-document atomic updates, plain indexes, `$match`/`$group` aggregation. No transactions,
no change streams, no TTL indexes (the ttl-reaper owns expiry)."""

from __future__ import annotations

import asyncio
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from .observability.dbcommands import CommandCounter

Document = dict[str, Any]


def create_client(uri: str, *, app_name: str) -> AsyncMongoClient[Document]:
    return AsyncMongoClient(
        uri,
        tz_aware=True,
        appname=app_name,
        # A database that is down answers in 1.5 s, not in a minute: the api's ingest says
        # 503 within two seconds (and workers retry where they must).
        serverSelectionTimeoutMS=1500,
        connectTimeoutMS=3000,
        # Fail fast when the database is down: the api answers 503 instead of hanging.
        timeoutMS=10000,
        event_listeners=[CommandCounter()],
    )


def database(client: AsyncMongoClient[Document], name: str) -> AsyncDatabase[Document]:
    return client[name]


async def ping(db: AsyncDatabase[Document]) -> None:
    """Readiness: the server answers within two seconds."""
    async with asyncio.timeout(2.0):
        await db.command("ping")
