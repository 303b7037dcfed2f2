"""The 15 static slots: read, edit (optimistic concurrency), reset their statistics."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request, Response
from photochanger_contracts import ErrorCode, SlotSettingsError, validate_slot_settings
from photochanger_runtime.clock import Clock
from photochanger_runtime.configuration.slots import Slot, SlotRepository
from photochanger_runtime.configuration.template_media import (
    TemplateMediaCatalog,
    referenced_media_ids,
)
from photochanger_runtime.providers.catalog import ProviderCatalog

from photochanger_api.admin.job_queries import JobQueries, JobSummary
from photochanger_api.admin.stats import JobStats

from ..dependencies import container, require
from ..errors import ApiError
from ..ingest import require_known_slot
from ..live_config import LiveConfig
from ..settings import ApiSettings
from ._versions import etag, expected_version
from .auth import Permission, Principal
from .views import (
    ADMIN_ERRORS,
    RecentResult,
    SlotList,
    SlotUpdate,
    SlotView,
    StatsReset,
    errors,
)

router = APIRouter(prefix="/api/slots", tags=["admin: slots"])

ReadSlots = Annotated[Principal, Depends(require(Permission.SLOTS_READ))]
WriteSlots = Annotated[Principal, Depends(require(Permission.SLOTS_WRITE))]


def result_link(settings: ApiSettings, job_id: str) -> str:
    """The admin download (`jobs:read`): public result links need the token only the booth
    was given."""
    base = (settings.public_base_url or "").rstrip("/")
    return f"{base}/api/jobs/{job_id}/result"


def _recent(settings: ApiSettings, now: datetime, jobs: list[JobSummary]) -> list[RecentResult]:
    return [
        RecentResult(
            job_id=j.id,
            download_url=result_link(settings, j.id),
            completed_at=j.finalized_at,
            result_expires_at=j.result_expires_at,
            mime_type=j.result_mime_type,
            size_bytes=j.result_size_bytes,
            expired=j.result_mime_type is None
            or (j.result_expires_at is not None and j.result_expires_at <= now),
        )
        for j in jobs
    ]


async def _view(request: Request, slot: Slot) -> SlotView:
    settings, queries, clock = await container(request).aget(ApiSettings, JobQueries, Clock)
    recent = list(await queries.recent_results(slot.id))
    return SlotView(
        **slot.model_dump(),
        recent_results=_recent(settings, clock.now(), recent),
    )


async def _slot(request: Request, slot_id: str) -> Slot:
    require_known_slot(slot_id)
    slot = await (await container(request).aget(SlotRepository)).get(slot_id)
    if slot is None:  # a known id whose seed has not run yet
        raise ApiError(ErrorCode.SLOT_NOT_FOUND, f"unknown slot {slot_id!r}", {"slot_id": slot_id})
    return slot


@router.get("", response_model=SlotList, responses=errors(*ADMIN_ERRORS))
async def list_slots(request: Request, _: ReadSlots) -> SlotList:
    """All 15 slots, each with its last 10 results."""
    slots = await (await container(request).aget(SlotRepository)).list()
    return SlotList(items=list(await asyncio.gather(*(_view(request, s) for s in slots))))


@router.get(
    "/{slot_id}",
    response_model=SlotView,
    responses=errors(*ADMIN_ERRORS, 404, 422),
)
async def get_slot(slot_id: str, request: Request, response: Response, _: ReadSlots) -> SlotView:
    """One slot; the ETag header is its version, to send back as If-Match when editing."""
    slot = await _slot(request, slot_id)
    response.headers["ETag"] = etag(slot.version)
    return await _view(request, slot)


@router.put(
    "/{slot_id}",
    response_model=SlotView,
    responses=errors(*ADMIN_ERRORS, 400, 404, 412, 422),
)
async def update_slot(
    slot_id: str,
    body: SlotUpdate,
    request: Request,
    response: Response,
    principal: WriteSlots,
    if_match: Annotated[str, Header(description="the ETag of the version this edit is based on")],
) -> SlotView:
    """Replace the slot's configuration. Jobs already created keep the settings they started
    with; new jobs use the new ones at once."""
    slot = await _slot(request, slot_id)
    version = expected_version(if_match, slot.version)
    settings = await _validated_settings(request, body)
    slots, clock = await container(request).aget(SlotRepository, Clock)
    changes: dict[str, Any] = {
        "name": body.name,
        "provider": body.provider,
        "operation": body.operation.value,
        "is_active": body.is_active,
        "settings": settings,
    }
    updated = await slots.update(
        slot_id, expected_version=version, changes=changes, by=principal.username, now=clock.now()
    )
    (await container(request).aget(LiveConfig)).forget(slot_id)
    if updated is None:
        current = await _slot(request, slot_id)
        expected_version(f'"{version}"', current.version)  # raises 412 with the new ETag
        raise ApiError(  # same version, yet a concurrent edit of it won
            ErrorCode.VERSION_CONFLICT,
            "a concurrent edit of this version won; fetch the slot again",
            {"current_version": current.version},
        )
    response.headers["ETag"] = etag(updated.version)
    return await _view(request, updated)


async def _validated_settings(request: Request, body: SlotUpdate) -> dict[str, Any]:
    """The settings as they will be stored, or 422 listing every field that is wrong."""
    catalog, templates = await container(request).aget(ProviderCatalog, TemplateMediaCatalog)
    problems: list[dict[str, Any]] = []
    if catalog.get(body.provider) is None:
        problems.append({"field": "provider", "message": f"unknown provider {body.provider!r}"})
    elif not catalog.supports(body.provider, body.operation):
        problems.append(
            {"field": "operation", "message": f"{body.provider} does not offer {body.operation}"}
        )
    stored: dict[str, Any] = {}
    try:
        parsed = validate_slot_settings(body.provider, body.operation, body.settings)
        stored = parsed.model_dump(mode="json", exclude_unset=True)
    except SlotSettingsError as exc:
        problems += [
            p.as_dict(_settings_field(p.field))
            for p in exc.problems
            if not (p.field == "provider" and problems)  # said already
        ]
    for media_id in sorted(set(referenced_media_ids(body.settings))):
        if await templates.get(media_id) is None:
            problems.append(
                {
                    "field": "settings.template_media",
                    "message": f"no template media with id {media_id!r}",
                }
            )
    if problems:
        raise ApiError(
            ErrorCode.VALIDATION_FAILED, "the slot update is invalid", {"problems": problems}
        )
    return stored


def _settings_field(field: str) -> str:
    return field if field in ("provider", "settings") else f"settings.{field}"


@router.post(
    "/{slot_id}/reset_stats",
    response_model=StatsReset,
    responses=errors(*ADMIN_ERRORS, 404, 422),
)
async def reset_stats(slot_id: str, request: Request, principal: WriteSlots) -> StatsReset:
    """Start the slot's statistics afresh: only jobs created from now on count."""
    slot = await _slot(request, slot_id)
    stats, clock = await container(request).aget(JobStats, Clock)
    now = clock.now()
    await stats.reset(slot.id, now=now, by=principal.username)
    return StatsReset(slot_id=slot.id, reset_at=now)
