"""`photochanger-devstack up` (what `make up` runs): Kafka, FerretDB, the provider emulators
and the five services in the foreground, with each process's log lines prefixed by its name.
Prints the api address and a ready-to-paste ingest `curl`; Ctrl-C stops everything."""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path

from photochanger_devstack.infra import Infrastructure
from photochanger_devstack.stack import EMULATORS, Stack, create_stack, ingest_curl

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
    """Print new lines of `log_file` prefixed with the process name until `stop` is set."""
    while not log_file.exists() and not stop.wait(0.2):
        pass
    with log_file.open("r", errors="replace") as handle:
        while not stop.is_set():
            line = handle.readline()
            if not line:
                stop.wait(0.2)
                continue
            print(f"\033[{colour}m{name:<{width}}\033[0m | {line.rstrip()}", flush=True)


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
            f"  providers:      {', '.join(providers)}",
            f"  ingest password: {stack.ingest_password}",
            f"  admin login:    {stack.admin_username} / {stack.admin_password}"
            f"  (POST {stack.api_url}/api/login → bearer token for /api/*)",
            "",
            "Try it ("
            + ", ".join(f"{slot_id} = {name} on {provider}" for slot_id, provider, name in slots)
            + "):",
            *tries,
            "",
            "Ctrl-C stops everything.",
            "",
        ]
    )


def wait_forever(stack: Stack, idle: threading.Event) -> str | None:
    """Block until a process dies (its name) — Ctrl-C arrives as KeyboardInterrupt."""
    while True:
        for name, process in stack.processes.items():
            if not process.is_running():
                return name
        idle.wait(1.0)
