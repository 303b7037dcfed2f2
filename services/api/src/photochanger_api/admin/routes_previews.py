"""Authenticated image previews for the console: template images, and a job's photo and
result while they exist. Never cached by the browser or a proxy (`private, no-store`)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse
from photochanger_contracts import ErrorCode, MediaRef
from photochanger_runtime.configuration.template_media import TemplateMediaCatalog
from photochanger_runtime.jobs import current
from photochanger_runtime.media import MediaNotFound, MediaStore

from ..dependencies import container, ingest_deps, require
from ..errors import ApiError
from .auth import Permission, Principal
from .views import ADMIN_ERRORS, errors

router = APIRouter(prefix="/api", tags=["admin: previews"])

IMAGE: dict[int | str, dict[str, Any]] = {
    200: {"description": "the image", "content": {t: {} for t in ("image/png", "image/jpeg",
                                                                   "image/webp")}},
}  # fmt: skip


class JobImage(StrEnum):
    PHOTO = "photo"
    RESULT = "result"


async def stream(media: MediaStore, ref: MediaRef | tuple[str, str], gone: ApiError) -> Response:
    """The object under `ref` (a media reference, or its key and type), or `gone`."""
    key, mime_type = (ref.key, ref.mime_type) if isinstance(ref, MediaRef) else ref
    try:
        reader = await media.open(key)
    except MediaNotFound as exc:
        raise gone from exc
    return StreamingResponse(
        reader.chunks(),
        media_type=mime_type,
        headers={
            "Cache-Control": "private, no-store",
            "Content-Length": str(reader.size_bytes),
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get(
    "/template-media/{template_id}/content",
    response_class=Response,
    responses={**IMAGE, **errors(*ADMIN_ERRORS, 404, 422)},
)
async def template_content(
    template_id: str,
    request: Request,
    _: Annotated[Principal, Depends(require(Permission.SLOTS_READ))],
) -> Response:
    """The template image itself, for previews."""
    c = container(request)
    catalog = await c.aget(TemplateMediaCatalog)
    media = await c.aget_abstract(MediaStore)
    template = await catalog.get(template_id)
    missing = ApiError(ErrorCode.MEDIA_NOT_FOUND, "no such template media", {"id": template_id})
    if template is None:
        raise missing
    return await stream(media, template.ref, missing)


@router.get(
    "/jobs/{job_id}/images/{image}",
    response_class=Response,
    responses={**IMAGE, **errors(*ADMIN_ERRORS, 404, 410, 422)},
)
async def job_image(
    job_id: str,
    image: JobImage,
    request: Request,
    _: Annotated[Principal, Depends(require(Permission.JOBS_READ))],
) -> Response:
    """The job's photo (until the job is final) or its result (until it expires); 410 once
    they are gone, 404 for a result that never was."""
    deps = await ingest_deps(request)
    job = await current(deps.jobs, job_id)
    if job is None:
        raise ApiError(ErrorCode.JOB_NOT_FOUND, "no such job", {"job_id": job_id})
    if image is JobImage.PHOTO:
        gone = ApiError(ErrorCode.MEDIA_EXPIRED, "the photo is gone", {"job_id": job_id})
        if job.is_final:  # the finalizer deletes it
            raise gone
        return await stream(deps.media, job.payload, gone)
    if job.result is None:
        raise ApiError(ErrorCode.RESULT_NOT_FOUND, "the job has no result", {"job_id": job_id})
    expired = ApiError(ErrorCode.RESULT_EXPIRED, "the result has expired", {"job_id": job_id})
    expires = job.result_expires_at
    if expires is not None and deps.clock.now() >= expires:
        raise expired
    return await stream(deps.media, job.result, expired)
