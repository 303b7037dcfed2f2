"""`photochanger-devstack up` (what `make up` runs): Kafka, the database, the provider
emulators and the five services in the foreground, with each process's log lines prefixed by
its name (readable on a terminal: see `logview`). Prints the api address and a ready-to-paste
ingest `curl`. A process that dies is restarted (`supervisor`); Ctrl-C stops everything."""

from __future__ import annotations

import io
import json
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from photochanger_devstack import logview, replicas
from photochanger_devstack.infra import Infrastructure
from photochanger_devstack.stack import EMULATORS, Stack, create_stack, ingest_curl
from photochanger_devstack.supervisor import Supervisor

_COLOURS = ("36", "33", "35", "32", "34", "31", "96", "93")


def write_sample_photo(path: Path) -> Path:
    """A small JPEG to try the platform with (made here, never committed)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (320, 240), (40, 90, 160))
    draw = ImageDraw.Draw(image)
    draw.ellipse((110, 50, 210, 150), fill=(240, 200, 170))
    draw.rectangle((100, 150, 220, 240), fill=(200, 60, 60))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())
    return path


def _follow(name: str, log_file: Path, width: int, colour: str, stop: threading.Event) -> None:
    """Print new lines of `log_file` prefixed with the process name until `stop` is set.
    A restarted process appends to the same file; a file that shrinks is read from its
    start again."""
    tty = sys.stdout.isatty()
    pretty = logview.pretty_by_default(tty)
    verbose = bool(os.environ.get(logview.ENV_VERBOSE))
    while not log_file.exists() and not stop.wait(0.2):
        pass
    with log_file.open("r", errors="replace") as handle:
        while not stop.is_set():
            line = handle.readline()
            if not line:
                if log_file.exists() and log_file.stat().st_size < handle.tell():
                    handle.seek(0)
                stop.wait(0.2)
                continue
            shown = logview.render(line, pretty=pretty, colour=tty, verbose=verbose)
            if shown is not None:
                print(f"\033[{colour}m{name:<{width}}\033[0m | {shown}", flush=True)


def run_stack(infra: Infrastructure, state_dir: Path) -> tuple[Stack, threading.Event]:
    """Start the stack on its default ports and follow its logs; returns it and the stop flag."""
    stack = create_stack(infra, state_dir / "stack")
    stop = threading.Event()
    width = max(len(n) for n in stack.names())
    for index, name in enumerate(stack.names()):
        threading.Thread(
            target=_follow,
            args=(name, stack.state_dir / "logs" / f"{name}.log", width,
                  _COLOURS[index % len(_COLOURS)], stop),
            daemon=True,
        ).start()  # fmt: skip
    stack.start_all()
    return stack, stop


def seeded_slots() -> list[tuple[str, str, str]]:
    """(slot id, provider, name) of the active slots configs/slots.seed.json creates."""
    from photochanger_runtime.config import repository_root

    seed = json.loads((repository_root() / "configs" / "slots.seed.json").read_text())
    return [
        (slot_id, spec.get("provider", ""), spec.get("name", ""))
        for slot_id, spec in sorted(seed.items())
        if spec.get("is_active")
    ]


def banner(stack: Stack, sample: Path) -> str:
    providers = [f"{p} ({'emulator' if p in stack.emulated else 'real API'})" for p in EMULATORS]
    slots = seeded_slots()
    tries = [f"  {ingest_curl(stack, slot_id, str(sample))}" for slot_id, _, _ in slots]
    return "\n".join(
        [
            "",
            "PhotoChanger is up.",
            f"  api:            {stack.api_url}  (readiness: {stack.api_url}/readyz)",
            f"  console:        {stack.api_url}/admin/  (sign in with the admin login below)",
            f"  providers:      {', '.join(providers)}",
            f"  replicas:       {replicas.describe(stack.replicas)}"
            f'  (set {replicas.ENV_REPLICAS}, e.g. "api=2,provider-gemini=3")',
            *replica_lines(stack),
            f"  ingest password: {stack.ingest_password}",
            f"  admin login:    {stack.admin_username} / {stack.admin_password}"
            f"  (POST {stack.api_url}/api/login → bearer token for /api/*)",
            "",
            "Try it ("
            + ", ".join(f"{slot_id} = {name} on {provider}" for slot_id, provider, name in slots)
            + "):",
            *tries,
            "",
            "A process that stops is restarted; Ctrl-C stops everything.",
            "",
        ]
    )


def replica_lines(stack: Stack) -> list[str]:
    """Where each replica of a service with several answers alone (its /readyz, /metrics)."""
    lines = []
    for service, count in stack.replicas.items():
        if count > 1:
            own = ", ".join(
                f"{name} :{stack.own_port(name)}" for name in stack.replica_names(service)
            )
            lines.append(f"    {service:<20} {own}")
    if lines:
        lines.insert(0, f"  each replica alone ({stack.api_url} is served by every api replica):")
    return lines


def supervise(stack: Stack, infra: Infrastructure, say: Callable[[str], None]) -> Supervisor:
    """A supervisor for every process of the platform: servers, emulators and services.
    Call its `check()` from the thread that started them (see `supervisor`)."""
    supervisor = Supervisor(say)
    for server in infra.servers:
        # read `server.process` each time: a restart replaces it
        supervisor.watch(
            server.name,
            lambda server=server: server.process.is_running(),  # type: ignore[misc]
            server.restart,
        )
    for name in list(stack.processes):
        supervisor.watch(
            name,
            lambda name=name: stack.processes[name].is_running(),  # type: ignore[misc]
            lambda name=name: stack.start(name, wait=False),  # type: ignore[misc]
        )
    return supervisor


def run_forever(supervisor: Supervisor, idle: threading.Event) -> NoReturn:
    """Keep the platform up until Ctrl-C (KeyboardInterrupt) or SIGTERM."""
    while True:
        supervisor.check()
        idle.wait(0.5)
