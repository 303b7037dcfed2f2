"""`python -m photochanger_api`: serve the api with uvicorn.

With `PHOTOCHANGER_INTERNAL_HTTP_PORT` one server listens on two sockets: the public port and
the internal one, where alone `/metrics`, `/readyz` and the OpenAPI pages answer (see
`http_surface`). uvicorn's own X-Forwarded-For handling is off: the client address is decided
by `client_address` from `PHOTOCHANGER_TRUSTED_PROXIES`.

On SIGTERM or SIGINT the api stops accepting connections, lets waiting ingest requests finish
for up to `PHOTOCHANGER_SHUTDOWN_GRACE_SECONDS` (less a second to answer), then answers the rest
`503` with `Retry-After` — their jobs go on — and stops."""

from __future__ import annotations

import asyncio
import logging
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
    sockets = None
    if settings.internal_http_port is not None:
        internal = uvicorn.Config(
            app, host=settings.http_host, port=settings.internal_http_port, log_config=None
        )
        sockets = [config.bind_socket(), internal.bind_socket()]
    DrainingServer(config, app, settings.shutdown_grace_seconds).run(sockets=sockets)


if __name__ == "__main__":
    main()
