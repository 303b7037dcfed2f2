"""How `make up` shows the services' logs: each process's lines prefixed by its name; JSON
log lines rendered as one readable line on a terminal (as they are otherwise, or with
`PHOTOCHANGER_LOG_FORMAT=json`); and the start-up chatter of the Kafka client (a
coordinator "marked dead" thirty times while the broker elects one) kept out of the default
view — the log files under the state directory have every line."""

from __future__ import annotations

import contextlib
import json
import os
from datetime import datetime
from typing import Any, Final

ENV_FORMAT: Final = "PHOTOCHANGER_LOG_FORMAT"
ENV_VERBOSE: Final = "PHOTOCHANGER_LOG_VERBOSE"

#: messages that only say a client is still connecting or rebalancing
NOISE: Final = (
    "Marking the coordinator dead",
    "has no partition assignments",
    "Unable connect to node with id",
    "Heartbeat failed for group",
    "Unable to request metadata from",
    "Topic ",  # "Topic X not found in cluster metadata" while topics are being made
    "Got error produce response",
    "coordinator is not available",
)
_SKIP_FIELDS: Final = frozenset({"ts", "level", "service", "logger", "msg", "span_id", "exc"})
_LEVEL_COLOURS: Final = {"warning": "33", "error": "31", "critical": "31"}


def pretty_by_default(isatty: bool, environ: dict[str, str] | None = None) -> bool:
    env = os.environ if environ is None else environ
    chosen = env.get(ENV_FORMAT, "").strip().lower()
    if chosen in ("json", "raw"):
        return False
    if chosen in ("text", "pretty"):
        return True
    return isatty


def is_noise(line: str) -> bool:
    return any(marker in line for marker in NOISE)


def render(line: str, *, pretty: bool, colour: bool, verbose: bool = False) -> str | None:
    """The line to show for one log line, or None to hide it."""
    text = line.rstrip("\n")
    if not verbose and is_noise(text):
        return None
    if not pretty:
        return text
    try:
        record: dict[str, Any] = json.loads(text)
    except ValueError:
        return text  # not one of ours (the JVM, uvicorn's banner, a traceback line)
    if not isinstance(record, dict) or "msg" not in record:
        return text
    return _readable(record, colour=colour)


def _readable(record: dict[str, Any], *, colour: bool) -> str:
    stamp = str(record.get("ts", ""))
    with contextlib.suppress(ValueError):  # shown as it came
        stamp = datetime.fromisoformat(stamp).strftime("%H:%M:%S.%f")[:-3]
    level = str(record.get("level", "info"))
    shown_level = level.upper()[:4]
    if colour and level in _LEVEL_COLOURS:
        shown_level = f"\033[{_LEVEL_COLOURS[level]}m{shown_level}\033[0m"
    context = " ".join(
        f"{key}={_short(value)}"
        for key, value in record.items()
        if key not in _SKIP_FIELDS and value not in (None, "")
    )
    out = f"{stamp} {shown_level} {record['msg']}"
    if context:
        out += f"  {context}"
    if record.get("exc"):
        out += "\n" + str(record["exc"])
    return out


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if len(text) == 32 and text.isalnum():  # a trace id: its first 8 characters are enough
        return text[:8]
    return text if len(text) <= 80 else text[:77] + "..."
