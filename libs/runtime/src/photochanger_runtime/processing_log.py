"""The processing log: one entry per transition and per provider call.

Entries carry ids, timings and codes only: never image bytes, passwords, keys or raw
provider responses."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from opentelemetry import trace
from pydantic import BaseModel, ConfigDict
from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from .mongo import Document

_MAX_MESSAGE = 500


class LogEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    job_id: str
    slot_id: str
    provider: str | None = None
    event: str
    at: datetime
    attempt: int | None = None
    duration_ms: float | None = None
    provider_status: str | None = None
    error_code: str | None = None
    error_message: str | None = None
    trace_id: str | None = None
    details: dict[str, Any] | None = None


def current_trace_id() -> str | None:
    ctx = trace.get_current_span().get_span_context()
    return format(ctx.trace_id, "032x") if ctx.is_valid else None


class ProcessingLog:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._entries = db["processing_logs"]

    async def ensure_indexes(self) -> None:
        await self._entries.create_index([("job_id", ASCENDING), ("at", ASCENDING)])

    async def append(
        self,
        *,
        job_id: str,
        slot_id: str,
        event: str,
        at: datetime,
        provider: str | None = None,
        attempt: int | None = None,
        duration_ms: float | None = None,
        provider_status: str | None = None,
        error_code: str | None = None,
        error_message: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        entry = LogEntry(
            job_id=job_id,
            slot_id=slot_id,
            provider=provider,
            event=event,
            at=at,
            attempt=attempt,
            duration_ms=round(duration_ms, 1) if duration_ms is not None else None,
            provider_status=provider_status,
            error_code=error_code,
            error_message=error_message[:_MAX_MESSAGE] if error_message else None,
            trace_id=current_trace_id(),
            details=details,
        )
        await self._entries.insert_one(entry.model_dump(exclude_none=True))

    async def for_job(self, job_id: str) -> Sequence[LogEntry]:
        cursor = self._entries.find({"job_id": job_id}).sort("at", ASCENDING)
        return [LogEntry.model_validate(d) async for d in cursor]
