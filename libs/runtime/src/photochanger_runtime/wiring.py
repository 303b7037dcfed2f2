"""What every worker service's composition root starts with: the registry, the database and
the broker, registered with their health pings and their cleanup."""

from __future__ import annotations

from dataclasses import dataclass

import svcs
from faststream.kafka import KafkaBroker
from pymongo.asynchronous.database import AsyncDatabase

from . import mongo
from .broker import create_broker
from .broker import ping as broker_ping
from .clock import Clock
from .config import ServiceSettings
from .media import MediaStore, open_media_store
from .processing_log import ProcessingLog


@dataclass(frozen=True, slots=True)
class Core:
    registry: svcs.Registry
    db: AsyncDatabase[mongo.Document]
    broker: KafkaBroker
    processing_log: ProcessingLog
    media: MediaStore


def core_services(
    settings: ServiceSettings,
    clock: Clock,
    *,
    registry: svcs.Registry | None = None,
    client_id: str | None = None,
) -> Core:
    """Registry with the settings, clock, MongoDB (pinged), Kafka (pinged), the media store
    (pinged) and the processing log (flushed on close); the caller registers its own services
    on top. `registry` is the one a framework already made (the api's FastAPI lifespan)."""
    client = mongo.create_client(settings.mongodb_uri, app_name=settings.service_name)
    db = mongo.database(client, settings.mongodb_database)
    broker = create_broker(
        settings.kafka_bootstrap_servers, client_id=client_id or settings.service_name
    )
    processing_log = ProcessingLog(db)
    media = open_media_store(settings.media_url)
    registry = registry if registry is not None else svcs.Registry()
    registry.register_value(type(settings), settings)
    registry.register_value(Clock, clock)
    registry.register_value(AsyncDatabase, db, ping=mongo.ping, on_registry_close=client.close)
    registry.register_value(KafkaBroker, broker, ping=broker_ping)
    registry.register_value(ProcessingLog, processing_log, on_registry_close=processing_log.close)
    registry.register_value(
        MediaStore,
        media,
        ping=lambda store: store.ping(),
        on_registry_close=media.aclose,
    )
    return Core(registry=registry, db=db, broker=broker, processing_log=processing_log, media=media)
