"""Request-scoped access to the svcs container: handlers ask for what they need."""

from __future__ import annotations

import hmac

import svcs
from fastapi import Request
from faststream.kafka import KafkaBroker
from photochanger_contracts import ErrorCode
from photochanger_runtime.clock import Clock
from photochanger_runtime.job_repository import JobRepository
from photochanger_runtime.media_store import MediaStore
from photochanger_runtime.platform_settings import PlatformSettingsRepository
from photochanger_runtime.processing_log import ProcessingLog
from photochanger_runtime.providers.catalog import ProviderCatalog
from photochanger_runtime.slot_repository import SlotRepository

from .errors import ApiError
from .ingest import IngestDeps
from .passwords import IngestPasswordVerifier
from .settings import ApiSettings
from .waiters import JobWaiters


def container(request: Request) -> svcs.Container:
    return svcs.Container(svcs.fastapi.get_registry(request.app))


async def ingest_deps(request: Request) -> IngestDeps:
    c = container(request)
    return IngestDeps(
        settings=await c.aget(ApiSettings),
        jobs=await c.aget(JobRepository),
        slots=await c.aget(SlotRepository),
        platform_settings=await c.aget(PlatformSettingsRepository),
        media=await c.aget(MediaStore),
        log=await c.aget(ProcessingLog),
        broker=await c.aget(KafkaBroker),
        clock=await c.aget(Clock),
        catalog=await c.aget(ProviderCatalog),
        waiters=await c.aget(JobWaiters),
        verifier=await c.aget(IngestPasswordVerifier),
    )


async def require_admin_token(request: Request) -> None:
    settings = await container(request).aget(ApiSettings)
    expected = settings.admin_token.get_secret_value() if settings.admin_token else ""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if not expected or scheme.lower() != "bearer" or not hmac.compare_digest(token, expected):
        raise ApiError(ErrorCode.UNAUTHORIZED, "a valid bearer token is required")
