"""The api settles a job whose record write the database cut: as soon as the database
answers, within the job's deadline, and only then."""

from __future__ import annotations

import dataclasses

import pytest
from photochanger_api.unconfirmed_records import settle
from photochanger_contracts import JobOutcome
from photochanger_runtime.jobs import Job, RecordUncertain
from photochanger_runtime.jobs.memory_store import InMemoryJobStore
from pymongo.errors import AutoReconnect, OperationFailure

from tests.support.jobs import Core, core, spec


class _CutWrite(InMemoryJobStore):
    """The record lands but its write is cut; the next `away_reads` reads fail with
    `error`."""

    def __init__(self, away_reads: int, error: Exception) -> None:
        super().__init__()
        self.away_reads, self.error, self.reads = away_reads, error, 0

    async def create(self, job: Job) -> None:
        await super().create(job)
        raise AutoReconnect("connection closed")

    async def live(self, job_id: str) -> Job | None:
        self.reads += 1
        if self.away_reads:
            self.away_reads -= 1
            raise self.error
        return await super().live(job_id)


async def _cut(store: _CutWrite) -> tuple[Core, Job]:
    c = core()
    c = dataclasses.replace(
        c, store=store, transitions=dataclasses.replace(c.transitions, store=store)
    )
    s = spec()
    await c.media.put(s.payload.key, b"photo", content_type="image/jpeg")
    with pytest.raises(RecordUncertain) as uncertain:
        await c.transitions.create(s)
    return c, uncertain.value.job


async def test_the_job_is_finalized_once_the_database_answers_again() -> None:
    store = _CutWrite(away_reads=2, error=AutoReconnect("connection refused"))
    c, job = await _cut(store)
    await settle(job, c.transitions, c.clock)
    final = await store.final(job.id)
    assert final is not None and final.outcome is JobOutcome.PROVIDER_ERROR
    assert final.error is not None and final.error.code == "record_unconfirmed"
    assert store.reads == 3 and c.media.objects == {}


async def test_past_the_deadline_the_job_is_left_to_the_reaper() -> None:
    store = _CutWrite(away_reads=0, error=AutoReconnect("unused"))
    c, job = await _cut(store)
    c.clock.advance((job.expires_at - c.clock.now()).total_seconds())
    await settle(job, c.transitions, c.clock)
    assert store.reads == 0 and await store.live(job.id) == job  # pending, for the reaper


async def test_a_refusal_that_is_not_an_outage_is_left_to_the_reaper() -> None:
    store = _CutWrite(away_reads=1, error=OperationFailure("not authorized", code=13))
    c, job = await _cut(store)
    await settle(job, c.transitions, c.clock)
    assert store.reads == 1 and await store.final(job.id) is None
