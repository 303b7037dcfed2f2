"""The security suite: each attack on the public surface, run against real processes on
loopback, with the defence it meets asserted.

Most tests start an api process of their own next to the session's platform (`stack`: same
Kafka, database, media store, dispatcher and providers) with the settings the attack needs,
so that its in-process state (upload slots, failure throttle, password memo) and its memory
are the test's alone. Clients that must look like different machines bind their own loopback
address (127.0.0.x): the api sees a different peer, no proxy header involved."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from photochanger_devstack.ports import free_ports
from photochanger_devstack.stack import Stack, _ready
from photochanger_devstack.waiting import wait_until_ready


@dataclass
class ApiProcess:
    """An api process of the test's own on the session's platform."""

    platform: Stack
    internal_port: int | None = None

    @property
    def url(self) -> str:
        return self.platform.api_url

    @property
    def internal_url(self) -> str:
        assert self.internal_port is not None
        return f"http://127.0.0.1:{self.internal_port}"

    @property
    def pid(self) -> int:
        return self.platform.processes["api"].pid

    @property
    def ingest_password(self) -> str:
        return self.platform.ingest_password

    def client(self, *, source: str | None = None, **options: Any) -> httpx.AsyncClient:
        """A client of the public port, from loopback address `source` (e.g. 127.0.0.9)."""
        transport = httpx.AsyncHTTPTransport(local_address=source) if source else None
        options.setdefault("timeout", 60)
        return httpx.AsyncClient(base_url=self.url, transport=transport, **options)

    def log(self) -> str:
        return self.platform.processes["api"].log_file.read_text(errors="replace")

    async def metric(self, sample: str) -> float:
        """The value of one sample line of /metrics (0 when absent)."""
        url = self.internal_url if self.internal_port else self.url
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            text = (await client.get("/metrics")).text
        for line in text.splitlines():
            if line.startswith(sample + " "):
                return float(line.rsplit(" ", 1)[1])
        return 0.0


ApiFactory = Callable[..., "asyncio.Future[ApiProcess]"]


def _start(
    stack: Stack, state: Path, internal: bool, wait: bool, env: dict[str, str | None]
) -> ApiProcess:
    ports = free_ports(2)
    merged = {**stack.env, **env}
    if internal:
        merged["PHOTOCHANGER_INTERNAL_HTTP_PORT"] = str(ports[1])
    platform = dataclasses.replace(
        stack,
        state_dir=state,
        ports={**stack.ports, "api": ports[0]},
        env={k: v for k, v in merged.items() if v is not None},
        processes={},
    )
    platform.start("api", wait=False)
    api = ApiProcess(platform, ports[1] if internal else None)
    if wait:
        probe = f"{api.internal_url if internal else api.url}/readyz"
        wait_until_ready(
            lambda: _ready(probe), what="api", timeout=60, process=platform.processes["api"]
        )
    return api


@pytest.fixture(scope="module")
async def start_api(
    stack: Stack, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Callable[..., Any]]:
    """`await start_api(internal=False, wait=True, **PHOTOCHANGER_env)`: an api process of
    this module's (a variable set to None is removed), stopped when the module is done. Keep
    the platform's ingest password: its stored hash is shared with the session's api."""
    started: list[ApiProcess] = []

    async def start(*, internal: bool = False, wait: bool = True, **env: str | None) -> ApiProcess:
        state = tmp_path_factory.mktemp("security-api")
        api = await asyncio.to_thread(_start, stack, state, internal, wait, env)
        started.append(api)
        return api

    yield start
    for api in started:
        await asyncio.to_thread(api.platform.stop_all)


# -- a server that records what reaches it (the target of SSRF attempts) --------------------


@dataclass
class Canary:
    url: str
    #: paths of the HTTP requests it answered, and every connection made to it (a TLS client
    #: connecting to this plain server counts, though it never gets to a request)
    requests: list[str]
    connections: list[str]


@contextlib.contextmanager
def canary_server(*, status: int = 200, body: bytes = b"internal secret",
                  headers: dict[str, str] | None = None) -> Iterator[Canary]:  # fmt: skip
    """An HTTP server on loopback that answers everything with `status`/`body` and records
    each request path: an internal service an attacker would like us to read."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    connected: list[str] = []

    class Server(ThreadingHTTPServer):
        def verify_request(self, request: Any, client_address: Any) -> bool:
            connected.append(str(client_address[0]))
            return True

    server = Server(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Canary(
            url=f"http://127.0.0.1:{server.server_address[1]}", requests=seen, connections=connected
        )
    finally:
        server.shutdown()
        server.server_close()


def raw_request(port: int, head: bytes, *, source: str = "127.0.0.1") -> socket.socket:
    """A connection that has sent `head` (request line, headers, maybe some body) and waits:
    a client that is slow, or stalls, on purpose."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30, source_address=(source, 0))
    sock.sendall(head)
    return sock


def read_status(sock: socket.socket, timeout: float) -> tuple[int, bytes]:
    """The status code and the head of the answer on `sock`, within `timeout` seconds."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0
    return status, data
