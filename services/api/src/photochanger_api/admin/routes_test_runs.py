"""Test runs of a slot's unsaved values, followed step by step.

`POST /api/slots/{slot_id}/test-runs` takes a photo (`file`) and, optionally, the slot as the
editor has it (`slot`, the JSON body of `PUT /api/slots/{slot_id}`), validated exactly like a
save; nothing is stored but the job. The job takes the photobooth's path with those values
(create, publish, provider, outcome) and the answer comes at once (202) with its id, so the
console can show it queued, at the provider and done, then fetch the result. A test run also
works on an inactive slot: testing before switching a slot on is the point of it.

The photo is parsed here (the unsaved values must be known before the job exists) and handed
to the ingest path as a one-field form; the admin's token stands in for the ingest password."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from photochanger_contracts import ErrorCode, JobOutcome, JobStatus
from photochanger_runtime.configuration.platform_settings import PlatformSettings
from photochanger_runtime.configuration.slots import Slot, SlotRepository
from photochanger_runtime.jobs import Job, current
from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.datastructures import UploadFile

from ..dependencies import container, ingest_deps, require
from ..errors import ApiError
from ..ingest import IngestDeps, accept, await_outcome, require_known_slot
from ..live_config import LiveConfig, SlotPlan
from ..passwords import AuthenticatedByToken
from .auth import Permission, Principal
from .routes_previews import IMAGE, stream
from .routes_slots import _validated_settings as validated_settings
from .views import ADMIN_ERRORS, SlotUpdate, errors

router = APIRouter(prefix="/api/slots", tags=["admin: slots"])
log = logging.getLogger(__name__)
_waiting: set[asyncio.Task[Any]] = set()

WriteSlots = Annotated[Principal, Depends(require(Permission.SLOTS_WRITE))]

_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "slot": {
                            "type": "string",
                            "description": "the unsaved slot as JSON (the body of PUT "
                            "/api/slots/{slot_id}); the saved slot when left out",
                        },
                    },
                }
            }
        },
    }
}


class TestRunError(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: str
    message: str
    provider_status: str | None = None


class TestRunView(BaseModel):
    model_config = ConfigDict(frozen=True)

    job_id: str
    slot_id: str
    #: queued (waiting for a provider worker), at_provider (being processed), done
    stage: Literal["queued", "at_provider", "done"]
    status: JobStatus
    outcome: JobOutcome | None
    error: TestRunError | None
    created_at: datetime
    expires_at: datetime
    finalized_at: datetime | None
    #: where the result image is, once the run succeeded
    result_url: str | None


class _UnsavedSlot(LiveConfig):
    """The live configuration, except that one slot runs as the editor has it."""

    def __init__(self, live: LiveConfig, plan: SlotPlan) -> None:  # delegates, no own state
        self._live, self._plan = live, plan

    async def settings(self) -> PlatformSettings:
        return await self._live.settings()

    async def plan(self, slot_id: str) -> SlotPlan | None:
        return self._plan if slot_id == self._plan.slot.id else await self._live.plan(slot_id)


def _view(job: Job) -> TestRunView:
    stage: Literal["queued", "at_provider", "done"] = "queued"
    if job.is_final:
        stage = "done"
    elif job.status is JobStatus.PROCESSING:
        stage = "at_provider"
    succeeded = job.outcome is JobOutcome.SUCCEEDED and job.result is not None
    return TestRunView(
        job_id=job.id,
        slot_id=job.slot_id,
        stage=stage,
        status=job.status,
        outcome=job.outcome,
        error=TestRunError(**job.error.model_dump()) if job.error else None,
        created_at=job.created_at,
        expires_at=job.expires_at,
        finalized_at=job.finalized_at,
        result_url=f"/api/slots/{job.slot_id}/test-runs/{job.id}/result" if succeeded else None,
    )


def _invalid(problems: list[dict[str, str]]) -> ApiError:
    return ApiError(ErrorCode.VALIDATION_FAILED, "the test run is invalid", {"problems": problems})


async def _unsaved_plan(
    request: Request, saved: Slot, raw: str, principal: Principal, config: LiveConfig
) -> SlotPlan:
    try:
        edit = SlotUpdate.model_validate_json(raw)
    except ValidationError as exc:
        raise _invalid(
            [
                {"field": ".".join(["slot", *(str(p) for p in e["loc"])]), "message": e["msg"]}
                for e in exc.errors(include_input=False)
            ]
        ) from None
    settings = await validated_settings(request, edit)
    slot = saved.model_copy(
        update={
            "name": edit.name, "provider": edit.provider, "operation": edit.operation,
            "settings": settings, "is_active": True, "updated_by": principal.username,
        }
    )  # fmt: skip
    plan = await config.plan_for(slot)
    if not plan.runnable:
        raise _invalid([p.model_dump() for p in plan.problems])
    return plan


async def _one_field_form(upload: UploadFile) -> tuple[str, AsyncIterator[bytes]]:
    boundary = secrets.token_hex(16)

    async def body() -> AsyncIterator[bytes]:
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="test-photo"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        while chunk := await upload.read(256 * 1024):
            yield chunk
        yield f"\r\n--{boundary}--\r\n".encode()

    return f"multipart/form-data; boundary={boundary}", body()


async def _follow(waiting: Any, deps: IngestDeps) -> None:
    """Wait for the outcome as ingest does (it also finalizes a run past its deadline)."""
    try:
        await await_outcome(waiting, deps)
    except Exception:
        log.exception("a test run ended with an error")


@router.post(
    "/{slot_id}/test-runs",
    status_code=202,
    response_model=TestRunView,
    responses=errors(*ADMIN_ERRORS, 400, 404, 413, 415, 422, 429),
    openapi_extra=_BODY,
)
async def start_test_run(slot_id: str, request: Request, principal: WriteSlots) -> TestRunView:
    """Start a test run of the slot (as saved, or with the unsaved values in `slot`) on the
    uploaded photo; follow it with `GET …/test-runs/{job_id}`."""
    require_known_slot(slot_id)
    deps = await ingest_deps(request)
    slot = await (await container(request).aget(SlotRepository)).get(slot_id)
    if slot is None:
        raise ApiError(ErrorCode.SLOT_NOT_FOUND, f"unknown slot {slot_id!r}", {"slot_id": slot_id})
    async with request.form(max_files=1, max_fields=8) as form:
        upload, raw = form.get("file"), form.get("slot")
        if not isinstance(upload, UploadFile):
            raise ApiError(ErrorCode.FILE_MISSING, "no photo in the request", {"fields": ["file"]})
        if raw is not None and not isinstance(raw, str):
            raise _invalid([{"field": "slot", "message": "must be a JSON text field"}])
        if raw is None:  # the saved slot, also when it is switched off
            plan = await deps.config.plan_for(slot.model_copy(update={"is_active": True}))
        else:
            plan = await _unsaved_plan(request, slot, raw, principal, deps.config)
        run = dataclasses.replace(
            deps, verifier=AuthenticatedByToken(), config=_UnsavedSlot(deps.config, plan)
        )
        content_type, body = await _one_field_form(upload)
        waiting = await accept(
            slot_id, content_type, body, run,
            tags={"test_run": "true", "requested_by": principal.username,
                  "unsaved": "false" if raw is None else "true"},
        )  # fmt: skip
    task = asyncio.create_task(_follow(waiting, run))
    _waiting.add(task)
    task.add_done_callback(_waiting.discard)
    return _view(waiting.job)


async def _test_run(request: Request, slot_id: str, job_id: str) -> tuple[IngestDeps, Job]:
    deps = await ingest_deps(request)
    job = await current(deps.jobs, job_id)
    if job is None or job.slot_id != slot_id or job.metadata.get("test_run") != "true":
        raise ApiError(ErrorCode.JOB_NOT_FOUND, "no such test run", {"job_id": job_id})
    return deps, job


@router.get(
    "/{slot_id}/test-runs/{job_id}",
    response_model=TestRunView,
    responses=errors(*ADMIN_ERRORS, 404, 422),
)
async def get_test_run(slot_id: str, job_id: str, request: Request, _: WriteSlots) -> TestRunView:
    """Where the test run is: queued, at the provider, or done (with its outcome)."""
    return _view((await _test_run(request, slot_id, job_id))[1])


@router.get(
    "/{slot_id}/test-runs/{job_id}/result",
    response_class=Response,
    responses={**IMAGE, **errors(*ADMIN_ERRORS, 404, 410, 422)},
)
async def get_test_run_result(
    slot_id: str, job_id: str, request: Request, _: WriteSlots
) -> Response:
    """The image a succeeded test run produced."""
    deps, job = await _test_run(request, slot_id, job_id)
    if job.outcome is not JobOutcome.SUCCEEDED or job.result is None:
        raise ApiError(ErrorCode.RESULT_NOT_FOUND, "the test run has no result", {"job_id": job_id})
    expired = ApiError(ErrorCode.RESULT_EXPIRED, "the result has expired", {"job_id": job_id})
    if job.result_expires_at is not None and deps.clock.now() >= job.result_expires_at:
        raise expired
    return await stream(deps.media, job.result, expired)
