"""The dispatcher's one handler: route a created job to its provider's topic.

    JobCreated → deadline passed?                     yes → nothing (the api or reaper ends it)
               → provider offers the operation?       no  → provider_error(unknown_provider)
               → publish ProviderJobRequested (attempt 1) on provider.{id}.requests

The event carries the whole job (slot snapshot with template media, photo, deadlines): routing
needs no database. A job is never dropped: a rejection finalizes it with a reason and a status
event. A duplicate delivery publishes the request again, which is harmless — only one worker
can claim an attempt."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from photochanger_contracts import JobCreated, ProviderErrorCode
from photochanger_runtime.clock import Clock
from photochanger_runtime.jobs import Job, JobError, JobTransitions, Transition
from photochanger_runtime.observability.logs import job_id_var, slot_id_var
from photochanger_runtime.providers.catalog import ProviderCatalog

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Dispatcher:
    transitions: JobTransitions
    catalog: ProviderCatalog
    clock: Clock

    async def on_job_created(self, event: JobCreated) -> None:
        spec = event.job
        job_id_var.set(spec.job_id)
        slot_id_var.set(spec.slot_id)
        if spec.expires_at <= self.clock.now():
            log.info("job past its deadline before routing; not dispatched")
            return
        if not self.catalog.supports(spec.provider, spec.operation):
            log.warning("job rejected: provider does not offer the operation")
            await self.transitions.finalize(
                Job.from_spec(spec), Transition.FAIL, finalizer="dispatcher",
                error=JobError(
                    code=ProviderErrorCode.UNKNOWN_PROVIDER.value,
                    message=f"provider {spec.provider!r} does not offer {spec.operation.value}",
                ),
            )  # fmt: skip
            return
        await self.transitions.dispatch(event)
