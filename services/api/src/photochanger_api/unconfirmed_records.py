"""Jobs whose record the database may or may not have taken.

When the database goes away while an ingest writes its job, the request is answered 503 and
nothing is queued, but the record may exist all the same. Rather than leave such a job
pending until the reaper times it out at its deadline, the api settles it as soon as the
database answers again: a record that landed is finalized as failed (`record_unconfirmed`),
one that did not leaves only its photo, which goes. Should this process stop first, the
reaper finishes the job at its deadline and the expiry sweep takes the photo."""

from __future__ import annotations

import asyncio
import logging

from photochanger_contracts.deadlines import seconds_left
from photochanger_runtime.clock import Clock
from photochanger_runtime.jobs import Job, JobTransitions
from photochanger_runtime.outages import database_away, wait_out
from pymongo.errors import PyMongoError

log = logging.getLogger(__name__)


class UnconfirmedJobs:
    """The unconfirmed jobs this api process is settling, one task each, at most `limit` at
    once (a long outage refuses many ingests; beyond, the reaper)."""

    def __init__(self, transitions: JobTransitions, clock: Clock, *, limit: int = 256) -> None:
        self._transitions, self._clock, self._limit = transitions, clock, limit
        self._settling: set[asyncio.Task[None]] = set()

    def settle_later(self, job: Job) -> None:
        if len(self._settling) >= self._limit:
            log.warning("too many unconfirmed jobs to settle; the reaper will",
                        extra={"job_id": job.id, "slot_id": job.slot_id})  # fmt: skip
            return
        task = asyncio.create_task(settle(job, self._transitions, self._clock))
        self._settling.add(task)
        task.add_done_callback(self._settling.discard)

    async def aclose(self) -> None:
        """At shutdown: what is left unsettled, the reaper finishes."""
        for task in list(self._settling):
            task.cancel()
        await asyncio.gather(*self._settling, return_exceptions=True)


async def settle(job: Job, transitions: JobTransitions, clock: Clock) -> None:
    """Settle `job`, waiting out the database until the job's deadline."""
    extra = {"job_id": job.id, "slot_id": job.slot_id}
    left = seconds_left(clock.now(), job.expires_at)
    if left <= 0:
        log.warning("unconfirmed job not settled before its deadline; the reaper will",
                    extra=extra)  # fmt: skip
        return
    try:
        final = await wait_out(
            lambda: transitions.settle_uncertain(job), database_away,
            give_up_in=left, first_delay=0.25,
        )  # fmt: skip
    except PyMongoError as exc:
        log.warning("unconfirmed job not settled; the reaper will",
                    extra={**extra, "error": type(exc).__name__})  # fmt: skip
        return
    log.info("unconfirmed job settled", extra={**extra, "record_existed": final is not None})
