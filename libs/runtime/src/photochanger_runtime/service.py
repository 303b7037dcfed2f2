"""Running a worker service: broker + background loops + health endpoint, until SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

import svcs
import uvicorn
from faststream.kafka import KafkaBroker
from photochanger_contracts import topics

from .config import ServiceSettings
from .messaging.broker import ensure_topics
from .observability.health import create_health_app
from .providers.catalog import load_catalog

log = logging.getLogger(__name__)

BackgroundLoop = Callable[[asyncio.Event], Coroutine[Any, Any, None]]


async def serve_health(registry: svcs.Registry, settings: ServiceSettings) -> uvicorn.Server:
    config = uvicorn.Config(
        create_health_app(registry),
        host=settings.http_host,
        port=settings.http_port,
        log_level="warning",
        lifespan="off",
    )
    return uvicorn.Server(config)


async def start_broker(broker: KafkaBroker, settings: ServiceSettings) -> None:
    """Make sure every platform topic exists, then start consuming and producing. A start
    that fails leaves nothing behind: it may be tried again, on fresh clients."""
    catalog = load_catalog(settings.providers_config)
    await ensure_topics(
        settings.kafka_bootstrap_servers,
        tuple(settings.kafka_name_prefix + name for name in topics.all_topics(catalog.ids())),
        partitions=settings.kafka_topic_partitions,
        replication_factor=settings.kafka_replication_factor,
        connection=settings.kafka_connection(),
    )
    try:
        await broker.start()
    except BaseException:
        # FastStream keeps the clients a failed start made: an admin client whose first
        # connection failed would be reused, never connected, and the next start wait on
        # its metadata forever. Closing them all makes the next start connect afresh.
        with contextlib.suppress(Exception):
            await broker.stop()
        raise


async def run_worker(
    *,
    settings: ServiceSettings,
    registry: svcs.Registry,
    broker: KafkaBroker,
    loops: Sequence[BackgroundLoop] = (),
    on_start: Callable[[], Awaitable[None]] | None = None,
    on_shutdown: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Start everything (`on_start` before any message is consumed), wait for SIGTERM or
    SIGINT, then stop in reverse order."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    health = await serve_health(registry, settings)
    health_task = asyncio.create_task(health.serve(), name="health")
    if on_start is not None:
        await on_start()
    await start_broker(broker, settings)
    tasks = [
        asyncio.create_task(body(stop), name=getattr(body, "__name__", "loop")) for body in loops
    ]
    log.info("service started", extra={"http_port": settings.http_port})
    try:
        # uvicorn captures SIGTERM/SIGINT while it serves and returns when one arrives,
        # so the health server ending is a stop signal as well.
        stop_wait = asyncio.create_task(stop.wait())
        await asyncio.wait({stop_wait, health_task}, return_when=asyncio.FIRST_COMPLETED)
        stop_wait.cancel()
    finally:
        log.info("service stopping")
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if on_shutdown is not None:
            await on_shutdown()
        await broker.stop()
        health.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await health_task
        await registry.aclose()
        log.info("service stopped")
