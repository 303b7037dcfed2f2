"""Composition root of the api: settings → svcs registry → FastAPI app + Kafka broker.

The only module that knows concrete classes. Tests build the app with their own settings
(or swap a factory on the registry) instead of patching modules."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from pathlib import Path

import svcs
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from faststream.kafka import KafkaBroker
from photochanger_contracts import JobCancelRequested, JobCreated, JobStatusChanged, topics
from photochanger_runtime.clock import Clock, SystemClock
from photochanger_runtime.config import repository_root
from photochanger_runtime.configuration.platform_settings import PlatformSettingsRepository
from photochanger_runtime.configuration.slots import SlotRepository, load_seed
from photochanger_runtime.configuration.template_media import TemplateMediaCatalog
from photochanger_runtime.media.links import MediaLinks
from photochanger_runtime.messaging.broker import consumer
from photochanger_runtime.observability.health import metrics_endpoint, readiness
from photochanger_runtime.observability.logs import configure_logging
from photochanger_runtime.observability.telemetry import configure_tracing
from photochanger_runtime.providers.catalog import ProviderCatalog, load_catalog
from photochanger_runtime.providers.url_policy import UrlPolicy
from photochanger_runtime.service import start_broker
from photochanger_runtime.wiring import core_services

from . import (
    database_commands,
    routes_ingest,
    routes_jobs,
    routes_media,
    routes_public,
    routes_shared,
)
from .admin import (
    routes_login,
    routes_overview,
    routes_previews,
    routes_providers,
    routes_session,
    routes_settings,
    routes_slots,
    routes_stats,
    routes_templates,
    routes_test_run,
    routes_test_runs,
)
from .admin.auth import AdminAccounts, AdminTokens, signing_key
from .admin.job_queries import JobQueries
from .admin.login_gate import LoginGate
from .admin.login_throttle import LoginThrottle, ThrottleRule
from .admin.overview import StatsOverview
from .admin.sessions import AdminSessions
from .admin.stats import JobStats
from .body_limits import BodyLimits, body_rules
from .client_address import ClientAddresses
from .client_jobs import routes as client_job_routes
from .client_jobs.feed import StatusFeed
from .client_keys import routes as client_key_routes
from .client_keys.auth import ClientKeyAuth
from .client_keys.store import ClientKeyStore
from .console import routes as console_routes
from .database_deadlines import patient
from .errors import install_error_handlers
from .http_surface import HttpSurface, docs_page
from .idempotency import IdempotencyRecords
from .ingest import IngestDeps
from .ingest_guard import FailureThrottle, UploadSlots
from .live_config import LiveConfig
from .passwords import IngestPasswordVerifier, PasswordChecks
from .settings import ApiSettings
from .shared_results import RequestRate, ShareLinks
from .unconfirmed_records import UnconfirmedJobs
from .waiters import JobWaiters
from .webhooks import routes as webhook_routes
from .webhooks.deliveries import WebhookDeliveries
from .webhooks.worker import WebhookWorker

log = logging.getLogger(__name__)


def create_app(settings: ApiSettings | None = None, clock: Clock | None = None) -> FastAPI:
    settings = settings or ApiSettings()
    clock = clock or SystemClock()
    configure_logging(settings.service_name, settings.log_level)
    configure_tracing(settings.service_name)

    @svcs.fastapi.lifespan
    async def lifespan(
        app: FastAPI, registry: svcs.Registry
    ) -> AsyncGenerator[dict[str, object] | None, None]:
        broker, prepare = wire(settings, clock, registry)
        # the server's stop signal drains the waiting requests (see __main__)
        app.state.waiters = svcs.Container(registry).get(JobWaiters)

        # Start even when Kafka or MongoDB is down: /readyz says so, ingest answers 503, and
        # the connections are retried until they work.
        async def prepare_patiently() -> None:  # indexes and seeds: not an ingest's budget
            with patient():
                await prepare()

        starting = asyncio.create_task(_retry_until_done("database", prepare_patiently))
        webhooks = asyncio.create_task(svcs.Container(registry).get(WebhookWorker).run_sweeps())
        broker_starting = asyncio.create_task(
            _retry_until_done("broker", lambda: start_broker(broker, settings))
        )
        log.info("api started", extra={"port": settings.http_port})
        try:
            yield None
        finally:
            for task in (starting, broker_starting, webhooks):
                task.cancel()
            await broker.stop()

    app = FastAPI(
        title="PhotoChanger API",
        version="1.0.0",
        summary="Photo in, processed photo out, before the deadline.",
        lifespan=lifespan,
        # our own /docs: Swagger UI with a content security policy made for it (the
        # contract is /openapi.json; operators have the console at /admin/)
        docs_url=None,
        redoc_url=None,
    )
    install_error_handlers(app)
    # body caps, deadlines and the admin token, before FastAPI reads a body (body_limits.py)
    app.add_middleware(BodyLimits, rules=body_rules(settings))
    # /metrics, /readyz and the OpenAPI pages only on the internal port when there is one
    app.add_middleware(HttpSurface, internal_port=settings.internal_http_port)
    app.include_router(routes_ingest.router)
    app.include_router(routes_jobs.router)
    app.include_router(client_job_routes.router)
    app.include_router(client_key_routes.router)
    app.include_router(webhook_routes.router)
    app.include_router(routes_public.router)
    app.include_router(routes_media.router)
    # before routes_stats, whose /api/stats/{slot_id} would take /api/stats/overview
    app.include_router(routes_overview.router)
    for admin_routes in (
        routes_login, routes_providers, routes_slots, routes_test_run,
        routes_settings, routes_templates, routes_stats,
    ):  # fmt: skip
        app.include_router(admin_routes.router)
    # the operator's console (ADR-0013) and the routes it needs
    for console_part in (
        routes_previews, routes_test_runs, routes_shared, routes_session, console_routes,
    ):  # fmt: skip
        app.include_router(console_part.router)
    routes_providers.document_settings_models(app)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "alive"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> JSONResponse:
        ready, checks = await readiness(svcs.fastapi.get_registry(request.app))
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks},
            status_code=200 if ready else 503,
        )

    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        return await metrics_endpoint(request)

    @app.get("/docs", include_in_schema=False)
    async def docs() -> Response:
        return docs_page(app.openapi_url or "/openapi.json", f"{app.title} - Swagger UI")

    return app


def wire(
    settings: ApiSettings, clock: Clock, registry: svcs.Registry
) -> tuple[KafkaBroker, Callable[[], Awaitable[None]]]:
    """Register the api's services on `registry` and declare its Kafka subscribers and
    publishers; returns the broker and the start-up step that prepares the database."""
    database_commands.count()  # before the client exists: it takes listeners when made
    core = core_services(
        settings,
        clock,
        registry=registry,
        client_id=f"api-{settings.instance_id}",
        publishes={
            topics.JOBS_CREATED: JobCreated,
            topics.JOBS_STATUS: JobStatusChanged,
            topics.JOBS_CANCEL: JobCancelRequested,
        },
    )
    db, broker, media = core.db, core.broker, core.media
    waiters = JobWaiters()
    feed = StatusFeed(settings.max_event_streams)
    subscribe(broker, waiters, feed)
    slots, platform, links = SlotRepository(db), PlatformSettingsRepository(db), MediaLinks(db)
    catalog = load_catalog(settings.providers_config)
    checks = PasswordChecks(
        concurrent=settings.password_checks_concurrent, waiting=settings.password_checks_waiting
    )
    verifier = IngestPasswordVerifier(checks)
    addresses = ClientAddresses(settings.trusted_proxies, ipv6_prefix=settings.ipv6_group_prefix)
    templates, job_queries = TemplateMediaCatalog(db, media), JobQueries(db)
    config = LiveConfig(
        platform, slots, templates, catalog, max_age_seconds=settings.config_max_age_seconds
    )
    login_throttle = LoginThrottle(
        db,
        per_user=ThrottleRule(
            settings.login_max_failures_per_user, settings.login_failure_window_seconds
        ),
        per_address=ThrottleRule(
            settings.login_max_failures_per_address, settings.login_failure_window_seconds
        ),
    )
    registry.register_value(SlotRepository, slots)
    registry.register_value(PlatformSettingsRepository, platform)
    registry.register_value(MediaLinks, links)
    registry.register_value(ProviderCatalog, catalog)
    registry.register_value(LiveConfig, config)
    registry.register_value(JobWaiters, waiters)
    registry.register_value(IngestPasswordVerifier, verifier)
    registry.register_value(ClientAddresses, addresses)
    registry.register_value(AdminAccounts, AdminAccounts.from_settings(settings, checks))
    registry.register_value(
        AdminTokens,
        AdminTokens(signing_key(settings), ttl_seconds=settings.jwt_ttl_seconds, clock=clock),
    )
    registry.register_value(LoginThrottle, login_throttle)
    registry.register_value(
        LoginGate,
        LoginGate(
            per_user=ThrottleRule(
                settings.login_max_failures_per_user, settings.login_failure_window_seconds
            ),
            per_address=ThrottleRule(
                settings.login_max_failures_per_address, settings.login_failure_window_seconds
            ),
        ),
    )
    registry.register_value(
        AdminSessions,
        AdminSessions(
            db,
            idle_seconds=settings.admin_session_idle_seconds,
            max_seconds=settings.admin_session_max_seconds,
        ),
    )
    registry.register_value(TemplateMediaCatalog, templates)
    registry.register_value(JobQueries, job_queries)
    registry.register_value(JobStats, JobStats(db, latency_sample=settings.stats_latency_sample))
    registry.register_value(StatsOverview, StatsOverview(db, sample=settings.stats_latency_sample))
    share_links = ShareLinks(db)
    registry.register_value(ShareLinks, share_links)
    registry.register_value(RequestRate, RequestRate(settings.share_requests_per_minute))
    unconfirmed = UnconfirmedJobs(core.transitions, clock)
    key_store, idempotency = ClientKeyStore(db), IdempotencyRecords(db)
    keys = ClientKeyAuth(key_store, cache_seconds=settings.client_key_cache_seconds)
    registry.register_value(ClientKeyStore, key_store)
    registry.register_value(ClientKeyAuth, keys)
    registry.register_value(StatusFeed, feed)
    webhook_targets = UrlPolicy(
        allowed_hosts=["*"], trusted_local_origins=settings.webhook_local_origins
    )
    deliveries = WebhookDeliveries(db)
    webhook_worker = WebhookWorker(
        deliveries, key_store, webhook_targets, clock, worker_id=settings.instance_id,
        base_url=(settings.public_base_url or "").rstrip("/"),
        timeout_seconds=settings.webhook_timeout_seconds,
        first_backoff_seconds=settings.webhook_first_backoff_seconds,
        max_backoff_seconds=settings.webhook_max_backoff_seconds,
        sweep_seconds=settings.webhook_sweep_seconds,
    )  # fmt: skip
    registry.register_value(WebhookDeliveries, deliveries)
    registry.register_value(WebhookWorker, webhook_worker, on_registry_close=webhook_worker.aclose)
    # one replica records each webhook (a consumer group: a dead replica's share moves on)
    broker.subscriber(topics.JOBS_STATUS, **consumer(group_id="api-webhooks"))(
        webhook_worker.record_webhook
    )
    registry.register_value(UnconfirmedJobs, unconfirmed, on_registry_close=unconfirmed.aclose)
    registry.register_value(
        IngestDeps,
        IngestDeps(
            settings=settings, config=config, transitions=core.transitions, jobs=core.jobs,
            media=media, links=links, clock=clock, catalog=catalog, waiters=waiters,
            verifier=verifier, addresses=addresses,
            uploads=UploadSlots(
                total=settings.max_concurrent_uploads,
                per_address=settings.max_concurrent_uploads_per_address,
            ),
            throttle=FailureThrottle(
                limit=settings.ingest_max_failures_per_address,
                window_seconds=settings.ingest_failure_window_seconds,
            ),
            unconfirmed=unconfirmed, keys=keys, idempotency=idempotency,
            webhook_targets=webhook_targets,
        ),
    )  # fmt: skip
    seed_path = Path(settings.slots_seed) if settings.slots_seed else (
        repository_root() / "configs" / "slots.seed.json"
    )  # fmt: skip

    prepared = Prepared()
    # not ready before the slots are seeded and the ingest password is stored: a booth sent
    # here earlier would be told 401 for the right password
    registry.register_value(Prepared, prepared, ping=Prepared.check)

    async def prepare() -> None:
        for repo in (
            core.jobs, links, templates, job_queries, login_throttle, share_links, key_store,
            idempotency, deliveries,
        ):  # fmt: skip
            await repo.ensure_indexes()
        await slots.seed(load_seed(seed_path), clock.now())
        await _bootstrap_ingest_password(settings, platform, verifier, clock)
        prepared.done = True

    return broker, prepare


class Prepared:
    """Whether the database start-up step (indexes, slot seed, ingest password) has run."""

    done = False

    def check(self) -> None:
        if not self.done:
            raise RuntimeError("the database start-up step has not run yet")


def subscribe(broker: KafkaBroker, waiters: JobWaiters, feed: StatusFeed) -> None:
    """The handler table of the api: every process reads every status (no consumer group),
    from the end of the log, for its waiting requests and its open event streams."""

    async def on_status(event: JobStatusChanged) -> None:
        await waiters.on_status(event)
        await feed.on_status(event)

    broker.subscriber(topics.JOBS_STATUS, **consumer(group_id=None, auto_offset_reset="latest"))(
        on_status
    )


async def _retry_until_done(what: str, step: Callable[[], Awaitable[object]]) -> None:
    delay = 0.5
    while True:
        try:
            await step()
            return
        except Exception as exc:
            log.warning("start-up step failed, retrying", extra={"step": what, "error": repr(exc)})
        await asyncio.sleep(delay)  # retry back-off, not synchronization
        delay = min(delay * 2, 5.0)


async def _bootstrap_ingest_password(
    settings: ApiSettings,
    platform: PlatformSettingsRepository,
    verifier: IngestPasswordVerifier,
    clock: Clock,
) -> None:
    """A password from the environment seeds the stored hash. It never overrides a password
    an admin rotated through the API: only an unset one, or one the environment set before."""
    if settings.ingest_password is None:
        return
    wanted = settings.ingest_password.get_secret_value()
    current = (await platform.get()).ingest_password
    if current is not None and current.updated_by != "environment":
        return
    if not await verifier.verify(current.hash if current else None, wanted):
        await platform.set_ingest_password_hash(
            verifier.hash(wanted), by="environment", now=clock.now()
        )
