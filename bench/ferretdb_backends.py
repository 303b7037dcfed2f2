"""Measure FerretDB's SQLite and PostgreSQL backends command by command (ADR-0011).

    uv run python -m bench.ferretdb_backends [--sizes 0,5000,260000] [--variants ...]

For each variant (``sqlite``; ``postgresql-stock``: FerretDB on PostgreSQL as FerretDB sets it
up; ``postgresql``: plus the GIN index on ``_jsonb->'_id'`` that the dev stack's event trigger
adds to every FerretDB table) it starts fresh servers in a temporary directory, grows one
collection of ~2 KB job documents to each size, and runs every command kind sequentially from
one client: server CPU per command (FerretDB process + every PostgreSQL process, from
/proc/<pid>/stat utime+stime, exited children included) and client wall latency p50/p95. Then
16 concurrent writers doing unique inserts. For PostgreSQL it also records the SQL FerretDB
sends per command (``log_statement=all`` for a moment) and EXPLAIN ANALYZE of those queries at
the largest size. Results: printed as Markdown and saved as JSON under ``bench/results``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from photochanger_devstack import ferretdb, postgres
from photochanger_devstack.ports import free_port
from photochanger_devstack.procs import Running
from pymongo import ASCENDING, MongoClient
from pymongo.collection import Collection
from pymongo.errors import DuplicateKeyError

VARIANTS = ("sqlite", "postgresql-stock", "postgresql")
TICKS = os.sysconf("SC_CLK_TCK")
DB = "measure"
NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
DUE_EVERY = 5_000  # one document in this many is due (expires_at <= NOW)
DUE_BUCKET = "due-bucket"
PAYLOAD = "x" * 1_500  # with the other fields: ~2 KB per job document

Doc = dict[str, Any]


# ---------------------------------------------------------------------------------- CPU


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rfind(")") + 2 :].split()


def tree_cpu_seconds(pid: int) -> float:
    """utime+stime of ``pid`` and its live children, plus its reaped children (cutime+cstime).

    PostgreSQL's backends, autovacuum workers and helpers are children of the postmaster but
    each calls setsid(), so they are not in its process group; the postmaster reaps the ones
    that exit, which moves their CPU time into its cutime/cstime."""
    ticks = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        fields = _stat(int(entry.name))
        if fields is None:
            continue
        if int(entry.name) == pid:
            ticks += sum(int(v) for v in fields[11:15])  # utime, stime, cutime, cstime
        elif int(fields[1]) == pid:
            ticks += int(fields[11]) + int(fields[12])
    return ticks / TICKS


def server_cpu(servers: list[Running]) -> dict[str, float]:
    return {server.name: tree_cpu_seconds(server.process.pid) for server in servers}


# ---------------------------------------------------------------------------------- stack


@dataclass
class Stack:
    variant: str
    servers: list[Running]
    uri: str
    start_seconds: float
    root: Path

    @property
    def pg(self) -> postgres.PostgresServer | None:
        for server in self.servers:
            if isinstance(server, postgres.PostgresServer):
                return server
        return None


@contextmanager
def running(variant: str) -> Iterator[Stack]:
    root = Path(tempfile.mkdtemp(prefix=f"measure-{variant}-"))
    started = time.monotonic()
    servers: list[Running] = []
    try:
        if variant == "sqlite":
            servers.append(ferretdb.start(free_port(), root / "ferretdb", root / "logs"))
        else:
            pg = postgres.start(
                free_port(),
                root / "postgres",
                root / "logs",
                index_ids=variant == "postgresql",
            )
            servers.append(pg)
            servers.append(
                ferretdb.start(
                    free_port(), root / "ferretdb", root / "logs", postgresql_url=pg.address
                )
            )
        yield Stack(variant, servers, servers[-1].address, time.monotonic() - started, root)
    finally:
        for server in reversed(servers):
            server.stop()
        shutil.rmtree(root, ignore_errors=True)


# ---------------------------------------------------------------------------------- documents


def job_doc(i: int, prefix: str = "job") -> Doc:
    due = i % DUE_EVERY == 0
    return {
        "_id": f"{prefix}-{i:07d}",
        "slot_id": f"slot-{i % 15 + 1:03d}",
        "status": "pending",
        "provider": "gemini",
        "created_at": NOW - timedelta(seconds=60),
        "expires_at": NOW - timedelta(seconds=1) if due else NOW + timedelta(hours=1 + i % 72),
        "due_minute": DUE_BUCKET if due else f"bucket-{i // 60}",
        "result_expires_at": None,
        "attempt": 0,
        "payload": {"media_key": f"ingest/{i}.jpg", "size": 123_456, "note": PAYLOAD},
    }


def populate(coll: Collection[Doc], start: int, stop: int, batch: int = 1_000) -> None:
    for first in range(start, stop, batch):
        coll.insert_many(
            [job_doc(i) for i in range(first, min(first + batch, stop))], ordered=False
        )


# ---------------------------------------------------------------------------------- ops


@dataclass
class OpResult:
    op: str
    size: int
    n: int
    cpu_ms: dict[str, float]
    p50_ms: float
    p95_ms: float

    @property
    def total_cpu_ms(self) -> float:
        return round(sum(self.cpu_ms.values()), 2)


@dataclass
class Ctx:
    coll: Collection[Doc]
    size: int
    counter: int = 0
    ids: list[str] = field(default_factory=list)

    def next_id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}-{self.size}-{self.counter:07d}"


def _existing_id(ctx: Ctx) -> str:
    if ctx.size:
        return f"job-{random.randrange(ctx.size):07d}"
    return random.choice(ctx.ids)


OPS: dict[str, Callable[[Ctx], None]] = {}


def op(name: str) -> Callable[[Callable[[Ctx], None]], Callable[[Ctx], None]]:
    def register(fn: Callable[[Ctx], None]) -> Callable[[Ctx], None]:
        OPS[name] = fn
        return fn

    return register


@op("insert job (2 KB)")
def _insert_job(ctx: Ctx) -> None:
    doc = job_doc(0)
    doc["_id"] = ctx.next_id("new")
    doc["due_minute"] = "new"
    doc["expires_at"] = NOW + timedelta(hours=2)
    ctx.coll.insert_one(doc)
    ctx.ids.append(doc["_id"])


@op("find_one by _id")
def _find_by_id(ctx: Ctx) -> None:
    assert ctx.coll.find_one({"_id": _existing_id(ctx)}) is not None


@op("update_one $set by _id")
def _update_by_id(ctx: Ctx) -> None:
    ctx.counter += 1  # a new value every time: FerretDB skips writes that change nothing
    result = ctx.coll.update_one(
        {"_id": _existing_id(ctx)}, {"$set": {"status": "processing", "attempt": ctx.counter}}
    )
    assert result.modified_count == 1


@op("unique insert, wins")
def _fence_wins(ctx: Ctx) -> None:
    fence_id = ctx.next_id("fence")
    ctx.coll.insert_one({"_id": fence_id, "job_id": "x", "transition": "final"})
    ctx.ids.append(fence_id)


@op("unique insert, loses")
def _fence_loses(ctx: Ctx) -> None:
    try:
        ctx.coll.insert_one({"_id": _existing_id(ctx), "job_id": "x", "transition": "final"})
    except DuplicateKeyError:
        return
    raise AssertionError("duplicate _id was accepted")


@op("insert_many 4 logs")
def _insert_logs(ctx: Ctx) -> None:
    ctx.coll.insert_many(
        [
            {"_id": ctx.next_id("log"), "job_id": "x", "event": event, "at": NOW}
            for event in ("created", "claimed", "submitted", "finalized")
        ]
    )


@op("find expires_at $lte, limit 100")
def _find_due_range(ctx: Ctx) -> None:
    list(ctx.coll.find({"expires_at": {"$lte": NOW}}).limit(100))


@op("find due_minute equality, limit 100")
def _find_due_equal(ctx: Ctx) -> None:
    list(ctx.coll.find({"due_minute": DUE_BUCKET}).limit(100))


def measure_op(
    stack: Stack, ctx: Ctx, name: str, fn: Callable[[Ctx], None], n: int, budget: float
) -> OpResult:
    # warm-up: connections, prepared statements, caches (once only for slow commands)
    for _ in range(3):
        t0 = time.perf_counter()
        fn(ctx)
        if time.perf_counter() - t0 > 0.5:
            break
    latencies: list[float] = []
    before = server_cpu(stack.servers)
    deadline = time.monotonic() + budget
    while len(latencies) < n and (len(latencies) < 3 or time.monotonic() < deadline):
        t0 = time.perf_counter()
        fn(ctx)
        latencies.append((time.perf_counter() - t0) * 1000)
    time.sleep(0.05)  # let PostgreSQL's WAL writer catch up with what these commands wrote
    after = server_cpu(stack.servers)
    count = len(latencies)
    cpu = {k: round((after[k] - before[k]) * 1000 / count, 2) for k in after}
    latencies.sort()
    return OpResult(
        op=name,
        size=ctx.size,
        n=count,
        cpu_ms=cpu,
        p50_ms=round(statistics.median(latencies), 2),
        p95_ms=round(latencies[min(count - 1, int(count * 0.95))], 2),
    )


def concurrent_writers(
    stack: Stack, coll: Collection[Doc], size: int, writers: int = 16, per_writer: int = 100
) -> dict[str, Any]:
    latencies: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(writers + 1)
    losers = 0

    def writer(w: int) -> None:
        nonlocal losers
        mine: list[float] = []
        lost = 0
        barrier.wait()
        for i in range(per_writer):
            # pairs of writers race for the same fence: one wins, one loses
            fence = f"cw-{size}-{w // 2}-{i}"
            t0 = time.perf_counter()
            try:
                coll.insert_one({"_id": fence, "writer": w})
            except DuplicateKeyError:
                lost += 1
            mine.append((time.perf_counter() - t0) * 1000)
        with lock:
            latencies.extend(mine)
            losers += lost

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    before = server_cpu(stack.servers)
    barrier.wait()
    t0 = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - t0
    time.sleep(0.05)
    after = server_cpu(stack.servers)
    total = writers * per_writer
    latencies.sort()
    return {
        "size": size,
        "writers": writers,
        "inserts": total,
        "won": total - losers,
        "lost": losers,
        "inserts_per_s": round(total / wall, 1),
        "cpu_ms_per_insert": round(sum(after[k] - before[k] for k in after) * 1000 / total, 2),
        "cpu_ms": {k: round((after[k] - before[k]) * 1000 / total, 2) for k in after},
        "p50_ms": round(statistics.median(latencies), 2),
        "p95_ms": round(latencies[int(total * 0.95)], 2),
    }


# ---------------------------------------------------------------------------------- SQL


def _table(conn: postgres.Connection, collection: str) -> str:
    rows = conn.query(
        f"SELECT _jsonb->>'table' FROM \"{DB}\"._ferretdb_database_metadata "
        f"WHERE _jsonb->>'_id' = '{collection}'"
    )
    assert rows and rows[0][0], f"no table for {collection}"
    return rows[0][0]


def capture_sql(stack: Stack, ctx: Ctx) -> dict[str, list[str]]:
    """The SQL statements FerretDB sends for one command of each kind."""
    pg = stack.pg
    assert pg is not None
    log = pg.process.log_file
    captured: dict[str, list[str]] = {}
    with postgres.Connection(pg.endpoint) as conn:
        conn.query("ALTER SYSTEM SET log_statement = 'all'")
        conn.query("SELECT pg_reload_conf()")
        time.sleep(0.3)
        try:
            for name, fn in OPS.items():
                offset = log.stat().st_size
                fn(ctx)
                time.sleep(0.2)
                with log.open("rb") as handle:
                    handle.seek(offset)
                    text = handle.read().decode(errors="replace")
                lines = []
                for line in text.splitlines():
                    if "LOG:  statement:" in line or "LOG:  execute" in line:
                        statement = line.split("LOG:  ", 1)[1]
                        if "application_name" in statement or "photochanger" in statement:
                            continue
                        lines.append(
                            statement if len(statement) < 300 else statement[:300] + " ..."
                        )
                captured[name] = lines
        finally:
            conn.query("ALTER SYSTEM RESET log_statement")
            conn.query("SELECT pg_reload_conf()")
    return captured


def explain(stack: Stack, size: int) -> dict[str, Any]:
    pg = stack.pg
    assert pg is not None
    out: dict[str, Any] = {}
    with postgres.Connection(pg.endpoint) as conn:
        table = f'"{DB}"."{_table(conn, "jobs")}"'
        out["indexes"] = [
            row[0]
            for row in conn.query(
                f"SELECT indexdef FROM pg_indexes WHERE schemaname = '{DB}' "
                f"AND tablename = '{_table(conn, 'jobs')}'"
            )
        ]
        # exactly FerretDB's statement shape: the field name is a parameter
        conn.query(
            f"PREPARE ferretdb_eq(text, jsonb) AS SELECT _jsonb FROM {table} WHERE _jsonb->$1 @> $2"
        )
        conn.query(f"PREPARE ferretdb_all AS SELECT _jsonb FROM {table}")
        queries = {
            "find_one by _id": f"EXECUTE ferretdb_eq('_id', '\"job-{size // 2:07d}\"')",
            "find due_minute equality": f"EXECUTE ferretdb_eq('due_minute', '\"{DUE_BUCKET}\"')",
            "find expires_at $lte (no WHERE: filtered in FerretDB)": "EXECUTE ferretdb_all",
            "update by _id (UPDATE ... WHERE _jsonb->'_id' = $2)": (
                f"SELECT 1 FROM {table} WHERE _jsonb->'_id' = '\"job-{size // 2:07d}\"'"
            ),
        }
        for label, statement in queries.items():
            for _ in range(6):  # past the 5 custom plans after which a generic one may be used
                conn.query(f"EXPLAIN {statement}")
            rows = conn.query(f"EXPLAIN (ANALYZE, BUFFERS, TIMING OFF) {statement}")
            out[label] = [row[0] for row in rows]
    return out


# ---------------------------------------------------------------------------------- main


def run_variant(variant: str, sizes: list[int], n: int, budget: float) -> dict[str, Any]:
    report: dict[str, Any] = {"variant": variant, "ops": [], "concurrent": []}
    with running(variant) as stack:
        report["start_seconds"] = round(stack.start_seconds, 2)
        if stack.pg is not None:
            report["postgres"] = postgres.require_binaries().describe()
        client: MongoClient[Doc] = MongoClient(stack.uri, tz_aware=True)
        try:
            coll = client[DB]["jobs"]
            coll.insert_one({"_id": "seed"})
            coll.create_index([("expires_at", ASCENDING)])
            coll.create_index([("due_minute", ASCENDING)])
            if variant == "postgresql" and stack.pg is not None:
                # what an operator could add by hand: makes the equality pushdown indexable
                with postgres.Connection(stack.pg.endpoint) as conn:
                    table = _table(conn, "jobs")
                    conn.query(
                        f'CREATE INDEX jobs_due_minute_gin ON "{DB}"."{table}" USING gin '
                        "((_jsonb->'due_minute') jsonb_path_ops) WITH (fastupdate = off)"
                    )
            current = 0
            for size in sizes:
                t0 = time.monotonic()
                cpu0 = server_cpu(stack.servers)
                populate(coll, current, size)
                if size > current:
                    cpu1 = server_cpu(stack.servers)
                    report.setdefault("populate", []).append(
                        {
                            "from": current,
                            "to": size,
                            "seconds": round(time.monotonic() - t0, 1),
                            "cpu_ms_per_doc": round(
                                sum(cpu1[k] - cpu0[k] for k in cpu1) * 1000 / (size - current), 3
                            ),
                        }
                    )
                current = size
                if stack.pg is not None:
                    with postgres.Connection(stack.pg.endpoint) as conn:
                        conn.query(f'VACUUM ANALYZE "{DB}"."{_table(conn, "jobs")}"')
                ctx = Ctx(coll=coll, size=size)
                _insert_job(ctx)
                for name, fn in OPS.items():
                    result = measure_op(stack, ctx, name, fn, n, budget)
                    report["ops"].append(result.__dict__ | {"total_cpu_ms": result.total_cpu_ms})
                    print(
                        f"  {variant:17} size={size:>7} {name:38} n={result.n:4} "
                        f"cpu={result.total_cpu_ms:8.2f} ms {result.cpu_ms} "
                        f"p50={result.p50_ms:8.2f} p95={result.p95_ms:8.2f}",
                        flush=True,
                    )
                if size in (sizes[0], sizes[-1]):
                    conc = concurrent_writers(stack, coll, size)
                    report["concurrent"].append(conc)
                    print(f"  {variant:17} size={size:>7} 16 writers: {conc}", flush=True)
                if stack.pg is not None and size == sizes[0]:
                    report["sql"] = capture_sql(stack, ctx)
            if stack.pg is not None:
                report["explain"] = explain(stack, sizes[-1])
        finally:
            client.close()
    return report


def markdown(reports: list[dict[str, Any]]) -> str:
    lines: list[str] = []
    sizes = sorted({row["size"] for r in reports for row in r["ops"]})
    ops = list(OPS)
    lines.append("Server CPU per command, ms (FerretDB + PostgreSQL) / p50 / p95 latency, ms")
    lines.append("")
    header = "| command | size | " + " | ".join(r["variant"] for r in reports) + " |"
    lines += [header, "|" + "---|" * (2 + len(reports))]
    for name in ops:
        for size in sizes:
            cells = []
            for r in reports:
                row = next((x for x in r["ops"] if x["op"] == name and x["size"] == size), None)
                cells.append(
                    "-"
                    if row is None
                    else f"{row['total_cpu_ms']:.2f} / {row['p50_ms']:.1f} / {row['p95_ms']:.1f}"
                )
            lines.append(f"| {name} | {size:,} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("16 concurrent writers, unique inserts (pairs race for each _id)")
    lines.append("")
    lines += [
        "| variant | size | inserts/s | CPU ms/insert | p50 ms | p95 ms |",
        "|---|---|---|---|---|---|",
    ]
    for r in reports:
        for c in r["concurrent"]:
            lines.append(
                f"| {r['variant']} | {c['size']:,} | {c['inserts_per_s']} | "
                f"{c['cpu_ms_per_insert']} | {c['p50_ms']} | {c['p95_ms']} |"
            )
    lines.append("")
    for r in reports:
        lines.append(f"- {r['variant']}: servers ready in {r['start_seconds']} s (fresh state)")
        for p in r.get("populate", []):
            lines.append(
                f"  - populate {p['from']:,} -> {p['to']:,}: {p['seconds']} s, "
                f"{p['cpu_ms_per_doc']} ms CPU/doc"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ferretdb_backends", description=__doc__)
    parser.add_argument("--sizes", default="0,5000,260000")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--n", type=int, default=200, help="commands per kind and size")
    parser.add_argument("--budget", type=float, default=15.0, help="seconds per kind and size")
    parser.add_argument("--out", default=None, help="JSON file (default bench/results/...)")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    variants = [v for v in args.variants.split(",") if v]
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        parser.error(f"unknown variants: {', '.join(sorted(unknown))}")
    random.seed(11)
    reports = []
    for variant in variants:
        print(f"{variant}:", flush=True)
        reports.append(run_variant(variant, sizes, args.n, args.budget))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = (
        Path(args.out)
        if args.out
        else Path(__file__).parent / "results" / f"ferretdb-backends-{stamp}.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {"measured_at": stamp, "cores": os.cpu_count(), "sizes": sizes, "reports": reports}
    out.write_text(json.dumps(result, indent=2, default=str))
    print()
    print(markdown(reports))
    print(f"\nsaved {out}")


if __name__ == "__main__":
    main()
