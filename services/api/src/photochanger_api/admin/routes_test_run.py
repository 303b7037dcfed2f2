"""POST /api/slots/{slot_id}/test-run: an admin tries a slot on a photo of their own.

The photo takes exactly the photobooth's path (create the job, publish it, wait for its
outcome, answer with the image or the same errors), so what the admin sees is what a booth
will get. The admin's token stands in for the ingest password."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse

from ..dependencies import ingest_deps, require
from ..ingest import accept, await_outcome, result_of
from ..passwords import AuthenticatedByToken
from .auth import Permission, Principal
from .views import ADMIN_ERRORS, errors

router = APIRouter(prefix="/api/slots", tags=["admin: slots"])


_BODY: dict[str, Any] = {
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


@router.post(
    "/{slot_id}/test-run",
    response_class=Response,
    responses={
        200: {
            "description": "the processed image",
            "content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}},
        },
        **errors(*ADMIN_ERRORS, 400, 404, 409, 413, 415, 422, 429, 502, 503, 504),
    },
    openapi_extra=_BODY,
)
async def test_run(
    slot_id: str,
    request: Request,
    principal: Annotated[Principal, Depends(require(Permission.SLOTS_WRITE))],
) -> Response:
    """Run the slot on the uploaded photo (multipart field `file`) and answer like ingest."""
    deps = dataclasses.replace(await ingest_deps(request), verifier=AuthenticatedByToken())
    waiting = await accept(
        slot_id, request.headers.get("content-type"), request.stream(), deps,
        tags={"test_run": "true", "requested_by": principal.username},
    )  # fmt: skip
    final = await await_outcome(waiting, deps)
    result = result_of(final)
    reader = await deps.media.open(result.key)
    return StreamingResponse(
        reader.chunks(),
        media_type=result.mime_type,
        headers={
            "X-Job-Id": final.job_id,
            "X-Test-Run": "true",
            "Cache-Control": "no-store",
            "Content-Length": str(reader.size_bytes),
        },
    )
