"""Run an emulator on a real loopback socket: from the CLI, or inside a test's event loop."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from starlette.types import ASGIApp


def require_loopback(host: str) -> None:
    """Refuse any bind address that is not on this machine's loopback interface."""
    if host == "localhost":
        return
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(
            f"{host!r} is not an IP address; emulators bind to loopback only"
        ) from None
    if not address.is_loopback:
        raise ValueError(f"{host} is not a loopback address; emulators bind to loopback only")


def uvicorn_config(
    app: ASGIApp,
    host: str,
    port: int,
    log_level: str = "info",
    *,
    shutdown_grace: int = 2,
) -> uvicorn.Config:
    """Uvicorn settings shared by the CLI and tests (no access log: it prints query strings)."""
    require_loopback(host)
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        lifespan="on",
        server_header=False,
        # A request held by the ``hang`` directive must not keep a stopping server alive.
        timeout_graceful_shutdown=shutdown_grace,
    )


@asynccontextmanager
async def running(
    app: ASGIApp,
    host: str = "127.0.0.1",
    *,
    startup_timeout: float = 10.0,
    shutdown_grace: int = 2,
) -> AsyncIterator[str]:
    """Serve ``app`` on a free loopback port for the duration of the block; yield its base URL."""
    require_loopback(host)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn_config(app, host, port, log_level="warning", shutdown_grace=shutdown_grace)
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(startup_timeout):
            while not server.started:
                if task.done():
                    task.result()
                    raise RuntimeError("uvicorn stopped before it started")
                await asyncio.sleep(0.01)
        shown = f"[{host}]" if family == socket.AF_INET6 else host
        yield f"http://{shown}:{port}"
    finally:
        server.should_exit = True
        try:
            async with asyncio.timeout(startup_timeout + shutdown_grace):
                await task
        finally:
            sock.close()
