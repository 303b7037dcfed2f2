"""POST /ingest/{slot_id} (and the alias /api/ingest/{slot_id}) for photobooth programs."""

from __future__ import annotations

import time

from aiokafka.errors import KafkaError
from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from opentelemetry import trace
from photochanger_runtime.observability import metrics
from pymongo.errors import PyMongoError

from . import result_links
from .dependencies import ingest_deps
from .errors import ApiError
from .idempotency import check_key
from .ingest import IngestDeps, Submission, accept, await_outcome, request_too_large, result_of
from .ingest_contract import INGEST_EXTRA, INGEST_RESPONSES
from .multipart import require_multipart

router = APIRouter(tags=["ingest"])
_tracer = trace.get_tracer("photochanger.api")


@router.post("/ingest/{slot_id}", responses=INGEST_RESPONSES, response_class=Response,
             openapi_extra=INGEST_EXTRA)  # fmt: skip
@router.post("/api/ingest/{slot_id}", response_class=Response, include_in_schema=False)
async def ingest(slot_id: str, request: Request) -> Response:
    """Upload one photo (multipart: `password`, `fileToUpload` or `file`, optional `hash`)
    and receive the processed image in the same response (`X-Job-Id`, and `X-Result-Url`:
    the link that downloads the result again until it expires)."""
    started = time.monotonic()
    outcome = "rejected"
    status_code = 500
    # Inside FastAPI's own server span, the root of the job's trace: the Kafka hops and the
    # provider calls become descendants of this request.
    with _tracer.start_as_current_span(
        "ingest", attributes={"photochanger.slot_id": slot_id}
    ) as span:
        try:
            deps = await ingest_deps(request)
            client = deps.addresses.of(request)
            # what an unauthenticated request may cost, decided before its body is read
            deps.throttle.check(client)
            check_declared(request, deps)
            with deps.uploads.take(client):
                waiting = await accept(
                    slot_id, request.headers.get("content-type"), request.stream(), deps,
                    client=client,
                    submission=Submission(
                        idempotency_key=check_key(request.headers.get("idempotency-key")),
                        joinable=True,
                    ),
                )  # fmt: skip
            span.set_attribute("photochanger.job_id", waiting.job.id)
            final = await await_outcome(waiting, deps)
            outcome = final.outcome.value if final.outcome else "unknown"
            result = result_of(final)
            reader = await deps.media.open(result.key)
            status_code = 200
            headers = {
                "X-Job-Id": final.job_id,
                "Cache-Control": "no-store",
                "Content-Length": str(reader.size_bytes),
            }
            if waiting.result_token is not None:  # a joined request has no link of its own
                headers["X-Result-Url"] = result_links.result_url(
                    deps.settings.public_base_url, waiting.result_token
                )
            if waiting.joined:
                headers["X-Joined-Job"] = "true"
            return StreamingResponse(reader.chunks(), media_type=result.mime_type, headers=headers)
        except ApiError as exc:
            status_code = exc.status_code
            raise
        except (PyMongoError, KafkaError):
            status_code = 503
            raise
        finally:
            span.set_attribute("http.response.status_code", status_code)
            metrics.INGEST_REQUESTS.labels(status_code=str(status_code)).inc()
            metrics.INGEST_LATENCY.labels(outcome=outcome).observe(time.monotonic() - started)


def check_declared(request: Request, deps: IngestDeps) -> None:
    """413 for a declared length past the cap, 415 for another media type: before reading."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > deps.settings.max_request_bytes:
        raise request_too_large(deps.settings.max_request_bytes)
    require_multipart(request.headers.get("content-type"))
