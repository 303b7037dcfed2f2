"""Where webhook deliveries are kept, and who makes each attempt.

`webhook_deliveries`: one document per job (`_id` = job id): where to, what, the state
(`pending`, `delivered`, `failed`), when the next attempt is due, and every attempt made.
Which replica makes an attempt is decided by inserting `{job_id}@{due time}` into
`webhook_attempts`: one winner per due time on every replica and on FerretDB, whose
conditional updates are not atomic (ADR-0006). The winner first moves the due time to the
retry after this one, then sends: a replica that dies mid-attempt leaves a delivery that is
due again at that time, for any replica to take."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from photochanger_runtime.mongo import Document
from pydantic import BaseModel, ConfigDict, Field
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

DELIVERIES = "webhook_deliveries"
ATTEMPTS = "webhook_attempts"
#: attempts kept on a delivery (the latest ones)
MAX_LOGGED_ATTEMPTS = 30

State = Literal["pending", "delivered", "failed"]


class Attempt(BaseModel):
    model_config = ConfigDict(frozen=True)

    at: datetime
    status_code: int | None = None
    error: str | None = None
    duration_ms: float


class Delivery(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    job_id: str = Field(alias="_id")
    key_id: str
    url: str
    #: the webhook's `webhook-id` (the same on every attempt)
    message_id: str
    payload: dict[str, Any]
    state: State = "pending"
    created_at: datetime
    next_attempt_at: datetime
    #: retries stop here (the job's result expiry)
    expires_at: datetime
    attempts: int = 0
    log: tuple[Attempt, ...] = ()
    delivered_at: datetime | None = None


class WebhookDeliveries:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._deliveries = db[DELIVERIES]
        self._attempts = db[ATTEMPTS]

    async def ensure_indexes(self) -> None:
        await self._deliveries.create_index([("state", ASCENDING), ("next_attempt_at", ASCENDING)])
        await self._deliveries.create_index([("key_id", ASCENDING), ("created_at", DESCENDING)])
        await self._deliveries.create_index([("created_at", DESCENDING)])

    async def record(self, delivery: Delivery) -> bool:
        """Record a new delivery; False when the job's was recorded already (a duplicate
        status event)."""
        try:
            await self._deliveries.insert_one(delivery.model_dump(by_alias=True))
        except DuplicateKeyError:
            return False
        return True

    async def get(self, job_id: str) -> Delivery | None:
        doc = await self._deliveries.find_one({"_id": job_id})
        return Delivery.model_validate(doc) if doc else None

    async def due(self, now: datetime, limit: int) -> Sequence[Delivery]:
        found = self._deliveries.find({"state": "pending", "next_attempt_at": {"$lte": now}})
        return [Delivery.model_validate(d) async for d in found.limit(limit)]

    async def claim(self, delivery: Delivery, *, worker: str, now: datetime) -> bool:
        """True for exactly one caller per (delivery, due time)."""
        try:
            await self._attempts.insert_one(
                {"_id": f"{delivery.job_id}@{delivery.next_attempt_at.isoformat()}",
                 "job_id": delivery.job_id, "worker": worker, "at": now}
            )  # fmt: skip
        except DuplicateKeyError:
            return False
        return True

    async def reschedule(self, job_id: str, next_attempt_at: datetime) -> None:
        await self._deliveries.update_one(
            {"_id": job_id}, {"$set": {"next_attempt_at": next_attempt_at}}
        )

    async def finish_attempt(self, delivery: Delivery, attempt: Attempt, *, state: State) -> None:
        changes: dict[str, Any] = {
            "state": state,
            "attempts": delivery.attempts + 1,
            "log": [a.model_dump() for a in (*delivery.log, attempt)][-MAX_LOGGED_ATTEMPTS:],
        }
        if state == "delivered":
            changes["delivered_at"] = attempt.at
        await self._deliveries.update_one({"_id": delivery.job_id}, {"$set": changes})

    async def page(
        self, *, key_id: str | None, state: State | None, limit: int
    ) -> Sequence[Delivery]:
        where: dict[str, Any] = {}
        if key_id:
            where["key_id"] = key_id
        if state:
            where["state"] = state
        found = self._deliveries.find(where).sort("created_at", DESCENDING).limit(limit)
        return [Delivery.model_validate(d) async for d in found]
