"""`python -m photochanger_api`: serve the api with uvicorn.

With `PHOTOCHANGER_INTERNAL_HTTP_PORT` one server listens on two sockets: the public port and
the internal one, where alone `/metrics`, `/readyz` and the OpenAPI pages answer (see
`http_surface`). With `PHOTOCHANGER_HTTP_REUSE_PORT` the public port is bound with
SO_REUSEPORT, so that several api processes on one host serve it (local replicas), and
`PHOTOCHANGER_REPLICA_HTTP_PORT` adds a port of this process alone. uvicorn's own
X-Forwarded-For handling is off: the client address is decided by `client_address` from
`PHOTOCHANGER_TRUSTED_PROXIES`.

On SIGTERM or SIGINT the api stops accepting connections, lets waiting ingest requests finish
for up to `PHOTOCHANGER_SHUTDOWN_GRACE_SECONDS` (less a second to answer), then answers the rest
`503` with `Retry-After` — their jobs go on — and stops."""

from __future__ import annotations

import asyncio
import logging
import socket
from types import FrameType

import uvicorn
from fastapi import FastAPI

from .app import create_app
from .settings import ApiSettings
from .waiters import JobWaiters

log = logging.getLogger(__name__)

_ANSWER_MARGIN_SECONDS = 1.0


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, app: FastAPI, grace_seconds: float) -> None:
        super().__init__(config)
        self._app = app
        self._grace = max(0.0, grace_seconds - _ANSWER_MARGIN_SECONDS)
        self._draining: asyncio.Task[int] | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        waiters: JobWaiters | None = getattr(self._app.state, "waiters", None)
        if self._draining is None and waiters is not None:
            asyncio.get_event_loop().call_soon_threadsafe(self._start_draining, waiters)
        super().handle_exit(sig, frame)

    def _start_draining(self, waiters: JobWaiters) -> None:
        if self._draining is None:
            log.info("stopping: waiting requests get %.0f s to finish", self._grace)
            self._draining = asyncio.ensure_future(waiters.drain(self._grace))


def shared_socket(host: str, port: int) -> socket.socket:
    """A listening address that other processes of this user may bind too (SO_REUSEPORT):
    the kernel hands each new connection to one of them."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def listening_sockets(settings: ApiSettings, config: uvicorn.Config) -> list[socket.socket] | None:
    """The sockets of the server: None = uvicorn binds `http_port` alone."""
    extra_ports = [settings.replica_http_port, settings.internal_http_port]
    if not settings.http_reuse_port and all(port is None for port in extra_ports):
        return None
    sockets = [
        shared_socket(settings.http_host, settings.http_port)
        if settings.http_reuse_port
        else config.bind_socket()
    ]
    for port in extra_ports:
        if port is not None:
            own = uvicorn.Config(config.app, host=settings.http_host, port=port, log_config=None)
            sockets.append(own.bind_socket())
    return sockets


def main() -> None:
    settings = ApiSettings()
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_level="warning",
        access_log=False,
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds) + 1,
    )
    sockets = listening_sockets(settings, config)
    DrainingServer(config, app, settings.shutdown_grace_seconds).run(sockets=sockets)


if __name__ == "__main__":
    main()
