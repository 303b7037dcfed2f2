"""The human-readable table on stdout and the JSON file in bench/results/."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
    status = _git("status", "--porcelain", "--", ".", ":(exclude)bench/results")
    return {
        "commit": _git("rev-parse", "HEAD"),
        "dirty": bool(status) if status is not None else None,
    }


def write_results(report: dict[str, Any], directory: Path = RESULTS_DIR, label: str = "") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    text = json.dumps(report, indent=2, sort_keys=False, ensure_ascii=False) + "\n"
    suffix = f"-{label}" if label else ""
    path = directory / f"{stamp}{suffix}.json"
    path.write_text(text)
    (directory / "latest.json").write_text(text)
    return path


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if value.is_integer():
            return f"{value:,.0f}"
        return f"{value:,.3g}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(header)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend("  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip() for r in rows)
    return "\n".join(lines)


def _median(values: list[Any]) -> float | None:
    present = [float(v) for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    return round(statistics.median(present), 3) if present else None


#: figures shown for every scenario, in this order (growth shows all of its own)
FIGURES: tuple[tuple[str, str], ...] = (
    ("requests", "requests"),
    ("non_200", "answers other than 200"),
    ("rounds_all_200", "rounds with every answer 200"),
    ("throughput_jobs_per_s", "jobs/s (200 answers)"),
    ("latency_p50_ms", "end-to-end p50 (ms)"),
    ("latency_p95_ms", "end-to-end p95 (ms)"),
    ("latency_p99_ms", "end-to-end p99 (ms)"),
    ("overhead_p50_ms", "overhead p50 (ms)"),
    ("overhead_p95_ms", "overhead p95 (ms)"),
    ("overhead_p99_ms", "overhead p99 (ms)"),
    ("overhead_per_job_p50_ms", "overhead per job p50 (ms)"),
    ("overhead_per_job_p95_ms", "overhead per job p95 (ms)"),
    ("server_cpu_ms_per_ingest", "server CPU per ingest (ms)"),
    ("server_cpu_ms_per_ingest_net_of_idle", "  of which not idle background (ms)"),
    ("db_cpu_ms_per_ingest", "database CPU per ingest (ms)"),
    ("emulator_cpu_ms_per_ingest", "emulators CPU per ingest (ms, apart)"),
    ("load_generator_cpu_ms_per_ingest", "load generator CPU per ingest (ms, apart)"),
    ("other_processes_cpu_ms_per_ingest", "other work on the machine (ms, disturbs)"),
    ("db_commands_per_ok_job", "MongoDB commands per 200 job"),
    ("api_rss_peak_mb", "api RSS peak (MB)"),
    ("waiting_peak", "waiting requests peak"),
    ("lost", "lost jobs"),
    ("duplicated", "duplicated jobs"),
)


def _figure_rows(
    name: str, info: dict[str, Any], checks: dict[str, dict[str, Any]]
) -> list[list[str]]:
    figures: dict[str, dict[str, Any]] = info["figures"]
    labels = dict(FIGURES)
    keys = list(figures) if name == "growth" else [k for k, _ in FIGURES if k in figures]
    rows = []
    for key in keys:
        entry = figures[key]
        check = checks.get(key)
        runs = entry["runs"]
        rows.append(
            [
                labels.get(key, key),
                _fmt(entry["median"]),
                " / ".join(_fmt(v) for v in runs) if len(runs) > 1 else "",
                check["target"] if check else "",
                ("MET" if check["met"] else "MISSED") if check else "",
            ]
        )
    return rows


def _columns(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(column label, scenario, phase) for every phase measured, in run order."""
    columns: list[tuple[str, str, str]] = []
    for run in report["runs"]:
        for phase in run.get("phases", {}):
            label = run["scenario"] if phase == run["scenario"] else f"{run['scenario']}:{phase}"
            if (label, run["scenario"], phase) not in columns:
                columns.append((label, run["scenario"], phase))
    return columns


def _phase_values(report: dict[str, Any], scenario: str, phase: str, pick: Any) -> float | None:
    values = []
    for run in report["runs"]:
        if run["scenario"] == scenario and phase in run.get("phases", {}):
            values.append(pick(run["phases"][phase]))
    return _median(values)


def _dig(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _cpu_table(report: dict[str, Any], columns: list[tuple[str, str, str]]) -> str:
    names: list[str] = []
    categories: dict[str, str] = {}
    for run in report["runs"]:
        for phase in run.get("phases", {}).values():
            for name, category in phase["cpu"]["categories"].items():
                if name not in names:
                    names.append(name)
                categories[name] = category
    order = {"platform": 0, "database": 1, "emulator": 2, "client": 3, "machine": 4}
    names.sort(key=lambda n: (order.get(categories[n], 9), n))
    rows = []
    for name in names:
        tag = {"database": " [db]", "emulator": " (apart)", "client": " (apart)"}.get(
            categories[name], ""
        )
        rows.append([name + tag, *(
            _fmt(_phase_values(report, s, p, lambda ph, n=name: ph["cpu"]["ms_per_ingest"].get(n)))
            for _, s, p in columns
        )])  # fmt: skip
    for label, key in (
        ("= server (sum, no emulators/client)", "platform_ms_per_ingest"),
        ("= database server", "database_ms_per_ingest"),
    ):
        rows.append([label, *(
            _fmt(_phase_values(report, s, p, lambda ph, k=key: ph["cpu"].get(k)))
            for _, s, p in columns
        )])  # fmt: skip
    rows.append(["idle: server CPU-s per second", *(
        _fmt(_phase_values(report, s, p,
                           lambda ph: ph["cpu"].get("idle_platform_cpu_seconds_per_second")))
        for _, s, p in columns
    )])  # fmt: skip
    return _table(["CPU ms per ingest answered", *(c[0] for c in columns)], rows)


def _hops_table(report: dict[str, Any], columns: list[tuple[str, str, str]]) -> str | None:
    hops: list[str] = []
    for run in report["runs"]:
        for phase in run.get("phases", {}).values():
            for hop in phase.get("hops_ms", {}):
                if hop not in hops:
                    hops.append(hop)
    if not hops:
        return None
    rows = []
    for hop in hops:
        cells = []
        for _, s, p in columns:
            p50 = _phase_values(report, s, p, lambda ph, h=hop: _dig(ph, "hops_ms", h, "p50"))
            p95 = _phase_values(report, s, p, lambda ph, h=hop: _dig(ph, "hops_ms", h, "p95"))
            cells.append(f"{_fmt(p50)} / {_fmt(p95)}" if p50 is not None else "")
        rows.append([hop, *cells])
    return _table(["hop (ms p50 / p95, 200 answers)", *(c[0] for c in columns)], rows)


def _db_table(report: dict[str, Any], columns: list[tuple[str, str, str]]) -> str | None:
    keys: list[str] = []
    services: list[str] = []
    for run in report["runs"]:
        for phase in run.get("phases", {}).values():
            db = phase.get("db_commands")
            if not db:
                continue
            keys.extend(k for k in db["by_command_per_ok_job"] if k not in keys)
            services.extend(k for k in db["by_service"] if k not in services)
    if not keys:
        return None
    rows = [["total per 200 job", *(
        _fmt(_phase_values(report, s, p, lambda ph: _dig(ph, "db_commands", "commands_per_ok_job")))
        for _, s, p in columns
    )]]  # fmt: skip
    rows.append(["  net of background", *(
        _fmt(_phase_values(report, s, p, lambda ph: _dig(
            ph, "db_commands", "commands_per_ok_job_net_of_background")))
        for _, s, p in columns
    )])  # fmt: skip
    rows.append(["background commands/s (idle)", *(
        _fmt(_phase_values(report, s, p, lambda ph: _dig(
            ph, "db_commands", "background_commands_per_s")))
        for _, s, p in columns
    )])  # fmt: skip
    for service in services:
        rows.append([f"service {service}", *(
            _fmt(_phase_values(report, s, p, lambda ph, sv=service: _dig(
                ph, "db_commands", "by_service", sv, "commands_per_ok_job")))
            for _, s, p in columns
        )])  # fmt: skip
    for key in keys:
        rows.append([f"  {key}", *(
            _fmt(_phase_values(report, s, p, lambda ph, k=key: _dig(
                ph, "db_commands", "by_command_per_ok_job", k)))
            for _, s, p in columns
        )])  # fmt: skip
    return _table(["MongoDB commands per 200 job", *(c[0] for c in columns)], rows)


def render(report: dict[str, Any]) -> str:
    machine = report["machine"]
    photo = report["settings"]["photo"]
    out = [
        f"PhotoChanger benchmark - {report['started_at']}",
        f"command: {report['command']}",
        f"machine: {machine['nproc']} CPUs ({machine['cpu_model']}), {machine['memory_mb']} MB, "
        f"Python {machine['python']}; git {(report['git'].get('commit') or '?')[:10]}"
        f"{' (dirty)' if report['git'].get('dirty') else ''}",
        f"photo: {photo.get('pixels')} {photo.get('kind')}, {photo.get('bytes'):,} bytes; Gemini "
        f"emulator render: {report['settings'].get('emulator_render_reported', '?')}; "
        f"figures are medians of {report['settings']['repeat']} run(s) (values per run after)",
    ]
    if report.get("incomplete"):
        out.append(f"INCOMPLETE: {report['incomplete']}")
    out.append("")
    checks_by: dict[str, dict[str, dict[str, Any]]] = {}
    for check in report["targets"]:
        checks_by.setdefault(check["scenario"], {})[check["figure"]] = check
    for name, info in report["scenarios"].items():
        baselines = [
            _dig(r, "baseline", "emulator_call_ms", "p50")
            for r in report["runs"]
            if r["scenario"] == name
        ]
        out.append(
            f"== {name} {info['params']}  (emulator call p50, the overhead baseline: "
            f"{' / '.join(_fmt(b) for b in baselines)} ms)"
        )
        out.append(
            _table(
                ["figure", "median", "runs", "target", "result"],
                _figure_rows(name, info, checks_by.get(name, {})),
            )
        )
        out.append("")
    columns = _columns(report)
    if columns:
        out.append("CPU per ingest by process (medians; [db] = database server; 'apart' = not in")
        out.append("the server sum); CPU-s from /proc divided by the ingests answered")
        out.append(_cpu_table(report, columns))
        out.append("")
        hops = _hops_table(report, columns)
        if hops:
            out.append(
                "per hop, from the processing log (first entry of each event, in time order)"
            )
            out.append(hops)
            out.append("")
        db = _db_table(report, columns)
        if db:
            out.append("MongoDB commands per successful job, every service (--db-trace)")
            out.append(db)
            out.append("")
    met = sum(1 for t in report["targets"] if t["met"])
    out.append(f"targets: {met} of {len(report['targets'])} met")
    for t in report["targets"]:
        if not t["met"]:
            measured = _fmt(t["measured"])
            out.append(f"  MISSED {t['scenario']}: {t['name']} {measured} (wanted {t['target']})")
    return "\n".join(out)
