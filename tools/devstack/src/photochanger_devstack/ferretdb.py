"""FerretDB (MongoDB wire protocol over SQLite or PostgreSQL) built from the Go module proxy.

Build: ``go build`` of the small launcher in ``tools/ferretdb`` (it embeds
``github.com/FerretDB/FerretDB/ferretdb``) into ``<cache>/ferretdb-<version>-<sources>/ferretdb``.
Start: run it on a loopback port with a state directory (SQLite files) or a PostgreSQL URL.
Ready: a MongoDB ``ping`` succeeds. :func:`start_local` starts the backend selected by
``$PHOTOCHANGER_FERRETDB_BACKEND`` (``postgresql``, the default, or ``sqlite``): for
PostgreSQL a private server from :mod:`photochanger_devstack.postgres` first. Why PostgreSQL
is the default: ADR-0011 (SQLite reads and updates by ``_id`` scan the whole collection).
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Literal

from pymongo import MongoClient
from pymongo.errors import PyMongoError

from photochanger_devstack import postgres
from photochanger_devstack.errors import DevstackError
from photochanger_devstack.installs import exclusive_lock, fingerprint, is_complete, write_marker
from photochanger_devstack.paths import cache_dir, tools_dir
from photochanger_devstack.ports import LOOPBACK, accepts_connections, free_port, is_port_free
from photochanger_devstack.procs import BackgroundProcess, Running, pid_file_is_live
from photochanger_devstack.procs import start_background as _start_background
from photochanger_devstack.waiting import wait_until_ready

FERRETDB_VERSION = "1.24.2"
DEFAULT_PORT = 27017
DEFAULT_READY_TIMEOUT = 30.0
DEFAULT_LOG_LEVEL = "info"

ENV_LOG_LEVEL = "PHOTOCHANGER_FERRETDB_LOG_LEVEL"
ENV_BACKEND = "PHOTOCHANGER_FERRETDB_BACKEND"

Backend = Literal["postgresql", "sqlite"]
BACKENDS: tuple[Backend, ...] = ("postgresql", "sqlite")
DEFAULT_BACKEND: Backend = "postgresql"

_SOURCES = ("go.mod", "go.sum", "main.go")


def source_dir() -> Path:
    return tools_dir() / "ferretdb"


def build_dir() -> Path:
    """Return ``<cache>/ferretdb-<version>-<sources>`` (may not be built yet).

    Keyed by the launcher sources too: checkouts with different launchers on one machine (git
    worktrees) each keep their own binary instead of rebuilding over each other's.
    """
    return cache_dir() / f"ferretdb-{FERRETDB_VERSION}-{_build_fingerprint()[:12]}"


def binary_path() -> Path:
    return build_dir() / "ferretdb"


def _build_fingerprint() -> str:
    return fingerprint([source_dir() / name for name in _SOURCES], FERRETDB_VERSION)


def is_built() -> bool:
    """Return True if the cache holds a binary built from the current launcher sources."""
    return binary_path().is_file() and is_complete(build_dir(), _build_fingerprint())


def _go_executable() -> str:
    found = shutil.which("go")
    if found is None:
        raise DevstackError("Go 1.24+ is needed once to build FerretDB (https://go.dev/dl/)")
    return found


def ensure_built() -> Path:
    """Build the FerretDB launcher into the cache unless already there; return the binary.

    Safe to run concurrently (file lock) and after an interrupted build (the binary is built
    under a temporary name and renamed; the marker is written last).
    """
    expected = _build_fingerprint()
    if is_built():
        return binary_path()
    target_dir = build_dir()
    target_dir.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(cache_dir() / f"ferretdb-{FERRETDB_VERSION}.lock"):
        if is_built():
            return binary_path()
        (target_dir / ".complete").unlink(missing_ok=True)
        staging = target_dir / f"ferretdb.{os.getpid()}.tmp"
        env = dict(os.environ)
        env["GOFLAGS"] = f"{env.get('GOFLAGS', '')} -mod=mod -buildvcs=false".strip()
        env["CGO_ENABLED"] = "0"  # the SQLite driver is pure Go; no C toolchain needed
        command = [
            _go_executable(),
            "build",
            "-trimpath",
            "-ldflags=-s -w",
            "-o",
            str(staging),
            ".",
        ]
        try:
            result = subprocess.run(
                command,
                cwd=source_dir(),
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            if result.returncode != 0 or not staging.is_file():
                output = "\n".join((result.stdout + result.stderr).splitlines()[-40:])
                raise DevstackError(
                    f"building FerretDB {FERRETDB_VERSION} failed "
                    f"({shlex.join(command)} in {source_dir()}):\n{output}"
                )
            staging.replace(binary_path())
            write_marker(target_dir, expected)
        finally:
            staging.unlink(missing_ok=True)
    return binary_path()


def mongodb_uri(port: int) -> str:
    return f"mongodb://{LOOPBACK}:{port}/"


def probe(uri: str, timeout: float = 2.0) -> bool:
    """Return True if the server at ``uri`` answers ``ping``."""
    timeout_ms = int(timeout * 1000)
    client: MongoClient[dict[str, object]] = MongoClient(
        uri,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        socketTimeoutMS=timeout_ms,
        appname="photochanger-devstack-probe",
    )
    try:
        client.admin.command("ping")
    except PyMongoError:
        return False
    finally:
        client.close()
    return True


def wait_ready(
    uri: str,
    *,
    port: int | None = None,
    timeout: float = DEFAULT_READY_TIMEOUT,
    process: BackgroundProcess | None = None,
) -> float:
    """Wait until :func:`probe` succeeds; return the seconds waited."""

    def ready() -> bool:
        if port is not None and not accepts_connections(port):
            return False
        return probe(uri)

    return wait_until_ready(ready, what=f"FerretDB at {uri}", timeout=timeout, process=process)


def backend_from_env() -> Backend:
    """The backend named by ``$PHOTOCHANGER_FERRETDB_BACKEND``.

    Unset: PostgreSQL, or SQLite on a machine without PostgreSQL binaries (no system
    PostgreSQL and no ``pgserver`` wheel for this platform).
    """
    raw = os.environ.get(ENV_BACKEND, "").strip().lower()
    if not raw:
        return DEFAULT_BACKEND if postgres.find_binaries() is not None else "sqlite"
    for backend in BACKENDS:
        if raw == backend:
            return backend
    raise DevstackError(f"{ENV_BACKEND}={raw!r}: expected one of {', '.join(BACKENDS)}")


def start(
    port: int,
    state_dir: Path,
    log_dir: Path,
    *,
    log_level: str | None = None,
    ready_timeout: float = DEFAULT_READY_TIMEOUT,
    die_with_parent: bool = True,
    postgresql_url: str | None = None,
) -> Running:
    """Start FerretDB on 127.0.0.1:``port``.

    Without ``postgresql_url``: SQLite files under ``state_dir``/data. With it: the PostgreSQL
    backend on that database (``state_dir`` then only holds the pid file). ``Running.address``
    is the MongoDB URI. Logs go to ``log_dir``/ferretdb.log.
    """
    binary = ensure_built()
    state_dir = state_dir.resolve()
    log_dir = log_dir.resolve()
    pid_file = state_dir / "ferretdb.pid"
    if pid_file_is_live(pid_file):
        raise DevstackError(f"FerretDB is already running from {state_dir} (see {pid_file})")
    if not is_port_free(port):
        raise DevstackError(f"cannot start FerretDB: port {LOOPBACK}:{port} is in use")
    state_dir.mkdir(parents=True, exist_ok=True)
    level = log_level or os.environ.get(ENV_LOG_LEVEL, DEFAULT_LOG_LEVEL)
    argv = [str(binary), f"-listen-addr={LOOPBACK}:{port}", f"-log-level={level}"]
    if postgresql_url is None:
        argv.append(f"-state-dir={state_dir / 'data'}")
    else:
        argv += ["-handler=postgresql", f"-postgresql-url={postgresql_url}"]
    process = _start_background(
        "ferretdb",
        argv,
        log_file=log_dir / "ferretdb.log",
        pid_file=pid_file,
        cwd=state_dir,
        die_with_parent=die_with_parent,
    )
    running = Running(
        name="ferretdb",
        address=mongodb_uri(port),
        process=process,
        relaunch=lambda die: start(
            port, state_dir, log_dir, log_level=log_level, ready_timeout=ready_timeout,
            die_with_parent=die, postgresql_url=postgresql_url,
        ),
    )  # fmt: skip
    try:
        wait_ready(running.address, port=port, timeout=ready_timeout, process=process)
    except BaseException:
        running.stop()
        raise
    return running


def start_local(
    port: int,
    state_root: Path,
    log_dir: Path,
    *,
    backend: Backend | None = None,
    ready_timeout: float = DEFAULT_READY_TIMEOUT,
    die_with_parent: bool = True,
) -> list[Running]:
    """Start FerretDB on ``backend`` (default :func:`backend_from_env`) below ``state_root``.

    Returns the started servers in start order (for PostgreSQL: PostgreSQL on a free port with
    its cluster in ``state_root``/postgres, then FerretDB; stop them in reverse order). The
    MongoDB URI is the ``address`` of the last one.
    """
    chosen = backend or backend_from_env()
    started: list[Running] = []
    try:
        postgresql_url = None
        if chosen == "postgresql":
            database = postgres.start(
                free_port(),
                state_root / "postgres",
                log_dir,
                ready_timeout=ready_timeout,
                die_with_parent=die_with_parent,
            )
            started.append(database)
            postgresql_url = database.address
        started.append(
            start(
                port,
                state_root / "ferretdb",
                log_dir,
                ready_timeout=ready_timeout,
                die_with_parent=die_with_parent,
                postgresql_url=postgresql_url,
            )
        )
    except BaseException:
        for running in reversed(started):
            running.stop()
        raise
    return started
