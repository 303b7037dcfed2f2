"""Public, unauthenticated downloads; the link is the capability, so it is unguessable.

A result is fetched with its own token (`result_links`), never with the job id that logs and
events carry; a media link is a random token that lives for the job's artifact lifetime.
Expiry is checked against the stored timestamps on every request, so a link answers 410
from the moment it expires, whether or not the reaper has run yet. Both download as
attachments (`nosniff` everywhere): the bytes are whatever a client or provider sent.

A media link is fetched by a provider's servers while a job runs, and a failed fetch fails
the job; so its lookup waits out a database blip (a restart takes one or two seconds) for up
to `MEDIA_LINK_PATIENCE_SECONDS` before answering 503."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from photochanger_contracts import ErrorCode, JobOutcome
from photochanger_contracts.media import extension_for
from photochanger_runtime.jobs import Job
from photochanger_runtime.media import MediaNotFound
from photochanger_runtime.media.links import MediaLinks, PublicLink
from photochanger_runtime.outages import database_away, wait_out

from . import result_links
from .dependencies import ingest_deps
from .errors import ApiError
from .ingest import IngestDeps

router = APIRouter(prefix="/public", tags=["public"])

#: how long a media link's lookup waits out an unavailable database
MEDIA_LINK_PATIENCE_SECONDS = 4.0


async def _final_for(link: str, deps: IngestDeps) -> Job | None:
    if result_links.is_bare_job_id(link):
        # a link from before result tokens: only jobs made before them have no token hash
        job = await deps.jobs.final(link)
        return job if job is not None and job.result_token_sha256 is None else None
    job_id = result_links.job_id_of(link)
    if job_id is None:
        return None
    job = await deps.jobs.final(job_id)
    return job if job is not None and result_links.matches(link, job.result_token_sha256) else None


@router.get("/results/{token}", response_class=Response)
async def get_result(token: str, request: Request) -> Response:
    """The result of a succeeded job, with the token from its ingest answer (`X-Result-Url`)."""
    deps = await ingest_deps(request)
    job = await _final_for(token, deps)
    if job is None or job.outcome is not JobOutcome.SUCCEEDED:
        raise ApiError(ErrorCode.RESULT_NOT_FOUND, "no result for this link")
    return await result_download(job, deps)


async def result_download(job: Job, deps: IngestDeps) -> Response:
    """A succeeded job's result as an attachment, 410 once it has expired."""
    expires = job.result_expires_at
    if job.result is None or (expires is not None and deps.clock.now() >= expires):
        raise ApiError(
            ErrorCode.RESULT_EXPIRED,
            "the result has expired",
            {"job_id": job.id, "expired_at": expires.isoformat() if expires else None},
        )
    try:
        reader = await deps.media.open(job.result.key)
    except MediaNotFound as exc:
        raise ApiError(
            ErrorCode.RESULT_EXPIRED, "the result has expired", {"job_id": job.id}
        ) from exc
    filename = f"{job.id}.{extension_for(job.result.mime_type)}"
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
    link = await look_up_riding_out_blips(deps.links, token)
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
        headers={
            "Content-Disposition": f'attachment; filename="media.{extension_for(link.mime_type)}"',
            "Cache-Control": "private, no-store",
            "Content-Length": str(reader.size_bytes),
        },
    )


async def look_up_riding_out_blips(
    links: MediaLinks, token: str, patience_seconds: float = MEDIA_LINK_PATIENCE_SECONDS
) -> PublicLink | None:
    """`links.get(token)`, retried while the database is unavailable, for at most
    `patience_seconds` (then the last error goes to the 503 handler)."""
    return await wait_out(
        lambda: links.get(token), database_away, give_up_in=patience_seconds, max_delay=1.0
    )
