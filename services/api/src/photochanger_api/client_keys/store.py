"""Where client keys are kept: the `client_keys` collection, addressed by `_id`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from photochanger_runtime.mongo import Document
from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from .keys import ClientKey

KEYS = "client_keys"


class ClientKeyStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._keys = db[KEYS]
        self._jobs = db["jobs"]

    async def ensure_indexes(self) -> None:
        await self._jobs.create_index([("client_key_id", ASCENDING)])

    async def create(self, key: ClientKey) -> None:
        await self._keys.insert_one(key.document())

    async def get(self, key_id: str) -> ClientKey | None:
        doc = await self._keys.find_one({"_id": key_id})
        return ClientKey.model_validate(doc) if doc else None

    async def all(self) -> Sequence[ClientKey]:
        return [ClientKey.model_validate(d) async for d in self._keys.find({}).sort("created_at")]

    async def revoke(self, key_id: str, *, by: str, now: datetime) -> None:
        await self._keys.update_one(
            {"_id": key_id}, {"$set": {"revoked_at": now, "revoked_by": by}}
        )

    async def usage(self) -> dict[str, dict[str, int]]:
        """Finished jobs per key: `{key_id: {"jobs": n, "succeeded": m}}`."""
        found: dict[str, dict[str, int]] = {}
        pipelines: list[tuple[str, dict[str, Any]]] = [
            ("jobs", {"client_key_id": {"$type": "string"}}),
            ("succeeded", {"client_key_id": {"$type": "string"}, "outcome": "succeeded"}),
        ]
        for name, match in pipelines:
            cursor = await self._jobs.aggregate(
                [{"$match": match}, {"$group": {"_id": "$client_key_id", "n": {"$sum": 1}}}]
            )
            async for row in cursor:
                found.setdefault(str(row["_id"]), {"jobs": 0, "succeeded": 0})[name] = row["n"]
        return found
