"""Composition root of the dispatcher: settings → svcs registry → broker + handler table."""

from __future__ import annotations

import asyncio

import svcs
from faststream.kafka import KafkaBroker
from photochanger_contracts import JobCreated, topics
from photochanger_runtime.broker import subscribe
from photochanger_runtime.clock import Clock, SystemClock
from photochanger_runtime.config import ServiceSettings
from photochanger_runtime.job_repository import JobRepository
from photochanger_runtime.logs import configure_logging
from photochanger_runtime.providers.catalog import load_catalog
from photochanger_runtime.service import run_worker
from photochanger_runtime.telemetry import configure_tracing
from photochanger_runtime.template_media import TemplateMediaCatalog
from photochanger_runtime.wiring import core_services

from .handlers import Dispatcher


class Settings(ServiceSettings):
    service_name: str = "dispatcher"
    http_port: int = 8101


def build(settings: Settings, clock: Clock) -> tuple[svcs.Registry, KafkaBroker]:
    core = core_services(settings, clock)
    dispatcher = Dispatcher(
        jobs=JobRepository(core.db),
        templates=TemplateMediaCatalog(core.db, core.media),
        processing_log=core.processing_log,
        catalog=load_catalog(settings.providers_config),
        broker=core.broker,
        clock=clock,
    )
    # The handler table of the dispatcher.
    subscribe(core.broker, topics.JOBS_CREATED, JobCreated, dispatcher.on_job_created,
              group_id="dispatcher", consumers=settings.kafka_topic_partitions)  # fmt: skip
    core.registry.register_value(Dispatcher, dispatcher)
    return core.registry, core.broker


def run(settings: Settings | None = None) -> None:
    settings = settings or Settings()
    configure_logging(settings.service_name, settings.log_level)
    configure_tracing(settings.service_name)

    async def main() -> None:
        registry, broker = build(settings, SystemClock())
        await run_worker(settings=settings, registry=registry, broker=broker)

    asyncio.run(main())
