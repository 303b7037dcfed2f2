"""Turbotext emulator: ``POST /api_ai/{method}`` (form-encoded, bearer key) and result files."""

from __future__ import annotations

import hmac
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from photochanger_emulators.accesslog import AccessLogMiddleware
from photochanger_emulators.stats import RequestRecord, now, redact_headers
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .engine import CreateRejected, EngineSettings, TurbotextEngine
from .forms import (
    METHODS,
    FormError,
    parse_create,
    parse_queueid,
    single_values,
)

#: HTTP status for a missing or wrong key (the public docs do not say; 401 is the usual).
UNAUTHORIZED = 401

_GENERATED_NAME = re.compile(r"[0-9a-f]{32}\.png")


class _Unauthorized(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TurbotextApp:
    """HTTP side of the emulator: authentication, form handling, stats endpoints."""

    def __init__(self, api_key: str, engine: TurbotextEngine) -> None:
        self.api_key = api_key
        self.engine = engine

    def _check_key(self, request: Request) -> None:
        header = request.headers.get("authorization")
        if not header:
            raise _Unauthorized("Authorization header with a Bearer API key is required")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            token.strip().encode(), self.api_key.encode()
        ):
            raise _Unauthorized("Invalid API key")

    def _remember(self, request: Request, form: dict[str, str] | None = None) -> None:
        self.engine.stats.last_request = RequestRecord(
            method=request.method,
            path=request.url.path,
            headers=redact_headers(request.headers),
            at=now(),
            form=form,
        )

    async def api(self, request: Request) -> Response:
        stats = self.engine.stats
        stats.requests += 1
        self._remember(request)
        try:
            self._check_key(request)
        except _Unauthorized as exc:
            stats.auth_failures += 1
            return _failure(exc.message, UNAUTHORIZED)
        try:
            return await self._api(request)
        except FormError as exc:
            self.engine.stats.rejected += 1
            return _failure(str(exc))
        except CreateRejected as exc:
            self.engine.stats.rejected += 1
            return _failure(exc.message, exc.status)

    async def _api(self, request: Request) -> Response:
        method = METHODS.get(request.path_params["method"])
        if method is None:
            raise FormError(f"Unknown method {request.path_params['method']}")
        try:
            form = await request.form()
        except HTTPException as exc:
            raise FormError(f"Malformed form body: {exc.detail}") from None
        fields = single_values(form.multi_items())
        self._remember(request, dict(fields))
        action = fields.pop("do", None)
        if action == "create_queue":
            queueid = self.engine.create(parse_create(method, fields))
            return JSONResponse({"success": True, "queueid": queueid})
        if action == "get_result":
            return JSONResponse(self.engine.poll(parse_queueid(fields)))
        if action is None:
            raise FormError("Missing required field do")
        raise FormError(f"Unknown value of do: {action}")

    async def generated(self, request: Request) -> Response:
        self._remember(request)
        try:
            self._check_key(request)
        except _Unauthorized as exc:
            self.engine.stats.auth_failures += 1
            return _failure(exc.message, UNAUTHORIZED)
        name = request.path_params["name"]
        data = self.engine.generated(name) if _GENERATED_NAME.fullmatch(name) else None
        if data is None:
            return _failure("File not found", 404)
        self.engine.stats.generated_downloads += 1
        return Response(data, media_type="image/png", headers={"Cache-Control": "no-store"})

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", "provider": "turbotext"})

    async def stats(self, request: Request) -> Response:
        raw = request.query_params.get("since")
        try:
            since = float(raw) if raw is not None else None
        except ValueError:
            return JSONResponse({"error": "since must be a number (epoch seconds)"}, 400)
        return JSONResponse(self.engine.stats.as_json(since=since))

    async def reset(self, request: Request) -> Response:
        await self.engine.reset()
        return JSONResponse({"reset": True})


def _failure(message: str, status: int = 200) -> JSONResponse:
    return JSONResponse({"success": False, "error": message}, status_code=status)


def create_turbotext_app(
    api_key: str,
    *,
    default_polls: int = 2,
    download_timeout: float = 15.0,
    max_download_bytes: int = 50 * 1024 * 1024,
    first_queue_id: int | None = None,
) -> Starlette:
    """Build the Turbotext emulator as a Starlette (ASGI) application.

    ``default_polls`` is how many ``{"action": "reconnect"}`` answers a queue gives before its
    result (the ``polls=N`` directive overrides it); ``download_timeout`` and
    ``max_download_bytes`` bound the download of the image URLs; ``first_queue_id`` fixes the
    first ``queueid`` (random 7-digit start otherwise, so ids differ across restarts).
    """
    if not api_key:
        raise ValueError("api_key must not be empty")
    engine = TurbotextEngine(
        EngineSettings(
            default_polls=default_polls,
            download_timeout=download_timeout,
            max_download_bytes=max_download_bytes,
        ),
        first_queue_id=first_queue_id,
    )
    handlers = TurbotextApp(api_key, engine)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await engine.cancel_work()

    app = Starlette(
        routes=[
            Route("/api_ai/{method}", handlers.api, methods=["POST"]),
            Route("/generated/{name}", handlers.generated, methods=["GET"]),
            Route("/_emulator/health", handlers.health, methods=["GET"]),
            Route("/_emulator/stats", handlers.stats, methods=["GET"]),
            Route("/_emulator/reset", handlers.reset, methods=["POST"]),
        ],
        middleware=[Middleware(AccessLogMiddleware, name="turbotext")],
        lifespan=lifespan,
    )
    app.state.emulator = engine
    return app
