"""After a scenario: what the platform recorded about every request.

- job documents (MongoDB `jobs`, matched by the payload's sha256: every photo is distinct),
- the processing log (`processing_logs`: `at` of created/dispatched/claimed/submitted/
  succeeded, and the provider call's own `duration_ms` on `submitted`),
- the Gemini emulator's `submissions.by_image_sha256` counter.

Lost: no HTTP answer, or a job document still not final once its deadline (plus a grace
period for the api or the ttl-reaper to finalize it) has passed, or a 200 without a job
document. Duplicated: a photo submitted to the provider more than once, or
more than one job document for one photo."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from bench.client import IngestResult
from bench.stats import Summary, summarize

_CHUNK = 500

#: the hops of a Gemini job, in order, from the client's send to the client's answer
HOPS: tuple[str, ...] = (
    "client→created",
    "created→dispatched",
    "dispatched→claimed",
    "claimed→submit",
    "provider call",
    "submitted→succeeded",
    "succeeded→answer",
)
HOP_NOTES: dict[str, str] = {
    "client→created": "api: read multipart, password, slot/platform reads, store photo (GridFS)",
    "created→dispatched": "api: insert job + log, publish JobCreated; dispatcher: consume, "
    "read job, set templates, publish ProviderJobRequested (stamped after the ack)",
    "dispatched→claimed": "dispatcher log write; provider: consume, wait for a free slot",
    "claimed→submit": "provider: claim (job + lease + fence), log, read photo, build request",
    "provider call": "generateContent round trip as the provider service timed it",
    "submitted→succeeded": "provider: log, store result (GridFS), settings read, finalize",
    "succeeded→answer": "provider: log, links cleanup, publish JobStatusChanged; api: consume, "
    "wake waiter, re-read job, stream result; client receives it",
}


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _ts(value: Any) -> float | None:
    return value.timestamp() if isinstance(value, datetime) else None


@dataclass
class Verification:
    requests: int
    jobs_found: int
    job_docs_per_photo_max: int
    lost: int
    lost_detail: dict[str, int]
    duplicated: int
    duplicated_detail: dict[str, int]
    submissions_for_run: int
    outcomes: dict[str, int]
    not_final_after_grace: int
    hops_ms: dict[str, Summary] = field(default_factory=dict)
    overhead_per_job_ms: Summary | None = None
    provider_call_ms: Summary | None = None
    jobs_with_full_log: int = 0
    finality_wait_s: float = 0.0


async def _jobs_by_sha(db: Any, shas: list[str]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for chunk in _chunks(shas):
        cursor = db["jobs"].find(
            {"payload.sha256": {"$in": list(chunk)}},
            {"_id": 1, "status": 1, "outcome": 1, "payload.sha256": 1, "expires_at": 1},
        )
        found.extend([doc async for doc in cursor])
    return found


async def _logs_by_job(db: Any, job_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    entries: dict[str, list[dict[str, Any]]] = {}
    for chunk in _chunks(job_ids):
        cursor = db["processing_logs"].find(
            {"job_id": {"$in": list(chunk)}},
            {"_id": 0, "job_id": 1, "event": 1, "at": 1, "duration_ms": 1},
        )
        async for doc in cursor:
            entries.setdefault(str(doc["job_id"]), []).append(doc)
    return entries


def _hops(result: IngestResult, log: list[dict[str, Any]]) -> dict[str, float] | None:
    first: dict[str, dict[str, Any]] = {}
    for entry in sorted(log, key=lambda e: e["at"]):
        first.setdefault(str(entry["event"]), entry)
    needed = ("created", "dispatched", "claimed", "submitted", "succeeded")
    if any(name not in first for name in needed):
        return None
    at = {name: _ts(first[name]["at"]) for name in needed}
    call_ms = first["submitted"].get("duration_ms")
    if any(v is None for v in at.values()) or not isinstance(call_ms, int | float):
        return None
    created, dispatched, claimed, submitted, succeeded = (float(at[n] or 0.0) for n in needed)
    submit_started = submitted - call_ms / 1000
    values = (
        created - result.sent_wall,
        dispatched - created,
        claimed - dispatched,
        submit_started - claimed,
        call_ms / 1000,
        succeeded - submitted,
        result.done_wall - succeeded,
    )
    return {hop: v * 1000 for hop, v in zip(HOPS, values, strict=True)}


async def verify(
    results: Sequence[IngestResult],
    *,
    mongodb_uri: str,
    database: str,
    emulator_url: str,
    grace_seconds: float = 30.0,
    max_wait: float = 120.0,
    late_watch: float = 60.0,
) -> Verification:
    shas = [r.sha256 for r in results]
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongodb_uri, tz_aware=True)
    try:
        db = client[database]
        # Bounded wait: until every job is final, at most `grace_seconds`, extended to the
        # latest deadline of the unfinished jobs plus `grace_seconds` (the api or the
        # ttl-reaper must have finalized every job by then), never beyond `max_wait`.
        started = time.monotonic()
        deadline = started + 5.0
        while True:
            docs = await _jobs_by_sha(db, shas)
            not_final = [d for d in docs if d.get("status") != "finalized"]
            if not not_final:
                break
            latest = max((_ts(d.get("expires_at")) or 0.0 for d in not_final), default=0.0)
            limit = min(
                started + max_wait,
                max(deadline, latest - time.time() + time.monotonic() + grace_seconds),
            )
            if time.monotonic() > limit:
                break
            await asyncio.sleep(1.0)
        # Not final 30 s after the deadline counts as lost; keep watching a little longer
        # (bounded) to tell "finalized very late" from "still not final".
        late_until = time.monotonic() + (late_watch if not_final else 0.0)
        late_ids = {d["_id"] for d in not_final}
        still: list[dict[str, Any]] = not_final
        while still and time.monotonic() < late_until:
            await asyncio.sleep(2.0)
            again = await _jobs_by_sha(db, [str(d["payload"]["sha256"]) for d in still])
            still = [d for d in again if d.get("status") != "finalized"]
        waited = time.monotonic() - started
        by_sha: dict[str, list[dict[str, Any]]] = {}
        for doc in docs:
            by_sha.setdefault(str(doc["payload"]["sha256"]), []).append(doc)
        job_ids = [str(d["_id"]) for d in docs]
        logs = await _logs_by_job(db, job_ids)
    finally:
        await client.close()

    async with httpx.AsyncClient(timeout=30.0) as http:
        stats = (await http.get(f"{emulator_url}/_emulator/stats")).json()
    submitted: dict[str, int] = stats["submissions"]["by_image_sha256"]

    lost_no_answer = {r.sha256 for r in results if r.status is None}
    lost_not_final = {
        sha for sha, ds in by_sha.items() if any(d.get("status") != "finalized" for d in ds)
    }
    lost_ok_without_doc = {r.sha256 for r in results if r.ok and r.sha256 not in by_sha}
    lost = lost_no_answer | lost_not_final | lost_ok_without_doc
    dup_submissions = {sha for sha in shas if submitted.get(sha, 0) > 1}
    dup_docs = {sha for sha, ds in by_sha.items() if len(ds) > 1}

    hop_values: dict[str, list[float]] = {hop: [] for hop in HOPS}
    overhead: list[float] = []
    full = 0
    for result in results:
        if not result.ok or result.job_id is None:
            continue
        hops = _hops(result, logs.get(result.job_id, []))
        if hops is None:
            continue
        full += 1
        for hop, value in hops.items():
            hop_values[hop].append(value)
        overhead.append(result.latency_ms - hops["provider call"])

    return Verification(
        requests=len(results),
        jobs_found=len(docs),
        job_docs_per_photo_max=max((len(ds) for ds in by_sha.values()), default=0),
        lost=len(lost),
        lost_detail={
            "no_http_answer": len(lost_no_answer),
            "job_not_final": len(lost_not_final),
            "of_which_finalized_later": len(late_ids) - len(still),
            "of_which_still_not_final": len(still),
            "late_watch_seconds": int(late_watch),
            "200_without_job_document": len(lost_ok_without_doc),
        },
        duplicated=len(dup_submissions | dup_docs),
        duplicated_detail={
            "photos_submitted_more_than_once": len(dup_submissions),
            "photos_with_several_job_documents": len(dup_docs),
        },
        submissions_for_run=sum(submitted.get(sha, 0) for sha in shas),
        outcomes=dict(Counter(str(d.get("outcome")) for d in docs)),
        not_final_after_grace=len(not_final),
        hops_ms={hop: summarize(values) for hop, values in hop_values.items()},
        overhead_per_job_ms=summarize(overhead),
        provider_call_ms=summarize(hop_values["provider call"]),
        jobs_with_full_log=full,
        finality_wait_s=round(waited, 1),
    )
