"""A one-line access log that never prints query strings (they may carry ``key=``)."""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger("photochanger_emulators.access")


class AccessLogMiddleware:
    """Log ``METHOD /path -> status (ms)``: no query string, headers or bodies."""

    def __init__(self, app: ASGIApp, name: str) -> None:
        self.app = app
        self.name = name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            logger.info(
                "%s %s %s -> %s (%.0f ms)",
                self.name,
                scope.get("method", "?"),
                scope.get("path", "?"),
                status or "no response",
                (time.perf_counter() - started) * 1000,
            )
