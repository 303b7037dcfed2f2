"""The Gemini emulator's counters (``/_emulator/stats``)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from photochanger_emulators.stats import RequestRecord, Submissions


@dataclass
class GeminiStats:
    requests: int = 0
    auth_failures: int = 0
    submissions: Submissions = field(default_factory=Submissions)
    by_model: Counter[str] = field(default_factory=Counter)
    responses_by_status: Counter[int] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    in_flight: int = 0
    client_disconnects: int = 0
    last_request: RequestRecord | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "provider": "gemini",
            "requests": self.requests,
            "auth_failures": self.auth_failures,
            "submissions": self.submissions.as_json(),
            "by_model": dict(self.by_model),
            "responses_by_status": {str(k): v for k, v in self.responses_by_status.items()},
            "outcomes": dict(self.outcomes),
            "in_flight": self.in_flight,
            "client_disconnects": self.client_disconnects,
            "last_request": self.last_request.as_json() if self.last_request else None,
        }
