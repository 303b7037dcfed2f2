"""After a load phase: what the platform recorded about every request.

- job documents (read by the job id each answer carried; see bench/db.py),
- the processing log (optional): the per-hop breakdown, data-driven: whichever events a
  job's log has, in time order, the first occurrence of each,
- the Gemini emulator's ``submissions.by_image_sha256`` counter (every photo is distinct).

Lost: no HTTP answer, or a job still not final once its deadline plus a grace period (for the
api or the ttl-reaper to finalize it) has passed, or a 200 whose job id has no document.
Duplicated: a photo submitted to the provider more than once; and, as a count, job documents
created beyond one per request (`extra_job_documents`)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.client import IngestResult
from bench.db import PROVIDER_CALL_EVENTS, Database, JobState, LogEntry
from bench.stats import Summary, percentile, summarize

CLIENT = "client"
ANSWER = "answer"
PROVIDER_CALL = "provider call"
#: the platform's default job deadline (T_sync_response), used when a job has no deadline field
DEFAULT_DEADLINE_SECONDS = 48.0


@dataclass
class Verification:
    requests: int
    answered: int
    ok: int
    jobs_found: int
    lost: int
    lost_detail: dict[str, int]
    duplicated: int
    duplicated_detail: dict[str, int | None]
    submissions_for_run: int
    photos_seen_by_emulator: int
    outcomes: dict[str, int]
    hops_ms: dict[str, Summary] = field(default_factory=dict)
    hop_order: list[str] = field(default_factory=list)
    durations_ms: dict[str, Summary] = field(default_factory=dict)
    overhead_per_job_ms: Summary | None = None
    provider_call_ms: Summary | None = None
    jobs_with_log: int = 0
    finality_wait_s: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "answered": self.answered,
            "ok": self.ok,
            "jobs_found": self.jobs_found,
            "lost": self.lost,
            "lost_detail": self.lost_detail,
            "duplicated": self.duplicated,
            "duplicated_detail": self.duplicated_detail,
            "provider_submissions": self.submissions_for_run,
            "photos_seen_by_emulator": self.photos_seen_by_emulator,
            "job_outcomes": self.outcomes,
            "jobs_with_processing_log": self.jobs_with_log,
            "finality_wait_s": self.finality_wait_s,
            "hops_ms": {hop: self.hops_ms[hop] for hop in self.hop_order},
            "log_durations_ms": self.durations_ms,
            "overhead_per_job_ms": self.overhead_per_job_ms,
            "provider_call_ms": self.provider_call_ms,
        }


def job_points(result: IngestResult, log: list[LogEntry]) -> list[tuple[str, float]]:
    """(name, epoch seconds) along one job: the client's send, the first entry of each
    logged event in time order (a provider-call event's own duration becomes a point of its
    own: its start), and the client's receipt of the answer."""
    points: list[tuple[str, float]] = [(CLIENT, result.sent_wall)]
    seen: set[str] = set()
    for entry in sorted(log, key=lambda e: e.at):
        if entry.event in seen:
            continue
        seen.add(entry.event)
        if entry.event in PROVIDER_CALL_EVENTS and entry.duration_ms is not None:
            points.append((f"{PROVIDER_CALL}:{entry.event}", entry.at - entry.duration_ms / 1000))
        points.append((entry.event, entry.at))
    points.append((ANSWER, result.done_wall))
    return points


def hops_of(points: list[tuple[str, float]]) -> list[tuple[str, float, float]]:
    """(label, start offset from the send in ms, length in ms) between consecutive points."""
    start = points[0][1]
    hops: list[tuple[str, float, float]] = []
    for (a, at_a), (b, at_b) in itertools.pairwise(points):
        if b.startswith(PROVIDER_CALL + ":"):
            label = f"{a}→call start"
        elif a.startswith(PROVIDER_CALL + ":"):
            label = f"{PROVIDER_CALL} ({b}.duration_ms)"
        else:
            label = f"{a}→{b}"
        hops.append((label, (at_a - start) * 1000, (at_b - at_a) * 1000))
    return hops


def _provider_call_ms(log: list[LogEntry]) -> float | None:
    for entry in sorted(log, key=lambda e: e.at):
        if entry.event in PROVIDER_CALL_EVENTS and entry.duration_ms is not None:
            return entry.duration_ms
    return None


async def _wait_final(
    db: Database,
    results: Sequence[IngestResult],
    ids: list[str],
    *,
    grace_seconds: float,
    max_wait: float,
    late_watch: float,
) -> tuple[dict[str, JobState], set[str], set[str], float]:
    """Poll until every job is final, bounded by the latest deadline + grace (at most
    ``max_wait``); then watch the stragglers ``late_watch`` s more. Returns the states, the
    ids not final at the limit, those still not final after the watch, and the wait."""
    sent_by_id = {r.job_id: r.sent_wall for r in results if r.job_id is not None}
    started = time.monotonic()
    states = await db.job_states(ids)
    while True:
        pending = [i for i, s in states.items() if not s.final]
        if not pending:
            break
        latest = max(
            (states[i].deadline or sent_by_id.get(i, time.time()) + DEFAULT_DEADLINE_SECONDS)
            for i in pending
        )
        limit = min(
            started + max_wait,
            max(started + 5.0, latest - time.time() + time.monotonic() + grace_seconds),
        )
        if time.monotonic() > limit:
            break
        await asyncio.sleep(1.0)
        states.update(await db.job_states(pending))
    late = {i for i, s in states.items() if not s.final}
    still = set(late)
    watch_until = time.monotonic() + (late_watch if late else 0.0)
    while still and time.monotonic() < watch_until:
        await asyncio.sleep(2.0)
        again = await db.job_states(sorted(still))
        states.update(again)
        still = {i for i in still if not states[i].final}
    return states, late, still, time.monotonic() - started


async def verify(
    results: Sequence[IngestResult],
    *,
    db: Database,
    emulator_url: str,
    jobs_before: int | None = None,
    hops: bool = True,
    grace_seconds: float = 30.0,
    max_wait: float = 120.0,
    late_watch: float = 60.0,
) -> Verification:
    ids = sorted({r.job_id for r in results if r.job_id is not None})
    states, late, still, waited = await _wait_final(
        db, results, ids, grace_seconds=grace_seconds, max_wait=max_wait, late_watch=late_watch
    )
    created = (await db.count_jobs() - jobs_before) if jobs_before is not None else None
    logs = (
        await db.log_entries([r.job_id for r in results if r.ok and r.job_id is not None])
        if hops
        else {}
    )
    async with httpx.AsyncClient(timeout=30.0) as http:
        stats = (await http.get(f"{emulator_url}/_emulator/stats")).json()
    submitted: dict[str, int] = stats["submissions"]["by_image_sha256"]

    no_answer = [r for r in results if r.status is None]
    ok_without_doc = [r for r in results if r.ok and (r.job_id is None or r.job_id not in states)]
    lost = len(no_answer) + len(late) + len(ok_without_doc)
    shas = [r.sha256 for r in results]
    dup_submissions = sum(1 for sha in shas if submitted.get(sha, 0) > 1)
    extra_docs = max(0, created - len(results)) if created is not None else None

    hop_values: dict[str, list[float]] = {}
    hop_starts: dict[str, list[float]] = {}
    durations: dict[str, list[float]] = {}
    overhead: list[float] = []
    calls: list[float] = []
    with_log = 0
    for result in results:
        log = logs.get(result.job_id or "", [])
        if not result.ok or not log:
            continue
        with_log += 1
        for label, start, length in hops_of(job_points(result, log)):
            hop_values.setdefault(label, []).append(length)
            hop_starts.setdefault(label, []).append(start)
        for entry in log:
            if entry.duration_ms is not None:
                durations.setdefault(entry.event, []).append(entry.duration_ms)
        call = _provider_call_ms(log)
        if call is not None:
            calls.append(call)
            overhead.append(result.latency_ms - call)
    order = sorted(hop_values, key=lambda h: percentile(hop_starts[h], 50) or 0.0)

    return Verification(
        requests=len(results),
        answered=sum(1 for r in results if r.status is not None),
        ok=sum(1 for r in results if r.ok),
        jobs_found=len(states),
        lost=lost,
        lost_detail={
            "no_http_answer": len(no_answer),
            "job_not_final_after_deadline_and_grace": len(late),
            "of_which_finalized_later": len(late) - len(still),
            "of_which_still_not_final": len(still),
            "late_watch_seconds": int(late_watch),
            "200_without_job_document": len(ok_without_doc),
        },
        duplicated=dup_submissions + (extra_docs or 0),
        duplicated_detail={
            "photos_submitted_more_than_once": dup_submissions,
            "job_documents_created": created,
            "extra_job_documents_beyond_one_per_request": extra_docs,
        },
        submissions_for_run=sum(submitted.get(sha, 0) for sha in shas),
        photos_seen_by_emulator=sum(1 for sha in shas if sha in submitted),
        outcomes=dict(Counter(str(s.outcome) for s in states.values())),
        hops_ms={hop: summarize(values) for hop, values in hop_values.items()},
        hop_order=order,
        durations_ms={event: summarize(values) for event, values in sorted(durations.items())},
        overhead_per_job_ms=summarize(overhead) if overhead else None,
        provider_call_ms=summarize(calls) if calls else None,
        jobs_with_log=with_log,
        finality_wait_s=round(waited, 1),
    )
