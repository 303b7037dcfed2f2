"""`python -m bench`: start the platform, run the selected scenarios (each `--repeat` times on
a fresh database), report the median of every figure against its target, and save."""

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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from photochanger_devstack import ferretdb, kafka, replicas
from photochanger_devstack.stack import SERVICES

from bench import dbtrace, targets
from bench import report as reporting
from bench.db import Database
from bench.payloads import PhotoFactory
from bench.photos import PRESETS, file_photo, preset_photo
from bench.runner import (
    DEFAULT_SCENARIOS,
    SCALED_SERVICE,
    SCENARIOS,
    Session,
    run_scenario,
    scenario_params,
)
from bench.stackrun import BENCH_ENV, EMULATOR_RENDER_ENV, GEMINI_CONCURRENCY_ENV, running_platform
from bench.verify import DEFAULT_DEADLINE_SECONDS

OVERHEAD_METHOD = (
    "overhead = end-to-end latency (client send -> last byte of the 200 answer) minus the "
    "median of direct generateContent calls to the Gemini emulator (the slot's model and "
    "prompt, a photo like the load's, sent over the public wire format), made on the idle "
    "stack right before each scenario run. 'per job' instead subtracts each job's provider "
    "call as the provider service logged it (processing log duration_ms), which also removes "
    "the emulator's own slowdown under load."
)
CPU_METHOD = (
    "utime+stime (+ the times of waited-for children) from /proc of every process of each "
    "stack process's process group, plus PostgreSQL's postmaster and descendants when present; "
    "between a snapshot right before the load and one 1 s after the last answer; divided by "
    "the number of ingests answered. 'server' = api, dispatcher, providers, ttl-reaper, Kafka "
    "and the database server (FerretDB, PostgreSQL); emulators and the load generator (this "
    "process) are reported apart. 'idle' = the same per second over an idle window just before "
    "the load."
)


def _checkpoints(text: str) -> list[int]:
    try:
        values = sorted({int(v.replace("_", "")) for v in text.split(",") if v.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError("a comma-separated list of job counts") from None
    if not values or values[0] <= 0:
        raise argparse.ArgumentTypeError("job counts must be positive")
    return values


def _counts(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("a comma-separated list of replica counts") from None
    if not values or not all(1 <= v <= replicas.MAX_REPLICAS for v in values):
        raise argparse.ArgumentTypeError(f"replica counts are 1 to {replicas.MAX_REPLICAS}")
    return values


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument(
        "--scenarios",
        default=",".join(DEFAULT_SCENARIOS),
        help="comma-separated subset of: " + ", ".join(SCENARIOS),
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="run each scenario this many times, each on a fresh database with every service "
        "restarted; figures are the medians (default 3)",
    )
    photo = p.add_mutually_exclusive_group()
    photo.add_argument(
        "--photo-preset",
        choices=sorted(PRESETS),
        default="default",
        help="default: 3000x2000 JPEG of ~630 kB; large: 6000x4000 of ~4.5 MB; tiny: the old "
        "64x64 PNG (generated once, cached in .state/bench/)",
    )
    photo.add_argument("--photo", type=Path, help="use this file as the photo (JPEG or PNG)")
    p.add_argument(
        "--emulator-render",
        choices=("fixed", "full"),
        default="fixed",
        help="Gemini emulator answers: fixed = one pre-rendered 1024-px PNG, the input is not "
        "decoded (an instant provider); full = rendered from each photo (default fixed)",
    )
    p.add_argument("--sequential", type=int, default=100, help="requests in `sequential`")
    p.add_argument("--burst-size", type=int, default=20, help="concurrent requests per burst")
    p.add_argument("--burst-rounds", type=int, default=5)
    p.add_argument("--rate", type=float, default=20.0, help="open-loop arrivals per second")
    p.add_argument("--rate-seconds", type=float, default=60.0)
    p.add_argument("--clients", type=int, default=64, help="closed-loop concurrent clients")
    p.add_argument("--throughput-seconds", type=float, default=30.0)
    p.add_argument(
        "--growth-jobs",
        dest="growth_checkpoints",
        type=_checkpoints,
        default=[2000, 5000],
        help="store this many jobs (comma-separated checkpoints, e.g. 500 or 2000,5000) and "
        "rerun the sequential ingests at each (default 2000,5000)",
    )
    p.add_argument("--growth-clients", type=int, default=32, help="concurrency of the fill")
    p.add_argument(
        "--growth-sequential",
        type=int,
        default=None,
        help="sequential requests at each growth checkpoint (default: --sequential)",
    )
    p.add_argument("--growth-max-seconds", type=float, default=1800.0, help="bound of one fill")
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
        help="emulator delay (directive slow=S in the photo) in the connections scenario",
    )
    p.add_argument(
        "--connections-provider-concurrency",
        type=int,
        default=1200,
        help="provider-gemini max_concurrent_jobs for the connections scenario "
        "(restarts provider-gemini; 0 keeps the configured value)",
    )
    p.add_argument(
        "--replicas",
        default=os.environ.get(replicas.ENV_REPLICAS, ""),
        help='processes per service for the whole run, e.g. "api=2,provider-gemini=3" '
        f"(default ${replicas.ENV_REPLICAS}; every service once)",
    )
    p.add_argument(
        "--provider-replicas",
        dest="provider_replica_counts",
        type=_counts,
        default=[1, 3],
        help=f"provider-replicas scenario: the {SCALED_SERVICE} replica counts measured, in "
        "order (default 1,3)",
    )
    p.add_argument(
        "--slow-provider-seconds",
        type=float,
        default=4.0,
        help="provider-replicas scenario: every provider call held this long (slow=S)",
    )
    p.add_argument(
        "--slow-provider-concurrency",
        type=int,
        default=8,
        help="provider-replicas scenario: max_concurrent_jobs of each provider-gemini replica",
    )
    p.add_argument(
        "--slow-provider-clients",
        type=int,
        default=36,
        help="provider-replicas scenario: closed-loop clients (more than the replicas take)",
    )
    p.add_argument(
        "--slow-provider-window",
        type=float,
        default=30.0,
        help="provider-replicas scenario: seconds of load per replica count",
    )
    p.add_argument(
        "--idle-seconds",
        type=float,
        default=3.0,
        help="idle window before each load phase: background CPU (and commands) per second",
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
    p.add_argument(
        "--postgres-pidfile",
        action="append",
        default=[],
        help="a PostgreSQL postmaster.pid whose processes count as the database server "
        "(found by itself under the local infrastructure's state directory)",
    )
    p.add_argument("--label", default="", help="added to the result file's name")
    p.add_argument("--no-save", action="store_true", help="do not write bench/results/")
    p.add_argument(
        "--keep-state",
        action="store_true",
        help="keep the temporary state directory with every service's log (and every "
        "scenario's database)",
    )
    args = p.parse_args(argv)
    args.scenario_list = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(args.scenario_list) - set(SCENARIOS)
    if unknown:
        p.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    if args.repeat < 1:
        p.error("--repeat must be at least 1")
    if args.growth_sequential is None:
        args.growth_sequential = args.sequential
    try:  # a malformed count is refused before anything starts
        args.replica_counts = replicas.parse_replicas(args.replicas, SERVICES)
    except replicas.ReplicasError as exc:
        p.error(str(exc))
    return args


def _raise_fd_limit(wanted: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        new = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        soft = new
    return soft


def _emulator_render(url: str) -> str:
    try:
        return str(httpx.get(f"{url}/_emulator/health", timeout=5.0).json().get("render", "?"))
    except (httpx.HTTPError, ValueError):
        return "?"


async def _drop(uri: str, name: str) -> None:
    async with Database(uri, name) as db:
        await db.drop()


def _one_line(name: str, result: dict[str, Any]) -> str:
    f = result["figures"]
    if name == "growth":
        parts = [f"{k} {v}" for k, v in f.items() if k.startswith(("overhead_p50", "stored"))]
        return "  " + ", ".join(parts)
    if name == "provider-replicas":
        return "  " + ", ".join(f"{k} {v}" for k, v in f.items())
    return (
        f"  {f.get('requests')} requests, non-200 {f.get('non_200')}, overhead p50/p95 "
        f"{f.get('overhead_p50_ms')}/{f.get('overhead_p95_ms')} ms, "
        f"{f.get('throughput_jobs_per_s')} jobs/s, server CPU {f.get('server_cpu_ms_per_ingest')} "
        f"ms/ingest (database {f.get('db_cpu_ms_per_ingest')}), lost {f.get('lost')}, "
        f"duplicated {f.get('duplicated')}"
    )


def _run_all(
    args: argparse.Namespace,
    report: dict[str, Any],
    photos: PhotoFactory,
    extra_env: dict[str, str],
    trace_dir: Path | None,
    t0: float,
) -> None:
    with running_platform(
        extra_env=extra_env, keep_state=args.keep_state, replicas=args.replica_counts
    ) as platform:
        print(f"stack up in {time.monotonic() - t0:.1f} s ({platform.infra.describe()})")
        stack = platform.stack
        render = _emulator_render(stack.url("emulator-gemini"))
        report["settings"]["emulator_render_reported"] = render
        print(f"Gemini emulator render mode: {render}")
        session = Session(platform=platform, photos=photos, args=args, trace_dir=trace_dir)
        first = True
        for repetition in range(1, args.repeat + 1):
            for name in args.scenario_list:
                before_env = stack.env.get(GEMINI_CONCURRENCY_ENV)
                if name == "connections" and args.connections_provider_concurrency:
                    stack.env[GEMINI_CONCURRENCY_ENV] = str(args.connections_provider_concurrency)
                elif name == "provider-replicas":
                    stack.env[GEMINI_CONCURRENCY_ENV] = str(args.slow_provider_concurrency)
                else:
                    stack.env.pop(GEMINI_CONCURRENCY_ENV, None)
                if not first and not args.shared_database:
                    took, old = platform.fresh_database()
                    print(f"all services restarted on an empty database in {took:.1f} s")
                    if not args.keep_state:
                        asyncio.run(_drop(platform.infra.mongodb_uri, old))
                elif stack.env.get(GEMINI_CONCURRENCY_ENV) != before_env:
                    took = platform.restart("provider-gemini", {})
                    print(f"provider-gemini restarted in {took:.1f} s")
                first = False
                print(
                    f"[{repetition}/{args.repeat}] scenario {name}: "
                    f"{scenario_params(name, args)} ...",
                    flush=True,
                )
                started = time.monotonic()
                result = asyncio.run(run_scenario(session, name))
                result["seconds"] = round(time.monotonic() - started, 1)
                report["runs"].append({"repetition": repetition, "scenario": name, **result})
                print(_one_line(name, result) + f" ({result['seconds']} s)", flush=True)


def _summarize(report: dict[str, Any], args: argparse.Namespace) -> None:
    report["scenarios"] = {}
    report["targets"] = []
    for name in args.scenario_list:
        runs = [r for r in report["runs"] if r["scenario"] == name]
        if not runs:
            continue
        figures = targets.aggregate([r["figures"] for r in runs])
        report["scenarios"][name] = {
            "params": runs[0]["params"],
            "runs": len(runs),
            "figures": figures,
        }
        report["targets"].extend(targets.evaluate(name, figures, connections=args.connections))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    fd_limit = _raise_fd_limit(max(args.connections, args.clients, 1000) * 2 + 1024)
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    command = "uv run python -m bench " + shlex.join(sys.argv[1:] if argv is None else argv)
    base, photo_info = file_photo(args.photo) if args.photo else preset_photo(args.photo_preset)
    photos = PhotoFactory(base)
    print(f"photo: {photo_info['pixels']} {photo_info['kind']}, {photo_info['bytes']:,} bytes "
          f"({photo_info['source']})")  # fmt: skip
    report: dict[str, Any] = {
        "benchmark": "photochanger end-to-end",
        "started_at": started_at,
        "command": command.strip(),
        "machine": reporting.machine_info(),
        "git": reporting.git_info(),
        "infrastructure": {
            "kafka": kafka.KAFKA_VERSION,
            "ferretdb": f"{ferretdb.FERRETDB_VERSION} (SQLite backend)",
            "mongodb_uri_from_env": bool(os.environ.get("PHOTOCHANGER_MONGODB_URI")),
        },
        "settings": {
            "env_for_every_scenario": {**BENCH_ENV, EMULATOR_RENDER_ENV: args.emulator_render},
            "fd_limit": fd_limit,
            "slot": "slot-001 (gemini, emulator)",
            "photo": photo_info,
            "photo_uniqueness": "a JPEG comment (COM) 'bench-id: <uuid>' after SOI, or a PNG "
            "tEXt chunk after IHDR: no re-encoding",
            "repeat": args.repeat,
            "scenarios": args.scenario_list,
            "idle_seconds": args.idle_seconds,
            "default_job_deadline_s": DEFAULT_DEADLINE_SECONDS,
            "replicas": args.replica_counts,
        },
        "methods": {"overhead": OVERHEAD_METHOD, "cpu": CPU_METHOD},
        "runs": [],
    }
    t0 = time.monotonic()
    extra_env: dict[str, str] = {EMULATOR_RENDER_ENV: args.emulator_render}
    trace_dir: Path | None = None
    if args.db_trace:
        trace_dir = Path(tempfile.mkdtemp(prefix="photochanger-bench-dbtrace-"))
        extra_env.update(dbtrace.env(trace_dir, os.environ.get("PYTHONPATH")))
        report["settings"]["db_trace"] = "on: pymongo command monitoring in every service"
    failure: BaseException | None = None
    try:
        _run_all(args, report, photos, extra_env, trace_dir, t0)
    except (Exception, KeyboardInterrupt) as exc:  # report what was measured, then re-raise
        failure = exc
        report["incomplete"] = f"{type(exc).__name__}: {exc}"
    finally:
        if trace_dir is not None:
            shutil.rmtree(trace_dir, ignore_errors=True)
    report["total_seconds"] = round(time.monotonic() - t0, 1)
    _summarize(report, args)
    print()
    print(reporting.render(report))
    if not args.no_save and report["runs"]:
        path = reporting.write_results(report, label=args.label)
        print(f"\nresults: {path} (and {path.parent / 'latest.json'})")
    print(f"total: {report['total_seconds']:.0f} s")
    if failure is not None:
        raise failure
    return 0
