"""`/v1/jobs`: submit (202 + Location, or the image at once with `Prefer: wait=N`), read,
follow as Server-Sent Events, download the result, cancel. Authenticated by a client key
(`Authorization: Bearer pck_…`); a key sees only its own jobs (any other id is 404)."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from photochanger_contracts import ErrorCode, JobOutcome, JobStatusChanged
from photochanger_contracts.deadlines import seconds_left
from photochanger_runtime.jobs import Job, JobStatus, current, machine

from ..admin.views import errors
from ..client_keys.auth import KeyRejected, unauthorized_key
from ..client_keys.keys import ClientKey
from ..dependencies import container, ingest_deps
from ..errors import ApiError
from ..idempotency import check_key
from ..ingest import IngestDeps, Submission, Waiting, accept, await_outcome, result_of
from ..routes_ingest import check_declared
from ..routes_public import result_download
from ..waiters import ShuttingDown
from .feed import StatusFeed
from .views import CancelView, ClientJobView, client_status, job_view, with_status

router = APIRouter(prefix="/v1/jobs", tags=["client jobs"])

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="clientKey",
    description="A client key (`pck_…`) made by an admin; shown once when it is made.",
)
_PREFER_WAIT = re.compile(r"(?:^|[,;\s])wait\s*=\s*(\d+)", re.I)
MAX_WAIT_SECONDS = 60
#: a comment line every so often keeps proxies from closing a quiet stream
_KEEP_ALIVE_SECONDS = 15.0

#: event ids of a job's stream: a reconnect with Last-Event-ID gets only what came after
_EVENT_ID = {"pending": 1, "processing": 2}
_FINAL_EVENT_ID = 3

_SUBMIT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["slot_id", "photo"],
                    "properties": {
                        "slot_id": {"type": "string", "pattern": "^slot-0(0[1-9]|1[0-5])$"},
                        "photo": {
                            "type": "string", "format": "binary",
                            "description": "JPEG, PNG or WebP (decided by its bytes)",
                        },
                        "webhook_url": {
                            "type": "string", "format": "uri",
                            "description": "where the final status is POSTed, signed per "
                            "Standard Webhooks with the key's webhook secret",
                        },
                    },
                    "additionalProperties": {
                        "type": "string", "description": "kept with the job as metadata"
                    },
                }
            }
        },
    }
}  # fmt: skip


async def client_key(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ClientKey:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise unauthorized_key()
    deps = await ingest_deps(request)
    try:
        return await deps.keys.identify(credentials.credentials)
    except KeyRejected:
        raise unauthorized_key() from None


Caller = Annotated[ClientKey, Depends(client_key)]


def _base(deps: IngestDeps) -> str:
    return (deps.settings.public_base_url or "").rstrip("/")


def wait_seconds(prefer: str | None) -> int | None:
    found = _PREFER_WAIT.search(prefer or "")
    return min(int(found.group(1)), MAX_WAIT_SECONDS) if found else None


@router.post(
    "",
    status_code=202,
    response_model=ClientJobView,
    responses={
        200: {
            "description": "`Prefer: wait=N` and the job succeeded within N seconds: the "
            "image, as `/ingest` answers it",
            "content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}},
        },
        202: {"description": "accepted: follow `Location` (the job), its events or webhook"},
        **errors(400, 401, 403, 404, 409, 413, 415, 422, 429, 502, 503, 504),
    },
    openapi_extra=_SUBMIT_BODY,
)
async def submit(
    request: Request,
    key: Caller,
    prefer: Annotated[str | None, Header(description="`wait=N` (N ≤ 60 s)")] = None,
    idempotency_key: Annotated[
        str | None, Header(description="the same key and body within 24 h → the same job")
    ] = None,
) -> Response:
    """Submit a photo (multipart: `slot_id`, `photo`, optional `webhook_url`, any other text
    fields as metadata). 202 with the job and `Location`; with `Prefer: wait=N` the answer
    waits up to N seconds and is then what `/ingest` would answer if the job has ended."""
    deps = await ingest_deps(request)
    client = deps.addresses.of(request)
    check_declared(request, deps)
    wait = wait_seconds(prefer)
    with deps.uploads.take(client):
        waiting = await accept(
            None, request.headers.get("content-type"), request.stream(), deps, client=client,
            submission=Submission(
                key=key, slot_from_form=True, idempotency_key=check_key(idempotency_key),
                wait=wait is not None,
            ),
        )  # fmt: skip
    if wait is not None:
        final = await _outcome_within(waiting, wait, deps)
        if final is not None:
            return await _answer_like_ingest(final, deps)
    view = job_view(waiting.job, _base(deps), deps.clock.now())
    headers = {"Location": view.urls.self, "Cache-Control": "no-store"}
    if wait is not None:
        headers["Preference-Applied"] = f"wait={wait}"
    return JSONResponse(view.model_dump(mode="json"), status_code=202, headers=headers)


async def _outcome_within(
    waiting: Waiting, seconds: int, deps: IngestDeps
) -> JobStatusChanged | None:
    """The final status if it comes within `seconds` (or the deadline comes first: then
    the job ends `timeout`, like an ingest), else None."""
    job = waiting.job
    if seconds >= seconds_left(deps.clock.now(), job.expires_at):
        with contextlib.suppress(ApiError):  # ShuttingDown: the job goes on, answer 202
            return await await_outcome(waiting, deps)
        return None
    assert waiting.outcome is not None
    try:
        async with asyncio.timeout(seconds):
            return await asyncio.shield(waiting.outcome)
    except (TimeoutError, ShuttingDown):
        final = await deps.jobs.final(job.id)  # a missed event: the record knows
        return machine.status_event(final, deps.clock.now()) if final else None
    finally:
        deps.waiters.release(job.id, waiting.outcome)


async def _answer_like_ingest(final: JobStatusChanged, deps: IngestDeps) -> Response:
    result = result_of(final)  # the ingest error answers for a job that did not succeed
    reader = await deps.media.open(result.key)
    return StreamingResponse(
        reader.chunks(),
        media_type=result.mime_type,
        headers={
            "X-Job-Id": final.job_id,
            "Cache-Control": "no-store",
            "Content-Length": str(reader.size_bytes),
            "Preference-Applied": "wait",
        },
    )


async def _own_job(job_id: str, key: ClientKey, deps: IngestDeps) -> Job:
    job = await current(deps.jobs, job_id) if _is_uuid(job_id) else None
    if job is None or job.client_key_id != key.id:
        raise ApiError(ErrorCode.JOB_NOT_FOUND, "no such job", {"job_id": job_id[:64]})
    return job


def _is_uuid(text: str) -> bool:
    return bool(re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", text))


@router.get("/{job_id}", response_model=ClientJobView, responses=errors(401, 404, 422, 503))
async def get_job(job_id: str, request: Request, key: Caller) -> ClientJobView:
    """The job's status, outcome, error, timings, and its result link while it is kept."""
    deps = await ingest_deps(request)
    return job_view(await _own_job(job_id, key, deps), _base(deps), deps.clock.now())


@router.get(
    "/{job_id}/result",
    response_class=Response,
    responses={
        200: {"content": {"image/png": {}, "image/jpeg": {}, "image/webp": {}}},
        **errors(401, 404, 410, 422, 503),
    },
)
async def get_result(job_id: str, request: Request, key: Caller) -> Response:
    """The result image of a succeeded job until it expires (then 410)."""
    deps = await ingest_deps(request)
    job = await _own_job(job_id, key, deps)
    if job.outcome is not JobOutcome.SUCCEEDED:
        raise ApiError(ErrorCode.RESULT_NOT_FOUND, "no result for this job", {"job_id": job_id})
    return await result_download(job, deps)


@router.delete("/{job_id}", status_code=202, response_model=CancelView,
               responses=errors(401, 404, 409, 422, 503))  # fmt: skip
async def cancel_job(job_id: str, request: Request, key: Caller) -> CancelView:
    """Cancel: a pending job ends `cancelled` at once, a processing one within about a
    second; 409 when it is already final."""
    deps = await ingest_deps(request)
    job = await _own_job(job_id, key, deps)
    changed = await deps.transitions.cancel(job) if not job.is_final else None
    if changed is None:
        raise ApiError(
            ErrorCode.JOB_ALREADY_FINAL, "the job is already final",
            {"job_id": job_id, "status": client_status(job)},
        )  # fmt: skip
    return CancelView(id=job_id, status=client_status(changed), cancel_requested=True)


@router.get(
    "/{job_id}/events",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "`text/event-stream`: one `status` event per change (data: the "
            "job as `GET /v1/jobs/{id}` answers it), ids 1 pending, 2 processing, 3 final; "
            "the stream ends after the final one",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **errors(401, 404, 422, 429, 503),
    },
)
async def job_events(
    job_id: str,
    request: Request,
    key: Caller,
    last_event_id: Annotated[
        str | None, Header(description="resume after this event id (sent by EventSource)")
    ] = None,
) -> StreamingResponse:
    """Server-Sent Events of the job's status until it is final, resumable with
    `Last-Event-ID` on any api replica."""
    deps = await ingest_deps(request)
    feed = await container(request).aget(StatusFeed)
    after = int(last_event_id) if last_event_id and last_event_id.isdigit() else 0
    job = await _own_job(job_id, key, deps)
    listening = feed.listen(job.id)
    queue = listening.__enter__()
    return StreamingResponse(
        _events(job, after, queue, listening, deps),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _frame(event_id: int, job: Job, deps: IngestDeps) -> bytes:
    data = job_view(job, _base(deps), deps.clock.now()).model_dump_json()
    return f"id: {event_id}\nevent: status\ndata: {data}\n\n".encode()


async def _events(
    job: Job,
    after: int,
    queue: asyncio.Queue[JobStatusChanged],
    listening: contextlib.AbstractContextManager[Any],
    deps: IngestDeps,
) -> AsyncIterator[bytes]:
    try:
        yield b"retry: 2000\n\n"
        # read again now that the stream listens: a status published in between is not lost
        job = await current(deps.jobs, job.id) or job
        if job.is_final:
            if after < _FINAL_EVENT_ID:
                yield _frame(_FINAL_EVENT_ID, job, deps)
            return
        for status, event_id in _EVENT_ID.items():
            if after < event_id and _EVENT_ID[client_status(job)] >= event_id:
                yield _frame(event_id, job.model_copy(update={"status": JobStatus(status)}), deps)
        while True:
            try:
                async with asyncio.timeout(_KEEP_ALIVE_SECONDS):
                    event = await queue.get()
            except TimeoutError:
                final = await deps.jobs.final(job.id)  # slow safety re-read
                if final is not None:
                    yield _frame(_FINAL_EVENT_ID, final, deps)
                    return
                yield b": keep-alive\n\n"
                continue
            yield _frame(_FINAL_EVENT_ID, with_status(job, event), deps)
            return
    finally:
        listening.__exit__(None, None, None)
