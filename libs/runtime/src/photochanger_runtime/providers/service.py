"""Composition of a provider service: one adapter, the shared runtime, Kafka and MongoDB.

Provider services are thin: they hand `run_provider_service` a factory that builds their
adapter from its `ProviderConfig` and the process's pooled HTTP client."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping

import httpx
import svcs
from faststream.kafka import KafkaBroker
from photochanger_contracts import (
    JobCancelRequested,
    JobStatusChanged,
    ProviderAdapter,
    ProviderJobRequested,
    topics,
)
from pydantic import SecretStr

from ..broker import publish, subscribe
from ..clock import Clock, SystemClock
from ..config import ServiceSettings
from ..job_repository import JobRepository
from ..logs import configure_logging
from ..media.links import MediaLinks
from ..platform_settings import PlatformSettingsRepository
from ..service import run_worker
from ..telemetry import configure_tracing
from ..template_media import TemplateMediaCatalog
from ..wiring import core_services
from .catalog import ProviderConfig, load_catalog
from .lifecycle import LifecycleDeps, ProviderJobRunner
from .limits import RateLimiter
from .worker import ProviderWorker

log = logging.getLogger(__name__)

AdapterFactory = Callable[[ProviderConfig, httpx.AsyncClient], ProviderAdapter]


class ProviderServiceSettings(ServiceSettings):
    #: where the api serves /public/media/{token} (providers that download inputs by URL)
    public_base_url: str = "http://127.0.0.1:8000"
    lease_seconds: float = 6.0
    recovery_interval_seconds: float = 2.0
    #: how stale the provider API key set through the admin API may be
    provider_key_refresh_seconds: float = 5.0


class AdapterRegistry(dict[str, ProviderAdapter]):
    """Adapters by provider id, as registered in this process's container."""


class KeyedAdapter:
    """The provider's adapter with its current API key: the key set through the admin API
    (platform settings) when there is one, else the deployment's. Re-read at most every
    `max_age` seconds; a changed key builds a new adapter on the same HTTP client."""

    def __init__(
        self,
        factory: AdapterFactory,
        config: ProviderConfig,
        http: httpx.AsyncClient,
        settings: PlatformSettingsRepository,
        *,
        max_age: float = 5.0,
    ) -> None:
        self._factory = factory
        self._config = config
        self._http = http
        self._settings = settings
        self._max_age = max_age
        self._adapter = factory(config, http)
        self._key = config.api_key.get_secret_value() if config.api_key else None
        self._checked = 0.0

    @property
    def adapter(self) -> ProviderAdapter:
        return self._adapter

    async def current(self) -> ProviderAdapter:
        now = time.monotonic()
        if now - self._checked < self._max_age:
            return self._adapter
        self._checked = now
        try:
            stored = (await self._settings.get()).provider_key(self._config.provider_id)
        except Exception:  # keep the last known key while the database is unreachable
            log.warning("provider key not re-read")
            return self._adapter
        key = stored.get_secret_value() if stored else (
            self._config.api_key.get_secret_value() if self._config.api_key else None
        )  # fmt: skip
        if key != self._key:
            self._key = key
            config = self._config.model_copy(update={"api_key": SecretStr(key) if key else None})
            self._adapter = self._factory(config, self._http)
            log.info("provider API key changed; new jobs use it")
        return self._adapter


def build_registry(
    provider_id: str,
    settings: ProviderServiceSettings,
    adapter_factory: AdapterFactory,
    clock: Clock,
    environ: Mapping[str, str] | None = None,
) -> tuple[svcs.Registry, KafkaBroker, ProviderWorker]:
    config = load_catalog(settings.providers_config, environ).get(provider_id)
    if config is None:
        raise SystemExit(f"provider {provider_id!r} is missing from {settings.providers_config}")
    core = core_services(settings, clock)
    db, broker = core.db, core.broker
    http = httpx.AsyncClient(
        limits=httpx.Limits(max_connections=config.max_concurrent_jobs * 2),
        timeout=httpx.Timeout(config.request_timeout_seconds),
        follow_redirects=False,
    )
    keyed = KeyedAdapter(
        adapter_factory,
        config,
        http,
        PlatformSettingsRepository(db),
        max_age=settings.provider_key_refresh_seconds,
    )
    adapters = AdapterRegistry({provider_id: keyed.adapter})

    async def publish_status(event: JobStatusChanged) -> None:
        await publish(broker, topics.JOBS_STATUS, event, key=event.job_id)

    async def request_provider(event: ProviderJobRequested) -> None:
        await publish(broker, topics.provider_requests(event.provider), event, key=event.job_id)

    deps = LifecycleDeps(
        jobs=JobRepository(db),
        log=core.processing_log,
        media=core.media,
        links=MediaLinks(db),
        templates=TemplateMediaCatalog(db, core.media),
        platform_settings=PlatformSettingsRepository(db),
        publish_status=publish_status,
        clock=clock,
        public_base_url=settings.public_base_url,
        request_provider=request_provider,
    )
    runner = ProviderJobRunner(
        keyed.adapter,
        config,
        deps,
        RateLimiter(config.requests_per_minute),
        current_adapter=keyed.current,
    )
    worker = ProviderWorker(
        runner,
        deps,
        max_concurrent_jobs=config.max_concurrent_jobs,
        lease_seconds=settings.lease_seconds,
        recovery_interval_seconds=settings.recovery_interval_seconds,
    )
    # The handler table of a provider service.
    subscribe(
        broker, topics.provider_requests(provider_id), ProviderJobRequested,
        worker.on_job_requested, group_id=f"provider-{provider_id}",
        consumers=settings.kafka_topic_partitions,
    )  # fmt: skip
    subscribe(
        broker, topics.JOBS_CANCEL, JobCancelRequested, worker.on_cancel_requested,
        group_id=None, auto_offset_reset="latest",
    )  # fmt: skip

    registry = core.registry
    registry.register_value(ProviderConfig, config)
    registry.register_value(httpx.AsyncClient, http, on_registry_close=http.aclose)
    registry.register_value(AdapterRegistry, adapters)
    registry.register_value(LifecycleDeps, deps)
    registry.register_value(ProviderWorker, worker)
    return registry, broker, worker


def run_provider_service(
    provider_id: str, adapter_factory: AdapterFactory, settings: ProviderServiceSettings
) -> None:
    configure_logging(settings.service_name, settings.log_level)
    configure_tracing(settings.service_name)

    async def main() -> None:
        registry, broker, worker = build_registry(
            provider_id, settings, adapter_factory, SystemClock()
        )
        await run_worker(
            settings=settings,
            registry=registry,
            broker=broker,
            loops=(worker.keep_leases, worker.recover_orphans),
            on_shutdown=worker.shutdown,
        )

    asyncio.run(main())
