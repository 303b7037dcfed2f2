"""The whole platform as local processes: provider emulators and the five services, pointed
at an `Infrastructure`. Used by `make up` and by the end-to-end tests."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import urllib.request
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from photochanger_devstack import replicas as replica_counts
from photochanger_devstack import topology
from photochanger_devstack.errors import DevstackError
from photochanger_devstack.infra import Infrastructure
from photochanger_devstack.ports import LOOPBACK, free_ports, is_port_free
from photochanger_devstack.procs import BackgroundProcess, start_background
from photochanger_devstack.waiting import wait_until_ready

#: service name → its module (api, dispatcher, one provider service per catalogue entry, reaper)
SERVICES: dict[str, str] = {s.name: s.module for s in topology.services()}
#: providers with a local emulator (all of them; `make up` starts those without a key)
EMULATORS: tuple[str, ...] = topology.provider_ids()
DEFAULT_PORTS: dict[str, int] = {
    **topology.service_ports(),
    **{f"emulator-{p}": port for p, port in topology.emulator_ports().items()},
}


def api_key_variable(provider_id: str) -> str:
    return f"PHOTOCHANGER_{provider_id.upper()}_API_KEY"


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as response:  # noqa: S310 - loopback URL
            return bool(response.status == 200)
    except OSError:
        return False


#: the service whose replicas share one address (SO_REUSEPORT), each with a port of its own too
SHARED_PORT_SERVICE = "api"


@dataclass
class Stack:
    """A running platform. Every process can be stopped, killed or restarted by name.

    A service runs as `replicas[service]` processes (`PHOTOCHANGER_REPLICAS`, see
    `replicas`): the first is named after the service, the others `<service>.<n>`. Every
    replica has an HTTP port of its own (`replica_url`); the api's replicas also share
    `ports["api"]` (`api_url`), where the kernel spreads connections over them."""

    infra: Infrastructure
    state_dir: Path
    ports: dict[str, int]
    env: dict[str, str]
    ingest_password: str
    admin_username: str
    admin_password: str
    #: providers served by their local emulator (the others by their real API)
    emulated: tuple[str, ...]
    processes: dict[str, BackgroundProcess] = field(default_factory=dict)
    #: processes per service (every service of `SERVICES`; 1 unless PHOTOCHANGER_REPLICAS
    #: says otherwise)
    replicas: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SERVICES, 1))
    #: the port of each replica alone, picked when first needed (a copy of this stack made
    #: with `dataclasses.replace` picks its own)
    _own_ports: dict[str, int] = field(default_factory=dict, init=False, repr=False)

    @property
    def use_emulators(self) -> bool:
        return bool(self.emulated)

    @property
    def api_url(self) -> str:
        return f"http://{LOOPBACK}:{self.ports['api']}"

    def url(self, name: str) -> str:
        """The address of a process by name; `url("api")` is the one every api replica serves."""
        if name in self.ports:
            return f"http://{LOOPBACK}:{self.ports[name]}"
        return self.replica_url(name)

    def replica_url(self, name: str) -> str:
        """The address of one process alone (of an api replica: its own port, not the shared
        one): its /readyz and /metrics are that replica's."""
        return f"http://{LOOPBACK}:{self.own_port(name)}"

    def own_port(self, name: str) -> int:
        service = self.service_of(name)
        if service != SHARED_PORT_SERVICE and name in self.ports:
            return self.ports[name]
        if name not in self._own_ports:
            self._own_ports[name] = free_ports(1)[0]
        return self._own_ports[name]

    def service_of(self, name: str) -> str | None:
        """The service a process belongs to (None for an emulator)."""
        return replica_counts.service_of(name, SERVICES)

    def replica_names(self, service: str) -> list[str]:
        """The process names of the service's replicas, in order (as configured)."""
        return replica_counts.replica_names(service, self.replicas.get(service, 1))

    def running_replicas(self, service: str) -> list[str]:
        """The service's processes started by this stack and still running."""
        return [
            name
            for name, process in self.processes.items()
            if self.service_of(name) == service and process.is_running()
        ]

    def _argv(self, name: str) -> list[str]:
        if name.startswith("emulator-"):
            provider = name.removeprefix("emulator-")
            return [
                sys.executable, "-m", "photochanger_emulators", provider,
                "--host", LOOPBACK, "--port", str(self.ports[name]),
            ]  # fmt: skip
        # the images' command: the service found by its entry point (photochanger.services)
        return [sys.executable, "-m", "photochanger_runtime.launch", self.service_of(name) or name]

    def _emulator_names(self) -> set[str]:
        return {f"emulator-{p}" for p in self.emulated}

    def _service_env(self, name: str) -> dict[str, str]:
        env = dict(self.env)
        env["PHOTOCHANGER_HTTP_HOST"] = LOOPBACK
        service = self.service_of(name)
        if service == SHARED_PORT_SERVICE:
            # every api replica listens on the one api port (SO_REUSEPORT) and on its own
            env["PHOTOCHANGER_HTTP_PORT"] = str(self.ports[SHARED_PORT_SERVICE])
            env["PHOTOCHANGER_HTTP_REUSE_PORT"] = "true"
            env["PHOTOCHANGER_REPLICA_HTTP_PORT"] = str(self.own_port(name))
        else:
            env["PHOTOCHANGER_HTTP_PORT"] = str(self.own_port(name))
        if service is not None:
            env["PHOTOCHANGER_SERVICE_NAME"] = service
            # traces say which replica did the work
            attributes = [env.get("OTEL_RESOURCE_ATTRIBUTES", ""), f"service.instance.id={name}"]
            env["OTEL_RESOURCE_ATTRIBUTES"] = ",".join(a for a in attributes if a)
        return env

    def _check_shared_port(self, name: str) -> None:
        """The first api replica checks that nobody else has the api port: sockets bound with
        SO_REUSEPORT by another program of this user would share connections with ours."""
        if self.service_of(name) != SHARED_PORT_SERVICE:
            return
        if any(other != name for other in self.running_replicas(SHARED_PORT_SERVICE)):
            return
        port = self.ports[SHARED_PORT_SERVICE]
        if not is_port_free(port):
            raise DevstackError(
                f"port {port} (the api) is in use by another program; stop it "
                f"(`ss -ltnp | grep :{port}`) or choose other ports"
            )

    def start(self, name: str, *, wait: bool = True, timeout: float = 60.0) -> None:
        """Start one process by name (a replica name such as `api.2` adds that replica)."""
        if name not in self._emulator_names() and self.service_of(name) is None:
            raise DevstackError(f"no process named {name!r} in this stack")
        self._check_shared_port(name)
        process = start_background(
            name,
            self._argv(name),
            log_file=self.state_dir / "logs" / f"{name}.log",
            pid_file=self.state_dir / f"{name}.pid",
            env=self._service_env(name),
        )
        self.processes[name] = process
        if wait:
            self.wait_ready(name, timeout)

    def wait_ready(self, name: str, timeout: float = 60.0) -> None:
        probe = (
            f"{self.url(name)}/_emulator/stats"
            if name.startswith("emulator-")
            else f"{self.replica_url(name)}/readyz"
        )
        wait_until_ready(
            lambda: _ready(probe), what=name, timeout=timeout, process=self.processes[name]
        )

    def stop(self, name: str, timeout: float = 15.0) -> None:
        process = self.processes.pop(name, None)
        if process is not None:
            process.stop(timeout)

    def kill(self, name: str) -> None:
        """SIGKILL, as a crash: no graceful shutdown, leases are not handed back."""
        process = self.processes.pop(name, None)
        if process is not None:
            process.kill()

    def names(self) -> list[str]:
        """Every process of the platform as configured: the emulators, then each service's
        replicas."""
        emulators = [f"emulator-{p}" for p in self.emulated]
        return [*emulators, *(n for service in SERVICES for n in self.replica_names(service))]

    def scale(self, service: str, count: int, *, wait: bool = True) -> list[str]:
        """Run `count` replicas of `service` from now on: start the missing ones (waiting for
        them to be ready), then stop the extra ones gracefully (SIGTERM, as a scale-down).
        Returns the names started and stopped. Call it from a thread that outlives the
        processes (see `procs.start_background`)."""
        started = self.start_replicas(service, count)
        if wait:
            for name in started:
                self.wait_ready(name)
        return [*started, *self.stop_replicas_beyond(service, count)]

    def start_replicas(self, service: str, count: int) -> list[str]:
        """Start the replicas up to `count` that are not running (not waiting for them);
        `count` becomes the service's replica count. Returns their names."""
        if service not in SERVICES:
            raise DevstackError(f"{service!r} is not a service of this platform")
        if not 1 <= count <= replica_counts.MAX_REPLICAS:
            raise DevstackError(f"a replica count is 1 to {replica_counts.MAX_REPLICAS}")
        self.replicas[service] = count
        running = self.running_replicas(service)
        missing = [n for n in replica_counts.replica_names(service, count) if n not in running]
        for name in missing:
            self.start(name, wait=False)
        return missing

    def stop_replicas_beyond(self, service: str, count: int) -> list[str]:
        """Stop (SIGTERM, then SIGKILL after the grace) every replica numbered above `count`."""
        wanted = replica_counts.replica_names(service, count)
        extra = [n for n in self.processes if self.service_of(n) == service and n not in wanted]
        with ThreadPoolExecutor(max_workers=max(1, len(extra))) as pool:
            list(pool.map(self.stop, extra))
        return extra

    def start_all(self) -> None:
        for name in self.names():
            self.start(name, wait=False)
        for name in self.names():
            self.wait_ready(name)

    def stop_all(self) -> None:
        """Stop every process at once (each gets SIGTERM, then SIGKILL after its grace)."""
        names = list(self.processes)
        with ThreadPoolExecutor(max_workers=max(1, len(names))) as pool:
            list(pool.map(self.stop, names))


def create_stack(
    infra: Infrastructure,
    state_dir: Path,
    *,
    ports: Mapping[str, int] | None = None,
    database: str = "photochanger",
    ingest_password: str | None = None,
    admin_username: str | None = None,
    admin_password: str | None = None,
    extra_env: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
    replicas: Mapping[str, int] | str | None = None,
) -> Stack:
    """Plan a stack (not started yet). `ports={}` picks free ports; None takes the defaults.
    An emulator stands in for each provider whose API key is not set. `replicas`: counts
    per service, or a `PHOTOCHANGER_REPLICAS` string; None reads that variable."""
    import os

    base = dict(os.environ if environ is None else environ)
    if replicas is None or isinstance(replicas, str):
        text = base.get(replica_counts.ENV_REPLICAS) if replicas is None else replicas
        counts = replica_counts.parse_replicas(text, SERVICES)
    else:
        counts = replica_counts.parse_replicas(
            ",".join(f"{s}={n}" for s, n in replicas.items()), SERVICES
        )
    chosen = dict(ports) if ports is not None else dict(DEFAULT_PORTS)
    if not chosen:
        chosen = dict(zip(DEFAULT_PORTS, free_ports(len(DEFAULT_PORTS)), strict=True))
    emulated = tuple(p for p in EMULATORS if not base.get(api_key_variable(p)))
    password = (
        ingest_password or base.get("PHOTOCHANGER_INGEST_PASSWORD") or secrets.token_urlsafe(12)
    )
    username = admin_username or base.get("PHOTOCHANGER_ADMIN_USERNAME") or "admin"
    admin_secret = (
        admin_password or base.get("PHOTOCHANGER_ADMIN_PASSWORD") or secrets.token_urlsafe(18)
    )
    env = {
        **base,
        **infra.as_env(),
        "PHOTOCHANGER_MONGODB_DATABASE": database,
        "PHOTOCHANGER_INGEST_PASSWORD": password,
        # local mode: one admin with every permission; the api only ever sees its hash
        "PHOTOCHANGER_ADMIN_ACCOUNTS": json.dumps([admin_account(username, admin_secret)]),
        "PHOTOCHANGER_JWT_SECRET": base.get("PHOTOCHANGER_JWT_SECRET") or secrets.token_urlsafe(48),
        "PHOTOCHANGER_PUBLIC_BASE_URL": f"http://{LOOPBACK}:{chosen['api']}",
        # every process of the stack shares one media store (ADR-0010)
        "PHOTOCHANGER_MEDIA_URL": base.get("PHOTOCHANGER_MEDIA_URL")
        or (state_dir / "media").resolve().as_uri(),
        "PYTHONUNBUFFERED": "1",
    }
    for provider in emulated:
        env[api_key_variable(provider)] = "emulator-key"
        env[f"PHOTOCHANGER_{provider.upper()}_BASE_URL"] = (
            f"http://{LOOPBACK}:{chosen[f'emulator-{provider}']}"
        )
        # results named by the emulator's answers are fetched from it, over plain http
        env[f"PHOTOCHANGER_{provider.upper()}_TRUSTED_LOCAL_ORIGINS"] = env[
            f"PHOTOCHANGER_{provider.upper()}_BASE_URL"
        ]
    env.update(extra_env or {})
    return Stack(
        infra=infra,
        state_dir=state_dir,
        ports=chosen,
        env=env,
        ingest_password=password,
        admin_username=username,
        admin_password=admin_secret,
        emulated=emulated,
        replicas=counts,
    )


def admin_account(username: str, password: str) -> dict[str, object]:
    """An account entry made by the api's own hash helper (the password goes through stdin)."""
    made = subprocess.run(
        [sys.executable, "-m", "photochanger_api.admin.hash_password", "--username", username],
        input=password,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if made.returncode != 0:
        raise ValueError(f"cannot create the local admin account: {made.stderr.strip()}")
    entry: dict[str, object] = json.loads(made.stdout)
    return entry


def ingest_curl(stack: Stack, slot_id: str = "slot-001", photo: str = "photo.jpg") -> str:
    return (
        f"curl -sS -X POST {stack.api_url}/ingest/{slot_id} "
        f"-F password='{stack.ingest_password}' -F fileToUpload=@{photo} "
        f"-o result.png -D - "
    )
