"""The routes every emulator answers besides its provider's API: `/_emulator/health`,
`/_emulator/stats` (its counters, for tests and benchmarks) and `/_emulator/reset`.

The emulator's state object lives in `app.state.emulator`; it exposes `stats.as_json()` and
`reset()`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


class _Counters(Protocol):
    def as_json(self) -> dict[str, Any]: ...


class ControlledEmulator(Protocol):
    @property
    def stats(self) -> _Counters: ...

    def reset(self) -> None: ...


def control_routes(
    provider: str, *, health: Callable[[Any], dict[str, Any]] | None = None
) -> list[Route]:
    """The three control routes; `health` adds fields of the emulator's to the health answer."""

    def emulator(request: Request) -> ControlledEmulator:
        found: ControlledEmulator = request.app.state.emulator
        return found

    async def health_route(request: Request) -> Response:
        extra = health(emulator(request)) if health is not None else {}
        return JSONResponse({"status": "ok", "provider": provider, **extra})

    async def stats_route(request: Request) -> Response:
        return JSONResponse(emulator(request).stats.as_json())

    async def reset_route(request: Request) -> Response:
        emulator(request).reset()
        return JSONResponse({"reset": True})

    return [
        Route("/_emulator/health", health_route, methods=["GET"]),
        Route("/_emulator/stats", stats_route, methods=["GET"]),
        Route("/_emulator/reset", reset_route, methods=["POST"]),
    ]
