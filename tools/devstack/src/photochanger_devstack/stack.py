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

from photochanger_devstack import topology
from photochanger_devstack.infra import Infrastructure
from photochanger_devstack.ports import LOOPBACK, free_ports
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


@dataclass
class Stack:
    """A running platform. Every process can be stopped, killed or restarted by name."""

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

    @property
    def use_emulators(self) -> bool:
        return bool(self.emulated)

    @property
    def api_url(self) -> str:
        return f"http://{LOOPBACK}:{self.ports['api']}"

    def url(self, name: str) -> str:
        return f"http://{LOOPBACK}:{self.ports[name]}"

    def _argv(self, name: str) -> list[str]:
        if name.startswith("emulator-"):
            provider = name.removeprefix("emulator-")
            return [
                sys.executable, "-m", "photochanger_emulators", provider,
                "--host", LOOPBACK, "--port", str(self.ports[name]),
            ]  # fmt: skip
        # the images' command: the service found by its entry point (photochanger.services)
        return [sys.executable, "-m", "photochanger_runtime.launch", name]

    def _service_env(self, name: str) -> dict[str, str]:
        env = dict(self.env)
        env["PHOTOCHANGER_HTTP_PORT"] = str(self.ports[name])
        env["PHOTOCHANGER_HTTP_HOST"] = LOOPBACK
        if name in SERVICES:
            env["PHOTOCHANGER_SERVICE_NAME"] = name
        return env

    def start(self, name: str, *, wait: bool = True, timeout: float = 60.0) -> None:
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
            else f"{self.url(name)}/readyz"
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
        self.stop(name, timeout=0.0)

    def names(self) -> list[str]:
        emulators = [f"emulator-{p}" for p in self.emulated]
        return [*emulators, *SERVICES]

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
) -> Stack:
    """Plan a stack (not started yet). `ports={}` picks free ports; None takes the defaults.
    An emulator stands in for each provider whose API key is not set."""
    import os

    base = dict(os.environ if environ is None else environ)
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
