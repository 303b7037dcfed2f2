"""`python -m bench`: start the platform, run the selected scenarios, report and save."""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import shlex
import shutil
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from photochanger_devstack import ferretdb, kafka
from photochanger_runtime.config import repository_root
from photochanger_runtime.providers.catalog import load_catalog
from pymongo import AsyncMongoClient

from bench import dbtrace
from bench import report as reporting
from bench.baseline import emulator_baseline
from bench.payloads import PhotoFactory
from bench.procfs import cpu_snapshot, cpu_used, rss_mb
from bench.scenarios import Run, Target, closed_loop, many_waiting, open_loop, warm_up
from bench.stackrun import BENCH_ENV, GEMINI_CONCURRENCY_ENV, Platform, running_platform
from bench.stats import summarize
from bench.storage import probe
from bench.verify import HOP_NOTES, Verification, verify

SCENARIOS = ("rate", "throughput", "connections")

OVERHEAD_METHOD = (
    "overhead = end-to-end latency (client send -> last byte of the 200 answer) minus the "
    "median of direct generateContent calls to the Gemini emulator, made with the provider's "
    "own adapter and a photo like the load's, on the idle stack before the scenarios (the "
    "emulator reports no timings of its own). 'per job' instead subtracts each job's provider "
    "call as the provider service timed it (processing log 'submitted'.duration_ms), which "
    "also removes the emulator's own slowdown under load."
)


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help="comma-separated subset of: " + ", ".join(SCENARIOS),
    )
    p.add_argument("--rate", type=float, default=20.0, help="open-loop arrivals per second")
    p.add_argument("--rate-seconds", type=float, default=30.0)
    p.add_argument("--clients", type=int, default=64, help="closed-loop concurrent clients")
    p.add_argument("--throughput-seconds", type=float, default=30.0)
    p.add_argument(
        "--connections",
        type=int,
        default=1000,
        help="simultaneously waiting requests in the connections scenario",
    )
    p.add_argument(
        "--connections-ramp-seconds",
        type=float,
        default=20.0,
        help="spread the connections scenario's requests evenly over this many seconds "
        "(0: all at once)",
    )
    p.add_argument(
        "--slow-seconds",
        type=float,
        default=30.0,
        help="emulator delay (PNG `emulate` chunk slow=S) in the connections scenario",
    )
    p.add_argument(
        "--connections-provider-concurrency",
        type=int,
        default=1200,
        help="provider-gemini max_concurrent_jobs for the connections scenario "
        "(restarts provider-gemini; 0 keeps the configured value)",
    )
    p.add_argument(
        "--shared-database",
        action="store_true",
        help="run every scenario on the same database (default: a new empty one each, "
        "with all services restarted)",
    )
    p.add_argument(
        "--db-trace",
        action="store_true",
        help="count and time every MongoDB command in every service (pymongo command "
        "monitoring loaded through PYTHONPATH=bench/inject; adds a little overhead)",
    )
    p.add_argument("--baseline-samples", type=int, default=50)
    p.add_argument("--image-side", type=int, default=64, help="photo edge in pixels (PNG)")
    p.add_argument("--no-save", action="store_true", help="do not write bench/results/")
    p.add_argument(
        "--keep-state",
        action="store_true",
        help="keep the temporary state directory with every service's log",
    )
    args = p.parse_args(argv)
    args.scenario_list = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(args.scenario_list) - set(SCENARIOS)
    if unknown:
        p.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    return args


def _raise_fd_limit(wanted: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        soft = new
    return soft


async def _baseline(platform: Platform, photos: PhotoFactory, samples: int) -> dict[str, Any]:
    config = load_catalog(repository_root() / "configs" / "providers.json", platform.stack.env).get(
        "gemini"
    )
    assert config is not None
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(platform.infra.mongodb_uri)
    try:
        slot = await client[platform.database]["slots"].find_one({"_id": "slot-001"})
    finally:
        await client.close()
    if slot is None:
        raise RuntimeError("slot-001 is not seeded")
    summary, _ = await emulator_baseline(config, slot, photos, samples=samples)
    return {"method": OVERHEAD_METHOD, "samples": samples, "emulator_call_ms": summary}


async def _load(name: str, args: argparse.Namespace, target: Target, photos: PhotoFactory) -> Run:
    if name == "rate":
        return await open_loop(target, photos, rate=args.rate, seconds=args.rate_seconds)
    if name == "throughput":
        return await closed_loop(
            target, photos, clients=args.clients, seconds=args.throughput_seconds
        )
    return await many_waiting(
        target,
        photos,
        connections=args.connections,
        slow_seconds=args.slow_seconds,
        ramp_seconds=args.connections_ramp_seconds,
    )


def _throughput(name: str, run: Run) -> float | None:
    ok = [r for r in run.results if r.ok]
    if not ok:
        return None
    if name == "throughput":  # answers received within the load window
        in_window = [r for r in ok if r.done <= run.started + run.window]
        return round(len(in_window) / run.window, 1)
    first = min(r.sent for r in run.results)
    return round(len(ok) / max(1e-6, run.ended - first), 1)


def _scenario_report(
    name: str,
    params: dict[str, Any],
    run: Run,
    checked: Verification,
    baseline_p50: float,
    cpu: dict[str, float],
    rss_start: float | None,
    api_pid: int,
) -> dict[str, Any]:
    ok = [r for r in run.results if r.ok]
    statuses = Counter(str(r.status) if r.status is not None else f"no answer ({r.error})"
                       for r in run.results)  # fmt: skip
    latency = [r.latency_ms for r in ok]
    wall = max(1e-6, run.ended - run.started)
    return {
        "params": params,
        "requests": len(run.results) + run.abandoned,
        "abandoned_by_client": run.abandoned,
        "status_counts": dict(sorted(statuses.items())),
        "errors_by_status": {k: v for k, v in sorted(statuses.items()) if k != "200"},
        "error_samples": _error_samples(run),
        "wall_seconds": round(wall, 1),
        "throughput_jobs_per_s": _throughput(name, run),
        "latency_ms": summarize(latency),
        "overhead_ms": summarize([v - baseline_p50 for v in latency]),
        "overhead_per_job_ms": checked.overhead_per_job_ms,
        "provider_call_ms": checked.provider_call_ms,
        "send_lag_ms": summarize([r.send_lag * 1000 for r in run.results])
        if name == "rate"
        else None,
        "lost": checked.lost,
        "lost_detail": checked.lost_detail,
        "duplicated": checked.duplicated,
        "duplicated_detail": checked.duplicated_detail,
        "jobs_found": checked.jobs_found,
        "job_outcomes": checked.outcomes,
        "provider_submissions": checked.submissions_for_run,
        "jobs_with_full_processing_log": checked.jobs_with_full_log,
        "finality_wait_s": checked.finality_wait_s,
        "hops_ms": checked.hops_ms,
        "api_rss_mb": {
            "start": rss_start,
            "peak_sampled": run.rss.peak_mb,
            "end": rss_mb(api_pid),
            "process_peak_vmhwm": rss_mb(api_pid, "VmHWM"),
            "samples": len(run.rss.samples),
        },
        "waiting_peak": run.waiting_peak,
        "waiting_goal_reached_after_s": (
            round(run.waiting_goal_reached_after, 2)
            if run.waiting_goal_reached_after is not None
            else None
        ),
        "waiting_timeline": [(round(t, 1), v) for t, v in run.waiting_samples][::5],
        "cpu_seconds": cpu,
    }


def _targets(name: str, s: dict[str, Any], args: argparse.Namespace) -> list[dict[str, Any]]:
    def t(label: str, wanted: str, measured: Any, met: bool) -> dict[str, Any]:
        return {"scenario": name, "name": label, "target": wanted, "measured": measured,
                "met": bool(met)}  # fmt: skip

    integrity = [
        t("lost jobs", "0", s["lost"], s["lost"] == 0),
        t("duplicated jobs", "0", s["duplicated"], s["duplicated"] == 0),
    ]
    if name == "rate":
        p50, p95 = s["overhead_ms"]["p50"], s["overhead_ms"]["p95"]
        return [
            t("overhead p50 (ms)", "<= 30", p50, p50 is not None and p50 <= 30),
            t("overhead p95 (ms)", "<= 100", p95, p95 is not None and p95 <= 100),
            *integrity,
        ]
    if name == "throughput":
        jps = s["throughput_jobs_per_s"]
        return [t("sustained jobs/s", ">= 100", jps, jps is not None and jps >= 100), *integrity]
    peak = s["waiting_peak"]
    rss = s["api_rss_mb"]["peak_sampled"]
    return [
        t("simultaneously waiting", f">= {args.connections}", peak,
          peak is not None and peak >= args.connections),
        t("api peak RSS (MB)", "< 300", rss, rss is not None and rss < 300),
        *integrity,
    ]  # fmt: skip


def _error_samples(run: Run, per_status: int = 2) -> dict[str, list[str]]:
    samples: dict[str, list[str]] = {}
    for result in run.results:
        if result.ok:
            continue
        key = str(result.status)
        text = result.error or ""
        bucket = samples.setdefault(key, [])
        if len(bucket) < per_status and text not in bucket:
            bucket.append(text)
    return samples


def _params(name: str, args: argparse.Namespace) -> dict[str, Any]:
    if name == "rate":
        return {"rate_per_s": args.rate, "seconds": args.rate_seconds}
    if name == "throughput":
        return {"clients": args.clients, "seconds": args.throughput_seconds}
    return {
        "connections": args.connections,
        "emulate": f"slow={args.slow_seconds:g}",
        "ramp_seconds": args.connections_ramp_seconds,
        "provider_gemini_max_concurrent_jobs": args.connections_provider_concurrency or None,
    }


def _run_all(
    args: argparse.Namespace,
    report: dict[str, Any],
    photos: PhotoFactory,
    extra_env: dict[str, str],
    trace_dir: Path | None,
    t0: float,
) -> None:
    with running_platform(extra_env=extra_env, keep_state=args.keep_state) as platform:
        print(f"stack up in {time.monotonic() - t0:.1f} s ({platform.infra.describe()})")
        stack = platform.stack
        target = Target(
            api_url=stack.api_url,
            password=stack.ingest_password,
            api_pid=stack.processes["api"].pid,
        )
        print(f"warm-up: {asyncio.run(warm_up(target, photos))}")
        report["baseline"] = asyncio.run(_baseline(platform, photos, args.baseline_samples))
        base_p50 = float(report["baseline"]["emulator_call_ms"]["p50"] or 0.0)
        print(f"emulator baseline p50 {base_p50:.1f} ms")
        for number, name in enumerate(args.scenario_list):
            before_env = stack.env.get(GEMINI_CONCURRENCY_ENV)
            if name == "connections" and args.connections_provider_concurrency:
                stack.env[GEMINI_CONCURRENCY_ENV] = str(args.connections_provider_concurrency)
            else:
                stack.env.pop(GEMINI_CONCURRENCY_ENV, None)
            concurrency_changed = stack.env.get(GEMINI_CONCURRENCY_ENV) != before_env
            if number > 0 and not args.shared_database:
                took = platform.fresh_database()
                print(f"all services restarted on an empty database in {took:.1f} s")
            elif concurrency_changed:
                took = platform.restart("provider-gemini", {})
                print(f"provider-gemini restarted in {took:.1f} s")
            target.api_pid = stack.processes["api"].pid
            print(f"scenario {name}: {_params(name, args)} ...", flush=True)
            warm = asyncio.run(warm_up(target, photos))
            print(f"  warm-up: {warm}", flush=True)
            groups = platform.process_groups()
            rss_start = rss_mb(target.api_pid)
            if trace_dir is not None:
                time.sleep(1.2)  # the services write their totals once a second
            db_before, _ = dbtrace.snapshot(trace_dir) if trace_dir else ({}, {})
            before = cpu_snapshot(groups)
            run = asyncio.run(_load(name, args, target, photos))
            cpu = cpu_used(before, cpu_snapshot(groups))
            if trace_dir is not None:
                time.sleep(1.2)
            db_after, modules = dbtrace.snapshot(trace_dir) if trace_dir else ({}, {})
            checked = asyncio.run(
                verify(
                    run.results,
                    mongodb_uri=platform.infra.mongodb_uri,
                    database=platform.database,
                    emulator_url=stack.url("emulator-gemini"),
                )
            )
            summary = _scenario_report(
                name, _params(name, args), run, checked, base_p50, cpu, rss_start, target.api_pid
            )
            summary["warm_up"] = warm
            if trace_dir is not None:
                summary["db_commands"] = dbtrace.difference(
                    db_before, db_after, modules, checked.jobs_found
                )
            report["scenarios"][name] = summary
            report["targets"].extend(_targets(name, summary, args))
            print(
                f"  {summary['requests']} requests, {summary['throughput_jobs_per_s']} jobs/s, "
                f"e2e p50 {summary['latency_ms']['p50']} ms, lost {summary['lost']}, "
                f"duplicated {summary['duplicated']}",
                flush=True,
            )
        report["storage_probe"] = asyncio.run(probe(platform.infra.mongodb_uri, platform.database))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    fd_limit = _raise_fd_limit(args.connections * 2 + 1024)
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    command = "uv run python -m bench " + shlex.join(sys.argv[1:] if argv is None else argv)
    photos = PhotoFactory(args.image_side)
    report: dict[str, Any] = {
        "benchmark": "photochanger end-to-end",
        "started_at": started_at,
        "command": command.strip(),
        "machine": reporting.machine_info(),
        "git": reporting.git_info(),
        "infrastructure": {
            "kafka": kafka.KAFKA_VERSION,
            "ferretdb": f"{ferretdb.FERRETDB_VERSION} ({ferretdb.backend_from_env()} backend)",
        },
        "settings": {
            "env_for_every_scenario": BENCH_ENV,
            "fd_limit": fd_limit,
            "slot": "slot-001 (gemini, gemini-2.5-flash-image, emulator)",
            "photo": f"{args.image_side}x{args.image_side} PNG with a unique tEXt chunk",
        },
        "hop_notes": HOP_NOTES,
        "scenarios": {},
        "targets": [],
    }
    t0 = time.monotonic()
    extra_env: dict[str, str] = {}
    trace_dir: Path | None = None
    if args.db_trace:
        trace_dir = Path(tempfile.mkdtemp(prefix="photochanger-bench-dbtrace-"))
        pythonpath = os.environ.get("PYTHONPATH")
        extra_env = {
            "PHOTOCHANGER_BENCH_DBTRACE_DIR": str(trace_dir),
            "PYTHONPATH": os.pathsep.join(p for p in (str(dbtrace.INJECT_DIR), pythonpath) if p),
        }
        report["settings"]["db_trace"] = "on: pymongo command monitoring in every service"
    try:
        _run_all(args, report, photos, extra_env, trace_dir, t0)
    finally:
        if trace_dir is not None:
            shutil.rmtree(trace_dir, ignore_errors=True)
    report["total_seconds"] = round(time.monotonic() - t0, 1)
    print()
    print(reporting.render(report))
    if not args.no_save:
        path = reporting.write_results(report)
        print(f"\nresults: {path} (and {path.parent / 'latest.json'})")
    missed = [t for t in report["targets"] if not t["met"]]
    if missed:
        print(f"{len(missed)} target(s) MISSED: "
              + "; ".join(f"{t['scenario']}: {t['name']} {t['measured']} (wanted {t['target']})"
                          for t in missed))  # fmt: skip
    return 0
