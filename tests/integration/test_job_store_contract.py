"""One contract for every job store: the in-memory store the unit tests use and the MongoDB
store on the real MongoDB-protocol server must behave the same — above all, a claim of an
attempt and a job's final record have exactly one winner under concurrency, which FerretDB's
conditional updates could not guarantee (ADR-0006)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from photochanger_contracts import JobOutcome, JobStatus
from photochanger_runtime import mongo
from photochanger_runtime.jobs import (
    Claim,
    DuplicateJob,
    Job,
    JobStore,
    LogEntry,
    Transition,
    WorkerPresence,
    current,
    machine,
)
from photochanger_runtime.jobs.memory_store import InMemoryJobStore
from photochanger_runtime.jobs.mongo_store import MongoJobStore

from tests.support.jobs import T0, spec


@pytest.fixture(
    params=[
        pytest.param("memory", marks=pytest.mark.unit),
        pytest.param("mongodb", marks=pytest.mark.integration),
    ]
)
async def store(request: pytest.FixtureRequest) -> AsyncIterator[JobStore]:
    if request.param == "memory":
        yield InMemoryJobStore()
        return
    uri: str = request.getfixturevalue("mongodb_uri")
    client = mongo.create_client(uri, app_name="contract")
    name = f"jobstore_{uuid.uuid4().hex[:8]}"
    mongo_store = MongoJobStore(client[name])
    await mongo_store.ensure_indexes()
    try:
        yield mongo_store
    finally:
        await client.drop_database(name)
        await client.close()


def new_job(**kwargs: Any) -> Job:
    return machine.create(spec(metadata={"booth": "7"}, **kwargs), now=T0).job


def claim(job: Job, attempt: int = 1, worker: str = "w1") -> Claim:
    return Claim(job_id=job.id, attempt=attempt, worker_id=worker, provider=job.provider, at=T0)


def final_of(job: Job, transition: Transition = Transition.TIME_OUT, by: str = "api") -> Job:
    return machine.finalize(job, transition, now=T0 + timedelta(seconds=1), finalizer=by).job


async def test_a_created_job_reads_back_as_it_was_written(store: JobStore) -> None:
    job = new_job()
    await store.create(job)
    assert await store.live(job.id) == job
    assert await store.final(job.id) is None
    assert await current(store, job.id) == job


async def test_a_second_live_job_with_the_same_join_key_is_refused(store: JobStore) -> None:
    first = new_job(join_key="slot-001:abc")
    await store.create(first)
    await store.create(new_job())  # jobs without a join key never collide
    await store.create(new_job())
    with pytest.raises(DuplicateJob):
        await store.create(new_job(join_key="slot-001:abc"))
    assert await store.live_by_join_key("slot-001:abc") == first
    await store.retire(first.id)
    await store.create(new_job(join_key="slot-001:abc"))  # free again once the first is gone


async def test_one_of_many_concurrent_claims_of_an_attempt_wins(store: JobStore) -> None:
    job = new_job()
    await store.create(job)
    won = await asyncio.gather(*(store.claim(claim(job, worker=f"w{i}")) for i in range(16)))
    assert won.count(True) == 1
    winner = await store.claim_of(job.id, 1)
    assert winner is not None and winner.worker_id == f"w{won.index(True)}"
    assert await store.claim(claim(job, attempt=2)) is True  # the next attempt is another key


async def test_one_of_many_concurrent_finalizers_wins_and_its_record_stays(
    store: JobStore,
) -> None:
    job = new_job()
    await store.create(job)
    candidates = [final_of(job, t, f"f{i}") for i, t in enumerate([Transition.TIME_OUT,
                  Transition.CANCEL, Transition.FAIL] * 6)]  # fmt: skip
    won = await asyncio.gather(*(store.finalize(c) for c in candidates))
    assert won.count(True) == 1
    assert await store.final(job.id) == candidates[won.index(True)]
    assert await store.finalize(final_of(job, Transition.CANCEL)) is False


async def test_the_current_state_follows_claims_and_the_final_record(store: JobStore) -> None:
    job = new_job()
    await store.create(job)
    await store.claim(claim(job))
    await store.record_reference(job.id, 1, "queue-9")
    processing = await current(store, job.id)
    assert processing is not None and processing.status is JobStatus.PROCESSING
    assert processing.attempt == 1 and processing.provider_job_reference == "queue-9"
    await store.claim(claim(job, attempt=2, worker="w2"))
    assert (await current(store, job.id)).attempt == 2  # type: ignore[union-attr]

    final = final_of(processing)
    await store.finalize(final)
    await store.retire(job.id)
    await store.retire(job.id)  # idempotent
    assert await store.live(job.id) is None
    assert await current(store, job.id) == final
    assert final.outcome is JobOutcome.TIMEOUT


async def test_a_final_record_keeps_its_log_and_result_fields(store: JobStore) -> None:
    job = new_job()
    await store.create(job)
    entry = LogEntry.of(job_id=job.id, slot_id=job.slot_id, event="submitted", at=T0,
                        duration_ms=12.345, details={"reference": None})  # fmt: skip
    final = machine.finalize(
        machine.claim(job, attempt=1, worker_id="w", now=T0).job, Transition.FAIL, now=T0,
        finalizer="gemini", log=[entry],
    ).job  # fmt: skip
    await store.finalize(final)
    stored = await store.final(job.id)
    assert stored == final
    assert stored is not None and [e.event for e in stored.log] == [
        "created", "submitted", "provider_error",
    ]  # fmt: skip
    assert stored.log[1].duration_ms == 12.3


async def test_overdue_lists_only_live_jobs_past_their_deadline(store: JobStore) -> None:
    due = new_job(seconds=10)
    later = new_job(seconds=100)
    done = new_job(seconds=10)
    for job in (due, later, done):
        await store.create(job)
    await store.finalize(final_of(done))
    await store.retire(done.id)
    overdue = await store.overdue(T0 + timedelta(seconds=11), limit=10)
    assert [j.id for j in overdue] == [due.id]


async def test_a_live_record_can_be_rewritten_but_not_resurrected(store: JobStore) -> None:
    job = new_job()
    await store.create(job)
    flagged = machine.request_cancel(job)
    await store.update_live(flagged)
    assert (await store.live(job.id)) == flagged
    await store.retire(job.id)
    await store.update_live(flagged)
    assert await store.live(job.id) is None


async def test_workers_are_listed_by_provider_and_forgotten(store: JobStore) -> None:
    seen = T0 + timedelta(seconds=3)
    await store.beat(WorkerPresence("gemini-a", "gemini", T0))
    await store.beat(WorkerPresence("turbotext-a", "turbotext", seen))
    await store.beat(WorkerPresence("gemini-a", "gemini", seen, holds_key=True))
    assert await store.workers("gemini") == [
        WorkerPresence("gemini-a", "gemini", seen, holds_key=True)
    ]
    await store.forget_worker("gemini-a")
    await store.forget_worker("gemini-a")
    assert await store.workers("gemini") == []
    assert [w.worker_id for w in await store.workers("turbotext")] == ["turbotext-a"]


async def test_a_workers_recent_claims_are_found_and_old_ones_not(store: JobStore) -> None:
    jobs = [new_job() for _ in range(3)]
    for n, job in enumerate(jobs):
        await store.create(job)
        at = T0 + timedelta(seconds=10 * n)
        await store.claim(Claim(job.id, 1, "w1" if n < 2 else "w2", "gemini", at))
    found = await store.claims_by("w1", since=T0 + timedelta(seconds=5))
    assert [(c.job_id, c.attempt) for c in found] == [(jobs[1].id, 1)]
    assert len(await store.claims_by("w1", since=T0)) == 2


async def test_log_entries_outside_final_records_are_read_back_in_time_order(
    store: JobStore,
) -> None:
    job = new_job()
    entries = [
        LogEntry.of(job_id=job.id, slot_id="slot-001", event=name, at=T0 + timedelta(seconds=s))
        for name, s in (("late_result_ignored", 2), ("claimed", 1))
    ]
    await store.append_log(entries)
    await store.append_log([])
    other = LogEntry.of(job_id="other", slot_id="slot-001", event="claimed", at=T0)
    await store.append_log([other])
    assert [e.event for e in await store.log_of(job.id)] == ["claimed", "late_result_ignored"]
