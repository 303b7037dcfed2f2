"""Public, unauthenticated downloads; ids and tokens are unguessable.

Expiry is checked against the stored timestamps on every request, so a link answers 410
from the moment it expires, whether or not the reaper has run yet."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from photochanger_contracts import ErrorCode, JobOutcome
from photochanger_contracts.media import extension_for
from photochanger_runtime.media import MediaNotFound

from .dependencies import ingest_deps
from .errors import ApiError

router = APIRouter(prefix="/public", tags=["public"])


@router.get("/results/{job_id}", response_class=Response)
async def get_result(job_id: str, request: Request) -> Response:
    deps = await ingest_deps(request)
    job = await deps.jobs.final(job_id)
    if job is None or job.outcome is not JobOutcome.SUCCEEDED:
        raise ApiError(ErrorCode.RESULT_NOT_FOUND, "no result for this id", {"job_id": job_id})
    expires = job.result_expires_at
    if job.result is None or (expires is not None and deps.clock.now() >= expires):
        raise ApiError(
            ErrorCode.RESULT_EXPIRED,
            "the result has expired",
            {"job_id": job_id, "expired_at": expires.isoformat() if expires else None},
        )
    try:
        reader = await deps.media.open(job.result.key)
    except MediaNotFound as exc:
        raise ApiError(
            ErrorCode.RESULT_EXPIRED, "the result has expired", {"job_id": job_id}
        ) from exc
    filename = f"{job_id}.{extension_for(job.result.mime_type)}"
    return StreamingResponse(
        reader.chunks(),
        media_type=job.result.mime_type,
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "private, no-store",
            "Content-Length": str(reader.size_bytes),
        },
    )


@router.get("/media/{token}", response_class=Response)
async def get_media(token: str, request: Request) -> Response:
    deps = await ingest_deps(request)
    link = await deps.links.get(token)
    if link is None:
        raise ApiError(ErrorCode.MEDIA_NOT_FOUND, "no such media link")
    if deps.clock.now() >= link.expires_at:
        raise ApiError(ErrorCode.MEDIA_EXPIRED, "the media link has expired")
    try:
        reader = await deps.media.open(link.key)
    except MediaNotFound as exc:
        raise ApiError(ErrorCode.MEDIA_EXPIRED, "the media link has expired") from exc
    return StreamingResponse(
        reader.chunks(),
        media_type=link.mime_type,
        headers={"Cache-Control": "private, no-store", "Content-Length": str(reader.size_bytes)},
    )
