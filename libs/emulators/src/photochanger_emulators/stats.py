"""Counters the emulators expose under ``/_emulator/stats`` for tests to assert on."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

#: Headers whose values are credentials: their presence is recorded, never their value.
SECRET_HEADERS = frozenset({"authorization", "x-goog-api-key", "cookie", "proxy-authorization"})
REDACTED = "<redacted>"


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Copy request headers, replacing every credential value with a marker."""
    return {
        name.lower(): (REDACTED if name.lower() in SECRET_HEADERS else value)
        for name, value in headers.items()
    }


def now() -> float:
    """Wall-clock seconds since the epoch (what the stats report)."""
    return time.time()


@dataclass
class RequestRecord:
    """The last request an emulator saw, without credentials or bodies."""

    method: str
    path: str
    headers: dict[str, str]
    at: float
    form: dict[str, str] | None = None

    def as_json(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "method": self.method,
            "path": self.path,
            "headers": self.headers,
            "at": self.at,
        }
        if self.form is not None:
            record["form"] = self.form
        return record


@dataclass
class Submissions:
    """Billable submissions (one per accepted generation call), by the sha256 of the photo."""

    total: int = 0
    by_image_sha256: Counter[str] = field(default_factory=Counter)

    def add_image(self, sha256: str) -> None:
        self.by_image_sha256[sha256] += 1

    def as_json(self) -> dict[str, Any]:
        return {"total": self.total, "by_image_sha256": dict(self.by_image_sha256)}


@dataclass
class ImageCallStats:
    """The counters of an emulator whose provider answers each call with the image itself
    (Gemini, OpenAI); a subclass names the provider and may add its own."""

    provider: ClassVar[str] = ""

    requests: int = 0
    auth_failures: int = 0
    submissions: Submissions = field(default_factory=Submissions)
    by_model: Counter[str] = field(default_factory=Counter)
    responses_by_status: Counter[int] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    in_flight: int = 0
    #: the most calls that were in progress at once, and when each call started: what a
    #: provider plan limits (calls at once, requests per minute)
    peak_in_flight: int = 0
    call_starts: list[float] = field(default_factory=list)
    client_disconnects: int = 0
    last_request: RequestRecord | None = None

    def call_started(self) -> None:
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        self.call_starts.append(now())

    def call_ended(self) -> None:
        self.in_flight -= 1

    def most_calls_in(self, window_seconds: float = 60.0) -> int:
        """The most calls that started within any `window_seconds` (a sliding window)."""
        starts = sorted(self.call_starts)
        most, first = 0, 0
        for last, at in enumerate(starts):
            while at - starts[first] >= window_seconds:
                first += 1
            most = max(most, last - first + 1)
        return most

    def remember(self, method: str, path: str, headers: Mapping[str, str]) -> None:
        """Count a request and keep it (credentials redacted) as the last one seen."""
        self.requests += 1
        self.last_request = RequestRecord(
            method=method, path=path, headers=redact_headers(headers), at=now()
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "requests": self.requests,
            "auth_failures": self.auth_failures,
            "submissions": self.submissions.as_json(),
            "by_model": dict(self.by_model),
            "responses_by_status": {str(k): v for k, v in self.responses_by_status.items()},
            "outcomes": dict(self.outcomes),
            "in_flight": self.in_flight,
            "peak_in_flight": self.peak_in_flight,
            "calls_in_any_60s": self.most_calls_in(60.0),
            "call_starts": [round(at, 3) for at in self.call_starts[-5000:]],
            "client_disconnects": self.client_disconnects,
            "last_request": self.last_request.as_json() if self.last_request else None,
        }
