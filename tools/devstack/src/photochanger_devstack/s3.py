"""A real S3-compatible server for tests and local runs: versitygw over a local directory.

Install: ``go install github.com/versity/versitygw/cmd/versitygw@<version>`` from the Go module
proxy into ``<cache>/versitygw-<version>/versitygw`` (about a minute on 2 cores with empty Go
caches, once per version). Start: its ``posix`` backend serves ``<state>/data``, where every
sub-directory is a bucket; the bucket is made as a directory before the start. Fixed local
credentials, loopback only. Ready: TCP accept, then a signed S3 ``ListObjectsV2`` on the bucket.

``local_s3()`` gives a server for the duration of a ``with`` block; with
``PHOTOCHANGER_TEST_S3_URL=s3://bucket/prefix`` set it starts nothing and uses that bucket, with
the endpoint, region and credentials of the standard ``AWS_*`` variables (as the services read
them).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from photochanger_devstack.errors import DevstackError
from photochanger_devstack.installs import exclusive_lock, fingerprint, is_complete, write_marker
from photochanger_devstack.paths import cache_dir
from photochanger_devstack.ports import LOOPBACK, accepts_connections, free_port, is_port_free
from photochanger_devstack.procs import BackgroundProcess, Running, pid_file_is_live
from photochanger_devstack.procs import start_background as _start_background
from photochanger_devstack.waiting import wait_until_ready

VERSITYGW_VERSION = "1.8.0"
VERSITYGW_PACKAGE = "github.com/versity/versitygw/cmd/versitygw"
DEFAULT_PORT = 7070
DEFAULT_READY_TIMEOUT = 30.0
DEFAULT_BUCKET = "photochanger"

# Local-only credentials of the server we start (it listens on loopback only).
ACCESS_KEY_ID = "photochanger"
SECRET_ACCESS_KEY = "photochanger-local-secret"  # noqa: S105 - a fixed local test credential
REGION = "us-east-1"

ENV_TEST_S3_URL = "PHOTOCHANGER_TEST_S3_URL"
"""``s3://bucket[/prefix]``: use this bucket (endpoint and credentials from ``AWS_*``)."""

AWS_ENV_NAMES = (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
)

Source = Literal["env", "local"]


def install_dir() -> Path:
    """Return ``<cache>/versitygw-<version>`` (may not be built yet)."""
    return cache_dir() / f"versitygw-{VERSITYGW_VERSION}"


def binary_path() -> Path:
    return install_dir() / "versitygw"


def _build_fingerprint() -> str:
    return fingerprint([], VERSITYGW_PACKAGE, VERSITYGW_VERSION, "CGO_ENABLED=0")


def is_installed() -> bool:
    """Return True if the cache holds a versitygw binary of this version."""
    return binary_path().is_file() and is_complete(install_dir(), _build_fingerprint())


def ensure_installed() -> Path:
    """Build versitygw into the cache unless already there; return the binary.

    Safe to run concurrently (file lock) and after an interrupted build: ``go install`` writes
    into a private temporary directory, the binary is renamed into place, the marker last.
    """
    if is_installed():
        return binary_path()
    target_dir = install_dir()
    target_dir.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(cache_dir() / f"versitygw-{VERSITYGW_VERSION}.lock"):
        if is_installed():
            return binary_path()
        (target_dir / ".complete").unlink(missing_ok=True)
        go = shutil.which("go")
        if go is None:
            raise DevstackError("Go 1.24+ is needed once to build versitygw (https://go.dev/dl/)")
        staging = Path(tempfile.mkdtemp(prefix="bin.", suffix=".tmp", dir=target_dir))
        env = dict(os.environ)
        env["GOBIN"] = str(staging)
        env["CGO_ENABLED"] = "0"
        env["GOFLAGS"] = f"{env.get('GOFLAGS', '')} -buildvcs=false".strip()
        command = [
            go,
            "install",
            "-trimpath",
            "-ldflags=-s -w",
            f"{VERSITYGW_PACKAGE}@v{VERSITYGW_VERSION}",
        ]
        try:
            result = subprocess.run(
                command,
                cwd=staging,  # outside any module: `go install pkg@version` ignores go.mod
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            built = staging / "versitygw"
            if result.returncode != 0 or not built.is_file():
                output = "\n".join((result.stdout + result.stderr).splitlines()[-40:])
                raise DevstackError(
                    f"building versitygw {VERSITYGW_VERSION} failed ({shlex.join(command)}):\n"
                    f"{output}"
                )
            built.replace(binary_path())
            write_marker(target_dir, _build_fingerprint())
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return binary_path()


def endpoint_url(port: int) -> str:
    return f"http://{LOOPBACK}:{port}"


def probe(endpoint: str, bucket: str, timeout: float = 2.0) -> bool:
    """Return True if ``endpoint`` answers a signed ListObjectsV2 on ``bucket``."""
    import obstore
    from obstore.store import S3Store

    store = S3Store(
        bucket,
        endpoint=endpoint,
        region=REGION,
        access_key_id=ACCESS_KEY_ID,
        secret_access_key=SECRET_ACCESS_KEY,
        virtual_hosted_style_request=False,
        client_options={"allow_http": True, "timeout": f"{timeout}s"},
        retry_config={"max_retries": 0, "retry_timeout": timedelta(seconds=timeout)},
    )
    try:
        obstore.list_with_delimiter(store, "photochanger-devstack-probe/")
    except Exception:  # any failure means "not ready yet"
        return False
    return True


def wait_ready(
    endpoint: str,
    bucket: str,
    *,
    port: int | None = None,
    timeout: float = DEFAULT_READY_TIMEOUT,
    process: BackgroundProcess | None = None,
) -> float:
    """Wait until :func:`probe` succeeds; return the seconds waited."""

    def ready() -> bool:
        if port is not None and not accepts_connections(port):
            return False
        return probe(endpoint, bucket)

    return wait_until_ready(
        ready, what=f"versitygw at {endpoint}", timeout=timeout, process=process
    )


def start(
    port: int,
    data_dir: Path,
    log_dir: Path,
    *,
    bucket: str = DEFAULT_BUCKET,
    ready_timeout: float = DEFAULT_READY_TIMEOUT,
    die_with_parent: bool = True,
) -> Running:
    """Start versitygw on 127.0.0.1:``port`` serving ``data_dir``/data, with ``bucket`` in it.

    ``Running.address`` is the endpoint URL (``http://127.0.0.1:<port>``); the credentials are
    :data:`ACCESS_KEY_ID` / :data:`SECRET_ACCESS_KEY`, region :data:`REGION`. Logs go to
    ``log_dir``/versitygw.log.
    """
    binary = ensure_installed()
    data_dir = data_dir.resolve()
    log_dir = log_dir.resolve()
    pid_file = data_dir / "versitygw.pid"
    if pid_file_is_live(pid_file):
        raise DevstackError(f"versitygw is already running from {data_dir} (see {pid_file})")
    if not is_port_free(port):
        raise DevstackError(f"cannot start versitygw: port {LOOPBACK}:{port} is in use")
    root = data_dir / "data"
    # The posix backend serves every top-level directory as a bucket.
    (root / bucket).mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env["ROOT_ACCESS_KEY_ID"] = ACCESS_KEY_ID
    env["ROOT_SECRET_ACCESS_KEY"] = SECRET_ACCESS_KEY
    argv = [
        str(binary),
        f"--port={LOOPBACK}:{port}",
        f"--region={REGION}",
        "--quiet",
        "posix",
        str(root),
    ]
    process = _start_background(
        "versitygw",
        argv,
        log_file=log_dir / "versitygw.log",
        pid_file=pid_file,
        env=env,
        cwd=data_dir,
        die_with_parent=die_with_parent,
    )
    running = Running(
        name="versitygw",
        address=endpoint_url(port),
        process=process,
        relaunch=lambda die: start(
            port, data_dir, log_dir, bucket=bucket, ready_timeout=ready_timeout,
            die_with_parent=die,
        ),
    )  # fmt: skip
    try:
        wait_ready(running.address, bucket, port=port, timeout=ready_timeout, process=process)
    except BaseException:
        running.stop()
        raise
    return running


@dataclass(frozen=True)
class S3Server:
    """A bucket to use and how to reach it: a local versitygw, or one named by the env."""

    bucket: str
    prefix: str
    source: Source
    endpoint_url: str | None
    region: str | None
    access_key_id: str | None
    secret_access_key: str | None
    aws_env: Mapping[str, str] = field(default_factory=dict)
    """The ``AWS_*`` variables a client needs (what ``S3MediaStore.from_url`` reads)."""
    running: Running | None = field(default=None, compare=False, repr=False)
    data_dir: Path | None = None
    """For a local server: the directory it serves (one sub-directory per bucket)."""

    def media_url(self, prefix: str = "") -> str:
        """``s3://bucket/<own prefix>/<prefix>`` for ``PHOTOCHANGER_MEDIA_URL``."""
        path = "/".join(part.strip("/") for part in (self.prefix, prefix) if part.strip("/"))
        return f"s3://{self.bucket}/{path}" if path else f"s3://{self.bucket}"

    def describe(self) -> str:
        where = self.endpoint_url or "the AWS default endpoint"
        return f"s3={self.media_url()} at {where} ({self.source})"


def _from_env(url: str) -> S3Server:
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise DevstackError(f"{ENV_TEST_S3_URL}={url!r} is not an s3://bucket[/prefix] URL")
    aws_env = {name: os.environ[name] for name in AWS_ENV_NAMES if os.environ.get(name)}
    return S3Server(
        bucket=parts.netloc,
        prefix=parts.path.strip("/"),
        source="env",
        endpoint_url=aws_env.get("AWS_ENDPOINT_URL_S3") or aws_env.get("AWS_ENDPOINT_URL"),
        region=aws_env.get("AWS_REGION") or aws_env.get("AWS_DEFAULT_REGION"),
        access_key_id=aws_env.get("AWS_ACCESS_KEY_ID"),
        secret_access_key=aws_env.get("AWS_SECRET_ACCESS_KEY"),
        aws_env=aws_env,
    )


@contextlib.contextmanager
def local_s3(
    *,
    port: int = 0,
    state_dir: Path | None = None,
    bucket: str = DEFAULT_BUCKET,
    use_env: bool = True,
    ready_timeout: float = DEFAULT_READY_TIMEOUT,
) -> Iterator[S3Server]:
    """An S3 bucket for the ``with`` block: ``$PHOTOCHANGER_TEST_S3_URL`` if set (nothing is
    started), else a local versitygw on ``port`` (0: a free loopback port) with its data and
    log under ``state_dir`` (default: a temporary directory removed afterwards), stopped on exit.
    """
    from_env = os.environ.get(ENV_TEST_S3_URL, "").strip() if use_env else ""
    if from_env:
        yield _from_env(from_env)
        return
    with contextlib.ExitStack() as stack:
        if state_dir is None:
            root = Path(tempfile.mkdtemp(prefix="photochanger-s3-"))
            stack.callback(shutil.rmtree, root, ignore_errors=True)
        else:
            state_dir.mkdir(parents=True, exist_ok=True)
            root = state_dir.resolve()
        running = start(
            port or free_port(),
            root / "versitygw",
            root / "logs",
            bucket=bucket,
            ready_timeout=ready_timeout,
        )
        stack.callback(running.stop)
        yield S3Server(
            bucket=bucket,
            prefix="",
            source="local",
            endpoint_url=running.address,
            region=REGION,
            access_key_id=ACCESS_KEY_ID,
            secret_access_key=SECRET_ACCESS_KEY,
            aws_env={
                "AWS_ENDPOINT_URL": running.address,
                "AWS_REGION": REGION,
                "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
                "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            },
            running=running,
            data_dir=root / "versitygw" / "data",
        )
