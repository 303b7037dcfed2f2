"""JSON-lines logging with the service name, job/slot ids and trace ids on every line."""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace

job_id_var: ContextVar[str | None] = ContextVar("job_id", default=None)
slot_id_var: ContextVar[str | None] = ContextVar("slot_id", default=None)

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
_SECRET_WORDS = ("password", "api_key", "apikey", "secret", "token", "authorization")


def _scrub(key: str, value: Any) -> Any:
    if any(w in key.lower() for w in _SECRET_WORDS):
        return "***"
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return value


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self._service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if job_id := job_id_var.get():
            line["job_id"] = job_id
        if slot_id := slot_id_var.get():
            line["slot_id"] = slot_id
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            line["trace_id"] = format(span.trace_id, "032x")
            line["span_id"] = format(span.span_id, "016x")
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = _scrub(key, value)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiokafka", "pymongo", "httpx", "httpcore", "faststream", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
