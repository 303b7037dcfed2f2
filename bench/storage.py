"""A look at the database after the load: how long the platform's typical lookups take at
the size the collections have reached (the local FerretDB answers only `_id` filters from
an index; other filters read the whole collection)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from pymongo import AsyncMongoClient

from bench.stats import percentile

_COLLECTIONS = ("jobs", "processing_logs", "media.files", "media.chunks", "job_fences")


async def _timed(fn: Callable[[], Awaitable[object]], repeats: int) -> float:
    timings: list[float] = []
    for _ in range(repeats):
        started = time.perf_counter()
        await fn()
        timings.append((time.perf_counter() - started) * 1000)
    return round(percentile(timings, 50) or 0.0, 2)


async def probe(mongodb_uri: str, database: str, *, repeats: int = 10) -> dict[str, Any]:
    """Collection sizes and the median time of the lookups each job makes (idle stack)."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri)
    try:
        db = client[database]
        sizes = {name: await db[name].estimated_document_count() for name in _COLLECTIONS}
        job = await db["jobs"].find_one({"result": {"$ne": None}})
        if job is None:
            return {"collection_sizes": sizes}
        job_id = job["_id"]
        file_doc = await db["media.files"].find_one({"metadata.job_id": job_id})
        files_id = file_doc["_id"] if file_doc else None
        now = datetime.now(UTC)

        async def by_id() -> object:
            return await db["jobs"].find_one({"_id": job_id})

        async def chunks() -> object:
            return [d async for d in db["media.chunks"].find({"files_id": files_id}).sort("n", 1)]

        async def orphans() -> object:
            query = {"provider": "gemini", "status": "processing", "expires_at": {"$gt": now}}
            return [d async for d in db["jobs"].find(query).limit(50)]

        async def log_entries() -> object:
            return [d async for d in db["processing_logs"].find({"job_id": job_id})]

        timings = {
            "jobs.find_one({_id}) - every job read": await _timed(by_id, repeats),
            "media.chunks.find({files_id}) - every GridFS read (photo, result)": await _timed(
                chunks, repeats
            ),
            "jobs.find({provider, status, expires_at}) - orphan recovery, every 2 s": (
                await _timed(orphans, repeats)
            ),
            "processing_logs.find({job_id}) - job view": await _timed(log_entries, repeats),
        }
        return {"collection_sizes": sizes, "median_ms": timings}
    finally:
        await client.close()
