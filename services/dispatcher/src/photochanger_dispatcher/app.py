"""Composition root of the dispatcher: settings → svcs registry → broker + handler table."""

from __future__ import annotations

import asyncio

import svcs
from faststream.kafka import KafkaBroker
from photochanger_contracts import JobCreated, topics
from photochanger_runtime import mongo
from photochanger_runtime.broker import create_broker, subscribe
from photochanger_runtime.broker import ping as broker_ping
from photochanger_runtime.clock import Clock, SystemClock
from photochanger_runtime.config import ServiceSettings
from photochanger_runtime.job_repository import JobRepository
from photochanger_runtime.logs import configure_logging
from photochanger_runtime.media_store import MediaStore
from photochanger_runtime.processing_log import ProcessingLog
from photochanger_runtime.providers.catalog import load_catalog
from photochanger_runtime.service import run_worker
from photochanger_runtime.telemetry import configure_tracing
from pymongo.asynchronous.database import AsyncDatabase

from .handlers import Dispatcher


class Settings(ServiceSettings):
    service_name: str = "dispatcher"
    http_port: int = 8101


def build(settings: Settings, clock: Clock) -> tuple[svcs.Registry, KafkaBroker]:
    client = mongo.create_client(settings.mongodb_uri, app_name=settings.service_name)
    db = mongo.database(client, settings.mongodb_database)
    broker = create_broker(settings.kafka_bootstrap_servers, client_id=settings.service_name)
    dispatcher = Dispatcher(
        jobs=JobRepository(db),
        media=MediaStore(db),
        processing_log=ProcessingLog(db),
        catalog=load_catalog(settings.providers_config),
        broker=broker,
        clock=clock,
    )
    # The handler table of the dispatcher.
    subscribe(broker, topics.JOBS_CREATED, JobCreated, dispatcher.on_job_created,
              group_id="dispatcher", consumers=settings.kafka_topic_partitions)  # fmt: skip

    registry = svcs.Registry()
    registry.register_value(Settings, settings)
    registry.register_value(Clock, clock)
    registry.register_value(AsyncDatabase, db, ping=mongo.ping, on_registry_close=client.close())
    registry.register_value(KafkaBroker, broker, ping=broker_ping)
    registry.register_value(
        ProcessingLog, dispatcher.processing_log, on_registry_close=dispatcher.processing_log.close
    )
    registry.register_value(Dispatcher, dispatcher)
    return registry, broker


def run(settings: Settings | None = None) -> None:
    settings = settings or Settings()
    configure_logging(settings.service_name, settings.log_level)
    configure_tracing(settings.service_name)

    async def main() -> None:
        registry, broker = build(settings, SystemClock())
        await run_worker(settings=settings, registry=registry, broker=broker)

    asyncio.run(main())
