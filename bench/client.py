"""One ingest as a photobooth sends it, timed on the client's clocks."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx

from bench.payloads import CONTENT_TYPE, Photo, multipart_body


@dataclass(slots=True)
class IngestResult:
    sha256: str
    sent_wall: float  # epoch seconds, comparable with the processing log's `at`
    sent: float  # monotonic
    done: float  # monotonic
    done_wall: float
    status: int | None  # None: no HTTP answer at all (transport error or client timeout)
    error: str | None = None
    job_id: str | None = None
    body_bytes: int = 0
    #: open-loop only: how late the request left compared with its schedule (client lag)
    send_lag: float = 0.0

    @property
    def latency_ms(self) -> float:
        return (self.done - self.sent) * 1000

    @property
    def ok(self) -> bool:
        return self.status == 200


def _job_id_from_error(response: httpx.Response) -> str | None:
    try:
        body: Any = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    details = body.get("error", {}).get("details", {})
    job_id = details.get("job_id") if isinstance(details, dict) else None
    return job_id if isinstance(job_id, str) else None


async def ingest(
    client: httpx.AsyncClient,
    url: str,
    password: str,
    photo: Photo,
    *,
    scheduled: float | None = None,
) -> IngestResult:
    """POST the photo and read the whole answer. Never raises for HTTP-level failures."""
    body = multipart_body(password, photo)
    headers = {"content-type": CONTENT_TYPE}
    sent_wall = time.time()
    sent = time.monotonic()
    lag = max(0.0, sent - scheduled) if scheduled is not None else 0.0
    try:
        response = await client.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        done = time.monotonic()
        return IngestResult(
            sha256=photo.sha256, sent_wall=sent_wall, sent=sent, done=done,
            done_wall=sent_wall + (done - sent), status=None, error=type(exc).__name__,
            send_lag=lag,
        )  # fmt: skip
    done = time.monotonic()
    job_id = response.headers.get("x-job-id")
    if response.status_code != 200:
        job_id = job_id or _job_id_from_error(response)
    return IngestResult(
        sha256=photo.sha256, sent_wall=sent_wall, sent=sent, done=done,
        done_wall=sent_wall + (done - sent), status=response.status_code,
        error=None if response.status_code == 200 else response.text[:200],
        job_id=job_id, body_bytes=len(response.content), send_lag=lag,
    )  # fmt: skip
