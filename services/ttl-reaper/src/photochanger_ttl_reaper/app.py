"""Composition root of the ttl-reaper: settings → svcs registry → periodic sweeps."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import svcs
from faststream.kafka import KafkaBroker
from photochanger_contracts import JobCancelRequested, JobStatusChanged, topics
from photochanger_runtime.clock import Clock, SystemClock
from photochanger_runtime.config import ServiceSettings
from photochanger_runtime.configuration.template_media import TemplateMediaCatalog
from photochanger_runtime.expiry import ClientRecordExpiry, JobExpiry, MediaExpiry
from photochanger_runtime.media.links import MediaLinks
from photochanger_runtime.observability.dbcommands import background
from photochanger_runtime.observability.logs import configure_logging
from photochanger_runtime.observability.telemetry import configure_tracing
from photochanger_runtime.service import BackgroundLoop, run_worker
from photochanger_runtime.wiring import core_services

log = logging.getLogger(__name__)


class Settings(ServiceSettings):
    service_name: str = "ttl-reaper"
    http_port: int = 8104
    jobs_interval_seconds: float = 2.0
    media_interval_seconds: float = 30.0
    batch_size: int = 200


def build(
    settings: Settings, clock: Clock
) -> tuple[svcs.Registry, KafkaBroker, JobExpiry, MediaExpiry]:
    core = core_services(
        settings,
        clock,
        publishes={topics.JOBS_STATUS: JobStatusChanged, topics.JOBS_CANCEL: JobCancelRequested},
    )
    jobs = JobExpiry(
        store=core.jobs, transitions=core.transitions, clock=clock, batch_size=settings.batch_size
    )
    media = MediaExpiry(
        media=core.media,
        links=MediaLinks(core.db),
        templates=TemplateMediaCatalog(core.db, core.media),
        clock=clock,
        batch_size=settings.batch_size,
    )
    core.registry.register_value(JobExpiry, jobs)
    core.registry.register_value(MediaExpiry, media)
    core.registry.register_value(ClientRecordExpiry, ClientRecordExpiry(core.db, clock))
    return core.registry, core.broker, jobs, media


def every(seconds: float, sweep: Callable[[], Awaitable[object]], name: str) -> BackgroundLoop:
    async def loop(stop: asyncio.Event) -> None:
        background()
        while not stop.is_set():
            try:
                await sweep()
            except Exception:
                log.exception("sweep failed", extra={"sweep": name})
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await stop.wait()

    loop.__name__ = name
    return loop


def run(settings: Settings | None = None) -> None:
    settings = settings or Settings()
    configure_logging(settings.service_name, settings.log_level)
    configure_tracing(settings.service_name)

    async def main() -> None:
        registry, broker, jobs, media = build(settings, SystemClock())
        await run_worker(
            settings=settings,
            registry=registry,
            broker=broker,
            loops=(
                every(settings.jobs_interval_seconds, jobs.expire_jobs, "expire_jobs"),
                every(settings.media_interval_seconds, media.sweep_media, "sweep_media"),
                every(
                    settings.media_interval_seconds,
                    svcs.Container(registry).get(ClientRecordExpiry).sweep_client_records,
                    "sweep_client_records",
                ),
            ),
        )

    asyncio.run(main())
