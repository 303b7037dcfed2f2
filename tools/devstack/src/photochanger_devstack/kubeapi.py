"""A real Kubernetes API server (kube-apiserver 1.32 over etcd) on loopback, for the
deployment tests' server-side dry-runs. There is no kubelet, scheduler or controller manager:
objects are validated, defaulted and admitted (Pod Security included), nothing runs.

Build: ``go build`` of ``tools/kube-apiserver`` (a module of our own requiring
``k8s.io/kubernetes`` and pointing each ``k8s.io`` staging module at its published release;
``go install`` of ``k8s.io/kubernetes`` itself refuses its local replace directives) into
``<cache>/kube-apiserver-<version>-<sources>/kube-apiserver``: about 5 minutes on 2 cores,
once. etcd is Debian's ``etcd-server`` (``make kube`` installs it when missing).
Start: etcd on a free loopback port with a private data directory, then the API server with
a self-signed serving certificate, a static bearer token (group ``system:masters``) and a
generated service-account key. Ready: ``/readyz`` answers 200.
"""

from __future__ import annotations

import os
import secrets
import shlex
import shutil
import ssl
import subprocess
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from photochanger_devstack.errors import DevstackError
from photochanger_devstack.installs import exclusive_lock, fingerprint, is_complete, write_marker
from photochanger_devstack.paths import cache_dir, tools_dir
from photochanger_devstack.ports import LOOPBACK, free_port
from photochanger_devstack.procs import BackgroundProcess, start_background
from photochanger_devstack.waiting import wait_until_ready

KUBERNETES_VERSION = "1.32.13"
DEFAULT_READY_TIMEOUT = 120.0
_SOURCES = ("go.mod", "go.sum", "main.go")
ETCD_PACKAGE = "etcd-server"


def source_dir() -> Path:
    return tools_dir() / "kube-apiserver"


def _build_fingerprint() -> str:
    return fingerprint([source_dir() / name for name in _SOURCES], KUBERNETES_VERSION)


def build_dir() -> Path:
    return cache_dir() / f"kube-apiserver-{KUBERNETES_VERSION}-{_build_fingerprint()[:12]}"


def binary_path() -> Path:
    return build_dir() / "kube-apiserver"


def is_built() -> bool:
    return binary_path().is_file() and is_complete(build_dir(), _build_fingerprint())


def ensure_built() -> Path:
    """Build kube-apiserver into the cache unless it is there; return the binary."""
    if is_built():
        return binary_path()
    go = shutil.which("go")
    if go is None:
        raise DevstackError("Go 1.23+ is needed once to build kube-apiserver (https://go.dev/dl/)")
    target_dir = build_dir()
    target_dir.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(cache_dir() / f"kube-apiserver-{KUBERNETES_VERSION}.lock"):
        if is_built():
            return binary_path()
        (target_dir / ".complete").unlink(missing_ok=True)
        staging = target_dir / f"kube-apiserver.{os.getpid()}.tmp"
        env = dict(os.environ)
        env["GOFLAGS"] = f"{env.get('GOFLAGS', '')} -mod=mod -buildvcs=false".strip()
        env["CGO_ENABLED"] = "0"
        env.setdefault("GOTOOLCHAIN", "local")
        command = [go, "build", "-trimpath", "-ldflags=-s -w", "-o", str(staging), "."]
        try:
            done = subprocess.run(
                command, cwd=source_dir(), env=env, capture_output=True, text=True, check=False
            )
            if done.returncode != 0 or not staging.is_file():
                output = "\n".join((done.stdout + done.stderr).splitlines()[-40:])
                raise DevstackError(
                    f"building kube-apiserver {KUBERNETES_VERSION} failed "
                    f"({shlex.join(command)} in {source_dir()}):\n{output}"
                )
            staging.replace(binary_path())
            write_marker(target_dir, _build_fingerprint())
        finally:
            staging.unlink(missing_ok=True)
    return binary_path()


def etcd_binary() -> Path:
    found = shutil.which("etcd") or ("/usr/bin/etcd" if Path("/usr/bin/etcd").is_file() else None)
    if found is None:
        raise DevstackError(
            f"etcd is missing: `make kube` installs Debian's {ETCD_PACKAGE} "
            f"(or: apt-get install {ETCD_PACKAGE})"
        )
    return Path(found)


@dataclass
class KubeApiServer:
    """A running API server: its URL and the bearer token of an administrator."""

    url: str
    token: str
    processes: tuple[BackgroundProcess, ...]

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()


def _openssl(*args: str) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise DevstackError("openssl is needed to make the API server's service-account key")
    subprocess.run([openssl, *args], check=True, capture_output=True)


def _healthy(url: str, token: str) -> bool:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=2, context=context) as answer:  # noqa: S310
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def start(
    state_dir: Path,
    log_dir: Path,
    *,
    ready_timeout: float = DEFAULT_READY_TIMEOUT,
    die_with_parent: bool = True,
) -> KubeApiServer:
    """Start etcd and kube-apiserver on free loopback ports with their state in
    ``state_dir``; logs go to ``log_dir``/etcd.log and kube-apiserver.log."""
    binary = ensure_built()
    etcd = etcd_binary()
    state_dir.mkdir(parents=True, exist_ok=True)
    client, peer, secure = free_port(), free_port(), free_port()
    started: list[BackgroundProcess] = []
    try:
        started.append(
            start_background(
                "etcd",
                [
                    str(etcd), "--name=photochanger", f"--data-dir={state_dir / 'etcd'}",
                    f"--listen-client-urls=http://{LOOPBACK}:{client}",
                    f"--advertise-client-urls=http://{LOOPBACK}:{client}",
                    f"--listen-peer-urls=http://{LOOPBACK}:{peer}",
                    f"--initial-advertise-peer-urls=http://{LOOPBACK}:{peer}",
                    f"--initial-cluster=photochanger=http://{LOOPBACK}:{peer}",
                    "--log-level=warn",
                ],
                log_file=log_dir / "etcd.log",
                pid_file=state_dir / "etcd.pid",
                cwd=state_dir,
                die_with_parent=die_with_parent,
            )
        )  # fmt: skip
        key = state_dir / "service-account.key"
        public = state_dir / "service-account.pub"
        _openssl("genrsa", "-out", str(key), "2048")
        _openssl("rsa", "-in", str(key), "-pubout", "-out", str(public))
        token = secrets.token_urlsafe(32)
        tokens = state_dir / "tokens.csv"
        tokens.write_text(f'{token},photochanger-tests,photochanger-tests,"system:masters"\n')
        tokens.chmod(0o600)
        started.append(
            start_background(
                "kube-apiserver",
                [
                    str(binary),
                    f"--etcd-servers=http://{LOOPBACK}:{client}",
                    f"--bind-address={LOOPBACK}", f"--advertise-address={LOOPBACK}",
                    f"--secure-port={secure}", f"--cert-dir={state_dir / 'certs'}",
                    f"--token-auth-file={tokens}",
                    "--authorization-mode=RBAC",
                    "--service-account-issuer=https://kubernetes.default.svc",
                    f"--service-account-key-file={public}",
                    f"--service-account-signing-key-file={key}",
                    "--service-cluster-ip-range=10.96.0.0/16",
                    "--api-audiences=https://kubernetes.default.svc",
                    "--v=1",
                ],
                log_file=log_dir / "kube-apiserver.log",
                pid_file=state_dir / "kube-apiserver.pid",
                cwd=state_dir,
                die_with_parent=die_with_parent,
            )
        )  # fmt: skip
        url = f"https://{LOOPBACK}:{secure}"
        wait_until_ready(
            lambda: _healthy(f"{url}/readyz", token),
            what=f"kube-apiserver at {url}",
            timeout=ready_timeout,
            process=started[-1],
        )
    except BaseException:
        for process in reversed(started):
            process.stop()
        raise
    return KubeApiServer(url=url, token=token, processes=tuple(started))
