"""Property: whatever happens to a job — duplicate deliveries, two workers, crashes and
take-overs, fallbacks, cancels, the api's and the reaper's deadlines, a finalizer dying before
it tidied up — it gets exactly one final state, never changes it, announces it once, and is
never lost: once its deadline has passed, a reaper sweep leaves it final and tidied.

The actors call the real `JobTransitions` and `JobExpiry` on the in-memory store; hypothesis
explores the orders."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from photochanger_contracts import JobOutcome, MediaRef, ProviderJobRequested, topics
from photochanger_runtime.expiry import JobExpiry
from photochanger_runtime.jobs import Job, JobError, Transition, current
from photochanger_runtime.jobs.memory_store import InMemoryJobStore
from photochanger_runtime.media import result_key

from tests.support.jobs import T0, core, spec

T = TypeVar("T")
WORKERS = ("gemini-a", "gemini-b", "turbotext-a")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


class CrashingStore(InMemoryJobStore):
    """Dies (raises) on the next `retire` when asked: a finalizer that stopped after writing
    the final record and before tidying up."""

    crash_next_retire = False

    async def retire(self, job_id: str) -> None:
        if self.crash_next_retire:
            self.crash_next_retire = False
            raise ConnectionError("process died")
        await super().retire(job_id)


class JobLife(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.c = core()
        self.c.store = CrashingStore()
        self.c.transitions = type(self.c.transitions)(
            store=self.c.store, bus=self.c.bus, media=self.c.media, clock=self.c.clock
        )
        self.spec = spec()
        run(self.c.media.put(self.spec.payload.key, b"photo", content_type="image/jpeg"))
        self.job: Job = run(self.c.transitions.create(self.spec))
        #: worker → the job as that worker believes it owns it
        self.owned: dict[str, Job] = {}
        self.requests: list[ProviderJobRequested] = [
            ProviderJobRequested(occurred_at=T0, job=self.spec, attempt=1)
        ]
        self.first_final: Job | None = None
        self.expiry = JobExpiry(
            store=self.c.store, transitions=self.c.transitions, clock=self.c.clock
        )

    # -- helpers -------------------------------------------------------------------------

    def _finalize(self, job: Job, transition: Transition, finalizer: str, **kw: Any) -> None:
        # a ConnectionError: the finalizer died while tidying up; the reaper finishes
        with contextlib.suppress(ConnectionError):
            run(self.c.transitions.finalize(job, transition, finalizer=finalizer, **kw))

    # -- deliveries and workers ----------------------------------------------------------

    @rule(worker=st.sampled_from(WORKERS), which=st.integers(min_value=0, max_value=5))
    def a_request_is_delivered(self, worker: str, which: int) -> None:
        request = self.requests[which % len(self.requests)]  # duplicates and old ones too
        if not worker.startswith(request.job.provider) or worker in self.owned:
            return
        claimed = run(self.c.transitions.claim(request, worker_id=worker))
        if claimed is not None:
            self.owned[worker] = claimed[0]

    @precondition(lambda self: bool(self.owned))
    @rule(data=st.data())
    def an_owner_gets_a_result(self, data: st.DataObject) -> None:
        worker = data.draw(st.sampled_from(sorted(self.owned)))
        job = self.owned.pop(worker)
        ref = MediaRef(
            key=result_key(job.id, str(job.attempt), T0), mime_type="image/png",
            size_bytes=1, sha256="r",
        )  # fmt: skip
        self._finalize(
            job, Transition.SUCCEED, worker, result=ref, result_retention_hours=72, by_owner=True
        )

    @precondition(lambda self: bool(self.owned))
    @rule(data=st.data(), hand_over=st.booleans())
    def an_owner_fails(self, data: st.DataObject, hand_over: bool) -> None:
        worker = data.draw(st.sampled_from(sorted(self.owned)))
        job = self.owned.pop(worker)
        error = JobError(code="provider_quota_exhausted", message="429")
        if hand_over and job.fallback_from is None and job.provider == "gemini":
            run(
                self.c.transitions.hand_over(
                    job, provider="turbotext", operation="image_edit",
                    settings={"prompt": "b"}, templates=(), reason=error,
                )
            )  # fmt: skip
            self.requests.append(self.c.bus.on("provider.turbotext.requests")[-1])  # type: ignore[arg-type]
            return
        self._finalize(job, Transition.FAIL, worker, error=error, by_owner=True)

    @precondition(lambda self: bool(self.owned))
    @rule(data=st.data())
    def an_owner_crashes(self, data: st.DataObject) -> None:
        self.owned.pop(data.draw(st.sampled_from(sorted(self.owned))))

    @rule(worker=st.sampled_from(WORKERS))
    def a_worker_takes_over_a_stopped_attempt(self, worker: str) -> None:
        job = run(current(self.c.store, self.job.id))
        if job is None or job.is_final or worker in self.owned:
            return
        if any(j.attempt == job.attempt for j in self.owned.values()):
            return  # its owner is alive
        if not worker.startswith(job.provider) or job.attempt == 0:
            return
        taken = run(
            self.c.transitions.take_over(
                job.id, after_attempt=job.attempt, worker_id=worker, provider=job.provider
            )
        )
        if taken is not None:
            self.owned[worker] = taken[0]

    # -- the others ----------------------------------------------------------------------

    @rule()
    def the_deadline_passes(self) -> None:
        self.c.clock.advance(49)

    @precondition(lambda self: self.c.clock.now() >= self.spec.expires_at)
    @rule(crash=st.booleans())
    def the_api_times_the_job_out(self, crash: bool) -> None:
        store = self.c.store
        assert isinstance(store, CrashingStore)
        store.crash_next_retire = crash
        err = JobError(code="deadline_exceeded", message="late")
        self._finalize(self.job, Transition.TIME_OUT, "api", error=err)
        store.crash_next_retire = False

    @rule()
    def an_admin_cancels(self) -> None:
        job = run(current(self.c.store, self.job.id))
        assert job is not None
        run(self.c.transitions.cancel(job))

    @rule()
    def the_reaper_sweeps(self) -> None:
        run(self.expiry.expire_jobs())

    # -- what must always hold -----------------------------------------------------------

    @invariant()
    def the_final_state_is_one_and_never_changes(self) -> None:
        final = self.c.store.final_jobs.get(self.job.id)
        if self.first_final is None:
            self.first_final = final
        assert final == self.first_final
        statuses = self.c.bus.statuses(self.job.id)
        assert len(statuses) == (1 if final is not None else 0)

    @invariant()
    def success_needs_a_claimed_attempt(self) -> None:
        final = self.c.store.final_jobs.get(self.job.id)
        if final is not None and final.outcome is JobOutcome.SUCCEEDED:
            assert (self.job.id, final.attempt) in self.c.store.claims

    @invariant()
    def each_attempt_has_one_owner(self) -> None:
        attempts = [j.attempt for j in self.owned.values()]
        assert len(attempts) == len(set(attempts))

    def teardown(self) -> None:
        # no lost job: after the deadline, one reaper sweep leaves it final and tidied
        self.c.clock.advance(60)
        run(self.expiry.expire_jobs())
        assert self.job.id in self.c.store.final_jobs
        assert self.job.id not in self.c.store.live_jobs
        assert self.spec.payload.key not in self.c.media.objects
        cancels = self.c.bus.on(topics.JOBS_CANCEL)
        assert all(e.job_id == self.job.id for e in cancels)  # type: ignore[attr-defined]


JobLife.TestCase.settings = settings(
    max_examples=200, stateful_step_count=25, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)  # fmt: skip
test_no_sequence_of_events_gives_a_job_two_ends_or_none = JobLife.TestCase
