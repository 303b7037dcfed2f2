"""A single-node Apache Kafka broker (KRaft, broker+controller) assembled from Maven Central.

Install: ``mvn dependency:copy-dependencies`` of ``tools/kafka/pom.xml`` into
``<cache>/kafka-<version>/libs``. Start: format the storage once, then run ``kafka.Kafka`` with
a generated ``server.properties`` on loopback ports. Ready: a metadata request succeeds.

Startup is tuned for small dev machines: serial GC, C1 only, a bounded heap, and a dynamic
class-data-sharing archive that the first clean shutdown writes into the install directory
(about 0.8 s faster starts afterwards; disable with ``PHOTOCHANGER_KAFKA_CDS=0``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
import shlex
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from aiokafka import AIOKafkaClient

from photochanger_devstack.errors import DevstackError
from photochanger_devstack.installs import (
    exclusive_lock,
    fingerprint,
    is_complete,
    write_marker,
)
from photochanger_devstack.java import java_executable, maven_executable
from photochanger_devstack.paths import cache_dir, tools_dir
from photochanger_devstack.ports import LOOPBACK, accepts_connections, is_port_free
from photochanger_devstack.procs import (
    BackgroundProcess,
    Running,
    pid_file_is_live,
    start_background,
    tail,
)
from photochanger_devstack.waiting import wait_until_ready

KAFKA_VERSION = "4.1.1"
SCALA_VERSION = "2.13"
DEFAULT_PORT = 9092
DEFAULT_CONTROLLER_PORT = 9093
DEFAULT_READY_TIMEOUT = 60.0

ENV_JAVA_OPTS = "PHOTOCHANGER_KAFKA_JAVA_OPTS"
ENV_CDS = "PHOTOCHANGER_KAFKA_CDS"

NODE_ID = 1
_MAIN_JAR = f"kafka_{SCALA_VERSION}-{KAFKA_VERSION}.jar"
_JVM_OPTIONS = (
    "-Xms256m",
    "-Xmx512m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
)

T = TypeVar("T")


def pom_file() -> Path:
    return tools_dir() / "kafka" / "pom.xml"


def log4j_config() -> Path:
    return tools_dir() / "kafka" / "log4j2.xml"


def install_dir() -> Path:
    """Return ``<cache>/kafka-<version>`` (may not be installed yet)."""
    return cache_dir() / f"kafka-{KAFKA_VERSION}"


def libs_dir() -> Path:
    return install_dir() / "libs"


def _install_fingerprint() -> str:
    return fingerprint([pom_file()], KAFKA_VERSION)


def is_installed() -> bool:
    """Return True if the cache holds a complete install for the current ``pom.xml``."""
    return is_complete(install_dir(), _install_fingerprint())


def ensure_installed() -> Path:
    """Download the broker jars into the cache unless already there; return the install dir.

    Safe to run concurrently (file lock) and after an interrupted run (temp dir + rename; the
    marker file is written before the rename).
    """
    target = install_dir()
    expected = _install_fingerprint()
    if is_complete(target, expected):
        return target
    root = cache_dir()
    with exclusive_lock(root / f"kafka-{KAFKA_VERSION}.lock"):
        if is_complete(target, expected):
            return target
        # Staging dirs of installs that were killed (we hold the lock, so none is in use).
        for leftover in root.glob(f".kafka-{KAFKA_VERSION}-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        staging = Path(tempfile.mkdtemp(prefix=f".kafka-{KAFKA_VERSION}-", dir=root))
        try:
            command = [
                maven_executable(),
                "-q",
                "-B",
                "--no-transfer-progress",
                "-Dstyle.color=never",
                "-f",
                str(pom_file()),
                "dependency:copy-dependencies",
                f"-DoutputDirectory={staging / 'libs'}",
            ]
            result = subprocess.run(command, capture_output=True, text=True, check=False)
            if result.returncode != 0 or not (staging / "libs" / _MAIN_JAR).is_file():
                output = "\n".join((result.stdout + result.stderr).splitlines()[-40:])
                raise DevstackError(
                    f"downloading Kafka {KAFKA_VERSION} with Maven failed "
                    f"({shlex.join(command)}):\n{output}"
                )
            staging.chmod(0o755)  # mkdtemp creates 0700; the cache is shared by every clone
            write_marker(staging, expected)
            if target.exists():
                stale = Path(tempfile.mkdtemp(prefix=f".kafka-{KAFKA_VERSION}-old-", dir=root))
                target.rename(stale / "old")
                shutil.rmtree(stale, ignore_errors=True)
            staging.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def _classpath() -> str:
    # An explicit, sorted list (not "libs/*") keeps the class path identical between runs,
    # which the class-data-sharing archive requires.
    jars = sorted(libs_dir().glob("*.jar"))
    return os.pathsep.join(str(jar) for jar in jars)


def _cds_archive() -> Path:
    """Return the class-data-sharing archive path for the current Java runtime.

    A dynamic archive only works with the JVM that wrote it, so the name includes a hash of
    the resolved java executable and its modification time.
    """
    java = Path(java_executable()).resolve()
    key = hashlib.sha256(f"{java}:{java.stat().st_mtime_ns}".encode()).hexdigest()[:12]
    return install_dir() / f"kafka-cds-{key}.jsa"


def _cds_enabled() -> bool:
    return os.environ.get(ENV_CDS, "1").strip().lower() not in {"0", "false", "no", "off"}


def _jvm_options(log_dir: Path) -> list[str]:
    options = [
        *_JVM_OPTIONS,
        f"-Dlog4j2.configurationFile={log4j_config()}",
        f"-Dkafka.logs.dir={log_dir}",
    ]
    options += shlex.split(os.environ.get(ENV_JAVA_OPTS, ""))
    return options


def server_settings(port: int, controller_port: int, data_dir: Path) -> dict[str, str]:
    """The settings of a single-node broker+controller with a plaintext listener on ``port``
    (a caller may change the listeners: the SCRAM/TLS test does)."""
    return {
        "process.roles": "broker,controller",
        "node.id": str(NODE_ID),
        # A static voter set: the controller address comes from this file on every start,
        # so an existing data directory keeps working when the ports change.
        "controller.quorum.voters": f"{NODE_ID}@{LOOPBACK}:{controller_port}",
        "listeners": f"PLAINTEXT://{LOOPBACK}:{port},CONTROLLER://{LOOPBACK}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{LOOPBACK}:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(data_dir),
        "num.partitions": "3",
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        "offsets.topic.replication.factor": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        # After a crash the restarted controller still holds the dead broker's registration and
        # refuses the new one (DUPLICATE_BROKER_REGISTRATION) until that session expires: 9 s
        # by default, most of a restart. Broker and controller share this process and talk on
        # loopback, so a short session is safe.
        "broker.session.timeout.ms": "3000",
        "broker.heartbeat.interval.ms": "1000",
        "auto.create.topics.enable": "true",
        "log.retention.hours": "24",
        "log.segment.bytes": str(64 * 1024 * 1024),
    }


def server_properties(port: int, controller_port: int, data_dir: Path) -> str:
    """Return the ``server.properties`` text of a single-node broker+controller."""
    return properties_text(server_settings(port, controller_port, data_dir))


def properties_text(settings: dict[str, str]) -> str:
    lines = ["# Generated by photochanger_devstack.kafka on every start; edits are lost."]
    lines += [f"{key}={value}" for key, value in settings.items()]
    return "\n".join(lines) + "\n"


def _new_cluster_id() -> str:
    """Return a Kafka cluster id: 16 random bytes, URL-safe base64 without padding."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):  # would read as a command-line flag
            return cluster_id


def is_formatted(data_dir: Path) -> bool:
    return (data_dir / "meta.properties").is_file()


def format_storage(config_file: Path, data_dir: Path, log_file: Path) -> None:
    """Format ``data_dir`` for a new single-node cluster unless it is formatted already."""
    if is_formatted(data_dir):
        return
    archive = _cds_archive()
    command = [
        java_executable(),
        *_JVM_OPTIONS,
        "-Xshare:auto",
        *([f"-XX:SharedArchiveFile={archive}"] if _cds_enabled() and archive.is_file() else []),
        f"-Dlog4j2.configurationFile={log4j_config()}",
        f"-Dkafka.logs.dir={log_file.parent}",
        "-cp",
        _classpath(),
        "kafka.tools.StorageTool",
        "format",
        "--ignore-formatted",
        "--cluster-id",
        _new_cluster_id(),
        "--config",
        str(config_file),
    ]
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        result = subprocess.run(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, check=False
        )
    if result.returncode != 0:
        raise DevstackError(f"formatting Kafka storage failed; log {log_file}:\n{tail(log_file)}")


def _cds_options() -> tuple[list[str], Path | None]:
    """Return JVM options for class-data sharing and the archive this run will write, if any."""
    if not _cds_enabled():
        return [], None
    archive = _cds_archive()
    if archive.is_file():
        return ["-Xshare:auto", f"-XX:SharedArchiveFile={archive}"], None
    # Drop archives of runs that never shut down cleanly.
    for leftover in install_dir().glob("kafka-cds-*.tmp"):
        with contextlib.suppress(OSError):
            if time.time() - leftover.stat().st_mtime > 3600:
                leftover.unlink()
    pending = archive.with_name(f"{archive.name}.{os.getpid()}.{time.monotonic_ns()}.tmp")
    return ["-Xshare:auto", f"-XX:ArchiveClassesAtExit={pending}"], pending


def _keep_archive(process: BackgroundProcess, pending: Path, archive: Path) -> Callable[[], None]:
    def keep() -> None:
        # 143 = 128 + SIGTERM: the JVM ran its shutdown hooks and wrote the archive.
        clean = process.returncode in {0, 143}
        with contextlib.suppress(OSError):
            if clean and pending.is_file() and pending.stat().st_size > 0:
                pending.replace(archive)
            else:
                pending.unlink(missing_ok=True)

    return keep


def _run_blocking(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion from sync code, even if this thread runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()


async def _metadata_ok(bootstrap_servers: str, timeout: float) -> bool:
    client = AIOKafkaClient(
        bootstrap_servers=bootstrap_servers,
        client_id="photochanger-devstack-probe",
        request_timeout_ms=int(timeout * 1000),
    )
    try:
        await client.bootstrap()
        return bool(client.cluster.brokers())
    except Exception:
        return False
    finally:
        await client.close()


def _first_port(bootstrap_servers: str) -> tuple[str, int]:
    host, _, port = bootstrap_servers.split(",")[0].strip().rpartition(":")
    return host, int(port)


def probe(bootstrap_servers: str, timeout: float = 5.0) -> bool:
    """Return True if the broker answers a metadata request with at least one broker."""
    host, port = _first_port(bootstrap_servers)
    if host == LOOPBACK and not accepts_connections(port):
        return False  # not listening yet: skip the client, which logs every refused connection
    return _run_blocking(lambda: _metadata_ok(bootstrap_servers, timeout))


def wait_ready(
    bootstrap_servers: str,
    *,
    timeout: float = DEFAULT_READY_TIMEOUT,
    process: BackgroundProcess | None = None,
) -> float:
    """Wait until :func:`probe` succeeds; return the seconds waited."""
    return wait_until_ready(
        lambda: probe(bootstrap_servers),
        what=f"Kafka at {bootstrap_servers}",
        timeout=timeout,
        process=process,
    )


def start(
    port: int,
    controller_port: int,
    state_dir: Path,
    log_dir: Path,
    *,
    ready_timeout: float = DEFAULT_READY_TIMEOUT,
    die_with_parent: bool = True,
) -> Running:
    """Start a broker on 127.0.0.1:``port`` (controller on ``controller_port``) and wait for it.

    ``state_dir`` holds the data, the generated config and ``kafka.pid``; it is formatted on
    first use and reused afterwards. Logs go to ``log_dir`` (``kafka-server.log`` from Log4j,
    ``kafka.out`` for the JVM's own output).
    """
    ensure_installed()
    state_dir = state_dir.resolve()
    log_dir = log_dir.resolve()
    pid_file = state_dir / "kafka.pid"
    if pid_file_is_live(pid_file):
        raise DevstackError(f"Kafka is already running from {state_dir} (see {pid_file})")
    for wanted in (port, controller_port):
        if not is_port_free(wanted):
            raise DevstackError(f"cannot start Kafka: port {LOOPBACK}:{wanted} is in use")
    data_dir = state_dir / "data"
    config_file = state_dir / "server.properties"
    state_dir.mkdir(parents=True, exist_ok=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    config_file.write_text(server_properties(port, controller_port, data_dir))
    out_file = log_dir / "kafka.out"
    format_storage(config_file, data_dir, out_file)

    cds_options, pending_archive = _cds_options()
    argv = [
        java_executable(),
        *_jvm_options(log_dir),
        *cds_options,
        "-cp",
        _classpath(),
        "kafka.Kafka",
        str(config_file),
    ]
    process = start_background(
        "kafka",
        argv,
        log_file=out_file,
        pid_file=pid_file,
        cwd=state_dir,
        die_with_parent=die_with_parent,
    )
    running = Running(
        name="kafka",
        address=f"{LOOPBACK}:{port}",
        process=process,
        relaunch=lambda die: start(
            port, controller_port, state_dir, log_dir, ready_timeout=ready_timeout,
            die_with_parent=die,
        ),
    )  # fmt: skip
    if pending_archive is not None:
        running.add_stop_callback(_keep_archive(process, pending_archive, _cds_archive()))
    try:
        wait_ready(running.address, timeout=ready_timeout, process=process)
    except BaseException:
        running.stop()
        raise
    return running
