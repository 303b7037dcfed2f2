"""Composition of a provider service: one adapter, the shared runtime, Kafka and MongoDB.

Provider services are thin: they hand `run_provider_service` a factory that builds their
adapter from its `ProviderConfig` and the process's pooled HTTP client."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

import httpx
import svcs
from faststream.kafka import KafkaBroker
from photochanger_contracts import (
    CallEnded,
    JobCancelRequested,
    JobStatusChanged,
    PermitDecision,
    PermitRequested,
    ProviderAdapter,
    ProviderJobRequested,
    topics,
)
from pydantic import SecretStr

from ..clock import Clock, SystemClock
from ..config import ServiceSettings
from ..configuration.platform_settings import (
    PlatformSettingsRepository,
    RecentPlatformSettings,
)
from ..configuration.template_media import TemplateMediaCatalog
from ..media.links import MediaLinks
from ..messaging.asyncapi import declare_direct_read
from ..messaging.broker import consumer
from ..messaging.ledger import LedgerReader
from ..observability.logs import configure_logging
from ..observability.telemetry import configure_tracing
from ..service import run_worker
from ..wiring import core_services
from .admission import FleetAdmission
from .catalog import ProviderConfig, load_catalog
from .lifecycle import LifecycleDeps, ProviderJobRunner
from .plugins import AdapterFactory
from .worker import ProviderWorker

log = logging.getLogger(__name__)


class ProviderServiceSettings(ServiceSettings):
    #: where the api serves /public/media/{token} (providers that download inputs by URL)
    public_base_url: str = "http://127.0.0.1:8000"
    lease_seconds: float = 6.0
    recovery_interval_seconds: float = 2.0
    #: how stale the platform settings (provider keys set through the admin API, result
    #: retention) may be
    provider_key_refresh_seconds: float = 5.0


class AdapterRegistry(dict[str, ProviderAdapter]):
    """Adapters by provider id, as registered in this process's container."""


class KeyedAdapter:
    """The provider's adapter with its current API key: the key set through the admin API
    (platform settings, as recent as `RecentPlatformSettings` keeps them) when there is one,
    else the deployment's. A changed key builds a new adapter on the same HTTP client."""

    def __init__(
        self,
        factory: AdapterFactory,
        config: ProviderConfig,
        http: httpx.AsyncClient,
        settings: RecentPlatformSettings,
    ) -> None:
        self._factory = factory
        self._config = config
        self._http = http
        self._settings = settings
        self._adapter = factory(config, http)
        self._key = config.api_key.get_secret_value() if config.api_key else None

    @property
    def adapter(self) -> ProviderAdapter:
        return self._adapter

    async def current(self) -> ProviderAdapter:
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
    catalog = load_catalog(settings.providers_config, environ)
    config = catalog.get(provider_id)
    if config is None:
        raise SystemExit(f"provider {provider_id!r} is missing from {settings.providers_config}")
    core = core_services(
        settings,
        clock,
        publishes={
            topics.JOBS_STATUS: JobStatusChanged,
            topics.JOBS_CANCEL: JobCancelRequested,
            topics.PROVIDER_ADMISSIONS: PermitRequested,
            topics.PROVIDER_LEDGER: CallEnded,
            # slot fallbacks hand a job to another provider
            **{topics.provider_requests(p): ProviderJobRequested for p in catalog.ids()},
        },
    )
    db, broker = core.db, core.broker
    http = httpx.AsyncClient(
        # calls at once are bounded by the fleet's budget; keep-alive connections are cheap
        limits=httpx.Limits(max_connections=max(8, min(config.concurrency, 1024))),
        timeout=httpx.Timeout(config.request_timeout_seconds),
        follow_redirects=False,
    )
    platform_settings = RecentPlatformSettings(
        PlatformSettingsRepository(db), max_age_seconds=settings.provider_key_refresh_seconds
    )
    keyed = KeyedAdapter(adapter_factory, config, http, platform_settings)
    adapters = AdapterRegistry({provider_id: keyed.adapter})
    deps = LifecycleDeps(
        transitions=core.transitions,
        media=core.media,
        links=MediaLinks(db),
        templates=TemplateMediaCatalog(db, core.media),
        platform_settings=platform_settings,
        clock=clock,
        public_base_url=settings.public_base_url,
    )
    worker_id = f"{provider_id}-{uuid.uuid4().hex[:12]}"
    admission = FleetAdmission(
        provider=provider_id, worker_id=worker_id, publish=core.bus.publish, clock=clock,
        monotonic=time.monotonic,
    )  # fmt: skip
    runner = ProviderJobRunner(
        keyed.adapter,
        config,
        deps,
        admission,
        current_adapter=keyed.current,
    )
    worker = ProviderWorker(
        runner,
        deps,
        core.jobs,
        worker_id=worker_id,
        # jobs waiting for their permit cost a coroutine each: the fleet's budget, not this
        # number, bounds the calls at once
        max_concurrent_jobs=config.replica_max_jobs,
        lease_seconds=settings.lease_seconds,
        recovery_interval_seconds=settings.recovery_interval_seconds,
        holds_key=config.configured,
    )
    subscribe(broker, worker, workers=settings.kafka_consumers)
    # its permits' decisions, read by `ledger_loop`
    declare_direct_read(broker, topics.PROVIDER_LEDGER, PermitDecision)

    registry = core.registry
    registry.register_value(ProviderConfig, config)
    registry.register_value(httpx.AsyncClient, http, on_registry_close=http.aclose)
    registry.register_value(AdapterRegistry, adapters)
    registry.register_value(LifecycleDeps, deps)
    registry.register_value(ProviderWorker, worker, ping=ProviderWorker.check)
    registry.register_value(FleetAdmission, admission)
    return registry, broker, worker


def ledger_loop(
    settings: ProviderServiceSettings, admission: FleetAdmission
) -> Callable[[asyncio.Event], Coroutine[Any, Any, None]]:
    """Reads the permit decisions from the ledger while the service runs."""

    async def read_ledger(stop: asyncio.Event) -> None:
        reader = LedgerReader(
            settings.kafka_bootstrap_servers, admission.on_record,
            connection=settings.kafka_connection(),
            topic=settings.kafka_name_prefix + topics.PROVIDER_LEDGER,
        )  # fmt: skip
        await reader.start()
        try:
            await stop.wait()
        finally:
            await reader.stop()

    return read_ledger


def subscribe(broker: KafkaBroker, worker: ProviderWorker, *, workers: int = 1) -> None:
    """The handler table of a provider service: its request topic in the provider's consumer
    group, and every cancel (no group: whichever replica runs the job must hear it)."""
    provider = worker.provider_id
    broker.subscriber(
        topics.provider_requests(provider),
        **consumer(group_id=f"provider-{provider}", workers=workers),
    )(worker.on_job_requested)
    broker.subscriber(topics.JOBS_CANCEL, **consumer(group_id=None, auto_offset_reset="latest"))(
        worker.on_cancel_requested
    )


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
            loops=(
                worker.keep_alive,
                worker.recover_orphans,
                ledger_loop(settings, svcs.Container(registry).get(FleetAdmission)),
            ),
            on_start=worker.announce,
            on_shutdown=worker.shutdown,
        )

    asyncio.run(main())
