"""Composition root of the ttl-reaper: settings → svcs registry → periodic sweeps."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import svcs
from faststream.kafka import KafkaBroker
from photochanger_runtime.clock import Clock, SystemClock
from photochanger_runtime.config import ServiceSettings
from photochanger_runtime.expiry import Reaper
from photochanger_runtime.job_repository import JobRepository
from photochanger_runtime.logs import configure_logging
from photochanger_runtime.media.links import MediaLinks
from photochanger_runtime.service import BackgroundLoop, run_worker
from photochanger_runtime.telemetry import configure_tracing
from photochanger_runtime.template_media import TemplateMediaCatalog
from photochanger_runtime.wiring import core_services

log = logging.getLogger(__name__)


class Settings(ServiceSettings):
    service_name: str = "ttl-reaper"
    http_port: int = 8104
    jobs_interval_seconds: float = 2.0
    media_interval_seconds: float = 30.0
    orphans_interval_seconds: float = 600.0
    batch_size: int = 200


def build(settings: Settings, clock: Clock) -> tuple[svcs.Registry, KafkaBroker, Reaper]:
    core = core_services(settings, clock)
    reaper = Reaper(
        jobs=JobRepository(core.db),
        media=core.media,
        links=MediaLinks(core.db),
        templates=TemplateMediaCatalog(core.db, core.media),
        processing_log=core.processing_log,
        broker=core.broker,
        clock=clock,
        batch_size=settings.batch_size,
    )
    core.registry.register_value(Reaper, reaper)
    return core.registry, core.broker, reaper


def every(seconds: float, sweep: Callable[[], Awaitable[object]], name: str) -> BackgroundLoop:
    async def loop(stop: asyncio.Event) -> None:
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
        registry, broker, reaper = build(settings, SystemClock())
        await run_worker(
            settings=settings,
            registry=registry,
            broker=broker,
            loops=(
                every(settings.jobs_interval_seconds, reaper.expire_jobs, "expire_jobs"),
                every(settings.media_interval_seconds, reaper.sweep_media, "sweep_media"),
                every(settings.orphans_interval_seconds, reaper.sweep_orphans, "sweep_orphans"),
            ),
        )

    asyncio.run(main())
