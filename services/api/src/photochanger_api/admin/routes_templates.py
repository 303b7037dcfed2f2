"""Template media: upload, list, delete (refused while an active slot uses it)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from photochanger_contracts import ErrorCode, sniff_image_mime
from photochanger_contracts.media import COMMON_IMAGE_TYPES
from photochanger_runtime.clock import Clock
from photochanger_runtime.configuration.slots import Slot, SlotRepository
from photochanger_runtime.configuration.template_media import (
    TemplateMedia,
    TemplateMediaCatalog,
    referenced_media_ids,
)
from photochanger_runtime.media import MediaStore

from ..dependencies import container, require
from ..errors import ApiError
from ..live_config import LiveConfig
from ..multipart import read_ingest_form
from ..settings import ApiSettings
from .auth import Permission, Principal
from .views import ADMIN_ERRORS, TemplateMediaList, TemplateMediaView, errors

router = APIRouter(prefix="/api/template-media", tags=["admin: template media"])

WriteMedia = Annotated[Principal, Depends(require(Permission.MEDIA_WRITE))]

UPLOAD_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {"file": {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}


def _users(template_id: str, slots: list[Slot], *, active_only: bool) -> list[str]:
    return [
        s.id
        for s in slots
        if (s.is_active or not active_only) and template_id in set(referenced_media_ids(s.settings))
    ]


def _view(template: TemplateMedia, slots: list[Slot]) -> TemplateMediaView:
    return TemplateMediaView(
        **template.model_dump(), used_by=_users(template.id, slots, active_only=False)
    )


@router.post(
    "/register",
    status_code=201,
    response_model=TemplateMediaView,
    responses=errors(*ADMIN_ERRORS, 400, 413, 415),
    openapi_extra=UPLOAD_BODY,
)
async def register_template(request: Request, principal: WriteMedia) -> TemplateMediaView:
    """Upload one image (multipart field `file`); its type is decided by its bytes."""
    c = container(request)
    settings, catalog, clock = await c.aget(ApiSettings, TemplateMediaCatalog, Clock)
    media = await c.aget_abstract(MediaStore)
    template_id, key = catalog.new_key()
    form = await read_ingest_form(
        request.headers.get("content-type"),
        request.stream(),
        max_file_bytes=settings.max_template_bytes,
        store=media,
        key=key,
    )
    upload = form.file
    try:
        if upload is None or upload.stored.size_bytes == 0:
            raise ApiError(ErrorCode.FILE_MISSING, "no image in the request", {"fields": ["file"]})
        mime = sniff_image_mime(upload.head)
        if mime is None or mime not in COMMON_IMAGE_TYPES:
            raise ApiError(
                ErrorCode.UNSUPPORTED_MEDIA_TYPE,
                "templates must be JPEG, PNG or WebP images",
                {"detected": mime.value if mime else None, "accepted": sorted(COMMON_IMAGE_TYPES)},
            )
        template = await catalog.register(
            template_id,
            upload.stored,
            mime_type=mime.value,
            filename=upload.filename[:255] if upload.filename else None,
            by=principal.username,
            now=clock.now(),
        )
    except BaseException:
        if upload is not None:
            await media.delete(key)
        raise
    return _view(template, [])


@router.get("", response_model=TemplateMediaList, responses=errors(*ADMIN_ERRORS))
async def list_templates(
    request: Request, _: Annotated[Principal, Depends(require(Permission.SLOTS_READ))]
) -> TemplateMediaList:
    """Every template, newest first, with the slots that use it."""
    catalog, slots = await container(request).aget(TemplateMediaCatalog, SlotRepository)
    every_slot = list(await slots.list())
    return TemplateMediaList(items=[_view(t, every_slot) for t in await catalog.list()])


@router.delete(
    "/{template_id}",
    status_code=204,
    response_class=Response,
    responses=errors(*ADMIN_ERRORS, 404, 409, 422),
)
async def delete_template(
    template_id: str,
    request: Request,
    _: WriteMedia,
    force: Annotated[
        bool, Query(description="delete even while active slots use it (their jobs then fail)")
    ] = False,
) -> Response:
    """Delete a template and its bytes; 409 while an active slot uses it, unless forced."""
    catalog, slots = await container(request).aget(TemplateMediaCatalog, SlotRepository)
    if await catalog.get(template_id) is None:
        raise ApiError(ErrorCode.MEDIA_NOT_FOUND, "no such template media", {"id": template_id})
    in_use = _users(template_id, list(await slots.list()), active_only=True)
    if in_use and not force:
        raise ApiError(
            ErrorCode.MEDIA_IN_USE,
            "active slots use this template; change them first or pass force=true",
            {"slots": in_use},
        )
    await catalog.delete(template_id)
    (await container(request).aget(LiveConfig)).forget()
    return Response(status_code=204)
