"""One scenario run on the running platform: warm-up, baseline, an idle window, the load
phase(s), verification, and the figures the targets are checked against."""

from __future__ import annotations

import argparse
import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from photochanger_devstack.groups import wait_group_stable

from bench import dbtrace
from bench.baseline import emulator_baseline
from bench.db import Database
from bench.payloads import Photo, PhotoFactory
from bench.procfs import CLIENT, MACHINE, OTHERS, POSTGRES, CpuProbe, cpu_used, rss_mb
from bench.scenarios import (
    Run,
    Target,
    burst,
    closed_loop,
    many_waiting,
    open_loop,
    sequential,
    warm_up,
)
from bench.stackrun import Platform
from bench.stats import summarize
from bench.verify import verify

#: after a load phase, wait this long before the CPU and command totals are read: the last
#: jobs' tail work (log writes after the answer) belongs to the phase
SETTLE_SECONDS = 1.0

SCENARIOS = (
    "sequential", "burst", "rate", "throughput", "growth", "connections", "provider-replicas",
)  # fmt: skip
DEFAULT_SCENARIOS = ("sequential", "burst", "rate", "throughput", "growth", "provider-replicas")
#: the provider service the provider-replicas scenario scales (the load's slot is Gemini's)
SCALED_SERVICE = "provider-gemini"


@dataclass
class Session:
    """What every scenario run needs: the platform, the photos, the options."""

    platform: Platform
    photos: PhotoFactory
    args: argparse.Namespace
    trace_dir: Path | None

    @property
    def target(self) -> Target:
        stack = self.platform.stack
        return Target(
            api_url=stack.api_url,
            password=stack.ingest_password,
            api_pid=stack.processes["api"].pid,
        )

    def database(self) -> Database:
        return Database(self.platform.infra.mongodb_uri, self.platform.database)

    def probe(self) -> CpuProbe:
        extra = [Path(p) for p in self.args.postgres_pidfile]
        state = self.platform.infra.state_dir
        return CpuProbe(
            groups=self.platform.process_groups(),
            postgres_pid_files=[*self.platform.postgres_pid_files(), *extra],
            postgres_dirs=[state] if state is not None else [],
        )

    def category(self, name: str) -> str:
        """platform (database or not), emulator, client, or machine rows."""
        if name.startswith("emulator-"):
            return "emulator"
        if name == CLIENT:
            return "client"
        if name in (MACHINE, OTHERS):
            return "machine"
        if name == POSTGRES or name in self.platform.database_servers():
            return "database"
        return "platform"

    def trace(self) -> tuple[dbtrace.Totals, dict[str, str]]:
        return dbtrace.snapshot(self.trace_dir) if self.trace_dir else ({}, {})


# -- one measured load phase ----------------------------------------------------------------


def _pct(summary: Any, key: str) -> float | None:
    return summary.get(key) if summary else None


def _throughput(kind: str, run: Run) -> float | None:
    ok = [r for r in run.results if r.ok]
    if not ok:
        return None
    if kind == "throughput":  # answers received within the load window
        in_window = [r for r in ok if r.done <= run.started + run.window]
        return round(len(in_window) / run.window, 1)
    first = min(r.sent for r in run.results)
    return round(len(ok) / max(1e-6, run.ended - first), 1)


def _error_samples(run: Run, per_status: int = 2) -> dict[str, list[str]]:
    samples: dict[str, list[str]] = {}
    for result in run.results:
        if result.ok:
            continue
        bucket = samples.setdefault(str(result.status), [])
        text = result.error or ""
        if len(bucket) < per_status and text not in bucket:
            bucket.append(text)
    return samples


async def measure(
    session: Session,
    kind: str,
    load: Callable[[Target], Awaitable[Run]],
    *,
    baseline_p50: float,
    idle_seconds: float,
    hops: bool = True,
) -> dict[str, Any]:
    """Run one load phase and describe it: answers, latency, overhead, lost/duplicated, CPU
    per process (per ingest; and per second in an idle window before the load), api RSS,
    MongoDB commands (with --db-trace)."""
    target = session.target
    probe = session.probe()
    async with session.database() as db:
        idle_cpu: dict[str, float] | None = None
        idle_trace: dbtrace.PerService | None = None
        await asyncio.sleep(dbtrace.SETTLE if session.trace_dir else 0.0)
        if idle_seconds > 0:
            cpu0, (trace0, _) = probe.snapshot(), session.trace()
            await asyncio.sleep(idle_seconds)
            cpu1, (trace1, modules) = probe.snapshot(), session.trace()
            idle_cpu = cpu_used(cpu0, cpu1)
            idle_trace = dbtrace.difference(trace0, trace1, modules)
        jobs_before = await db.count_jobs()
        rss_start = rss_mb(target.api_pid)
        before, (trace_before, _) = probe.snapshot(), session.trace()
        window_start = time.monotonic()
        run = await load(target)
        await asyncio.sleep(max(SETTLE_SECONDS, dbtrace.SETTLE if session.trace_dir else 0.0))
        after, (trace_after, modules) = probe.snapshot(), session.trace()
        load_seconds = max(1e-6, time.monotonic() - window_start)
        cpu = cpu_used(before, after)
        checked = await verify(
            run.results,
            db=db,
            emulator_url=session.platform.stack.url("emulator-gemini"),
            jobs_before=jobs_before,
            hops=hops,
        )
    ok = [r for r in run.results if r.ok]
    statuses = Counter(
        str(r.status) if r.status is not None else f"no answer ({r.error})" for r in run.results
    )
    latency = [r.latency_ms for r in ok]
    answered = checked.answered
    summary: dict[str, Any] = {
        **checked.as_json(),
        "requests": len(run.results) + run.abandoned,
        "abandoned_by_client": run.abandoned,
        "answered": answered,
        "ok": len(ok),
        "non_200": len(run.results) + run.abandoned - len(ok),
        "status_counts": dict(sorted(statuses.items())),
        "error_samples": _error_samples(run),
        "wall_seconds": round(run.ended - run.started, 2),
        "throughput_jobs_per_s": _throughput(kind, run),
        "latency_ms": summarize(latency),
        "overhead_ms": summarize([v - baseline_p50 for v in latency]),
        "send_lag_ms": summarize([r.send_lag * 1000 for r in run.results])
        if kind == "rate"
        else None,
        "api_rss_mb": {
            "start": rss_start,
            "peak_sampled": run.rss.peak_mb,
            "end": rss_mb(target.api_pid),
            "process_peak_vmhwm": rss_mb(target.api_pid, "VmHWM"),
        },
        "waiting_peak": run.waiting_peak,
        "cpu": cpu_summary(session, cpu, answered, idle_cpu, idle_seconds, load_seconds),
    }
    if run.rounds:
        summary["rounds"] = [
            {
                "statuses": dict(Counter(str(r.status) for r in group)),
                "latency_ms": summarize([r.latency_ms for r in group if r.ok]),
            }
            for group in run.rounds
        ]
    if kind == "connections":
        summary["waiting_goal_reached_after_s"] = (
            round(run.waiting_goal_reached_after, 2)
            if run.waiting_goal_reached_after is not None
            else None
        )
        summary["waiting_timeline"] = [(round(t, 1), v) for t, v in run.waiting_samples][::5]
    if session.trace_dir is not None:
        summary["db_commands"] = dbtrace.report(
            dbtrace.difference(trace_before, trace_after, modules),
            ok_jobs=len(ok),
            load_seconds=load_seconds,
            idle=idle_trace,
            idle_seconds=idle_seconds,
        )
    return summary


def cpu_summary(
    session: Session,
    cpu: dict[str, float],
    answered: int,
    idle: dict[str, float] | None,
    idle_seconds: float,
    load_seconds: float,
) -> dict[str, Any]:
    """CPU seconds per process, their sums by category, and both per ingest answered."""

    def per_ingest(seconds: float) -> float | None:
        return round(seconds * 1000 / answered, 2) if answered else None

    sums: dict[str, float] = {"platform": 0.0, "database": 0.0, "emulator": 0.0, "client": 0.0}
    for name, seconds in cpu.items():
        category = session.category(name)
        if category in ("platform", "database"):
            sums["platform"] += seconds
        if category in sums and category != "platform":
            sums[category] += seconds
    result: dict[str, Any] = {
        "answered": answered,
        "load_seconds": round(load_seconds, 2),
        "seconds": cpu,
        "ms_per_ingest": {name: per_ingest(v) for name, v in cpu.items()},
        "platform_ms_per_ingest": per_ingest(sums["platform"]),
        "database_ms_per_ingest": per_ingest(sums["database"]),
        "emulators_ms_per_ingest": per_ingest(sums["emulator"]),
        "load_generator_ms_per_ingest": per_ingest(sums["client"]),
        "categories": {name: session.category(name) for name in cpu},
    }
    if idle is not None and idle_seconds > 0:
        rate = {name: round(v / idle_seconds, 4) for name, v in idle.items()}
        platform_rate = sum(
            v for k, v in rate.items() if session.category(k) in ("platform", "database")
        )
        result["idle_seconds"] = idle_seconds
        result["idle_cpu_seconds_per_second"] = rate
        result["idle_platform_cpu_seconds_per_second"] = round(platform_rate, 4)
        result["platform_ms_per_ingest_net_of_idle"] = per_ingest(
            max(0.0, sums["platform"] - platform_rate * load_seconds)
        )
    return result


def phase_figures(summary: dict[str, Any]) -> dict[str, float | None]:
    """The figures of one phase that are compared across runs (medians) and with targets."""
    cpu = summary["cpu"]
    figures: dict[str, float | None] = {
        "latency_p50_ms": _pct(summary["latency_ms"], "p50"),
        "latency_p95_ms": _pct(summary["latency_ms"], "p95"),
        "latency_p99_ms": _pct(summary["latency_ms"], "p99"),
        "overhead_p50_ms": _pct(summary["overhead_ms"], "p50"),
        "overhead_p95_ms": _pct(summary["overhead_ms"], "p95"),
        "overhead_p99_ms": _pct(summary["overhead_ms"], "p99"),
        "overhead_per_job_p50_ms": _pct(summary["overhead_per_job_ms"], "p50"),
        "overhead_per_job_p95_ms": _pct(summary["overhead_per_job_ms"], "p95"),
        "throughput_jobs_per_s": summary["throughput_jobs_per_s"],
        "requests": summary["requests"],
        "non_200": summary["non_200"],
        "lost": summary["lost"],
        "duplicated": summary["duplicated"],
        "server_cpu_ms_per_ingest": cpu["platform_ms_per_ingest"],
        "db_cpu_ms_per_ingest": cpu["database_ms_per_ingest"],
        "emulator_cpu_ms_per_ingest": cpu["emulators_ms_per_ingest"],
        "load_generator_cpu_ms_per_ingest": cpu["load_generator_ms_per_ingest"],
        "other_processes_cpu_ms_per_ingest": cpu["ms_per_ingest"].get(OTHERS),
        "api_rss_peak_mb": summary["api_rss_mb"]["peak_sampled"],
    }
    if "platform_ms_per_ingest_net_of_idle" in cpu:
        figures["server_cpu_ms_per_ingest_net_of_idle"] = cpu["platform_ms_per_ingest_net_of_idle"]
    db = summary.get("db_commands")
    if db:
        figures["db_commands_per_ok_job"] = db["commands_per_ok_job"]
    return figures


# -- the scenarios ----------------------------------------------------------------------------


async def _prepare(session: Session) -> tuple[dict[str, Any], dict[str, Any], float]:
    warm = await warm_up(session.target, session.photos)
    async with session.database() as db:
        settings = await db.slot_settings(session.target.slot_id)
    stack = session.platform.stack
    summary, sent = await emulator_baseline(
        stack.url("emulator-gemini"),
        stack.env.get("PHOTOCHANGER_GEMINI_API_KEY", "emulator-key"),
        settings,
        session.photos,
        samples=session.args.baseline_samples,
    )
    baseline = {"emulator_call_ms": summary, **sent}
    return warm, baseline, float(summary["p50"] or 0.0)


async def run_scenario(session: Session, name: str) -> dict[str, Any]:
    """Run one scenario; returns {"params", "warm_up", "baseline", "phases", "figures"}."""
    args = session.args
    warm, baseline, base_p50 = await _prepare(session)
    params = scenario_params(name, args)
    out: dict[str, Any] = {"params": params, "warm_up": warm, "baseline": baseline}
    idle = args.idle_seconds
    photos = session.photos
    if name == "growth":
        out.update(await _growth(session, base_p50))
        return out
    if name == "provider-replicas":
        out.update(await _provider_replicas(session, base_p50))
        return out

    async def load(target: Target) -> Run:
        if name == "sequential":
            return await sequential(target, photos, count=args.sequential)
        if name == "burst":
            return await burst(
                target, photos, size=args.burst_size, rounds=args.burst_rounds, pause=1.0
            )
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

    summary = await measure(session, name, load, baseline_p50=base_p50, idle_seconds=idle)
    figures = phase_figures(summary)
    if name == "burst":
        figures["rounds_all_200"] = sum(
            1 for r in summary["rounds"] if r["statuses"] == {"200": args.burst_size}
        )
    if name == "connections":
        figures["waiting_peak"] = summary["waiting_peak"]
    async with session.database() as db:
        out["database_after"] = await db.probe()
    out["phases"] = {name: summary}
    out["figures"] = figures
    return out


class SlowPhotos(PhotoFactory):
    """Photos like the session's, each carrying the emulator directive `emulate` (slow=4)."""

    def __init__(self, base: bytes, emulate: str) -> None:
        super().__init__(base)
        self._emulate = emulate

    def make(self, emulate: str | None = None) -> Photo:
        return super().make(emulate=emulate or self._emulate)


async def _provider_replicas(session: Session, base_p50: float) -> dict[str, Any]:
    """The same closed loop against a slow provider (every call held `slow` seconds, each
    replica allowed `concurrency` calls at once) with 1, then 3 (`--provider-replicas`)
    replicas of its service: jobs/s should follow the replica count. Each count is measured
    after its consumer group has handed out the partitions; the service's configured count is
    restored afterwards. Scaling happens on this (the main) thread: a process dies with the
    thread that started it."""
    args = session.args
    stack = session.platform.stack
    configured = stack.replicas[SCALED_SERVICE]
    photos = SlowPhotos(session.photos.base, f"slow={args.slow_provider_seconds:g}")
    phases: dict[str, Any] = {}
    figures: dict[str, Any] = {}
    try:
        for count in args.provider_replica_counts:
            stack.scale(SCALED_SERVICE, count)
            settled = await wait_group_stable(
                stack.infra.kafka_bootstrap_servers, SCALED_SERVICE, count, timeout=120
            )
            print(f"  {SCALED_SERVICE} at {count} replica(s), partitions shared in {settled:.1f} s")

            async def load(target: Target) -> Run:
                return await closed_loop(
                    target,
                    photos,
                    clients=args.slow_provider_clients,
                    seconds=args.slow_provider_window,
                )

            summary = await measure(
                session, "throughput", load, baseline_p50=base_p50, idle_seconds=0
            )
            phases[f"{count} replica(s)"] = summary
            for key in ("throughput_jobs_per_s", "non_200", "lost", "duplicated"):
                figures[f"{key}@{count}"] = summary.get(key)
            latency = summary.get("latency_ms") or {}
            figures[f"latency_p50_ms@{count}"] = latency.get("p50")
    finally:
        stack.scale(SCALED_SERVICE, configured)
    counts = args.provider_replica_counts
    first, last = (figures.get(f"throughput_jobs_per_s@{n}") for n in (counts[0], counts[-1]))
    if first and last and len(counts) > 1:
        figures[f"speedup@{counts[-1]}/{counts[0]}"] = round(last / first, 2)
    return {"phases": phases, "figures": figures}


async def _growth(session: Session, base_p50: float) -> dict[str, Any]:
    """Sequential on the empty database; then, for each checkpoint N, real ingests at high
    concurrency until the database holds N jobs (warm-up and sequential jobs included), and
    the same sequential run again."""
    args = session.args
    photos = session.photos
    phases: dict[str, Any] = {}
    figures: dict[str, float | None] = {}

    async def seq(target: Target) -> Run:
        return await sequential(target, photos, count=args.growth_sequential)

    empty = await measure(
        session, "sequential", seq, baseline_p50=base_p50, idle_seconds=args.idle_seconds
    )
    phases["sequential@0"] = empty
    p50_empty = empty["overhead_ms"]["p50"]
    figures["overhead_p50_ms@0"] = p50_empty
    figures["latency_p50_ms@0"] = empty["latency_ms"]["p50"]
    figures["db_cpu_ms_per_ingest@0"] = empty["cpu"]["database_ms_per_ingest"]
    non_200 = empty["non_200"]
    lost = empty["lost"]
    duplicated = empty["duplicated"]
    for checkpoint in args.growth_checkpoints:
        stored, fills = await _fill(session, checkpoint, base_p50)
        if not fills:
            continue
        filled = fills[0]
        for number, phase in enumerate(fills):
            phases[f"fill@{checkpoint}" + (f"#{number + 1}" if number else "")] = phase
            non_200 += phase["non_200"]
            lost += phase["lost"]
            duplicated += phase["duplicated"]
        after = await measure(
            session, "sequential", seq, baseline_p50=base_p50, idle_seconds=args.idle_seconds
        )
        phases[f"sequential@{checkpoint}"] = after
        p50 = after["overhead_ms"]["p50"]
        figures[f"fill_jobs_per_s@{checkpoint}"] = filled["throughput_jobs_per_s"]
        figures[f"fill_non_200@{checkpoint}"] = sum(phase["non_200"] for phase in fills)
        figures[f"stored_jobs@{checkpoint}"] = stored
        figures[f"overhead_p50_ms@{checkpoint}"] = p50
        figures[f"latency_p50_ms@{checkpoint}"] = after["latency_ms"]["p50"]
        figures[f"db_cpu_ms_per_ingest@{checkpoint}"] = after["cpu"]["database_ms_per_ingest"]
        figures[f"overhead_p50_ratio@{checkpoint}"] = (
            round(p50 / p50_empty, 3) if p50 is not None and p50_empty else None
        )
        non_200 += after["non_200"]
        lost += after["lost"]
        duplicated += after["duplicated"]
        print(
            f"    {stored} jobs stored; sequential overhead p50 {p50} ms (empty: {p50_empty} ms)",
            flush=True,
        )
    figures["non_200"] = non_200
    figures["lost"] = lost
    figures["duplicated"] = duplicated
    return {"phases": phases, "figures": figures}


async def _fill(
    session: Session, checkpoint: int, base_p50: float, *, attempts: int = 3
) -> tuple[int, list[dict[str, Any]]]:
    """Real ingests, `--growth-clients` at a time, until the database holds `checkpoint`
    jobs. Requests refused before a job exists (429, 503) store nothing, so the count is
    checked after each fill and the fill repeated for the rest (at most `attempts` times)."""
    args = session.args
    fills: list[dict[str, Any]] = []
    async with session.database() as db:
        stored = await db.count_jobs()
    while stored < checkpoint and len(fills) < attempts:
        wanted = checkpoint - stored

        async def fill(target: Target, wanted: int = wanted) -> Run:
            return await closed_loop(
                target,
                session.photos,
                clients=args.growth_clients,
                seconds=args.growth_max_seconds,
                max_requests=wanted,
            )

        print(f"    storing {wanted} more jobs ({args.growth_clients} clients) ...", flush=True)
        filled = await measure(
            session, "fill", fill, baseline_p50=base_p50, idle_seconds=0.0, hops=False
        )
        async with session.database() as db:
            stored = await db.count_jobs()
            filled["database_after"] = await db.probe()
        filled["jobs_stored_after"] = stored
        filled["database_files_mb"] = session.platform.database_files_mb()
        fills.append(filled)
    return stored, fills


def scenario_params(name: str, args: argparse.Namespace) -> dict[str, Any]:
    if name == "sequential":
        return {"requests": args.sequential}
    if name == "burst":
        return {"concurrent": args.burst_size, "rounds": args.burst_rounds, "pause_s": 1.0}
    if name == "rate":
        return {"rate_per_s": args.rate, "seconds": args.rate_seconds}
    if name == "throughput":
        return {"clients": args.clients, "seconds": args.throughput_seconds}
    if name == "provider-replicas":
        return {
            "provider_replicas": args.provider_replica_counts,
            "emulate": f"slow={args.slow_provider_seconds:g}",
            "provider_gemini_max_concurrent_jobs": args.slow_provider_concurrency,
            "clients": args.slow_provider_clients,
            "seconds": args.slow_provider_window,
        }
    if name == "growth":
        return {
            "checkpoints": args.growth_checkpoints,
            "fill_clients": args.growth_clients,
            "sequential_requests": args.growth_sequential,
        }
    return {
        "connections": args.connections,
        "emulate": f"slow={args.slow_seconds:g}",
        "ramp_seconds": args.connections_ramp_seconds,
        "provider_gemini_max_concurrent_jobs": args.connections_provider_concurrency or None,
    }
