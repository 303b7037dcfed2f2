"""`PhotoChanger`: the asynchronous client of `/v1/jobs`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from types import TracebackType
from typing import Any

import httpx

from .errors import ApiError
from .models import Image, Job, JobEvent

#: `Prefer: wait` may ask for at most this many seconds
MAX_WAIT_SECONDS = 60


class PhotoChanger:
    def __init__(
        self,
        base_url: str,
        key: str,
        *,
        timeout: float = 90.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {key}"},
            timeout=timeout,
            transport=transport,
        )

    async def __aenter__(self) -> PhotoChanger:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def submit(
        self,
        slot_id: str,
        photo: bytes,
        *,
        filename: str = "photo.jpg",
        content_type: str = "application/octet-stream",
        webhook_url: str | None = None,
        metadata: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        wait_seconds: int | None = None,
    ) -> Job | Image:
        """Submit a photo: the accepted `Job` (202), or with `wait_seconds` the `Image` when
        the job succeeded within that time. A failed job raises `ApiError` as `/ingest`
        answers it (502, 504, …). Send the same `idempotency_key` when retrying."""
        fields = {**(metadata or {}), "slot_id": slot_id}
        if webhook_url:
            fields["webhook_url"] = webhook_url
        headers = {}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        if wait_seconds is not None:
            headers["Prefer"] = f"wait={min(max(wait_seconds, 0), MAX_WAIT_SECONDS)}"
        answer = await self._http.post(
            "/v1/jobs", data=fields, files={"photo": (filename, photo, content_type)},
            headers=headers,
        )  # fmt: skip
        _raise_for(answer)
        if answer.status_code == 200:
            return Image(
                job_id=answer.headers["x-job-id"], content=answer.content,
                mime_type=answer.headers["content-type"],
            )  # fmt: skip
        return Job.parse(answer.json())

    async def get(self, job_id: str) -> Job:
        answer = await self._http.get(f"/v1/jobs/{job_id}")
        _raise_for(answer)
        return Job.parse(answer.json())

    async def cancel(self, job_id: str) -> None:
        """Ask for the job to stop; `ApiError` 409 when it is already final."""
        _raise_for(await self._http.delete(f"/v1/jobs/{job_id}"))

    async def result(self, job_id: str) -> bytes:
        answer = await self._http.get(f"/v1/jobs/{job_id}/result")
        _raise_for(answer)
        return answer.content

    async def events(
        self, job_id: str, *, last_event_id: str | None = None
    ) -> AsyncIterator[JobEvent]:
        """The job's status events until the final one (one connection)."""
        headers = {"Accept": "text/event-stream"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        async with self._http.stream(
            "GET", f"/v1/jobs/{job_id}/events", headers=headers, timeout=None
        ) as answer:
            if answer.status_code != 200:
                await answer.aread()
                _raise_for(answer)
            event: dict[str, str] = {}
            async for line in answer.aiter_lines():
                if line:
                    name, _, value = line.partition(":")
                    event[name] = value.removeprefix(" ")
                    continue
                if "data" in event:
                    yield JobEvent(id=event.get("id", ""), job=Job.parse(json.loads(event["data"])))
                event = {}

    async def wait(self, job_id: str, *, reconnects: int = 5) -> Job:
        """The job once final, followed through its event stream; a dropped connection is
        resumed with `Last-Event-ID` (any api replica can serve it)."""
        last: str | None = None
        for attempt in range(reconnects + 1):
            try:
                async for event in self.events(job_id, last_event_id=last):
                    last = event.id
                    if event.job.is_final:
                        return event.job
            except httpx.TransportError:
                if attempt == reconnects:
                    raise
                await asyncio.sleep(min(2.0 * (attempt + 1), 10.0))  # reconnect back-off
        return await self.get(job_id)


def _raise_for(answer: httpx.Response) -> None:
    if answer.status_code < 400:
        return
    try:
        error: dict[str, Any] = answer.json()["error"]
    except (ValueError, KeyError, TypeError):
        error = {"code": "unknown", "message": answer.text[:200], "details": {}}
    retry = answer.headers.get("retry-after")
    raise ApiError(
        answer.status_code, str(error.get("code")), str(error.get("message")),
        dict(error.get("details") or {}), float(retry) if retry and retry.isdigit() else None,
    )  # fmt: skip
