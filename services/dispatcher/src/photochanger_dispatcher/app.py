"""Composition root of the dispatcher: settings → svcs registry → broker + handler table."""

from __future__ import annotations

import asyncio

import svcs
from faststream.kafka import KafkaBroker
from photochanger_contracts import (
    JobCancelRequested,
    JobStatusChanged,
    ProviderJobRequested,
    topics,
)
from photochanger_runtime.clock import Clock, SystemClock
from photochanger_runtime.config import ServiceSettings
from photochanger_runtime.messaging.broker import consumer
from photochanger_runtime.observability.logs import configure_logging
from photochanger_runtime.observability.telemetry import configure_tracing
from photochanger_runtime.providers.catalog import load_catalog
from photochanger_runtime.service import run_worker
from photochanger_runtime.wiring import core_services

from .handlers import Dispatcher


class Settings(ServiceSettings):
    service_name: str = "dispatcher"
    http_port: int = 8101


def build(settings: Settings, clock: Clock) -> tuple[svcs.Registry, KafkaBroker]:
    catalog = load_catalog(settings.providers_config)
    core = core_services(
        settings,
        clock,
        publishes={
            **{topics.provider_requests(p): ProviderJobRequested for p in catalog.ids()},
            topics.JOBS_STATUS: JobStatusChanged,
            topics.JOBS_CANCEL: JobCancelRequested,
        },
    )
    dispatcher = Dispatcher(transitions=core.transitions, catalog=catalog, clock=clock)
    subscribe(core.broker, dispatcher, workers=settings.kafka_consumers)
    core.registry.register_value(Dispatcher, dispatcher)
    return core.registry, core.broker


def subscribe(broker: KafkaBroker, dispatcher: Dispatcher, *, workers: int = 1) -> None:
    """The handler table of the dispatcher."""
    broker.subscriber(topics.JOBS_CREATED, **consumer(group_id="dispatcher", workers=workers))(
        dispatcher.on_job_created
    )


def run(settings: Settings | None = None) -> None:
    settings = settings or Settings()
    configure_logging(settings.service_name, settings.log_level)
    configure_tracing(settings.service_name)

    async def main() -> None:
        registry, broker = build(settings, SystemClock())
        await run_worker(settings=settings, registry=registry, broker=broker)

    asyncio.run(main())
