"""`JobTransitions`, the one writer of jobs, on the in-memory store: what each transition
writes, publishes and tidies, and that contested steps have one winner."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from photochanger_contracts import (
    JobCreated,
    JobOutcome,
    JobStatus,
    MediaRef,
    ProviderJobRequested,
    topics,
)
from photochanger_runtime.jobs import (
    Claim,
    Job,
    JobError,
    PublishFailed,
    RecordUncertain,
    Transition,
    current,
    machine,
)
from photochanger_runtime.jobs.memory_store import InMemoryJobStore
from photochanger_runtime.media import result_key
from pymongo.errors import AutoReconnect

from tests.support.jobs import T0, Core, core, spec


async def created(c, **kwargs):  # type: ignore[no-untyped-def]
    s = spec(metadata={"booth": "1"}, **kwargs)
    await c.media.put(s.payload.key, b"\xff\xd8\xffphoto", content_type="image/jpeg")
    return await c.transitions.create(s), s


def request(s, attempt: int = 1) -> ProviderJobRequested:  # type: ignore[no-untyped-def]
    return ProviderJobRequested(occurred_at=T0, job=s, attempt=attempt)


async def test_creation_records_the_job_before_announcing_it() -> None:
    c = core()
    job, s = await created(c)
    assert await c.store.live(job.id) == job and job.status is JobStatus.PENDING
    [(topic, event, key)] = c.bus.sent
    assert topic == topics.JOBS_CREATED and key == job.id
    assert isinstance(event, JobCreated) and event.job == s
    assert c.store.writes == ["create"]


async def test_a_job_that_cannot_be_queued_is_finalized_not_left_pending() -> None:
    c = core()
    c.bus.down = True
    s = spec()
    await c.media.put(s.payload.key, b"photo", content_type="image/jpeg")
    with pytest.raises(PublishFailed):
        await c.transitions.create(s)
    final = await c.store.final(s.job_id)
    assert final is not None and final.outcome is JobOutcome.PROVIDER_ERROR
    assert final.error is not None and final.error.code == "publish_failed"
    assert await c.store.live(s.job_id) is None
    assert c.media.objects == {}  # the photo went with it
    # one wait for Kafka only: the failed ingest answers its own request, no status event
    assert c.bus.refused == [topics.JOBS_CREATED]


class _AwayAtCreate(InMemoryJobStore):
    """The database goes away during the record's write; `landed` says whether it took it.
    Reads fail while `away`."""

    def __init__(self, *, landed: bool) -> None:
        super().__init__()
        self.landed, self.away = landed, True

    async def create(self, job: Job) -> None:
        if self.landed:
            await super().create(job)
        raise AutoReconnect("connection closed")

    async def live(self, job_id: str) -> Job | None:
        if self.away:
            raise AutoReconnect("connection refused")
        return await super().live(job_id)


def _core_with(store: InMemoryJobStore) -> Core:
    c = core()
    transitions = dataclasses.replace(c.transitions, store=store)
    return dataclasses.replace(c, store=store, transitions=transitions)


@pytest.mark.parametrize("landed", [True, False])
async def test_a_record_write_cut_by_the_database_is_settled_once_it_answers(
    landed: bool,
) -> None:
    store = _AwayAtCreate(landed=landed)
    c = _core_with(store)
    s = spec()
    await c.media.put(s.payload.key, b"photo", content_type="image/jpeg")
    with pytest.raises(RecordUncertain) as uncertain:
        await c.transitions.create(s)
    assert c.bus.sent == []  # nothing queued either way
    with pytest.raises(AutoReconnect):  # still away: the caller retries
        await c.transitions.settle_uncertain(uncertain.value.job)

    store.away = False
    final = await c.transitions.settle_uncertain(uncertain.value.job)
    if landed:
        assert final is not None and final.outcome is JobOutcome.PROVIDER_ERROR
        assert final.error is not None and final.error.code == "record_unconfirmed"
        assert await c.store.final(s.job_id) == final
    else:
        assert final is None and await c.store.final(s.job_id) is None
    assert await c.store.live(s.job_id) is None
    assert c.media.objects == {}  # the photo went
    assert c.bus.sent == []  # its request was answered 503; nobody waits for a status
    assert await c.transitions.settle_uncertain(uncertain.value.job) is None  # settled once


async def test_a_successful_job_costs_four_store_writes() -> None:
    c = core()
    job, s = await created(c)
    claimed = await c.transitions.claim(request(s), worker_id="w1")
    assert claimed is not None
    running, entries = claimed
    ref = MediaRef(key=result_key(job.id, "1", T0), mime_type="image/png", size_bytes=1, sha256="x")
    final = await c.transitions.finalize(
        running, Transition.SUCCEED, finalizer="gemini", result=ref, result_retention_hours=72,
        log_entries=entries, by_owner=True,
    )  # fmt: skip
    assert final is not None and final.outcome is JobOutcome.SUCCEEDED
    assert c.store.writes == ["create", "claim", "finalize", "retire"]
    assert [e.event for e in final.log] == ["created", "dispatched", "claimed", "succeeded"]
    [status] = c.bus.statuses(job.id)
    assert status.result == ref
    assert await c.store.live(job.id) is None and c.media.objects == {}  # tidied


async def test_only_one_of_many_concurrent_claims_wins() -> None:
    c = core()
    _, s = await created(c)
    results = await asyncio.gather(
        *(c.transitions.claim(request(s), worker_id=f"w{i}") for i in range(16))
    )
    assert sum(r is not None for r in results) == 1


async def test_only_one_of_many_concurrent_finalizers_wins_and_announces() -> None:
    c = core()
    job, _ = await created(c)
    outcomes = [Transition.TIME_OUT, Transition.CANCEL, Transition.FAIL] * 4
    finals = await asyncio.gather(
        *(c.transitions.finalize(job, t, finalizer=f"f{i}") for i, t in enumerate(outcomes))
    )
    winners = [f for f in finals if f is not None]
    assert len(winners) == 1
    assert len(c.bus.statuses(job.id)) == 1
    assert (await c.store.final(job.id)) == winners[0]


async def test_a_late_finalizer_changes_nothing() -> None:
    c = core()
    job, _ = await created(c)
    first = await c.transitions.finalize(job, Transition.TIME_OUT, finalizer="api")
    later = await c.transitions.finalize(job, Transition.CANCEL, finalizer="admin")
    assert first is not None and later is None
    assert (await c.store.final(job.id)) == first
    assert len(c.bus.statuses(job.id)) == 1


async def test_only_the_owners_own_repeated_decision_is_completed_not_refused() -> None:
    """A repeated finalize is the same decision only from the attempt's owner, with the same
    outcome; two reaper replicas, or the owner of another attempt, still find it taken."""
    c = core()
    _, s = await created(c)
    claimed = await c.transitions.claim(request(s), worker_id="w1")
    assert claimed is not None
    job = claimed[0]
    error = JobError(code="provider_rejected", message="bad request")
    first = await c.transitions.finalize(
        job, Transition.FAIL, finalizer="gemini", error=error, by_owner=True
    )
    assert first is not None
    again = await c.transitions.finalize(
        job, Transition.FAIL, finalizer="gemini", error=error, by_owner=True
    )
    assert again == first  # the stored record, not a second one
    other_attempt = job.model_copy(update={"attempt": job.attempt + 1})
    assert await c.transitions.finalize(
        other_attempt, Transition.FAIL, finalizer="gemini", error=error, by_owner=True
    ) is None  # fmt: skip
    assert await c.transitions.finalize(
        job, Transition.TIME_OUT, finalizer="gemini", by_owner=True
    ) is None  # fmt: skip
    assert await c.transitions.finalize(job, Transition.FAIL, finalizer="gemini") is None
    assert (await c.store.final(job.id)) == first


async def test_take_over_resumes_the_recorded_reference_under_the_next_attempt() -> None:
    c = core()
    _, s = await created(c, provider="turbotext")
    claimed = await c.transitions.claim(request(s), worker_id="dead")
    assert claimed is not None
    await c.transitions.record_reference(claimed[0], "queue-7")

    resumed = await c.transitions.take_over(
        s.job_id, after_attempt=1, worker_id="alive", provider="turbotext"
    )
    assert resumed is not None
    job, entries = resumed
    assert job.attempt == 2 and job.provider_job_reference == "queue-7"
    assert [e.event for e in entries] == ["taken_over"]
    assert (await c.store.claim_of(s.job_id, 2)) == Claim(
        job_id=s.job_id, attempt=2, worker_id="alive", provider="turbotext", at=T0,
        reference="queue-7",
    )  # fmt: skip
    # a second taker, or another provider's worker, gets nothing
    assert (
        await c.transitions.take_over(
            s.job_id, after_attempt=1, worker_id="slow", provider="turbotext"
        )
        is None
    )
    assert (
        await c.transitions.take_over(
            s.job_id, after_attempt=2, worker_id="other", provider="gemini"
        )
        is None
    )


async def test_nothing_is_taken_over_once_the_job_is_final() -> None:
    c = core()
    job, s = await created(c)
    await c.transitions.claim(request(s), worker_id="dead")
    await c.transitions.finalize(job, Transition.TIME_OUT, finalizer="reaper")
    assert (
        await c.transitions.take_over(s.job_id, after_attempt=1, worker_id="w", provider="gemini")
        is None
    )


async def test_hand_over_sends_the_next_attempt_to_the_fallback_provider() -> None:
    c = core()
    _, s = await created(c)
    running, _ = await c.transitions.claim(request(s), worker_id="w")  # type: ignore[misc]
    entry = await c.transitions.hand_over(
        running, provider="turbotext", operation="image_edit", settings={"prompt": "b"},
        templates=(), reason=JobError(code="provider_quota_exhausted", message="429"),
    )  # fmt: skip
    assert entry.event == "fallback"
    [fallback] = c.bus.on("provider.turbotext.requests")
    assert isinstance(fallback, ProviderJobRequested) and fallback.attempt == 2
    live = await c.store.live(s.job_id)
    assert live is not None and live.provider == "turbotext" and live.fallback_from == "gemini"
    taken = await c.transitions.claim(fallback, worker_id="tt")
    assert taken is not None and taken[0].attempt == 2 and taken[0].provider == "turbotext"


async def test_cancelling_a_pending_job_ends_it_at_once() -> None:
    c = core()
    job, _ = await created(c)
    final = await c.transitions.cancel(job)
    assert final is not None and final.outcome is JobOutcome.CANCELLED
    assert c.bus.on(topics.JOBS_CANCEL)  # in case a provider receives it anyway


async def test_cancelling_a_processing_job_flags_it_and_tells_its_owner() -> None:
    c = core()
    _, s = await created(c)
    await c.transitions.claim(request(s), worker_id="w")
    job = await current(c.store, s.job_id)
    assert job is not None and job.status is JobStatus.PROCESSING and job.attempt == 1
    flagged = await c.transitions.cancel(job)
    assert flagged is not None and flagged.cancel_requested and not flagged.is_final
    assert (await c.store.live(s.job_id)).cancel_requested  # type: ignore[union-attr]
    [cancel] = c.bus.on(topics.JOBS_CANCEL)
    assert cancel.job_id == s.job_id


async def test_cancelling_a_final_job_does_nothing() -> None:
    c = core()
    job, _ = await created(c)
    final = await c.transitions.finalize(job, Transition.TIME_OUT, finalizer="api")
    assert final is not None
    assert await c.transitions.cancel(final) is None


async def test_entries_after_the_final_record_are_kept_on_their_own() -> None:
    c = core()
    job, _ = await created(c)
    entry = machine.claim(job, attempt=1, worker_id="w", now=T0).log[0]
    await c.transitions.note([entry])
    assert [e.event for e in await c.store.log_of(job.id)] == ["claimed"]
