"""What every service's composition root starts with: the registry, the database, the broker
with the events this service publishes, the media store, the job store and the one writer of
jobs — registered with their health pings and their cleanup."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import svcs
from faststream.kafka import KafkaBroker
from photochanger_contracts import DeadLetter, Event, topics
from pymongo.asynchronous.database import AsyncDatabase

from . import mongo
from .clock import Clock
from .config import ServiceSettings
from .jobs import JobStore, JobTransitions
from .jobs.mongo_store import MongoJobStore
from .media import MediaStore, open_media_store
from .messaging.broker import KafkaEventBus, broker_security, create_broker
from .messaging.broker import ping as broker_ping


@dataclass(frozen=True, slots=True)
class Core:
    registry: svcs.Registry
    db: AsyncDatabase[mongo.Document]
    broker: KafkaBroker
    bus: KafkaEventBus
    media: MediaStore
    jobs: MongoJobStore
    transitions: JobTransitions


def core_services(
    settings: ServiceSettings,
    clock: Clock,
    *,
    publishes: Mapping[str, type[Event]],
    registry: svcs.Registry | None = None,
    client_id: str | None = None,
) -> Core:
    """Registry with the settings, clock, MongoDB (pinged), Kafka (pinged) with a publisher
    for each topic in `publishes`, the media store (pinged), the job store and
    `JobTransitions`; the caller registers its own services on top. `registry` is the one a
    framework already made (the api's FastAPI lifespan)."""
    client = mongo.create_client(
        settings.mongodb_uri,
        app_name=settings.service_name,
        timeout_seconds=settings.database_timeout_seconds,
    )
    db = mongo.database(client, settings.mongodb_database)
    broker = create_broker(
        settings.kafka_bootstrap_servers,
        client_id=client_id or settings.service_name,
        security=broker_security(settings),
        publish_timeout_seconds=settings.kafka_publish_timeout_seconds,
        name_prefix=settings.kafka_name_prefix,
    )
    bus = KafkaEventBus(
        broker,
        {**publishes, topics.DEAD_LETTER: DeadLetter},
        timeout_seconds=settings.kafka_publish_timeout_seconds,
    )
    media = open_media_store(settings.media_url)
    jobs = MongoJobStore(db)
    transitions = JobTransitions(store=jobs, bus=bus, media=media, clock=clock)
    registry = registry if registry is not None else svcs.Registry()
    registry.register_value(type(settings), settings)
    registry.register_value(Clock, clock)
    registry.register_value(AsyncDatabase, db, ping=mongo.ping, on_registry_close=client.close)
    registry.register_value(KafkaBroker, broker, ping=broker_ping)
    registry.register_value(MediaStore, media, ping=_ping_media, on_registry_close=media.aclose)
    registry.register_value(JobStore, jobs)
    registry.register_value(JobTransitions, transitions)
    return Core(
        registry=registry, db=db, broker=broker, bus=bus, media=media, jobs=jobs,
        transitions=transitions,
    )  # fmt: skip


async def _ping_media(store: MediaStore) -> None:
    await store.ping()
