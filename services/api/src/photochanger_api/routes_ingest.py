"""POST /ingest/{slot_id} (and the alias /api/ingest/{slot_id}) for photobooth programs."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from photochanger_runtime import metrics

from .dependencies import ingest_deps
from .errors import ApiError
from .ingest import announce, await_outcome, create_job, require_known_slot, result_of
from .multipart import read_ingest_form

router = APIRouter(tags=["ingest"])

_INGEST_DOC: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}}},
    400: {"description": "malformed multipart or no photo"},
    401: {"description": "wrong or missing ingest password"},
    404: {"description": "unknown slot"},
    409: {"description": "slot inactive, or the job was cancelled"},
    413: {"description": "photo larger than the limit"},
    415: {"description": "not a JPEG, PNG or WebP image (decided by its bytes)"},
    422: {"description": "slot not configured for its provider"},
    429: {"description": "platform or provider at capacity (Retry-After)"},
    502: {"description": "the provider failed"},
    503: {"description": "broker or database unavailable"},
    504: {"description": "no result before the deadline; details carry job_id and expires_at"},
}


@router.post("/ingest/{slot_id}", responses=_INGEST_DOC, response_class=Response)
@router.post("/api/ingest/{slot_id}", responses=_INGEST_DOC, response_class=Response,
             include_in_schema=False)  # fmt: skip
async def ingest(slot_id: str, request: Request) -> Response:
    """Upload one photo (multipart: `password`, `fileToUpload` or `file`, optional `hash`)
    and receive the processed image in the same response."""
    started = time.monotonic()
    outcome = "rejected"
    status_code = 500
    try:
        require_known_slot(slot_id)
        deps = await ingest_deps(request)
        form = await read_ingest_form(
            request.headers.get("content-type"),
            request.stream(),
            max_file_bytes=deps.settings.max_upload_bytes,
        )
        job = await create_job(slot_id, form, deps)
        await announce(job, deps)
        final = await await_outcome(job, deps)
        outcome = final.outcome.value if final.outcome else "unknown"
        result = result_of(final)
        chunks = await deps.media.stream(result.media_id)
        status_code = 200
        return StreamingResponse(
            chunks,
            media_type=result.mime_type,
            headers={
                "X-Job-Id": final.id,
                "Cache-Control": "no-store",
                "Content-Length": str(result.size_bytes),
            },
        )
    except ApiError as exc:
        status_code = exc.status_code
        raise
    finally:
        metrics.INGEST_REQUESTS.labels(status_code=str(status_code)).inc()
        metrics.INGEST_LATENCY.labels(outcome=outcome).observe(time.monotonic() - started)
