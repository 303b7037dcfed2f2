"""The human-readable table on stdout and the JSON file in bench/results/."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.verify import HOPS

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _mem_total_mb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) * 1024 / 1e6)
    except OSError:
        pass
    return None


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], capture_output=True, text=True, timeout=10, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return out.strip()


def machine_info() -> dict[str, Any]:
    return {
        "nproc": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)),
        "cpu_model": _cpu_model(),
        "memory_mb": _mem_total_mb(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
    }


def git_info() -> dict[str, Any]:
    status = _git("status", "--porcelain")
    return {
        "commit": _git("rev-parse", "HEAD"),
        "dirty": bool(status) if status is not None else None,
    }


def write_results(report: dict[str, Any], directory: Path = RESULTS_DIR) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    text = json.dumps(report, indent=2, sort_keys=False, ensure_ascii=False) + "\n"
    path = directory / f"{stamp}.json"
    path.write_text(text)
    (directory / "latest.json").write_text(text)
    return path


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}{unit}"
    return f"{value}{unit}"


def _pct(summary: dict[str, Any] | None) -> str:
    if not summary or not summary.get("n"):
        return "-"
    return " / ".join(_fmt(summary.get(k)) for k in ("p50", "p95", "p99"))


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(header))]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)) for r in rows)
    return "\n".join(lines)


def _statuses(s: dict[str, Any]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in s["status_counts"].items())


def _rss(s: dict[str, Any]) -> str:
    rss = s["api_rss_mb"]
    return f"{_fmt(rss['start'])} / {_fmt(rss['peak_sampled'])}"


def render(report: dict[str, Any]) -> str:
    scenarios: dict[str, dict[str, Any]] = report["scenarios"]
    names = list(scenarios)
    base = report.get("baseline", {}).get("emulator_call_ms")
    out = [
        f"PhotoChanger benchmark - {report['started_at']}",
        f"command: {report['command']}",
        f"machine: {report['machine']['nproc']} CPUs ({report['machine']['cpu_model']}), "
        f"{report['machine']['memory_mb']} MB, Python {report['machine']['python']}",
        f"emulator baseline (direct generateContent, ms p50/p95/p99): {_pct(base)}",
        "",
    ]
    metric_rows: list[tuple[str, Any]] = [
        ("requests", lambda s: _fmt(s["requests"])),
        ("answers by status", _statuses),
        ("throughput (jobs/s)", lambda s: _fmt(s["throughput_jobs_per_s"])),
        ("end-to-end ms p50/p95/p99", lambda s: _pct(s["latency_ms"])),
        ("overhead ms p50/p95/p99 (baseline)", lambda s: _pct(s["overhead_ms"])),
        ("overhead ms p50/p95/p99 (per job)", lambda s: _pct(s["overhead_per_job_ms"])),
        ("provider call ms p50/p95/p99", lambda s: _pct(s["provider_call_ms"])),
        ("lost jobs", lambda s: _fmt(s["lost"])),
        ("duplicated jobs", lambda s: _fmt(s["duplicated"])),
        ("job documents / requests", lambda s: f"{s['jobs_found']} / {s['requests']}"),
        ("api RSS MB start / peak", _rss),
        ("waiting requests peak", lambda s: _fmt(s["waiting_peak"])),
        ("client send lag ms p99", lambda s: _fmt((s.get("send_lag_ms") or {}).get("p99"))),
    ]
    rows = [[label, *(fn(scenarios[n]) for n in names)] for label, fn in metric_rows]
    out.append(_table(["metric", *names], rows))
    out.append("")
    hop_rows = [[hop, *(_pct(scenarios[n]["hops_ms"].get(hop)) for n in names)] for hop in HOPS]
    out.append("per-hop latency of successful jobs, ms p50/p95/p99 (processing log timestamps)")
    out.append(_table(["hop", *names], hop_rows))
    out.append("")
    cpu_names = sorted({p for n in names for p in scenarios[n]["cpu_seconds"]})
    cpu_rows = [
        [proc, *(_fmt(scenarios[n]["cpu_seconds"].get(proc)) for n in names)] for proc in cpu_names
    ]
    out.append("CPU seconds used during each scenario (2 cores = 2 s per second)")
    out.append(_table(["process", *names], cpu_rows))
    out.append("")
    for name in names:
        db = scenarios[name].get("db_commands")
        if not db:
            continue
        out.append(f"MongoDB commands per job, {name} (count x mean ms, from pymongo monitoring)")
        rows = []
        for service, info in db.items():
            top = list(info["commands"].items())[:4]
            detail = ", ".join(f"{c} {v['per_job']}x{v['mean_ms']}" for c, v in top)
            rows.append([service, _fmt(info["ms_per_job"]), _fmt(info["commands_per_job"]), detail])
        out.append(_table(["service", "ms/job", "cmds/job", "most expensive"], rows))
        out.append("")
    probe = report.get("storage_probe")
    if probe:
        sizes = ", ".join(f"{k} {v}" for k, v in probe["collection_sizes"].items())
        out.append(f"database after the run: {sizes}")
        for label, ms in probe.get("median_ms", {}).items():
            out.append(f"  {ms:8.2f} ms  {label}")
        out.append("")
    out.append("targets")
    target_rows = [
        [
            t["scenario"],
            t["name"],
            t["target"],
            _fmt(t["measured"]),
            "met" if t["met"] else "MISSED",
        ]
        for t in report["targets"]
    ]
    out.append(_table(["scenario", "target", "wanted", "measured", "result"], target_rows))
    return "\n".join(out)
