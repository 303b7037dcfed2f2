"""The targets, the figures they are checked on, and the median over repeated runs.

A figure is one number per scenario run (bench/runner.py `figures`). With `--repeat N` each
scenario runs N times on a fresh database; the reported value of a figure is the median of
its N values, and a target is met when that median is."""

from __future__ import annotations

import operator
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Target:
    scenario: str
    figure: str
    op: str  # "<=", ">=", "=="
    value: float
    label: str

    def check(self, measured: float | None) -> bool:
        if measured is None:
            return False
        compare: Callable[[float, float], bool] = {
            "<=": operator.le,
            ">=": operator.ge,
            "==": operator.eq,
        }[self.op]
        return bool(compare(measured, self.value))

    @property
    def wanted(self) -> str:
        op = {"<=": "≤", ">=": "≥", "==": "="}[self.op]
        return f"{op} {self.value:g}"


def _cpu_targets(scenario: str) -> list[Target]:
    return [
        Target(scenario, "server_cpu_ms_per_ingest", "<=", 40, "server CPU per ingest (ms)"),
        Target(scenario, "db_cpu_ms_per_ingest", "<=", 10, "database CPU per ingest (ms)"),
    ]


def _integrity(scenario: str) -> list[Target]:
    return [
        Target(scenario, "lost", "==", 0, "lost jobs"),
        Target(scenario, "duplicated", "==", 0, "duplicated jobs"),
    ]


STATIC: dict[str, list[Target]] = {
    "sequential": [
        Target("sequential", "overhead_p50_ms", "<=", 40, "overhead p50 (ms)"),
        Target("sequential", "overhead_p95_ms", "<=", 80, "overhead p95 (ms)"),
        *_cpu_targets("sequential"),
    ],
    "burst": [
        Target("burst", "non_200", "==", 0, "answers other than 200 (20 x 200 per round)"),
        Target("burst", "latency_p95_ms", "<=", 400, "end-to-end p95 (ms)"),
        *_integrity("burst"),
    ],
    "rate": [
        Target("rate", "non_200", "==", 0, "answers other than 200"),
        Target("rate", "overhead_p95_ms", "<=", 300, "overhead p95 (ms)"),
        *_integrity("rate"),
        *_cpu_targets("rate"),
    ],
    "throughput": [
        Target("throughput", "throughput_jobs_per_s", ">=", 50, "closed-loop jobs/s"),
        *_integrity("throughput"),
    ],
    "growth": _integrity("growth"),
}


def growth_ratio_limit(stored: int) -> float:
    """5,000 stored jobs: within 1.2x of empty; 2,000 (and fewer): within 1.3x."""
    return 1.2 if stored >= 5000 else 1.3


def targets_for(scenario: str, figures: dict[str, Any], *, connections: int) -> list[Target]:
    found = list(STATIC.get(scenario, []))
    if scenario == "growth":
        for key in figures:
            if key.startswith("overhead_p50_ratio@"):
                stored = int(key.split("@", 1)[1])
                found.insert(
                    len(found) - 2,
                    Target(
                        "growth",
                        key,
                        "<=",
                        growth_ratio_limit(stored),
                        f"sequential p50 after {stored:,} jobs ÷ empty",
                    ),
                )
    if scenario == "connections":
        found = [
            Target("connections", "waiting_peak", ">=", connections, "simultaneously waiting"),
            Target("connections", "api_rss_peak_mb", "<=", 300, "api peak RSS (MB)"),
            *_integrity("connections"),
        ]
    if "db_commands_per_ok_job" in figures and scenario in ("sequential", "rate"):
        found.append(
            Target(scenario, "db_commands_per_ok_job", "<=", 6, "MongoDB commands per job")
        )
    return found


def median(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    if not present:
        return None
    return round(float(statistics.median(present)), 3)


def aggregate(runs: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """{figure: {"median": m, "runs": [v1, v2, ...]}} over the runs of one scenario."""
    keys: list[str] = []
    for run in runs:
        keys.extend(k for k in run if k not in keys)
    return {k: {"median": median([r.get(k) for r in runs]), "runs": [r.get(k) for r in runs]}
            for k in keys}  # fmt: skip


def evaluate(
    scenario: str, figures: dict[str, dict[str, Any]], *, connections: int
) -> list[dict[str, Any]]:
    medians = {k: v["median"] for k, v in figures.items()}
    checked = []
    for target in targets_for(scenario, medians, connections=connections):
        measured = medians.get(target.figure)
        checked.append(
            {
                "scenario": scenario,
                "figure": target.figure,
                "name": target.label,
                "target": target.wanted,
                "measured": measured,
                "runs": figures.get(target.figure, {}).get("runs", []),
                "met": target.check(measured),
            }
        )
    return checked
