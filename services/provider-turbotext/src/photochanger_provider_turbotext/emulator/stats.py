"""The Turbotext emulator's counters, queues and polls included (``/_emulator/stats``)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from photochanger_emulators.stats import RequestRecord, Submissions


@dataclass
class QueueRecord:
    """What a test may want to know about one Turbotext queue, polls included."""

    queueid: int
    method: str
    created_at: float
    fields: dict[str, str] = field(default_factory=dict)
    state: str = "working"
    image_sha256: str | None = None
    #: role (target, style, base, face, photo) → {field, sha256} of each downloaded input
    inputs: dict[str, dict[str, str]] = field(default_factory=dict)
    source_downloads: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    ready_at: float | None = None
    poll_times: list[float] = field(default_factory=list)
    reconnects: int = 0
    terminal_answer_at: float | None = None
    polls_after_terminal: int = 0

    def polls_after(self, moment: float) -> int:
        return sum(1 for t in self.poll_times if t > moment)

    def as_json(self) -> dict[str, Any]:
        return {
            "queueid": self.queueid,
            "method": self.method,
            "fields": self.fields,
            "state": self.state,
            "created_at": self.created_at,
            "image_sha256": self.image_sha256,
            "inputs": self.inputs,
            "source_downloads": self.source_downloads,
            "error": self.error,
            "ready_at": self.ready_at,
            "polls": len(self.poll_times),
            "poll_times": self.poll_times,
            "last_poll_at": self.poll_times[-1] if self.poll_times else None,
            "reconnects": self.reconnects,
            "terminal_answer_at": self.terminal_answer_at,
            "polls_after_terminal": self.polls_after_terminal,
        }


@dataclass
class TurbotextStats:
    requests: int = 0
    auth_failures: int = 0
    rejected: int = 0
    submissions: Submissions = field(default_factory=Submissions)
    by_method: Counter[str] = field(default_factory=Counter)
    queues: dict[int, QueueRecord] = field(default_factory=dict)
    source_downloads_ok: int = 0
    source_downloads_failed: int = 0
    generated_downloads: int = 0
    last_request: RequestRecord | None = None

    def as_json(self, *, since: float | None = None) -> dict[str, Any]:
        queues = {str(qid): record.as_json() for qid, record in self.queues.items()}
        if since is not None:
            for qid, record in self.queues.items():
                queues[str(qid)]["polls_since"] = record.polls_after(since)
        return {
            "provider": "turbotext",
            "requests": self.requests,
            "auth_failures": self.auth_failures,
            "rejected": self.rejected,
            "submissions": self.submissions.as_json(),
            "by_method": dict(self.by_method),
            "polls": {str(qid): len(record.poll_times) for qid, record in self.queues.items()},
            "queues": queues,
            "source_downloads": {
                "ok": self.source_downloads_ok,
                "failed": self.source_downloads_failed,
            },
            "generated_downloads": self.generated_downloads,
            "last_request": self.last_request.as_json() if self.last_request else None,
        }
