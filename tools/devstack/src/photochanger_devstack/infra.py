"""One entry point for "give me a Kafka and a MongoDB": env, testcontainers, or local servers.

For each of Kafka and MongoDB independently:

1. ``PHOTOCHANGER_KAFKA_BOOTSTRAP_SERVERS`` / ``PHOTOCHANGER_MONGODB_URI`` set: use it, start
   nothing;
2. else, with a reachable Docker engine and ``testcontainers`` installed: a container;
3. else: the local server (Kafka from Maven Central, FerretDB built with Go), started here and
   stopped when the context exits.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from photochanger_devstack import ferretdb, kafka, postgres, s3, testcontainers_backend
from photochanger_devstack.paths import StateLayout
from photochanger_devstack.ports import free_ports
from photochanger_devstack.procs import Running

ENV_KAFKA_BOOTSTRAP_SERVERS = "PHOTOCHANGER_KAFKA_BOOTSTRAP_SERVERS"
ENV_MONGODB_URI = "PHOTOCHANGER_MONGODB_URI"

Source = Literal["env", "testcontainers", "local"]


@dataclass(frozen=True)
class Infrastructure:
    """Addresses of a Kafka broker and a MongoDB-protocol server, and where they came from."""

    kafka_bootstrap_servers: str
    mongodb_uri: str
    kafka_source: Source
    mongodb_source: Source
    state_dir: Path | None = None
    servers: tuple[Running, ...] = field(default=(), compare=False, repr=False)
    """The local servers started for this infrastructure (empty for env/testcontainers)."""

    def stopped_servers(self) -> list[str]:
        """Return the names of local servers whose process has exited."""
        return [server.name for server in self.servers if not server.process.is_running()]

    def describe(self) -> str:
        """One line for humans: both addresses and their sources."""
        return (
            f"kafka={self.kafka_bootstrap_servers} ({self.kafka_source}), "
            f"mongodb={self.mongodb_uri} ({self.mongodb_source})"
        )

    def as_env(self) -> dict[str, str]:
        """The environment variables that point PhotoChanger services at this infrastructure."""
        return {
            ENV_KAFKA_BOOTSTRAP_SERVERS: self.kafka_bootstrap_servers,
            ENV_MONGODB_URI: self.mongodb_uri,
        }


def ensure_installed(
    log: Callable[[str], None] | None = None,
    *,
    report_reused: bool = True,
    kafka_needed: bool = True,
    mongodb_needed: bool = True,
    s3_needed: bool = False,
) -> None:
    """Download Kafka and build FerretDB (and versitygw, the S3 server, with ``s3_needed``) into
    the cache (in parallel), reusing what is there.

    ``log`` receives one line per piece: reused (if ``report_reused``), installing, installed.
    """

    def report(message: str) -> None:
        if log is not None:
            log(message)

    pieces: list[tuple[str, Callable[[], bool], Callable[[], Path], Callable[[], Path]]] = []
    if kafka_needed:
        pieces.append(
            (
                f"kafka {kafka.KAFKA_VERSION}",
                kafka.is_installed,
                kafka.install_dir,
                kafka.ensure_installed,
            )
        )
    if mongodb_needed:
        pieces.append(
            (
                f"ferretdb {ferretdb.FERRETDB_VERSION}",
                ferretdb.is_built,
                ferretdb.binary_path,
                ferretdb.ensure_built,
            )
        )
    if mongodb_needed and ferretdb.backend_from_env() == "postgresql":
        pieces.append(
            (
                "postgresql",
                postgres.is_installed,
                postgres.install_location,
                postgres.ensure_installed,
            )
        )
    if s3_needed:
        pieces.append(
            (
                f"versitygw {s3.VERSITYGW_VERSION}",
                s3.is_installed,
                s3.binary_path,
                s3.ensure_installed,
            )
        )
    jobs: list[tuple[str, Callable[[], Path]]] = []
    for name, present, location, install in pieces:
        if not present():
            jobs.append((name, install))
        elif report_reused:
            report(f"{name}: reused {location()}")
    if not jobs:
        return
    for name, _ in jobs:
        report(f"{name}: not in the cache, installing (about a minute, once per version)")
    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = [(name, pool.submit(job)) for name, job in jobs]
        for name, future in futures:
            report(f"{name}: installed {future.result()}")


@contextlib.contextmanager
def local_infrastructure(
    *,
    kafka_port: int = 0,
    kafka_controller_port: int = 0,
    mongodb_port: int = 0,
    state_dir: Path | None = None,
    use_env: bool = True,
    use_testcontainers: bool = True,
    ready_timeout: float = kafka.DEFAULT_READY_TIMEOUT,
    log: Callable[[str], None] | None = None,
) -> Iterator[Infrastructure]:
    """Provide Kafka and MongoDB for the duration of the ``with`` block.

    Ports of 0 are picked automatically (free loopback ports). ``state_dir`` keeps data and
    logs of local servers between runs; without it a temporary directory is used and removed
    afterwards. Everything started here is stopped on exit, also on errors.
    """
    env_kafka = os.environ.get(ENV_KAFKA_BOOTSTRAP_SERVERS, "").strip() if use_env else ""
    env_mongodb = os.environ.get(ENV_MONGODB_URI, "").strip() if use_env else ""
    need_local = not (env_kafka and env_mongodb)
    containers = need_local and use_testcontainers and testcontainers_backend.available()

    with contextlib.ExitStack() as stack:
        kafka_address, kafka_source = _provide_kafka(stack, env_kafka, containers=containers)
        mongodb_address, mongodb_source = _provide_mongodb(
            stack, env_mongodb, containers=containers
        )
        servers: list[Running] = []
        layout: StateLayout | None = None
        if kafka_address is None or mongodb_address is None:
            ensure_installed(
                log,
                report_reused=False,
                kafka_needed=kafka_address is None,
                mongodb_needed=mongodb_address is None,
            )
            layout = StateLayout(_state_root(stack, state_dir))
            wanted = [kafka_port, kafka_controller_port, mongodb_port]
            picked = iter(free_ports(wanted.count(0)))
            kafka_port, kafka_controller_port, mongodb_port = (
                port or next(picked) for port in wanted
            )
        if mongodb_address is None:
            assert layout is not None
            # $PHOTOCHANGER_FERRETDB_BACKEND: sqlite, or postgresql (+ a private PostgreSQL)
            for running_mongodb in ferretdb.start_local(
                mongodb_port, layout.root, layout.log_dir, ready_timeout=ready_timeout
            ):
                stack.callback(running_mongodb.stop)
                servers.append(running_mongodb)
            mongodb_address, mongodb_source = running_mongodb.address, "local"
        if kafka_address is None:
            assert layout is not None
            running_kafka = kafka.start(
                kafka_port,
                kafka_controller_port,
                layout.kafka_dir,
                layout.log_dir,
                ready_timeout=ready_timeout,
            )
            stack.callback(running_kafka.stop)
            servers.append(running_kafka)
            kafka_address, kafka_source = running_kafka.address, "local"
        yield Infrastructure(
            kafka_bootstrap_servers=kafka_address,
            mongodb_uri=mongodb_address,
            kafka_source=kafka_source,
            mongodb_source=mongodb_source,
            state_dir=layout.root if layout is not None else None,
            servers=tuple(servers),
        )


def _provide_kafka(
    stack: contextlib.ExitStack, from_env: str, *, containers: bool
) -> tuple[str | None, Source]:
    if from_env:
        return from_env, "env"
    if containers:
        return stack.enter_context(testcontainers_backend.kafka()), "testcontainers"
    return None, "local"


def _provide_mongodb(
    stack: contextlib.ExitStack, from_env: str, *, containers: bool
) -> tuple[str | None, Source]:
    if from_env:
        return from_env, "env"
    if containers:
        return stack.enter_context(testcontainers_backend.mongodb()), "testcontainers"
    return None, "local"


def _state_root(stack: contextlib.ExitStack, state_dir: Path | None) -> Path:
    if state_dir is not None:
        state_dir.mkdir(parents=True, exist_ok=True)
        return state_dir.resolve()
    temporary = Path(tempfile.mkdtemp(prefix="photochanger-infra-"))
    # Registered first, so it runs last: after the servers have stopped.
    stack.callback(shutil.rmtree, temporary, ignore_errors=True)
    return temporary
