"""Loaded by every service process when `python -m bench --db-trace` puts this directory on
PYTHONPATH: counts and times every MongoDB command through pymongo's public command
monitoring API, and writes the totals to $PHOTOCHANGER_BENCH_DBTRACE_DIR/<module>-<pid>.json
every $PHOTOCHANGER_BENCH_DBTRACE_INTERVAL seconds (default 1). No service code is changed;
without the variable nothing happens."""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

_DIR = os.environ.get("PHOTOCHANGER_BENCH_DBTRACE_DIR")
_INTERVAL = float(os.environ.get("PHOTOCHANGER_BENCH_DBTRACE_INTERVAL") or 1.0)


def _install(directory: Path) -> None:
    from pymongo import monitoring

    argv = getattr(sys, "orig_argv", sys.argv)
    module = argv[argv.index("-m") + 1] if "-m" in argv[:-1] else Path(argv[0]).stem
    target = directory / f"{module}-{os.getpid()}.json"
    lock = threading.Lock()
    totals: dict[str, list[float]] = {}  # "command collection" -> [count, micros, failures]
    pending: dict[tuple[Any, int], str] = {}

    class Listener(monitoring.CommandListener):
        def started(self, event: monitoring.CommandStartedEvent) -> None:
            name = event.command_name
            coll = event.command.get(name)
            if name == "getMore":
                coll = event.command.get("collection")
            pending[(event.connection_id, event.request_id)] = (
                f"{name} {coll}" if isinstance(coll, str) else name
            )

        def _done(self, event: Any, failed: bool) -> None:
            key = pending.pop((event.connection_id, event.request_id), event.command_name)
            with lock:
                entry = totals.setdefault(key, [0, 0.0, 0])
                entry[0] += 1
                entry[1] += event.duration_micros
                entry[2] += 1 if failed else 0

        def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
            self._done(event, False)

        def failed(self, event: monitoring.CommandFailedEvent) -> None:
            self._done(event, True)

    monitoring.register(Listener())

    def dump() -> None:
        while True:
            time.sleep(_INTERVAL)
            with lock:
                snapshot = {k: list(v) for k, v in totals.items()}
            tmp = target.with_suffix(".tmp")
            tmp.write_text(json.dumps({"module": module, "pid": os.getpid(), "totals": snapshot}))
            tmp.replace(target)

    threading.Thread(target=dump, name="bench-dbtrace", daemon=True).start()


if _DIR:
    try:
        _install(Path(_DIR))
    except Exception as exc:  # never break the service because of the benchmark
        print(f"bench db trace not installed: {exc!r}", file=sys.stderr)
