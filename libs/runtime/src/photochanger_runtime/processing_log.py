"""The processing log: one entry per transition and per provider call.

Entries carry ids, timings and codes only: never image bytes, passwords, keys or raw
provider responses."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from opentelemetry import trace
from pydantic import BaseModel, ConfigDict
from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from .mongo import Document

_MAX_MESSAGE = 500
log = logging.getLogger(__name__)


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
    """Appends are buffered and written in batches (one `insert_many` instead of a round trip
    per entry on the job's critical path). Whoever announces a final state calls `flush()`
    first, so a finished job's log is complete when anyone hears about it; a background task
    writes the rest within `flush_interval` seconds."""

    def __init__(
        self, db: AsyncDatabase[Document], *, flush_interval: float = 0.1, max_buffer: int = 10_000
    ) -> None:
        self._entries = db["processing_logs"]
        self._buffer: list[Document] = []
        self._flush_interval = flush_interval
        self._max_buffer = max_buffer
        self._lock = asyncio.Lock()
        self._flusher: asyncio.Task[None] | None = None

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
        if len(self._buffer) >= self._max_buffer:
            log.error("processing log buffer full; dropping the oldest entry")
            self._buffer.pop(0)
        self._buffer.append(entry.model_dump(exclude_none=True))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_soon(), name="processing-log")

    async def _flush_soon(self) -> None:
        await asyncio.sleep(self._flush_interval)  # batching window, not a synchronization
        try:
            await self.flush()
        except Exception:  # kept in the buffer; the next append or flush retries
            log.exception("processing log entries not written yet")

    async def flush(self) -> None:
        """Write everything appended so far."""
        async with self._lock:
            if not self._buffer:
                return
            batch, self._buffer = self._buffer, []
            try:
                await self._entries.insert_many(batch, ordered=False)
            except BulkWriteError as exc:
                # entries already written by an earlier, interrupted attempt are duplicates
                failed = {
                    e["index"] for e in exc.details.get("writeErrors", []) if e.get("code") != 11000
                }
                self._buffer[:0] = [entry for i, entry in enumerate(batch) if i in failed]
                raise
            except Exception:
                self._buffer[:0] = batch
                raise

    async def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
        await self.flush()

    async def for_job(self, job_id: str) -> Sequence[LogEntry]:
        await self.flush()
        cursor = self._entries.find({"job_id": job_id}).sort("at", ASCENDING)
        return [LogEntry.model_validate(d) async for d in cursor]
