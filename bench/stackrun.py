"""The platform under test: real Kafka and FerretDB, the five services and the emulators as
processes, started with `photochanger_devstack` exactly as the end-to-end tests do."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from photochanger_devstack.infra import Infrastructure, local_infrastructure
from photochanger_devstack.stack import Stack, create_stack

#: Settings the benchmark changes, and why (all reported in the results):
BENCH_ENV: dict[str, str] = {
    # the shipped Gemini budget (500 requests/min = 8.3 jobs/s) is the real provider's quota,
    # not platform overhead; the emulator has no quota
    "PHOTOCHANGER_GEMINI_REQUESTS_PER_MINUTE": "1000000",
    # let one api process hold the 1,000+ waiting requests of the connections scenario
    "PHOTOCHANGER_MAX_WAITING_REQUESTS": "4000",
    "PHOTOCHANGER_MAX_WAITING_PER_PROVIDER": "3000",
    # every simulated booth posts from 127.0.0.1: one address may upload as many as them all
    "PHOTOCHANGER_MAX_CONCURRENT_UPLOADS": "1024",
    "PHOTOCHANGER_MAX_CONCURRENT_UPLOADS_PER_ADDRESS": "1024",
}
GEMINI_CONCURRENCY_ENV = "PHOTOCHANGER_GEMINI_MAX_CONCURRENT_JOBS"
#: how the Gemini emulator makes its answers (`--emulator-render`); the stack passes its
#: environment to every process it starts, the emulators included
EMULATOR_RENDER_ENV = "PHOTOCHANGER_EMULATOR_RENDER"
KAFKA = "kafka"


@dataclass
class Platform:
    infra: Infrastructure
    stack: Stack
    state_dir: Path

    @property
    def database(self) -> str:
        return self.stack.env["PHOTOCHANGER_MONGODB_DATABASE"]

    def process_groups(self) -> dict[str, int]:
        """Process group ids (= pids of the started processes) by name, infra included."""
        groups = {name: proc.pid for name, proc in self.stack.processes.items()}
        for server in self.infra.servers:
            groups[server.name] = server.process.pid
        return groups

    def database_servers(self) -> set[str]:
        """Names (in :meth:`process_groups`) of the database server's processes."""
        return {server.name for server in self.infra.servers if server.name != KAFKA}

    def postgres_pid_files(self) -> list[Path]:
        """`postmaster.pid` files under the local infrastructure's state (a FerretDB on
        PostgreSQL started by the devstack keeps its data there)."""
        root = self.infra.state_dir
        return sorted(root.rglob("postmaster.pid")) if root is not None else []

    def database_files_mb(self) -> float | None:
        """Size on disk of the current database's files (local FerretDB: one SQLite file
        per database, plus its WAL), or None when they cannot be found."""
        root = self.infra.state_dir
        if root is None:
            return None
        total = sum(p.stat().st_size for p in root.rglob(f"{self.database}.*") if p.is_file())
        return round(total / 1e6, 1) if total else None

    def fresh_database(self) -> tuple[float, str]:
        """Restart every process on a new, empty database (each scenario starts clean: the
        local FerretDB slows down as collections grow); returns the seconds it took and the
        name of the database left behind."""
        started = time.monotonic()
        old = self.database
        self.stack.stop_all()
        self.stack.env["PHOTOCHANGER_MONGODB_DATABASE"] = f"bench_{uuid.uuid4().hex[:8]}"
        self.stack.start_all()
        return time.monotonic() - started, old

    def restart(self, service: str, env: Mapping[str, str]) -> float:
        """Restart every replica of a service with changed settings; returns the seconds it
        took."""
        started = time.monotonic()
        self.stack.env.update(env)
        names = self.stack.running_replicas(service) or [service]
        for name in names:
            self.stack.stop(name)
        for name in names:
            self.stack.start(name, wait=False)
        for name in names:
            self.stack.wait_ready(name, timeout=60.0)
        return time.monotonic() - started


def _environ() -> dict[str, str]:
    # real provider keys must not turn the emulators off; no tracing exporters either
    return {
        k: v
        for k, v in os.environ.items()
        if not k.endswith("_API_KEY") and not k.startswith("OTEL_")
    }


@contextlib.contextmanager
def running_platform(
    *,
    extra_env: Mapping[str, str],
    keep_state: bool,
    log: bool = True,
    replicas: Mapping[str, int] | None = None,
) -> Iterator[Platform]:
    """The platform on a fresh local infrastructure; `replicas`: processes per service (None:
    `PHOTOCHANGER_REPLICAS`, else one each)."""
    state = Path(tempfile.mkdtemp(prefix="photochanger-bench-"))
    say = print if log else None
    try:
        with local_infrastructure(state_dir=state / "infra", log=say) as infra:
            stack = create_stack(
                infra,
                state / "stack",
                ports={},
                database=f"bench_{uuid.uuid4().hex[:8]}",
                extra_env={**BENCH_ENV, **extra_env},
                environ=_environ(),
                replicas=replicas,
            )
            try:
                stack.start_all()
                yield Platform(infra=infra, stack=stack, state_dir=state)
            finally:
                stack.stop_all()
    finally:
        if keep_state:
            print(f"state and service logs kept in {state}")
        else:
            shutil.rmtree(state, ignore_errors=True)
