"""POST /api/media/cache/purge: run the media expiry sweep now (`media:write`)."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from photochanger_runtime.configuration.template_media import TemplateMediaCatalog
from photochanger_runtime.expiry import MediaExpiry

from .admin.auth import Permission, Principal
from .admin.views import ADMIN_ERRORS, PurgeAccepted, PurgeCounts, errors
from .dependencies import container, ingest_deps, require

router = APIRouter(prefix="/api/media", tags=["admin: media"])
log = logging.getLogger(__name__)
_running: set[asyncio.Task[Any]] = set()


@router.post(
    "/cache/purge",
    status_code=202,
    response_model=PurgeAccepted,
    responses=errors(*ADMIN_ERRORS),
)
async def purge_media_cache(
    request: Request, _: Annotated[Principal, Depends(require(Permission.MEDIA_WRITE))]
) -> PurgeAccepted:
    """Delete expired ingest payloads, public links and results now, as the ttl-reaper would;
    answers at once with what is due."""
    deps = await ingest_deps(request)
    templates = await container(request).aget(TemplateMediaCatalog)
    reaper = MediaExpiry(media=deps.media, links=deps.links, templates=templates, clock=deps.clock)
    due = await reaper.pending_media()
    task = asyncio.create_task(reaper.sweep_media())
    _running.add(task)
    task.add_done_callback(_running.discard)
    return PurgeAccepted(
        status="accepted",
        will_purge=PurgeCounts(
            payloads=due.payloads_deleted,
            media_links=due.links_deleted,
            results=due.results_deleted,
        ),
    )
