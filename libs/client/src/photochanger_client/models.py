"""The API's answers as typed values (the schemas `ClientJobView`, `JobUrls`, `ResultView`,
`ClientJobError` and `Timings` of the OpenAPI document; a test keeps the two in step)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

Status = Literal["pending", "processing", "succeeded", "timeout", "provider_error", "cancelled"]
FINAL_STATUSES: frozenset[str] = frozenset({"succeeded", "timeout", "provider_error", "cancelled"})


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


@dataclass(frozen=True, slots=True)
class JobUrls:
    self: str
    events: str
    result: str


@dataclass(frozen=True, slots=True)
class ClientJobError:
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Result:
    url: str
    mime_type: str
    size_bytes: int
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class Timings:
    total_ms: float | None


@dataclass(frozen=True, slots=True)
class Job:
    id: str
    slot_id: str
    status: Status
    created_at: datetime
    expires_at: datetime
    finalized_at: datetime | None
    error: ClientJobError | None
    result: Result | None
    timings: Timings
    metadata: dict[str, str]
    urls: JobUrls

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @classmethod
    def parse(cls, data: dict[str, Any]) -> Job:
        error = data.get("error")
        return cls(
            id=data["id"],
            slot_id=data["slot_id"],
            status=data["status"],
            created_at=datetime.fromisoformat(data["created_at"]),
            expires_at=datetime.fromisoformat(data["expires_at"]),
            finalized_at=_time(data.get("finalized_at")),
            error=ClientJobError(**error) if error else None,
            result=_result(data.get("result")),
            timings=Timings(**data.get("timings", {"total_ms": None})),
            metadata=dict(data.get("metadata", {})),
            urls=JobUrls(**data["urls"]),
        )


def _result(data: dict[str, Any] | None) -> Result | None:
    if not data:
        return None
    return Result(
        url=data["url"],
        mime_type=data["mime_type"],
        size_bytes=data["size_bytes"],
        expires_at=_time(data.get("expires_at")),
    )


@dataclass(frozen=True, slots=True)
class JobEvent:
    """One Server-Sent Event of a job's stream."""

    id: str
    job: Job


@dataclass(frozen=True, slots=True)
class Image:
    """`Prefer: wait` answered with the image at once."""

    job_id: str
    content: bytes
    mime_type: str
