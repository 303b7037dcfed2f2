"""GET/PUT /api/settings: deadline, retention, ingest password and provider keys.

Secrets are write-only: the ingest password is stored as an argon2 hash, provider keys as
they must be sent to providers, and reads say only whether each is set. Every service reads
the settings document when it needs it, so an edit applies to the next job."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response
from photochanger_contracts import ErrorCode
from photochanger_runtime.clock import Clock
from photochanger_runtime.configuration.platform_settings import (
    PlatformSettings,
    PlatformSettingsRepository,
)
from photochanger_runtime.providers.catalog import ProviderCatalog
from photochanger_runtime.providers.fleet import FleetKeys

from ..dependencies import container, require
from ..errors import ApiError
from ..live_config import LiveConfig
from ..passwords import IngestPasswordVerifier
from ._versions import etag, expected_version
from .auth import Permission, Principal
from .fleet import provider_fleet
from .views import (
    ADMIN_ERRORS,
    DerivedDeadlines,
    ProviderKeyState,
    SecretState,
    SettingsUpdate,
    SettingsView,
    errors,
)

router = APIRouter(prefix="/api/settings", tags=["admin: settings"])
log = logging.getLogger(__name__)


def _view(
    stored: PlatformSettings, catalog: ProviderCatalog, fleet: Mapping[str, FleetKeys]
) -> SettingsView:
    keys: dict[str, ProviderKeyState] = {}
    for provider_id in sorted({*catalog.ids(), *stored.provider_keys}):
        key = stored.provider_keys.get(provider_id)
        config = catalog.get(provider_id)
        replicas = fleet.get(provider_id, FleetKeys(0, 0))
        # the provider's own replicas say whether they hold a key; the api's environment
        # (the local stack shares one) counts too
        from_env = replicas.replicas_with_key > 0 or (config is not None and config.configured)
        keys[provider_id] = ProviderKeyState(
            configured=key is not None or from_env,
            source="settings" if key is not None else ("environment" if from_env else None),
            replicas=replicas.replicas,
            replicas_with_key=replicas.replicas_with_key,
            updated_at=key.updated_at if key else None,
            updated_by=key.updated_by if key else None,
        )
    password = stored.ingest_password
    return SettingsView(
        sync_response_seconds=stored.sync_response_seconds,
        result_ttl_hours=stored.result_ttl_hours,
        derived=DerivedDeadlines(
            job_deadline_seconds=stored.sync_response_seconds,
            artifact_ttl_seconds=stored.sync_response_seconds,
            result_retention_hours=stored.result_ttl_hours,
        ),
        ingest_password=SecretState(
            is_set=password is not None,
            updated_at=password.updated_at if password else None,
            updated_by=password.updated_by if password else None,
        ),
        provider_keys=keys,
        version=stored.version,
        updated_at=stored.updated_at,
        updated_by=stored.updated_by,
    )


@router.get("", response_model=SettingsView, responses=errors(*ADMIN_ERRORS))
async def get_settings(
    request: Request,
    response: Response,
    _: Annotated[Principal, Depends(require(Permission.SETTINGS_READ))],
) -> SettingsView:
    """The platform settings; the ETag header is their version."""
    platform, catalog = await container(request).aget(PlatformSettingsRepository, ProviderCatalog)
    stored = await platform.current()
    response.headers["ETag"] = etag(stored.version)
    return _view(stored, catalog, await provider_fleet(request, catalog))


@router.put("", response_model=SettingsView, responses=errors(*ADMIN_ERRORS, 400, 412, 422))
async def update_settings(
    body: SettingsUpdate,
    request: Request,
    response: Response,
    principal: Annotated[Principal, Depends(require(Permission.SETTINGS_WRITE))],
    if_match: Annotated[str, Header(description="the ETag of the version this edit is based on")],
) -> SettingsView:
    """Change some settings; fields left out keep their value. A new ingest password is
    required from the next photo on; provider keys take effect for new jobs."""
    c = container(request)
    platform, catalog, verifier, clock = await c.aget(
        PlatformSettingsRepository, ProviderCatalog, IngestPasswordVerifier, Clock
    )
    stored = await platform.current()
    version = expected_version(if_match, stored.version)
    now = clock.now()
    changes: dict[str, Any] = {}
    if body.sync_response_seconds is not None:
        changes["sync_response_seconds"] = body.sync_response_seconds
    if body.result_ttl_hours is not None:
        changes["result_ttl_hours"] = body.result_ttl_hours
    if body.ingest_password is not None:
        changes["ingest_password"] = {
            "hash": verifier.hash(body.ingest_password.get_secret_value()),
            "updated_at": now,
            "updated_by": principal.username,
        }
    unknown = sorted(set(body.provider_keys or {}) - set(catalog.ids()))
    if unknown:
        raise ApiError(
            ErrorCode.VALIDATION_FAILED,
            "the settings update is invalid",
            {
                "problems": [
                    {"field": f"provider_keys.{p}", "message": "unknown provider"} for p in unknown
                ]
            },
        )
    for provider_id, key in (body.provider_keys or {}).items():
        if key is not None and not key.get_secret_value().strip():
            raise ApiError(
                ErrorCode.VALIDATION_FAILED,
                "the settings update is invalid",
                {"problems": [{"field": f"provider_keys.{provider_id}", "message": "empty key"}]},
            )
        changes[f"provider_keys.{provider_id}"] = (
            {"value": key.get_secret_value(), "updated_at": now, "updated_by": principal.username}
            if key is not None
            else None
        )
    updated = await platform.edit(
        expected_version=version, changes=changes, by=principal.username, now=now
    )
    (await container(request).aget(LiveConfig)).forget()
    if updated is None:
        current = await platform.current()
        expected_version(f'"{version}"', current.version)
        raise ApiError(
            ErrorCode.VERSION_CONFLICT,
            "a concurrent edit of this version won; fetch the settings again",
            {"current_version": current.version},
        )
    log.info(
        "platform settings changed",
        extra={"admin": principal.username, "fields": sorted(k.split(".")[0] for k in changes)},
    )
    response.headers["ETag"] = etag(updated.version)
    return _view(updated, catalog, await provider_fleet(request, catalog))
