"""`provider_health`: one document per provider (`_id` = provider id) with its breaker, budget
use and spend, written by the provider's admission owner — one writer — for the console and the
admin API. Plain `_id` writes (FerretDB's filtered updates are not atomic; nobody contends)."""

from __future__ import annotations

from typing import Any

from photochanger_runtime import mongo
from photochanger_runtime.observability.dbcommands import background
from pymongo.asynchronous.database import AsyncDatabase

COLLECTION = "provider_health"


class HealthSnapshots:
    def __init__(self, db: AsyncDatabase[mongo.Document]) -> None:
        self._collection = db[COLLECTION]

    async def write(self, provider: str, document: dict[str, Any]) -> None:
        background()
        await self._collection.replace_one({"_id": provider}, document, upsert=True)

    async def all(self) -> list[dict[str, Any]]:
        background()
        return [doc async for doc in self._collection.find({})]
