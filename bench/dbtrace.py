"""Reading the MongoDB command totals that `inject/sitecustomize.py` writes per process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

INJECT_DIR = Path(__file__).resolve().parent / "inject"

Totals = dict[str, dict[str, list[float]]]  # file name -> command -> [count, micros, fails]


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


def difference(before: Totals, after: Totals, modules: dict[str, str], jobs: int) -> dict[str, Any]:
    """Per service: MongoDB commands issued during the scenario (count, total and mean ms,
    and per job), the most expensive first."""
    per_service: dict[str, dict[str, list[float]]] = {}
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
    report: dict[str, Any] = {}
    for service, commands in sorted(per_service.items()):
        rows = sorted(((c, v) for c, v in commands.items() if v[0] > 0), key=lambda cv: -cv[1][1])
        total_ms = sum(v[1] for _, v in rows) / 1000
        report[service] = {
            "total_ms": round(total_ms, 1),
            "ms_per_job": round(total_ms / jobs, 2) if jobs else None,
            "commands_per_job": round(sum(v[0] for _, v in rows) / jobs, 1) if jobs else None,
            "commands": {
                c: {
                    "count": int(v[0]),
                    "mean_ms": round(v[1] / v[0] / 1000, 2),
                    "total_ms": round(v[1] / 1000, 1),
                    "per_job": round(v[0] / jobs, 2) if jobs else None,
                    "failed": int(v[2]),
                }
                for c, v in rows
            },
        }
    return report
