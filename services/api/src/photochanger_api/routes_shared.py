"""Share links to results: `POST /api/jobs/{job_id}/share` (admin) and the public
`GET /public/shared/{token}` a guest opens (see `shared_results`)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from photochanger_contracts import ErrorCode, JobOutcome
from pydantic import BaseModel, ConfigDict, Field

from .admin.auth import Permission, Principal
from .admin.routes_previews import IMAGE, stream
from .admin.views import ADMIN_ERRORS, errors
from .client_address import ClientAddresses
from .dependencies import container, ingest_deps, require
from .errors import ApiError
from .settings import ApiSettings
from .shared_results import RequestRate, SharedResult, ShareLinks

router = APIRouter()

MAX_SHARE_MINUTES = 24 * 60


class ShareRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    minutes: int = Field(default=15, ge=1, le=MAX_SHARE_MINUTES, description="link lifetime")


class ShareLinkView(BaseModel):
    model_config = ConfigDict(frozen=True)

    job_id: str
    path: str = Field(description="the public path of the link")
    url: str = Field(description="absolute when PHOTOCHANGER_PUBLIC_BASE_URL is set")
    #: the earlier of the requested lifetime and the result's own expiry
    expires_at: datetime


@router.post(
    "/api/jobs/{job_id}/share",
    status_code=201,
    response_model=ShareLinkView,
    responses=errors(*ADMIN_ERRORS, 400, 404, 410, 422),
    tags=["admin: jobs"],
)
async def share_result(
    job_id: str,
    request: Request,
    principal: Annotated[Principal, Depends(require(Permission.JOBS_READ))],
    body: ShareRequest | None = None,
) -> ShareLinkView:
    """A public link to the job's result that expires after `minutes` (default 15)."""
    deps = await ingest_deps(request)
    links, settings = await container(request).aget(ShareLinks, ApiSettings)
    job = await deps.jobs.final(job_id)
    if job is None or job.outcome is not JobOutcome.SUCCEEDED or job.result is None:
        raise ApiError(ErrorCode.RESULT_NOT_FOUND, "no result for this id", {"job_id": job_id})
    now = deps.clock.now()
    expires = now + timedelta(minutes=(body or ShareRequest()).minutes)
    if job.result_expires_at is not None:
        if job.result_expires_at <= now:
            raise ApiError(ErrorCode.RESULT_EXPIRED, "the result has expired", {"job_id": job_id})
        expires = min(expires, job.result_expires_at)
    shared = SharedResult(
        job_id=job.id, slot_id=job.slot_id, key=job.result.key,
        mime_type=job.result.mime_type, expires_at=expires,
    )  # fmt: skip
    token = await links.create(shared, by=principal.username, now=now)
    path = f"/public/shared/{token}"
    return ShareLinkView(
        job_id=job.id,
        path=path,
        url=f"{(settings.public_base_url or '').rstrip('/')}{path}",
        expires_at=expires,
    )


@router.get(
    "/public/shared/{token}",
    response_class=Response,
    responses={**IMAGE, **errors(404, 410, 422, 429)},
    tags=["public"],
)
async def open_shared_result(token: str, request: Request) -> Response:
    """The shared result, shown in the browser, until the link expires (then 410)."""
    links, limit, addresses = await container(request).aget(
        ShareLinks, RequestRate, ClientAddresses
    )
    address = addresses.of(request)
    wait = limit.retry_after(address)
    if wait is not None:
        raise ApiError(
            ErrorCode.TOO_MANY_ATTEMPTS,
            "too many requests for shared results, try again shortly",
            {"retry_after_seconds": math.ceil(wait)},
            headers={"Retry-After": str(math.ceil(wait))},
        )
    shared = await links.get(token)
    if shared is None:
        raise ApiError(ErrorCode.MEDIA_NOT_FOUND, "no such link")
    deps = await ingest_deps(request)
    ended = {"expired_at": shared.expires_at.isoformat()}
    expired = ApiError(ErrorCode.MEDIA_EXPIRED, "the link has expired", ended)
    if deps.clock.now() >= shared.expires_at:
        raise expired
    response = await stream(deps.media, (shared.key, shared.mime_type), expired)
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex, nofollow"
    return response
