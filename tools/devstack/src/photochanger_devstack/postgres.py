"""PostgreSQL for FerretDB's ``postgresql`` backend, run from binaries already on the machine.

Find: ``$PHOTOCHANGER_POSTGRES_BIN_DIR``, then ``initdb`` + ``postgres`` on ``PATH``, then
``/usr/lib/postgresql/<version>/bin`` (Debian/Ubuntu, newest first) and
``/usr/pgsql-<version>/bin`` (RHEL), then the binaries shipped in the ``pgserver`` wheel (a
dependency of this package, so a fresh checkout always has PostgreSQL after ``uv sync``).

Init: ``<state>/data`` is a copy of a template cluster cached once per binaries and account
(``initdb`` with trust authentication, superuser ``ferretdb``, UTF-8, C locale, 1 MB WAL
segments, plus the ``ferretdb`` database and the bootstrap SQL). Start: ``postgres`` on a
loopback port, with its unix socket in ``<state>/run`` (FerretDB connects there when the path
is short enough). Ready: a startup handshake over the wire protocol is accepted. Every start
also (re)installs an event trigger that gives each new FerretDB table a GIN index on
``_jsonb->'_id'``: FerretDB looks documents up with ``_jsonb->'_id' @> $1``, which its own
btree ``_id`` index cannot serve, so without it every ``{_id: ...}`` read is a sequential scan
(see ADR-0011).

PostgreSQL refuses to run as root. As root, the server runs as an unprivileged account
(``$PHOTOCHANGER_POSTGRES_USER``, else ``postgres`` if it exists, else a system account
``photochanger-pg`` created with ``useradd``) through ``setpriv``; the data and socket
directories are given to it, and it keeps one ambient capability (``CAP_DAC_READ_SEARCH``, or
``CAP_DAC_OVERRIDE`` where the bounding set lacks it) so that it can reach a state directory
below root-only parents such as ``/tmp/pytest-of-root``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import re
import shutil
import signal
import socket
import struct
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

from photochanger_devstack.errors import DevstackError
from photochanger_devstack.installs import (
    MARKER_NAME,
    exclusive_lock,
    fingerprint,
    is_complete,
    write_marker,
)
from photochanger_devstack.paths import cache_dir
from photochanger_devstack.ports import LOOPBACK, free_port, is_port_free
from photochanger_devstack.procs import Running, pid_file_is_live, start_background
from photochanger_devstack.waiting import wait_until_ready

DEFAULT_READY_TIMEOUT = 30.0
SUPERUSER = "ferretdb"
DATABASE = "ferretdb"
SYSTEM_ACCOUNT = "photochanger-pg"

ENV_BIN_DIR = "PHOTOCHANGER_POSTGRES_BIN_DIR"
ENV_USER = "PHOTOCHANGER_POSTGRES_USER"

# A unix socket path must fit in sockaddr_un.sun_path (108 bytes with the terminating NUL).
_MAX_SOCKET_PATH = 107

# Settings for a local development and test database; passed on every start (`-c`), so a kept
# cluster picks up changes. See ADR-0011 for the measurements behind them.
SERVER_SETTINGS: dict[str, str] = {
    # A commit is on disk before it is acknowledged. With `off` a killed server lost its last
    # ~0.6 s of commits: `make chaos` caught a job whose booth had its image while the record
    # said `timeout` (the final record was lost, the reaper then timed the job out). A WAL
    # flush costs ~0.15 ms on this machine's disk.
    "synchronous_commit": "on",
    # No replication or archiving: minimal WAL.
    "wal_level": "minimal",
    "max_wal_senders": "0",
    # Fits the hot indexes; the rest of the data lives in the OS page cache. 128 MB is
    # PostgreSQL's own default and keeps the idle footprint small on a laptop.
    "shared_buffers": "128MB",
    # FerretDB opens up to 50 pooled connections (its default pool size); tests run a few
    # clients at once.
    "max_connections": "100",
    # Tiny OLTP queries: JIT compilation only adds latency (up to ~100 ms on a large scan), and
    # a parallel scan would take both cores of a small machine from the other servers.
    "jit": "off",
    "max_parallel_workers_per_gather": "0",
    # FerretDB prepares `_jsonb->$1 @> $2` with the field name as a parameter; only a custom
    # plan sees the constant and can match an expression index.
    "plan_cache_mode": "force_custom_plan",
    "timezone": "UTC",
    "log_timezone": "UTC",
    # Quiet logs: a lost unique-insert race (the fence protocol, ADR-0006) is one terse line
    # instead of ERROR + DETAIL + STATEMENT.
    "log_checkpoints": "off",
    "log_min_messages": "warning",
    "log_min_error_statement": "panic",
    "log_error_verbosity": "terse",
    "logging_collector": "off",
}

# Idempotent; run in the `ferretdb` database on every start.
_BOOTSTRAP_SQL = """
CREATE OR REPLACE FUNCTION public.photochanger_index_ferretdb_ids() RETURNS event_trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    created record;
BEGIN
    FOR created IN
        SELECT objid, object_identity FROM pg_event_trigger_ddl_commands()
        WHERE command_tag = 'CREATE TABLE' AND object_type = 'table'
    LOOP
        IF EXISTS (
            SELECT 1 FROM pg_attribute
            WHERE attrelid = created.objid AND attname = '_jsonb' AND NOT attisdropped
        ) THEN
            -- fastupdate=off: no pending list that every lookup would have to scan
            EXECUTE format(
                'CREATE INDEX ON %s USING gin ((_jsonb->''_id'') jsonb_path_ops) '
                'WITH (fastupdate = off)',
                created.object_identity
            );
        END IF;
    END LOOP;
END
$fn$;
DROP EVENT TRIGGER IF EXISTS photochanger_index_ferretdb_ids;
CREATE EVENT TRIGGER photochanger_index_ferretdb_ids ON ddl_command_end
    WHEN TAG IN ('CREATE TABLE')
    EXECUTE FUNCTION public.photochanger_index_ferretdb_ids();
"""

_NO_ID_INDEX_SQL = "DROP EVENT TRIGGER IF EXISTS photochanger_index_ferretdb_ids;"


# --------------------------------------------------------------------------------------------
# Binaries


@dataclass(frozen=True)
class Binaries:
    """A directory with ``initdb`` and ``postgres``, and where it was found."""

    bin_dir: Path
    source: str

    def tool(self, name: str) -> Path:
        return self.bin_dir / name

    def version(self) -> str:
        """``postgres --version``, e.g. ``postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)``."""
        result = subprocess.run(
            [str(self.tool("postgres")), "--version"],
            capture_output=True,
            text=True,
            check=False,
        )
        return result.stdout.strip() or result.stderr.strip()

    def describe(self) -> str:
        return f"{self.version()} from {self.bin_dir} ({self.source})"


def _has_server(bin_dir: Path) -> bool:
    return all(os.access(bin_dir / name, os.X_OK) for name in ("initdb", "postgres"))


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", path.as_posix()))


def _pgserver_bin_dir() -> Path | None:
    try:
        spec = importlib.util.find_spec("pgserver")
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "pginstall" / "bin"


def _candidates() -> Iterator[tuple[Path, str]]:
    override = os.environ.get(ENV_BIN_DIR, "").strip()
    if override:
        yield Path(override).expanduser(), f"${ENV_BIN_DIR}"
        return
    initdb = shutil.which("initdb")
    if initdb is not None:
        yield Path(initdb).resolve().parent, "PATH"
    for pattern in ("/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin"):
        found = [Path(p) for p in Path("/").glob(pattern.lstrip("/"))]
        for bin_dir in sorted(found, key=_version_key, reverse=True):
            yield bin_dir, "system"
    wheel = _pgserver_bin_dir()
    if wheel is not None:
        yield wheel, "pgserver wheel"


def find_binaries() -> Binaries | None:
    """Return the first PostgreSQL server installation found (see the module docstring)."""
    for bin_dir, source in _candidates():
        if _has_server(bin_dir):
            return Binaries(bin_dir=bin_dir, source=source)
    return None


def require_binaries() -> Binaries:
    found = find_binaries()
    if found is None:
        raise DevstackError(
            "no PostgreSQL server binaries found (initdb and postgres): install the "
            "workspace (`uv sync`, which brings the pgserver wheel), or Debian's "
            f"postgresql package, or point ${ENV_BIN_DIR} at a bin directory; "
            "or use the SQLite backend (PHOTOCHANGER_FERRETDB_BACKEND=sqlite)"
        )
    return found


# --------------------------------------------------------------------------------------------
# Running as an unprivileged account


@dataclass(frozen=True)
class Account:
    """The unprivileged account PostgreSQL runs as when we are root."""

    name: str
    uid: int
    gid: int


def _lookup(name: str) -> Account | None:
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    return Account(name=entry.pw_name, uid=entry.pw_uid, gid=entry.pw_gid)


def _create_system_account(name: str) -> None:
    useradd = shutil.which("useradd")
    if useradd is None:
        raise DevstackError(
            f"PostgreSQL cannot run as root and there is no `useradd` to create an account "
            f"for it; create one and name it in ${ENV_USER}"
        )
    result = subprocess.run(
        [
            useradd,
            "--system",
            "--user-group",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            "/usr/sbin/nologin",
            name,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0 and _lookup(name) is None:
        raise DevstackError(f"creating the account {name!r} failed: {result.stderr.strip()}")


def server_account(*, create: bool = True) -> Account | None:
    """Return the account to run PostgreSQL as, or None when we are not root (run as us).

    As root with no suitable account: creates one, or raises when ``create`` is False.
    """
    if os.geteuid() != 0:
        return None
    wanted = os.environ.get(ENV_USER, "").strip()
    if wanted:
        account = _lookup(wanted)
        if account is None:
            raise DevstackError(f"${ENV_USER}={wanted!r} is not an account on this machine")
        if account.uid == 0:
            raise DevstackError(f"${ENV_USER}={wanted!r} is root; PostgreSQL refuses that")
        return account
    for name in ("postgres", SYSTEM_ACCOUNT):
        account = _lookup(name)
        if account is not None and account.uid != 0:
            return account
    if not create:
        raise DevstackError(f"no account to run PostgreSQL as (yet): {SYSTEM_ACCOUNT!r}")
    _create_system_account(SYSTEM_ACCOUNT)
    account = _lookup(SYSTEM_ACCOUNT)
    if account is None:
        raise DevstackError(f"the account {SYSTEM_ACCOUNT!r} was not created")
    return account


_CAP_DAC_OVERRIDE = 1
_CAP_DAC_READ_SEARCH = 2


def _bounding_capabilities() -> int:
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapBnd:"):
                return int(line.split()[1], 16)
    return 0


def _run_as_prefix(account: Account | None, *, die_signal: str | None) -> list[str]:
    """``setpriv`` arguments that run a command as ``account`` (and die with its parent)."""
    setpriv = shutil.which("setpriv")
    if account is None:
        if setpriv is None or die_signal is None:
            return []
        return [setpriv, f"--pdeathsig={die_signal}", "--"]
    if setpriv is None:
        raise DevstackError(
            "running PostgreSQL as root needs `setpriv` (util-linux) to switch to "
            f"the account {account.name!r}"
        )
    prefix = [setpriv, f"--reuid={account.uid}", f"--regid={account.gid}", "--clear-groups"]
    capabilities = _bounding_capabilities()
    choices = ((_CAP_DAC_READ_SEARCH, "dac_read_search"), (_CAP_DAC_OVERRIDE, "dac_override"))
    for number, name in choices:
        if capabilities & (1 << number):
            prefix += [f"--inh-caps=+{name}", f"--ambient-caps=+{name}"]
            break
    if die_signal is not None:
        # set after the uid change (which clears a parent-death signal set before it)
        prefix.append(f"--pdeathsig={die_signal}")
    return [*prefix, "--"]


def _give(path: Path, account: Account | None) -> None:
    if account is not None:
        os.chown(path, account.uid, account.gid)


# --------------------------------------------------------------------------------------------
# A minimal client for the PostgreSQL wire protocol (v3, trust authentication, simple queries)


class PostgresError(DevstackError):
    """An ErrorResponse from the server; ``code`` is the SQLSTATE."""

    def __init__(self, fields: dict[str, str]) -> None:
        self.code = fields.get("C", "")
        self.fields = fields
        super().__init__(f"PostgreSQL error {self.code}: {fields.get('M', '')}")


@dataclass(frozen=True)
class Endpoint:
    """Where a PostgreSQL server accepts connections: a loopback port, maybe a socket dir."""

    port: int
    socket_dir: Path | None = None
    host: str = LOOPBACK

    def socket_path(self) -> Path | None:
        if self.socket_dir is None:
            return None
        return self.socket_dir / f".s.PGSQL.{self.port}"

    def url(self, database: str = DATABASE, user: str = SUPERUSER) -> str:
        """A libpq/pgx URL; through the unix socket when there is one (cheaper than TCP)."""
        if self.socket_dir is not None:
            query = urlencode({"host": str(self.socket_dir), "port": str(self.port)})
            return f"postgres://{quote(user)}@/{quote(database)}?{query}"
        return f"postgres://{quote(user)}@{self.host}:{self.port}/{quote(database)}"


class Connection:
    """One connection speaking the simple-query protocol; enough for setup and measurements."""

    def __init__(
        self,
        endpoint: Endpoint,
        *,
        database: str = DATABASE,
        user: str = SUPERUSER,
        timeout: float = 10.0,
    ) -> None:
        path = endpoint.socket_path()
        address: str | tuple[str, int]
        if path is not None and path.exists():
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            address = str(path)
        else:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            address = (endpoint.host, endpoint.port)
        sock.settimeout(timeout)
        try:
            sock.connect(address)
        except OSError:
            sock.close()
            raise
        self._sock = sock
        self._buffer = b""
        params = b"".join(
            key.encode() + b"\0" + value.encode() + b"\0"
            for key, value in (
                ("user", user),
                ("database", database),
                ("application_name", "photochanger-devstack"),
            )
        )
        body = struct.pack("!i", 196608) + params + b"\0"
        try:
            self._sock.sendall(struct.pack("!i", len(body) + 4) + body)
            self._until_ready()
        except BaseException:
            self.close()
            raise

    def _read_exact(self, size: int) -> bytes:
        while len(self._buffer) < size:
            chunk = self._sock.recv(65536)
            if not chunk:
                raise ConnectionError("PostgreSQL closed the connection")
            self._buffer += chunk
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def _message(self) -> tuple[bytes, bytes]:
        header = self._read_exact(5)
        kind, length = header[:1], struct.unpack("!i", header[1:])[0]
        return kind, self._read_exact(length - 4)

    @staticmethod
    def _error_fields(payload: bytes) -> dict[str, str]:
        fields: dict[str, str] = {}
        for part in payload.split(b"\0"):
            if part:
                fields[chr(part[0])] = part[1:].decode(errors="replace")
        return fields

    def _until_ready(self) -> list[list[str | None]]:
        rows: list[list[str | None]] = []
        error: PostgresError | None = None
        while True:
            kind, payload = self._message()
            if kind == b"R":
                (code,) = struct.unpack("!i", payload[:4])
                if code != 0:
                    raise DevstackError(f"PostgreSQL asks for authentication (method {code})")
            elif kind == b"E":
                error = PostgresError(self._error_fields(payload))
                if self._buffer == b"" and error.code.startswith("57P"):
                    raise error  # starting up / shutting down: no ReadyForQuery follows
            elif kind == b"D":
                (count,) = struct.unpack("!h", payload[:2])
                offset = 2
                row: list[str | None] = []
                for _ in range(count):
                    (size,) = struct.unpack("!i", payload[offset : offset + 4])
                    offset += 4
                    if size < 0:
                        row.append(None)
                    else:
                        row.append(payload[offset : offset + size].decode())
                        offset += size
                rows.append(row)
            elif kind == b"Z":
                if error is not None:
                    raise error
                return rows

    def query(self, sql: str) -> list[list[str | None]]:
        """Run ``sql`` (one or more statements) and return the rows of the last result."""
        body = sql.encode() + b"\0"
        self._sock.sendall(b"Q" + struct.pack("!i", len(body) + 4) + body)
        return self._until_ready()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.sendall(b"X" + struct.pack("!i", 4))
        self._sock.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def probe(endpoint: Endpoint, database: str = "postgres") -> bool:
    """Return True if the server accepts a session (not starting up, not shutting down)."""
    try:
        with Connection(endpoint, database=database, timeout=2.0):
            return True
    except (OSError, ConnectionError, DevstackError):
        return False


# --------------------------------------------------------------------------------------------
# Cluster life cycle


@dataclass(frozen=True)
class Layout:
    """Files of one PostgreSQL cluster below ``root``."""

    root: Path

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "run"

    @property
    def pid_file(self) -> Path:
        return self.root / "postgres.pid"


_INITDB_OPTIONS = (
    f"--username={SUPERUSER}",
    "--auth=trust",
    "--encoding=UTF8",
    "--locale=C",
    "--no-sync",  # a fresh cluster: nothing to lose yet
    # 1 MB WAL segments instead of 16 MB: a new cluster is 24 MB instead of 40 MB to copy
    "--wal-segsize=1",
)


def _initdb(data_dir: Path, binaries: Binaries, account: Account | None) -> str:
    """Run ``initdb`` into the new, empty ``data_dir``; return its output."""
    if data_dir.exists():
        shutil.rmtree(data_dir)  # left over by an interrupted run
    data_dir.mkdir(mode=0o700, parents=True)
    _give(data_dir, account)
    command = [
        *_run_as_prefix(account, die_signal=None),
        str(binaries.tool("initdb")),
        f"--pgdata={data_dir}",
        *_INITDB_OPTIONS,
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False, cwd="/")
    if result.returncode != 0:
        shutil.rmtree(data_dir, ignore_errors=True)
        output = "\n".join((result.stdout + result.stderr).splitlines()[-20:])
        raise DevstackError(f"initdb failed ({binaries.bin_dir}):\n{output}")
    return result.stdout + result.stderr


def template_dir(binaries: Binaries, account: Account | None) -> Path:
    """``<cache>/postgres-template-<key>``: one initdb output per binaries, version and owner."""
    owner = str(account.uid if account is not None else os.getuid())
    key = fingerprint([], str(binaries.bin_dir), binaries.version(), owner, *_INITDB_OPTIONS)
    return cache_dir() / f"postgres-template-{key[:16]}"


def ensure_template(binaries: Binaries, account: Account | None) -> Path:
    """Return a pristine cluster in the cache: ``initdb`` output plus the ``ferretdb`` database
    and the bootstrap SQL, made once (~1 s). New clusters are copies of it (~0.2 s instead of
    ~0.8 s), which keeps a fresh test infrastructure fast."""
    target = template_dir(binaries, account)
    expected = target.name
    data = target / "data"
    if is_complete(target, expected) and (data / "PG_VERSION").is_file():
        return data
    target.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(target.with_name(target.name + ".lock")):
        if is_complete(target, expected) and (data / "PG_VERSION").is_file():
            return data
        (target / MARKER_NAME).unlink(missing_ok=True)
        staging = Layout(target / f"staging.{os.getpid()}")
        log_file = target / "template.log"
        try:
            log_file.write_text(_initdb(staging.data_dir, binaries, account))
            # the `ferretdb` database and the trigger, once here instead of in every copy
            _launch(
                staging,
                free_port(),
                binaries,
                account,
                log_file=log_file,
                ready_timeout=DEFAULT_READY_TIMEOUT,
                die_with_parent=True,
                index_ids=True,
                extra_settings={"min_wal_size": "2MB"},  # keep no spare WAL files to copy
            ).stop()
            (staging.data_dir / "postmaster.opts").unlink(missing_ok=True)
            if data.exists():
                shutil.rmtree(data)
            staging.data_dir.rename(data)
            write_marker(target, expected)
        finally:
            shutil.rmtree(staging.root, ignore_errors=True)
    return data


def is_installed() -> bool:
    """True if binaries are found and their template cluster is in the cache (no side effects)."""
    binaries = find_binaries()
    if binaries is None:
        return False
    try:
        account = server_account(create=False)
    except DevstackError:
        return False
    target = template_dir(binaries, account)
    return is_complete(target, target.name) and (target / "data" / "PG_VERSION").is_file()


def install_location() -> Path:
    """Where the template cluster of the binaries in use lives (may not exist yet)."""
    binaries = require_binaries()
    return template_dir(binaries, server_account(create=False))


def ensure_installed() -> Path:
    """Find the binaries and make their template cluster (once): what ``install`` does."""
    binaries = require_binaries()
    ensure_template(binaries, server_account())
    return binaries.bin_dir


def _copy_cluster(source: Path, target: Path) -> None:
    """Copy a stopped cluster with owners and modes (as root: still the server's account)."""
    staging = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    cp = shutil.which("cp")
    if cp is not None:
        result = subprocess.run(
            [cp, "-a", str(source), str(staging)], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            raise DevstackError(f"copying {source} failed: {result.stderr.strip()}")
    else:
        shutil.copytree(source, staging, symlinks=True)
        stat = source.stat()
        for path in [staging, *staging.rglob("*")]:
            os.lchown(path, stat.st_uid, stat.st_gid)
    staging.rename(target)


def init_cluster(
    layout: Layout, binaries: Binaries, account: Account | None, log_file: Path
) -> bool:
    """Create a cluster in ``layout.data_dir`` unless there is one; True if it was created.

    The cluster is a copy of the cached :func:`ensure_template`.
    """
    data_dir = layout.data_dir
    if (data_dir / "PG_VERSION").is_file():
        return False
    layout.root.mkdir(parents=True, exist_ok=True)
    if data_dir.exists():
        shutil.rmtree(data_dir)  # left over by an interrupted copy
    template = ensure_template(binaries, account)
    _copy_cluster(template, data_dir)
    with log_file.open("a") as log:
        log.write(f"--- new cluster {data_dir}: a copy of {template}\n")
    return True


def _socket_dir_for(layout: Layout, port: int) -> Path | None:
    path = layout.socket_dir / f".s.PGSQL.{port}.lock"  # the longest file PostgreSQL puts there
    return layout.socket_dir if len(str(path).encode()) <= _MAX_SOCKET_PATH else None


class PostgresServer(Running):
    """A running PostgreSQL: ``address`` is the URL FerretDB connects to."""

    endpoint: Endpoint

    def stop(self, timeout: float = 30.0) -> None:
        """Fast shutdown (SIGINT: end sessions, checkpoint, exit), then the group as usual."""
        if self.process.is_running():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.popen.wait(timeout=min(timeout, 15.0))
        super().stop(timeout)


def _remove_stale_postmaster_pid(layout: Layout) -> None:
    """Drop ``postmaster.pid`` of a server of ours that is gone (e.g. killed with the machine)."""
    stale = layout.data_dir / "postmaster.pid"
    if stale.exists() and not pid_file_is_live(layout.pid_file):
        with contextlib.suppress(OSError):
            lines = stale.read_text().splitlines()
            pid = int(lines[0]) if lines else 0
            if pid > 0 and Path(f"/proc/{pid}").exists():
                comm = Path(f"/proc/{pid}/comm").read_text().strip()
                if comm in {"postgres", "postmaster"}:
                    return  # a live server started by someone else: let postgres refuse
        stale.unlink(missing_ok=True)


def start(
    port: int,
    state_dir: Path,
    log_dir: Path,
    *,
    ready_timeout: float = DEFAULT_READY_TIMEOUT,
    die_with_parent: bool = True,
    index_ids: bool = True,
    extra_settings: dict[str, str] | None = None,
) -> PostgresServer:
    """Init (first time) and start PostgreSQL on 127.0.0.1:``port`` with files in ``state_dir``.

    Returns when the ``ferretdb`` database exists and the bootstrap SQL ran. With
    ``index_ids=False`` the event trigger that indexes ``_id`` for FerretDB is removed instead
    (for measurements). Logs go to ``log_dir``/postgres.log.
    """
    binaries = require_binaries()
    layout = Layout(state_dir.resolve())
    log_file = log_dir.resolve() / "postgres.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    if pid_file_is_live(layout.pid_file):
        raise DevstackError(f"PostgreSQL is already running from {layout.root}")
    if not is_port_free(port):
        raise DevstackError(f"cannot start PostgreSQL: port {LOOPBACK}:{port} is in use")
    account = server_account()
    layout.root.mkdir(parents=True, exist_ok=True)
    init_cluster(layout, binaries, account, log_file)
    _remove_stale_postmaster_pid(layout)
    return _launch(
        layout,
        port,
        binaries,
        account,
        log_file=log_file,
        ready_timeout=ready_timeout,
        die_with_parent=die_with_parent,
        index_ids=index_ids,
        extra_settings=extra_settings,
    )


def _launch(
    layout: Layout,
    port: int,
    binaries: Binaries,
    account: Account | None,
    *,
    log_file: Path,
    ready_timeout: float,
    die_with_parent: bool,
    index_ids: bool,
    extra_settings: dict[str, str] | None = None,
) -> PostgresServer:
    """Start the server on an existing cluster, wait until ready, run the bootstrap SQL."""
    socket_dir = _socket_dir_for(layout, port)
    if socket_dir is not None:
        socket_dir.mkdir(mode=0o700, exist_ok=True)
        _give(socket_dir, account)
    settings = {
        **SERVER_SETTINGS,
        "listen_addresses": LOOPBACK,
        "port": str(port),
        "unix_socket_directories": str(socket_dir) if socket_dir is not None else "",
        **(extra_settings or {}),
    }
    argv = [
        *_run_as_prefix(account, die_signal="INT" if die_with_parent else None),
        str(binaries.tool("postgres")),
        "-D",
        str(layout.data_dir),
        *(arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")),
    ]
    process = start_background(
        "postgres",
        argv,
        log_file=log_file,
        pid_file=layout.pid_file,
        cwd=layout.root,
        die_with_parent=False,  # handled by our own setpriv (after the uid switch)
    )
    endpoint = Endpoint(port=port, socket_dir=socket_dir)
    server = PostgresServer(
        name="postgres",
        address=endpoint.url(),
        process=process,
        relaunch=lambda die: start(
            port, layout.root, log_file.parent, ready_timeout=ready_timeout, die_with_parent=die,
            index_ids=index_ids, extra_settings=extra_settings,
        ),
    )  # fmt: skip
    server.endpoint = endpoint
    try:
        wait_until_ready(
            lambda: probe(endpoint),
            what=f"PostgreSQL on {LOOPBACK}:{port}",
            timeout=ready_timeout,
            process=process,
        )
        bootstrap(endpoint, index_ids=index_ids)
    except BaseException:
        server.stop()
        raise
    return server


def bootstrap(endpoint: Endpoint, *, index_ids: bool = True) -> None:
    """Create the ``ferretdb`` database if missing and install (or remove) the ``_id`` trigger."""
    with Connection(endpoint, database="postgres") as admin:
        exists = admin.query(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'")  # noqa: S608
        if not exists:
            admin.query(f'CREATE DATABASE "{DATABASE}"')
    with Connection(endpoint, database=DATABASE) as conn:
        conn.query(_BOOTSTRAP_SQL if index_ids else _NO_ID_INDEX_SQL)
