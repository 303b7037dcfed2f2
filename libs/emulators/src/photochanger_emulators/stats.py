"""Counters the emulators expose under ``/_emulator/stats`` for tests to assert on."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

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
