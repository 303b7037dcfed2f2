"""Read-only views of jobs for admins: filtered pages and a slot's recent results.

Jobs are recorded in two collections (`photochanger_runtime.jobs.mongo_store`): final records
in `jobs`, live ones in the small `jobs_live`, whose state (pending or processing) their
claims tell. Queries project only the fields a view shows and page with a keyset cursor on
(created_at, _id) over both, so a page costs the same however deep it is."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from photochanger_contracts import JobOutcome, JobStatus
from photochanger_runtime.jobs.mongo_store import CLAIMS, FINAL, LIVE
from photochanger_runtime.mongo import Document
from pydantic import BaseModel, ConfigDict, Field
from pymongo.asynchronous.database import AsyncDatabase

from ..database_deadlines import patiently

_SUMMARY_FIELDS = (
    "slot_id", "provider", "operation", "status", "outcome", "attempt", "error",
    "created_at", "expires_at", "finalized_at", "result_expires_at",
    "result.mime_type", "result.size_bytes", "fallback_from",
)  # fmt: skip


class InvalidCursor(ValueError):
    pass


class JobSummary(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    id: str = Field(alias="_id")
    slot_id: str
    provider: str
    operation: str
    status: JobStatus
    outcome: JobOutcome | None = None
    attempt: int = 0
    error_code: str | None = None
    created_at: datetime
    updated_at: datetime
    expires_at: datetime
    finalized_at: datetime | None = None
    result_expires_at: datetime | None = None
    result_mime_type: str | None = None
    result_size_bytes: int | None = None

    @classmethod
    def from_doc(cls, doc: Document) -> JobSummary:
        result = doc.get("result") or {}
        error = doc.get("error") or {}
        return cls.model_validate(
            {
                **doc,
                "updated_at": doc.get("finalized_at") or doc["created_at"],
                "error_code": error.get("code"),
                "result_mime_type": result.get("mime_type"),
                "result_size_bytes": result.get("size_bytes"),
            }
        )


@dataclass(frozen=True, slots=True)
class JobFilter:
    slot_id: str | None = None
    status: JobStatus | None = None
    outcome: JobOutcome | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None

    def query(self) -> Document:
        """The filter for either collection (status is applied on top: see `JobQueries`)."""
        query: Document = {}
        if self.slot_id is not None:
            query["slot_id"] = self.slot_id
        if self.outcome is not None:
            query["outcome"] = self.outcome.value
        created: Document = {}
        if self.created_from is not None:
            created["$gte"] = self.created_from
        if self.created_to is not None:
            created["$lt"] = self.created_to
        if created:
            query["created_at"] = created
        return query


@dataclass(frozen=True, slots=True)
class JobPage:
    items: Sequence[JobSummary]
    next_cursor: str | None


def encode_cursor(created_at: datetime, job_id: str) -> str:
    raw = json.dumps({"t": created_at.isoformat(), "id": job_id}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data: dict[str, Any] = json.loads(raw)
        moment = datetime.fromisoformat(data["t"])
        job_id = data["id"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise InvalidCursor("not a cursor this api handed out") from exc
    if not isinstance(job_id, str) or moment.tzinfo is None:
        raise InvalidCursor("not a cursor this api handed out")
    return moment, job_id


class JobQueries:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._final = db[FINAL]
        self._live = db[LIVE]
        self._claims = db[CLAIMS]

    async def ensure_indexes(self) -> None:
        return None  # the job store creates the indexes these queries use

    @patiently
    async def page(self, where: JobFilter, *, limit: int, cursor: str | None) -> JobPage:
        """Newest first; `next_cursor` continues after the last item, None at the end."""
        query = where.query()
        if cursor is not None:
            created_at, job_id = decode_cursor(cursor)
            after = {
                "$or": [
                    {"created_at": {"$lt": created_at}},
                    {"created_at": created_at, "_id": {"$lt": job_id}},
                ]
            }
            query = {"$and": [query, after]} if query else after
        wanted = where.status
        docs: list[Document] = []
        if wanted in (None, JobStatus.FINALIZED):
            docs += await self._newest(self._final, query, limit + 1)
        if wanted is not JobStatus.FINALIZED and where.outcome is None:
            for doc in await self._newest(self._live, query, limit + 1 if wanted is None else 0):
                if await self._final.find_one({"_id": doc["_id"]}, {"_id": 1}):
                    continue  # final a moment ago, its live record not yet removed
                doc["status"], doc["attempt"] = await self._live_state(doc["_id"])
                if wanted is None or doc["status"] == wanted.value:
                    docs.append(doc)
        docs.sort(key=lambda d: (d["created_at"], d["_id"]), reverse=True)
        items = [JobSummary.from_doc(d) for d in docs[:limit]]
        more = len(docs) > limit
        return JobPage(
            items=items,
            next_cursor=encode_cursor(items[-1].created_at, items[-1].id) if more else None,
        )

    async def _newest(self, collection: Any, query: Document, limit: int) -> list[Document]:
        found = collection.find(query, dict.fromkeys(_SUMMARY_FIELDS, 1))
        ordered = found.sort([("created_at", -1), ("_id", -1)])
        return [d async for d in (ordered.limit(limit) if limit else ordered)]

    async def _live_state(self, job_id: str) -> tuple[str, int]:
        attempt = 0
        while await self._claims.find_one({"_id": f"{job_id}/{attempt + 1}"}, {"_id": 1}):
            attempt += 1
        return (JobStatus.PROCESSING.value if attempt else JobStatus.PENDING.value), attempt

    @patiently
    async def recent_results(self, slot_id: str, limit: int = 10) -> Sequence[JobSummary]:
        """The slot's last `limit` succeeded jobs, newest finalization first."""
        found = self._final.find(
            {"slot_id": slot_id, "outcome": JobOutcome.SUCCEEDED.value},
            dict.fromkeys(_SUMMARY_FIELDS, 1),
        )
        return [JobSummary.from_doc(d) async for d in found.sort("finalized_at", -1).limit(limit)]
