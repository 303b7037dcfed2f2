"""Composition root of the dispatcher: settings → svcs registry → broker + handler table."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import svcs
from faststream.kafka import KafkaBroker
from photochanger_contracts import (
    CallEnded,
    JobCancelRequested,
    JobStatusChanged,
    PermitDecision,
    ProviderJobRequested,
    topics,
)
from photochanger_runtime.clock import Clock, SystemClock
from photochanger_runtime.config import ServiceSettings
from photochanger_runtime.messaging.asyncapi import declare_direct_read
from photochanger_runtime.messaging.broker import consumer
from photochanger_runtime.messaging.ledger import LedgerReader
from photochanger_runtime.observability.logs import configure_logging
from photochanger_runtime.observability.telemetry import configure_tracing
from photochanger_runtime.providers.catalog import load_catalog
from photochanger_runtime.service import run_worker
from photochanger_runtime.wiring import core_services

from .admission import AdmissionOwner
from .handlers import Dispatcher
from .health import HealthSnapshots


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
            topics.PROVIDER_LEDGER: PermitDecision,
        },
    )
    dispatcher = Dispatcher(transitions=core.transitions, catalog=catalog, clock=clock)

    def ledger_reader(on_record: Any, since: datetime) -> LedgerReader:
        return LedgerReader(
            settings.kafka_bootstrap_servers, on_record, since=since,
            connection=settings.kafka_connection(),
            topic=settings.kafka_name_prefix + topics.PROVIDER_LEDGER,
        )  # fmt: skip

    admission = AdmissionOwner(
        catalog, core.bus, clock, ledger_reader, snapshots=HealthSnapshots(core.db)
    )
    declare_direct_read(core.broker, topics.PROVIDER_LEDGER, PermitDecision, CallEnded)
    subscribe(core.broker, dispatcher, admission, workers=settings.kafka_consumers)
    core.registry.register_value(Dispatcher, dispatcher)
    core.registry.register_value(AdmissionOwner, admission)
    return core.registry, core.broker


def subscribe(
    broker: KafkaBroker,
    dispatcher: Dispatcher,
    admission: AdmissionOwner | None = None,
    *,
    workers: int = 1,
) -> None:
    """The handler table of the dispatcher: routing, and the providers' admission (one
    consumer, so the group's partition ownership is this replica's)."""
    broker.subscriber(topics.JOBS_CREATED, **consumer(group_id="dispatcher", workers=workers))(
        dispatcher.on_job_created
    )
    if admission is None:
        return
    broker.subscriber(
        topics.PROVIDER_ADMISSIONS,
        listener=admission.listener(),
        # the dispatcher's group (its Kafka user may read it): members subscribe to different
        # topics, and each topic's partitions are shared among its own subscribers
        **consumer(group_id="dispatcher"),
    )(admission.on_permit_requested)


def run(settings: Settings | None = None) -> None:
    settings = settings or Settings()
    configure_logging(settings.service_name, settings.log_level)
    configure_tracing(settings.service_name)

    async def main() -> None:
        registry, broker = build(settings, SystemClock())
        admission = svcs.Container(registry).get(AdmissionOwner)
        await run_worker(
            settings=settings, registry=registry, broker=broker, loops=(admission.run,)
        )

    asyncio.run(main())
