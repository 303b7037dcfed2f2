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

from photochanger_runtime.clock import Clock
from photochanger_runtime.jobs import Job, JobTransitions
from photochanger_runtime.mongo import database_unavailable
from pymongo.errors import PyMongoError

log = logging.getLogger(__name__)

#: at most this many settle at once (a long outage refuses many ingests); beyond, the reaper
MAX_SETTLING = 256
_settling: set[asyncio.Task[None]] = set()


def settle_later(job: Job, transitions: JobTransitions, clock: Clock) -> asyncio.Task[None] | None:
    """Settle `job` in the background, retrying until its deadline."""
    if len(_settling) >= MAX_SETTLING:
        log.warning("too many unconfirmed jobs to settle; the reaper will",
                    extra={"job_id": job.id, "slot_id": job.slot_id})  # fmt: skip
        return None
    task = asyncio.create_task(settle(job, transitions, clock))
    _settling.add(task)
    task.add_done_callback(_settling.discard)
    return task


async def stop_settling() -> None:
    """At shutdown: what is left unsettled, the reaper finishes."""
    for task in list(_settling):
        task.cancel()
    await asyncio.gather(*_settling, return_exceptions=True)


async def settle(job: Job, transitions: JobTransitions, clock: Clock) -> None:
    extra = {"job_id": job.id, "slot_id": job.slot_id}
    delay = 0.25
    while clock.now() < job.expires_at:
        try:
            final = await transitions.settle_uncertain(job)
        except PyMongoError as exc:
            if not database_unavailable(exc):
                log.warning("unconfirmed job not settled; the reaper will",
                            extra={**extra, "error": type(exc).__name__})  # fmt: skip
                return
        else:
            log.info("unconfirmed job settled", extra={**extra, "record_existed": bool(final)})
            return
        await asyncio.sleep(delay)  # back-off while the database is away, bounded by the deadline
        delay = min(delay * 2, 2.0)
    log.warning("unconfirmed job not settled before its deadline; the reaper will", extra=extra)
