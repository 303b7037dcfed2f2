"""Small helpers shared by the end-to-end tests."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
from photochanger_devstack.stack import Stack

from tests.support.waiting import eventually


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def ingest(
    api: httpx.AsyncClient,
    stack: Stack,
    slot_id: str,
    photo: bytes,
    *,
    field: str = "fileToUpload",
    password: str | None = None,
    extra: dict[str, str] | None = None,
    filename: str = "photo.jpg",
    content_type: str = "image/jpeg",
) -> httpx.Response:
    data = {"password": stack.ingest_password if password is None else password, **(extra or {})}
    return await api.post(
        f"/ingest/{slot_id}", data=data, files={field: (filename, photo, content_type)}
    )


async def submissions_for(emulator: httpx.AsyncClient, image_sha: str) -> int:
    stats = (await emulator.get("/_emulator/stats")).json()
    return int(stats["submissions"]["by_image_sha256"].get(image_sha, 0))


async def queue_for(turbotext: httpx.AsyncClient, image_sha: str) -> dict[str, Any] | None:
    stats = (await turbotext.get("/_emulator/stats")).json()
    return next((q for q in stats["queues"].values() if q["image_sha256"] == image_sha), None)


async def provider_in_flight(stack: Stack, service: str) -> float:
    async with httpx.AsyncClient(base_url=stack.url(service), timeout=5) as client:
        text = (await client.get("/metrics")).text
    for line in text.splitlines():
        if line.startswith("photochanger_provider_jobs_in_flight{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def wait_idle(stack: Stack, service: str) -> None:
    async def idle() -> bool:
        return await provider_in_flight(stack, service) == 0

    await eventually(idle, timeout=20, what=f"{service} to finish its jobs")


async def job_record(db: Any, job_id: str) -> dict[str, Any] | None:
    """The job's final record, else its live one (`photochanger_runtime.jobs.mongo_store`)."""
    final: dict[str, Any] | None = await db.jobs.find_one({"_id": job_id})
    return final if final is not None else await db.jobs_live.find_one({"_id": job_id})


async def final_record(db: Any, job_id: str) -> dict[str, Any]:
    async def final() -> dict[str, Any] | None:
        found: dict[str, Any] | None = await db.jobs.find_one({"_id": job_id})
        return found

    return await eventually(final, timeout=30, what=f"the final record of {job_id}")


async def job_with_photo(db: Any, photo_sha256: str) -> dict[str, Any] | None:
    """The record of the job made from a photo, live or final."""
    for collection in (db.jobs_live, db.jobs):
        found: dict[str, Any] | None = await collection.find_one({"payload.sha256": photo_sha256})
        if found is not None:
            return found
    return None


async def log_events(db: Any, job_id: str) -> list[str]:
    """The job's processing log: its final record's entries in order, then the entries
    written outside it (late results, an attempt that handed the job over)."""
    final = await db.jobs.find_one({"_id": job_id})
    entries = list(final.get("log", [])) if final else []
    entries += [e async for e in db.processing_logs.find({"job_id": job_id}).sort("at", 1)]
    return [e["event"] for e in entries]
