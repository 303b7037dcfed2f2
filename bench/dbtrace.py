"""`--db-trace`: the MongoDB commands every service issued, from the totals that
`inject/sitecustomize.py` writes per process (pymongo command monitoring; keys are
"<command> <collection>", e.g. "find jobs", "insert processing_logs")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

INJECT_DIR = Path(__file__).resolve().parent / "inject"
#: how often the services write their totals while tracing (seconds)
DUMP_INTERVAL = 0.25
#: wait this long before reading the totals, so that every process has written its latest
SETTLE = 2.5 * DUMP_INTERVAL

Totals = dict[str, dict[str, list[float]]]  # file name -> command -> [count, micros, fails]
PerService = dict[str, dict[str, list[float]]]  # service -> command -> [count, micros, fails]


def env(directory: Path, pythonpath: str | None) -> dict[str, str]:
    """What the services' environment needs to load the tracer."""
    return {
        "PHOTOCHANGER_BENCH_DBTRACE_DIR": str(directory),
        "PHOTOCHANGER_BENCH_DBTRACE_INTERVAL": str(DUMP_INTERVAL),
        "PYTHONPATH": ":".join(p for p in (str(INJECT_DIR), pythonpath) if p),
    }


def snapshot(directory: Path) -> tuple[Totals, dict[str, str]]:
    """Totals per process file, and the module (service) of each file."""
    totals: Totals = {}
    modules: dict[str, str] = {}
    for path in directory.glob("*.json"):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        totals[path.name] = data["totals"]
        modules[path.name] = str(data["module"])
    return totals, modules


def difference(before: Totals, after: Totals, modules: dict[str, str]) -> PerService:
    """Commands issued between two snapshots, per service and command."""
    per_service: PerService = {}
    for name, commands in after.items():
        earlier = before.get(name, {})
        service = modules[name].removeprefix("photochanger_")
        bucket = per_service.setdefault(service, {})
        for command, (count, micros, fails) in commands.items():
            old = earlier.get(command, [0, 0.0, 0])
            entry = bucket.setdefault(command, [0, 0.0, 0])
            entry[0] += count - old[0]
            entry[1] += micros - old[1]
            entry[2] += fails - old[2]
    return per_service


def _total(per_service: PerService) -> float:
    return sum(v[0] for commands in per_service.values() for v in commands.values())


def report(
    during: PerService,
    *,
    ok_jobs: int,
    load_seconds: float,
    idle: PerService | None = None,
    idle_seconds: float = 0.0,
) -> dict[str, Any]:
    """Commands per successful job end to end (every service, background included), per
    service and per command/collection; with an idle window, the background rate too."""

    def per_job(value: float) -> float | None:
        return round(value / ok_jobs, 2) if ok_jobs else None

    total = _total(during)
    result: dict[str, Any] = {
        "ok_jobs": ok_jobs,
        "commands": int(total),
        "commands_per_ok_job": per_job(total),
        "db_ms_per_ok_job": per_job(sum(v[1] for c in during.values() for v in c.values()) / 1000),
    }
    if idle is not None and idle_seconds > 0:
        rate = _total(idle) / idle_seconds
        result["background_commands_per_s"] = round(rate, 2)
        result["commands_per_ok_job_net_of_background"] = per_job(
            max(0.0, total - rate * load_seconds)
        )
        result["background_by_command_per_s"] = {
            f"{service}: {command}": round(v[0] / idle_seconds, 2)
            for service, commands in sorted(idle.items())
            for command, v in sorted(commands.items(), key=lambda cv: -cv[1][0])
            if v[0] > 0
        }
    by_command: dict[str, float] = {}
    services: dict[str, Any] = {}
    for service, commands in sorted(during.items()):
        rows = sorted(((c, v) for c, v in commands.items() if v[0] > 0), key=lambda cv: -cv[1][0])
        if not rows:
            continue
        for command, v in rows:
            by_command[command] = by_command.get(command, 0) + v[0]
        services[service] = {
            "commands_per_ok_job": per_job(sum(v[0] for _, v in rows)),
            "ms_per_ok_job": per_job(sum(v[1] for _, v in rows) / 1000),
            "commands": {
                c: {
                    "count": int(v[0]),
                    "per_ok_job": per_job(v[0]),
                    "mean_ms": round(v[1] / v[0] / 1000, 2),
                    "total_ms": round(v[1] / 1000, 1),
                    "failed": int(v[2]),
                }
                for c, v in rows
            },
        }
    result["by_command_per_ok_job"] = {
        c: per_job(n) for c, n in sorted(by_command.items(), key=lambda cn: -cn[1])
    }
    result["by_service"] = services
    return result
