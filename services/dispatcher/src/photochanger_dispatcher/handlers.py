"""The dispatcher's one handler: route a created job to its provider's topic.

    JobCreated → load job → final already? stop
               → provider offers the operation?      no → provider_error(unknown_provider)
               → settings valid for the operation?   no → provider_error(invalid_slot_settings)
               → template media present?             no → provider_error(invalid_slot_settings)
               → pin templates on the job → publish ProviderJobRequested

A job is never dropped: every rejection finalizes it with a reason and a status event."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from faststream.kafka import KafkaBroker
from photochanger_contracts import (
    JobCreated,
    JobOutcome,
    JobStatus,
    ProviderErrorCode,
    ProviderJobRequested,
    SlotSettingsError,
    TemplateBinding,
    topics,
    validate_slot_settings,
)
from photochanger_runtime import metrics
from photochanger_runtime.broker import publish
from photochanger_runtime.clock import Clock
from photochanger_runtime.job_repository import Job, JobError, JobRepository
from photochanger_runtime.logs import job_id_var, slot_id_var
from photochanger_runtime.outcomes import finalize_and_announce
from photochanger_runtime.processing_log import ProcessingLog
from photochanger_runtime.providers.catalog import ProviderCatalog
from photochanger_runtime.template_media import TemplateMediaCatalog

log = logging.getLogger(__name__)

#: a dispatch fence older than this without a publish belongs to a dispatcher that died
_STALE_DISPATCH = timedelta(seconds=10)


class Rejected(Exception):
    def __init__(self, code: ProviderErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Dispatcher:
    jobs: JobRepository
    templates: TemplateMediaCatalog
    processing_log: ProcessingLog
    catalog: ProviderCatalog
    broker: KafkaBroker
    clock: Clock

    async def on_job_created(self, event: JobCreated) -> None:
        job_id_var.set(event.job_id)
        slot_id_var.set(event.slot_id)
        job = await self.jobs.get(event.job_id)
        if job is None:
            log.warning("JobCreated for a job that does not exist")
            return
        if job.status is not JobStatus.PENDING:
            log.info("job already claimed or final, not dispatched", extra={"status": job.status})
            return
        if not await self.jobs.begin_dispatch(job.id, self.clock.now(), _STALE_DISPATCH):
            log.info("duplicate JobCreated, already dispatched")
            return
        try:
            templates = await self._route(job)
        except Rejected as rejection:
            await self._reject(job, rejection)
            return
        if templates and not await self.jobs.set_templates(job.id, templates, self.clock.now()):
            return  # claimed or finalized meanwhile: a duplicate delivery
        assert job.payload is not None  # checked in _route
        request = ProviderJobRequested(
            occurred_at=self.clock.now(),
            job_id=job.id,
            slot_id=job.slot_id,
            provider=job.provider,
            operation=job.operation,
            settings=job.settings,
            payload=job.payload,
            templates=templates,
            expires_at=job.expires_at,
        )
        routed_at = self.clock.now()  # logged with the time it was sent, before any claim
        await publish(self.broker, topics.provider_requests(job.provider), request, key=job.id)
        metrics.DISPATCHED.labels(provider=job.provider).inc()
        await self.processing_log.append(
            job_id=job.id, slot_id=job.slot_id, provider=job.provider, event="dispatched",
            at=routed_at, details={"topic": topics.provider_requests(job.provider)},
        )  # fmt: skip
        await self.processing_log.flush()  # after the publish: off the job's critical path

    async def _route(self, job: Job) -> tuple[TemplateBinding, ...]:
        if job.payload is None:
            raise Rejected(ProviderErrorCode.UNSUPPORTED_INPUT, "the job has no photo")
        if not self.catalog.supports(job.provider, job.operation):
            raise Rejected(
                ProviderErrorCode.UNKNOWN_PROVIDER,
                f"provider {job.provider!r} does not offer {job.operation.value}",
            )
        try:
            settings = validate_slot_settings(job.provider, job.operation, job.settings)
        except SlotSettingsError as exc:
            raise Rejected(ProviderErrorCode.INVALID_SLOT_SETTINGS, str(exc)) from exc
        bindings: list[TemplateBinding] = []
        for binding in settings.template_media:
            template = await self.templates.get(binding.media_id)
            if template is None:
                if binding.optional:
                    continue
                raise Rejected(
                    ProviderErrorCode.INVALID_SLOT_SETTINGS,
                    f"template media {binding.media_id!r} ({binding.role}) does not exist",
                )
            bindings.append(TemplateBinding(role=binding.role, media=template.ref))
        return tuple(bindings)

    async def _reject(self, job: Job, rejection: Rejected) -> None:
        log.warning("job rejected by the dispatcher", extra={"code": rejection.code.value})
        await finalize_and_announce(
            job=job,
            outcome=JobOutcome.PROVIDER_ERROR,
            error=JobError(code=rejection.code.value, message=rejection.message),
            finalizer="dispatcher",
            jobs=self.jobs,
            processing_log=self.processing_log,
            broker=self.broker,
            clock=self.clock,
        )
