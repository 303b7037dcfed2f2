"""`make chaos` (`python -m bench.chaos`): what a crash costs under load, on the real platform.

A platform of its own on loopback (Kafka, PostgreSQL + FerretDB, emulators, the five services)
runs under the devstack's supervisor while a steady load (default 5 jobs/s over both providers,
each provider call taking 1 to 5 s) goes on. One at a time, every process is killed with SIGKILL
and the supervisor restarts it; then Kafka and the database are each kept down for a while.
With replicas (`--replicas` or `PHOTOCHANGER_REPLICAS`, e.g. "api=2,provider-gemini=3"), a
service that runs several has one replica killed (`kill api.2`) while the others keep serving.
For every fault the report gives: jobs accepted, how they ended, jobs **lost** (accepted, no
final state 30 s after their deadline), **duplicate provider submissions** (from the
emulators' counters), the answers clients got, and how long until an ingest succeeded again.
Exit status 1 when a job was lost or a target was missed. Everything stays on 127.0.0.1 and
every wait is bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import io
import json
import os
import random
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from photochanger_devstack import replicas, topology, up
from photochanger_devstack.infra import Infrastructure, local_infrastructure
from photochanger_devstack.s3 import local_s3
from photochanger_devstack.stack import Stack, create_stack
from PIL import Image
from PIL.PngImagePlugin import PngInfo
from pymongo import MongoClient
from pymongo.database import Database

SERVICES = tuple(service.name for service in topology.services())
PROVIDERS = topology.provider_ids()
#: seeded slot → its provider: the load goes round them, so every provider is exercised
SLOTS = {slot_id: provider for slot_id, provider, _ in up.seeded_slots()}
#: providers that poll for a result hold a reference to the work they started: a successor
#: resumes it, so a crash must never submit a photo twice there. A synchronous call cut by a
#: crash is repeated (at most once per call in flight at the kill).
RESUMABLE = frozenset(p for p in PROVIDERS if topology.provider(p).poll_interval_seconds > 0)
#: targets of the issue: answers while a dependency is down, and recovery after it returns
OUTAGE_ANSWER_SECONDS = 2.0
RECOVERY_SECONDS = 10.0
KILL_RECOVERY_SECONDS = 15.0


def say(message: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {message}", flush=True)


# -- photos ---------------------------------------------------------------------------------


def photo(seed: int, slow_seconds: int, side: int) -> bytes:
    """A unique photo; the emulators hold their answer `slow_seconds` (PNG `emulate` chunk)."""
    rnd = random.Random(seed)
    image = Image.effect_noise((side, side), 40).convert("RGB")
    image.paste(
        (rnd.randrange(256), rnd.randrange(256), rnd.randrange(256)),
        (0, 0, side // 3, side // 3),
    )
    info = PngInfo()
    info.add_text("emulate", f"slow={slow_seconds}")
    info.add_text("chaos-id", f"{seed}-{uuid.uuid4().hex}")
    out = io.BytesIO()
    image.save(out, "PNG", pnginfo=info)
    return out.getvalue()


# -- load -----------------------------------------------------------------------------------


@dataclass
class Answer:
    sent_at: float
    slot: str
    sha256: str
    window: str
    status: str = "pending"  # HTTP status code, or "no answer"
    job_id: str | None = None
    seconds: float | None = None


@dataclass
class Load:
    """An open-loop load in a thread of its own: one ingest every 1/rate s."""

    stack: Stack
    rate: float
    side: int
    answers: list[Answer] = field(default_factory=list)
    window: str = "warm-up"
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=120)

    async def _run(self) -> None:
        import hashlib

        rnd = random.Random(7)
        limits = httpx.Limits(max_connections=2000, max_keepalive_connections=50)
        async with httpx.AsyncClient(timeout=75, limits=limits) as client:
            pending: set[asyncio.Task[None]] = set()
            n = 0
            next_at = time.monotonic()
            while not self._stop.is_set():
                slot = "slot-001" if n % 2 == 0 else "slot-002"
                data = photo(n, rnd.randint(1, 5), self.side)
                answer = Answer(time.time(), slot, hashlib.sha256(data).hexdigest(), self.window)
                self.answers.append(answer)
                task = asyncio.create_task(self._send(client, answer, data))
                pending.add(task)
                task.add_done_callback(pending.discard)
                n += 1
                next_at += 1 / self.rate
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))  # the load's pace
            if pending:
                await asyncio.wait(pending, timeout=90)

    async def _send(self, client: httpx.AsyncClient, answer: Answer, data: bytes) -> None:
        started = time.monotonic()
        try:
            response = await client.post(
                f"{self.stack.api_url}/ingest/{answer.slot}",
                data={"password": self.stack.ingest_password},
                files={"fileToUpload": ("p.png", data, "image/png")},
            )
        except httpx.HTTPError:
            answer.status = "no answer"
        else:
            answer.status = str(response.status_code)
            answer.job_id = response.headers.get("x-job-id")
            if answer.job_id is None and response.headers.get("content-type", "").startswith(
                "application/json"
            ):
                details = response.json().get("error", {}).get("details", {})
                answer.job_id = details.get("job_id")
        answer.seconds = time.monotonic() - started


# -- probing --------------------------------------------------------------------------------


def probe(stack: Stack, timeout: float = 10.0) -> tuple[int | None, float]:
    """One quick ingest (no provider delay): its status and how long the answer took."""
    data = photo(random.randrange(10**9), 0, 32)
    started = time.monotonic()
    try:
        response = httpx.post(
            f"{stack.api_url}/ingest/slot-001",
            data={"password": stack.ingest_password},
            files={"fileToUpload": ("p.png", data, "image/png")},
            timeout=timeout,
        )
    except httpx.HTTPError:
        return None, time.monotonic() - started
    return response.status_code, time.monotonic() - started


def until_serving(stack: Stack, started: float, limit: float) -> float | None:
    """Seconds from `started` until an ingest succeeds (the supervisor restarts meanwhile)."""
    deadline = started + limit
    while time.monotonic() < deadline:
        status, _ = probe(stack, timeout=5.0)
        if status == 200:
            return time.monotonic() - started
        time.sleep(0.25)  # the probe's pace, bounded by `limit`
    return None


# -- faults ---------------------------------------------------------------------------------


@dataclass
class Fault:
    name: str
    kind: str  # "kill" or "outage"
    target: str
    recovery_s: float | None = None
    outage_answers: list[tuple[int | None, float]] = field(default_factory=list)
    in_flight_at_kill: dict[str, float] = field(default_factory=dict)
    #: when the process was killed (wall clock): a job running then is the fault's to count
    at: datetime | None = None


def _pid_of(stack: Stack, infra: Infrastructure, target: str) -> int:
    if target in stack.processes:
        return stack.processes[target].pid
    for server in infra.servers:
        if server.name == target:
            return server.process.pid
    raise LookupError(target)


def _in_flight(stack: Stack, target: str) -> dict[str, float]:
    """Jobs each provider service was working on: of the process about to be killed when it is
    a provider replica (its calls in flight are what a kill may repeat), else of them all."""
    killed = stack.service_of(target)
    out: dict[str, float] = {}
    for provider in PROVIDERS:
        service = f"provider-{provider}"
        names = [target] if killed == service else stack.running_replicas(service)
        if killed is not None and killed.startswith("provider-") and killed != service:
            continue
        for name in names:
            try:
                text = httpx.get(f"{stack.replica_url(name)}/metrics", timeout=2).text
            except httpx.HTTPError:
                continue
            for line in text.splitlines():
                if line.startswith("photochanger_provider_jobs_in_flight{"):
                    out[provider] = out.get(provider, 0.0) + float(line.rsplit(" ", 1)[1])
    return out


def kills_provider(fault_name: str, provider: str) -> bool:
    """Whether the fault killed a process of `provider`'s service (any of its replicas)."""
    service = f"provider-{provider}"
    target = fault_name.removeprefix("kill ")
    return fault_name.startswith("kill ") and (
        target == service or target.startswith(f"{service}.")
    )


def kill(fault: Fault, stack: Stack, infra: Infrastructure) -> None:
    fault.in_flight_at_kill = _in_flight(stack, fault.target)
    pid = _pid_of(stack, infra, fault.target)
    say(f"SIGKILL {fault.target} (pid {pid})")
    started = time.monotonic()
    fault.at = datetime.now(UTC)
    os.killpg(pid, signal.SIGKILL)
    fault.recovery_s = until_serving(stack, started, 90.0)
    say(f"{fault.target}: serving again after {fault.recovery_s} s")


def outage(
    fault: Fault, stack: Stack, infra: Infrastructure, supervisor: Any, seconds: float
) -> None:
    say(f"{fault.target} down for {seconds:g} s")
    supervisor.pause(fault.target)
    fault.at = datetime.now(UTC)
    os.killpg(_pid_of(stack, infra, fault.target), signal.SIGKILL)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        fault.outage_answers.append(probe(stack, timeout=10.0))
        time.sleep(1.0)  # one probe a second during the outage
    supervisor.resume(fault.target)
    started = time.monotonic()
    fault.recovery_s = until_serving(stack, started, 90.0)
    say(f"{fault.target} back; serving after {fault.recovery_s} s")


def plan(short: bool, *, s3: bool = False, counts: dict[str, int] | None = None) -> list[Fault]:
    """The faults in order. A service with several replicas has its last one killed (the
    others keep serving); one with a single process has it killed (down until restarted)."""
    counts = counts or {}

    def one_of(target: str) -> str:  # infrastructure servers are no service's
        return replicas.replica_name(target, counts[target]) if target in counts else target

    if short:
        # a provider that resumes its work after a crash: the strictest duplicate check
        resuming = next((p for p in PROVIDERS if p in RESUMABLE), PROVIDERS[0])
        kills = ["api", f"provider-{resuming}", "dispatcher", "kafka"]
        outages = ["ferretdb"]
    else:
        kills = [*SERVICES, "kafka", "postgres", "ferretdb", *(["versitygw"] if s3 else [])]
        outages = ["kafka", "ferretdb"]
    kills = [one_of(t) for t in kills]
    return [Fault(f"kill {t}", "kill", t) for t in kills] + [
        Fault(f"{t} down", "outage", t) for t in outages
    ]


# -- verdict --------------------------------------------------------------------------------


@contextlib.contextmanager
def _database(stack: Stack) -> Iterator[Database[dict[str, Any]]]:
    """The platform's database, read directly by the verdict."""
    client: MongoClient[dict[str, Any]] = MongoClient(stack.infra.mongodb_uri, tz_aware=True)
    try:
        yield client[stack.env["PHOTOCHANGER_MONGODB_DATABASE"]]
    finally:
        client.close()


def final_records(stack: Stack) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    with _database(stack) as db:
        final = {d["_id"]: d for d in db.jobs.find({}, {"log": 0, "settings": 0})}
        live = {d["_id"]: d for d in db.jobs_live.find({}, {"settings": 0})}
    return final, live


def story(stack: Stack, job_ids: list[str]) -> list[dict[str, Any]]:
    """The processing logs of jobs that did not succeed: what to look at first."""
    with _database(stack) as db:
        found = db.jobs.find(
            {"_id": {"$in": job_ids}}, {"slot_id": 1, "outcome": 1, "created_at": 1, "log": 1}
        )
        return [
            {
                "job_id": doc["_id"],
                "slot_id": doc.get("slot_id"),
                "outcome": doc.get("outcome"),
                "created_at": doc.get("created_at"),
                "log": [
                    " ".join(
                        str(part)
                        for part in (
                            entry.get("at"),
                            entry.get("event"),
                            entry.get("attempt"),
                            entry.get("error_code") or "",
                            entry.get("error_message") or "",
                        )
                    )
                    for entry in doc.get("log", [])
                ],
            }
            for doc in found
        ]


def emulator_submissions(stack: Stack) -> dict[str, Counter[str]]:
    out = {}
    for provider in PROVIDERS:
        stats = httpx.get(f"{stack.url(f'emulator-{provider}')}/_emulator/stats", timeout=5).json()
        out[provider] = Counter(stats["submissions"]["by_image_sha256"])
    return out


def _blamed_fault(
    faults: list[Fault],
    doc: dict[str, Any],
    record: dict[str, Any] | None,
    provider: str | None = None,
) -> str | None:
    """The last fault that struck while the job ran (created, not yet final): a job sent
    before a provider was killed is submitted again because of that kill, not of the fault
    in whose window it was sent. For a provider's duplicate, a kill of that provider wins
    over later faults that struck the same job."""
    ended = record["finalized_at"] if record and record.get("finalized_at") else None
    struck = [
        f.name for f in faults
        if f.at is not None and doc["created_at"] <= f.at and (ended is None or f.at <= ended)
    ]  # fmt: skip
    chosen = [name for name in struck if provider and kills_provider(name, provider)] or struck
    return chosen[-1] if chosen else None


def claims_by_job(stack: Stack) -> dict[str, list[dict[str, Any]]]:
    """Every job's claims (attempts), in attempt order."""
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    with _database(stack) as db:
        for claim in db.job_claims.find({}, {"job_id": 1, "attempt": 1, "provider": 1,
                                             "reference": 1}):  # fmt: skip
            found[claim["job_id"]].append(claim)
    return {job_id: sorted(c, key=lambda c: c["attempt"]) for job_id, c in found.items()}


def taken_over_before_reference(claims: list[dict[str, Any]], provider: str) -> int:
    """Attempts of `provider` that died between submitting and recording the provider's job
    reference: the next attempt found no reference and had to submit again. No provider API
    here takes an idempotency key, so this window (the submit call and one write) is the one
    place a resumable provider may see a job twice."""
    mine = [c for c in claims if c["provider"] == provider]
    return sum(1 for c in mine[:-1] if not c.get("reference"))  # each was followed by another


def verdict(stack: Stack, load: Load, faults: list[Fault], started_wall: float) -> dict[str, Any]:
    final, live = final_records(stack)
    now = datetime.now(UTC)
    lost_ids = {
        job_id for job_id, doc in live.items()
        if job_id not in final and (now - doc["expires_at"]).total_seconds() > 30
    }  # fmt: skip
    by_sha = {doc["payload"]["sha256"]: doc for doc in [*final.values(), *live.values()]}
    submissions = emulator_submissions(stack)
    claims = claims_by_job(stack)
    windows: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"accepted": 0, "outcomes": Counter(), "answers": Counter(), "lost": 0,
                 "duplicates": dict.fromkeys(PROVIDERS, 0),
                 "before_reference": dict.fromkeys(PROVIDERS, 0)}
    )  # fmt: skip
    #: a booth got its image, yet the job's record says otherwise
    contradicted: list[dict[str, Any]] = []
    for answer in load.answers:
        window = windows[answer.window]
        window["answers"][answer.status] += 1
        doc = by_sha.get(answer.sha256)
        if doc is None:
            continue  # refused before a job existed (429/503 at the door)
        window["accepted"] += 1
        record = final.get(doc["_id"])
        window["outcomes"][record["outcome"] if record else "not final"] += 1
        if answer.status == "200" and (record is None or record["outcome"] != "succeeded"):
            contradicted.append({"job_id": doc["_id"], "answered": answer.job_id,
                                 "outcome": record["outcome"] if record else None})  # fmt: skip
        if doc["_id"] in lost_ids:
            window["lost"] += 1
        for provider, seen in submissions.items():
            extra = max(0, seen[answer.sha256] - 1)
            if not extra:
                continue
            blamed = windows[_blamed_fault(faults, doc, record, provider) or answer.window]
            excused = 0
            if provider in RESUMABLE:
                excused = min(extra, taken_over_before_reference(claims.get(doc["_id"], []),
                                                                 provider))  # fmt: skip
            blamed["duplicates"][provider] += extra - excused
            blamed["before_reference"][provider] += excused
    report: dict[str, Any] = {
        "started_at": datetime.fromtimestamp(started_wall, UTC).isoformat(),
        "replicas": dict(stack.replicas),
        "rate": load.rate,
        "requests": len(load.answers),
        "lost": len(lost_ids),
        "answered_200_not_succeeded": contradicted,
        "faults": [],
        # the unexpected first: a job refused at the door while Kafka was away is the design
        "not_succeeded": story(
            stack,
            sorted(
                (j for j, d in final.items() if d.get("outcome") != "succeeded"),
                key=lambda j: ((final[j].get("error") or {}).get("code") == "publish_failed", j),
            )[:20],
        ),
    }
    for fault in faults:
        window = windows[fault.name]
        slow = [s for status, s in fault.outage_answers if s > OUTAGE_ANSWER_SECONDS]
        codes = Counter(str(status) for status, _ in fault.outage_answers)
        report["faults"].append(
            {
                "fault": fault.name,
                "accepted": window["accepted"],
                "outcomes": dict(window["outcomes"]),
                "lost": window["lost"],
                "duplicate_submissions": window["duplicates"],
                "resubmitted_before_reference": window["before_reference"],
                "in_flight_at_kill": fault.in_flight_at_kill,
                "answers": dict(window["answers"]),
                "recovery_s": round(fault.recovery_s, 1) if fault.recovery_s else None,
                "outage_probe_answers": dict(codes),
                "outage_answers_slower_than_2s": len(slow),
                "outage_unanswered": sum(1 for status, _ in fault.outage_answers if status is None),
            }
        )
    return report


def problems(report: dict[str, Any], *, time_targets: bool = True) -> list[str]:
    """What went wrong. Without `time_targets` only what must hold on any machine, however
    loaded: nothing lost or submitted twice, every fault recovered from, every request
    answered while a dependency was down (the times are reported all the same)."""
    found = []
    if report["lost"]:
        found.append(f"{report['lost']} job(s) lost")
    for case in report.get("answered_200_not_succeeded", []):
        found.append(f"job {case['job_id']} answered 200 but recorded {case['outcome']}")
    for fault in report["faults"]:
        name = fault["fault"]
        for provider, duplicates in fault["duplicate_submissions"].items():
            killed = kills_provider(name, provider)
            in_flight = fault["in_flight_at_kill"].get(provider, 0) if killed else 0
            allowed = in_flight if provider not in RESUMABLE else 0
            if duplicates > allowed:
                found.append(f"{name}: {duplicates} duplicate {provider} submission(s)")
            early = fault.get("resubmitted_before_reference", {}).get(provider, 0)
            if early > in_flight:
                found.append(f"{name}: {early} {provider} job(s) submitted again after a "
                             "crash before its reference was recorded")  # fmt: skip
        if fault["recovery_s"] is None:
            found.append(f"{name}: never served again")
        if fault["outage_unanswered"]:
            found.append(f"{name}: {fault['outage_unanswered']} request(s) got no answer")
        if not time_targets or fault["recovery_s"] is None:
            continue
        if name.startswith("kill") and fault["recovery_s"] > KILL_RECOVERY_SECONDS:
            found.append(f"{name}: serving again only after {fault['recovery_s']} s")
        elif name.endswith("down") and fault["recovery_s"] > RECOVERY_SECONDS:
            found.append(f"{name}: recovered only after {fault['recovery_s']} s")
        if fault["outage_answers_slower_than_2s"]:
            found.append(f"{name}: {fault['outage_answers_slower_than_2s']} answer(s) over 2 s")
    return found


def table(report: dict[str, Any]) -> str:
    counts = report.get("replicas") or {}
    several = " ".join(f"{s}={n}" for s, n in counts.items() if n > 1)
    rows = [f"replicas: {several or 'one process per service'}\n"]
    rows += [f"| fault | accepted | outcomes | lost | dup. submissions ({'/'.join(PROVIDERS)}) "
            "| answers | recovery |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    for f in report["faults"]:
        outcomes = ", ".join(f"{k} {v}" for k, v in sorted(f["outcomes"].items()))
        answers = ", ".join(f"{k} x{v}" for k, v in sorted(f["answers"].items()))
        if f["outage_probe_answers"]:
            answers += f"; while down: {f['outage_probe_answers']}"
        dup = f["duplicate_submissions"]
        early = {p: n for p, n in f.get("resubmitted_before_reference", {}).items() if n}
        rows.append(
            f"| {f['fault']} | {f['accepted']} | {outcomes} | {f['lost']} | "
            f"{'/'.join(str(dup[p]) for p in PROVIDERS)} "
            + (f"+ before its reference was recorded {early} " if early else "")
            + f"(in flight {f['in_flight_at_kill'] or '-'}) "
            f"| {answers} | {f['recovery_s']} s |"
        )
    rows.append(
        "\naccepted, outcomes, lost, answers: the requests sent while the fault was the latest; "
        "duplicate submissions: of the jobs that were running when it struck; a resumable "
        "provider's job resubmitted because its worker died between submitting and recording "
        "the provider's reference is shown apart (allowed up to the jobs in flight)"
    )
    return "\n".join(rows)


# -- the run --------------------------------------------------------------------------------


def chosen_faults(args: argparse.Namespace) -> list[Fault]:
    """The plan, narrowed to `--faults`; a name that is not in the plan is refused."""
    faults = plan(args.short, s3=args.media == "s3", counts=getattr(args, "replica_counts", None))
    if not args.faults:
        return faults
    wanted = [name.strip() for name in args.faults.split(",")]
    unknown = sorted(set(wanted) - {f.name for f in faults})
    if unknown:
        known = ", ".join(f.name for f in faults)
        raise SystemExit(f"chaos: no such fault {', '.join(unknown)} (this plan has: {known})")
    return [f for f in faults if f.name in wanted]


def run(args: argparse.Namespace) -> int:
    chosen_faults(args)  # refuse a misspelt fault before anything starts
    state = Path(tempfile.mkdtemp(prefix="photochanger-chaos-"))
    say(f"state and logs: {state}")
    with contextlib.ExitStack() as running:
        infra = running.enter_context(local_infrastructure(
            use_env=False, use_testcontainers=False, state_dir=state / "infra", log=say
        ))  # fmt: skip
        media_env: dict[str, str] = {}
        if args.media == "s3":  # the media store's server is one more process to kill
            bucket = running.enter_context(local_s3(use_env=False, state_dir=state / "s3"))
            assert bucket.running is not None
            infra = dataclasses.replace(infra, servers=(*infra.servers, bucket.running))
            media_env = {"PHOTOCHANGER_MEDIA_URL": bucket.media_url("chaos"), **bucket.aws_env}
        return _run(args, state, infra, media_env)


def _run(
    args: argparse.Namespace, state: Path, infra: Infrastructure, media_env: dict[str, str]
) -> int:
    stack = create_stack(
        infra, state / "stack", ports={}, database="chaos",
        extra_env={**{f"PHOTOCHANGER_{p.upper()}_REQUESTS_PER_MINUTE": "100000"
                      for p in PROVIDERS},
                   **{f"PHOTOCHANGER_{p.upper()}_POLL_INTERVAL_SECONDS": "1"
                      for p in RESUMABLE},
                   **media_env},
        environ={k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")},
        replicas=args.replica_counts,
    )  # fmt: skip
    stack.start_all()
    supervisor = up.supervise(stack, infra, say)
    load = Load(stack, args.rate, args.side)
    faults = chosen_faults(args)
    started_wall = time.time()

    def inflict() -> None:
        """The faults, one after the other, while the main thread supervises."""
        load.start()
        time.sleep(args.settle)  # steady load before the first fault
        for fault in faults:
            load.window = fault.name
            if fault.kind == "kill":
                kill(fault, stack, infra)
            else:
                outage(fault, stack, infra, supervisor, args.outage_seconds)
            time.sleep(args.settle)  # steady load between faults
        load.window = "after"
        load.stop()
        drain(stack)

    worker = threading.Thread(target=inflict, daemon=True)
    try:
        worker.start()
        # restarts happen here, in the thread that started every process
        while worker.is_alive():
            supervisor.check()
            worker.join(timeout=0.2)
        report = verdict(stack, load, faults, started_wall)
    finally:
        load.stop()
        stack.stop_all()
    report["problems"] = problems(report, time_targets=args.time_targets)
    print(table(report))
    for problem in report["problems"]:
        print(f"PROBLEM: {problem}")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, default=str))
    return 1 if report["problems"] else 0


def drain(stack: Stack, limit: float = 120.0) -> None:
    """Wait until no live job is left (every job final), at most `limit` seconds."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        final, live = final_records(stack)
        if all(job_id in final for job_id in live):
            return
        time.sleep(1.0)  # the jobs' own deadlines decide; this only looks


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__)
    p.add_argument("--rate", type=float, default=5.0, help="ingests per second")
    p.add_argument("--outage-seconds", type=float, default=30.0)
    p.add_argument("--settle", type=float, default=10.0, help="steady load between faults (s)")
    p.add_argument("--side", type=int, default=640, help="photo edge in pixels")
    p.add_argument("--short", action="store_true", help="the variant `make test` runs")
    p.add_argument(
        "--media",
        choices=("file", "s3"),
        default="file",
        help="media store: a directory, or a local S3 server (versitygw, killed like the rest)",
    )
    p.add_argument(
        "--faults", help='only these faults, e.g. "kill versitygw,ferretdb down" (comma-separated)'
    )
    p.add_argument(
        "--replicas",
        default=os.environ.get(replicas.ENV_REPLICAS, ""),
        help='processes per service, e.g. "api=2,provider-gemini=3" (default '
        f"${replicas.ENV_REPLICAS}; every service once): a service with several has one "
        "replica killed while the others serve",
    )
    p.add_argument("--json", help="write the report here")
    p.add_argument(
        "--no-time-targets",
        dest="time_targets",
        action="store_false",
        help="fail only on lost or duplicated work, a fault never recovered from or a request "
        "left unanswered, not on missed times (how `make test` runs it)",
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    try:  # a malformed count is refused before anything starts
        args.replica_counts = replicas.parse_replicas(args.replicas, SERVICES)
    except replicas.ReplicasError as exc:
        raise SystemExit(f"chaos: {exc}") from None
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
