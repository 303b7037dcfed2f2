"""How much of a request body the api reads, how long it waits for it, and who may send one.

Every route has a body rule, decided from the method and path before the app sees the
request (a pure ASGI middleware, so before FastAPI reads and parses a JSON body, which it does
before any dependency — the token check included — runs):

- a cap: a declared `Content-Length` past it is 413 before a byte is read; a body streamed
  past it (chunked, or longer than declared) is 413 as soon as the cap is crossed;
- a deadline for the whole body: 408 when it has not arrived in time;
- for admin routes, the bearer token is checked before the body is read: an anonymous (or
  forged, or expired) request with a body gets 401 and costs no read at all. The route still
  checks the token's permissions as before.

JSON admin routes get `max_json_body_bytes` (64 KiB); uploads their own limits (template
images, test-run photos); `/ingest` and `POST /v1/jobs` enforce their own cap and deadline
while they stream (`ingest.py`), so they are left alone here. Anything else gets the JSON
cap: a new route that takes more must say so in `body_rules` (a 413 in its tests says where)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import svcs
from photochanger_contracts import ErrorCode
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .admin.auth import AdminAccounts, AdminTokens, TokenRejected
from .errors import error_response
from .settings import ApiSettings


@dataclass(frozen=True, slots=True)
class BodyRule:
    #: largest body read; None: the route enforces its own (ingest)
    max_bytes: int | None
    #: the whole body must have arrived within this many seconds of the request
    seconds: float
    #: a valid admin bearer token is required before any of the body is read
    token_first: bool


#: photo uploads that enforce their own cap and deadline while they stream (`ingest.accept`):
#: the booth's `/ingest` and the client jobs API's submission
_INGEST = re.compile(r"^/(api/)?ingest/|^/v1/jobs/?$")
_LOGIN = "/api/login"
_TEMPLATE_UPLOAD = re.compile(r"^/api/template-media/register/?$")
_TEST_RUN_UPLOAD = re.compile(r"^/api/slots/[^/]+/test-runs?/?$")


def body_rules(settings: ApiSettings) -> Callable[[str, str], BodyRule]:
    """The rule for a (method, path), from the process's settings."""
    json_cap, json_seconds = settings.max_json_body_bytes, settings.json_body_seconds
    uploads = settings.ingest_body_seconds
    overhead = settings.max_request_overhead_bytes
    template = BodyRule(settings.max_template_bytes + overhead, uploads, token_first=True)
    photo = BodyRule(settings.max_request_bytes, uploads, token_first=True)
    admin_json = BodyRule(json_cap, json_seconds, token_first=True)
    anonymous = BodyRule(json_cap, json_seconds, token_first=False)
    ingest = BodyRule(None, uploads, token_first=False)

    def rule(method: str, path: str) -> BodyRule:
        if method == "POST" and _INGEST.match(path):
            return ingest
        if not path.startswith("/api/") or path == _LOGIN:
            return anonymous
        if method == "POST" and _TEMPLATE_UPLOAD.match(path):
            return template
        if method == "POST" and _TEST_RUN_UPLOAD.match(path):
            return photo
        return admin_json

    return rule


def _declared_length(headers: Headers) -> int | None:
    value = headers.get("content-length")
    if value is None:
        return None
    value = value.strip()
    return int(value) if value.isdigit() else None


def _has_body(headers: Headers, declared: int | None) -> bool:
    return (declared or 0) > 0 or "transfer-encoding" in headers


def too_large(limit: int) -> HTTPException:
    return HTTPException(413, f"the request body is larger than {limit} bytes")


class BodyLimits:
    def __init__(self, app: ASGIApp, *, rules: Callable[[str, str], BodyRule]) -> None:
        self.app = app
        self._rules = rules

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rule = self._rules(scope["method"], scope["path"])
        if rule.max_bytes is None:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = _declared_length(headers)
        if declared is not None and declared > rule.max_bytes:
            await error_response(
                ErrorCode.PAYLOAD_TOO_LARGE,
                "the request body is larger than the limit",
                {"max_bytes": rule.max_bytes},
                {"Connection": "close"},
            )(scope, receive, send)
            return
        if rule.token_first and _has_body(headers, declared):
            refusal = _token_refusal(scope, headers)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, _bounded(receive, rule), send)


def _bounded(receive: Receive, rule: BodyRule) -> Receive:
    assert rule.max_bytes is not None
    limit = rule.max_bytes
    deadline = time.monotonic() + rule.seconds
    size = 0
    done = False

    async def bounded_receive() -> Message:
        nonlocal size, done
        if done:  # the body is in: what is left to hear is the client going away
            return await receive()
        try:
            async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                message = await receive()
        except TimeoutError:
            raise HTTPException(408, "the request body did not arrive in time") from None
        if message["type"] == "http.request":
            size += len(message.get("body", b""))
            if size > limit:
                raise too_large(limit)
            done = not message.get("more_body", False)
        return message

    return bounded_receive


def _token_refusal(scope: Scope, headers: Headers) -> JSONResponse | None:
    """The 401 answer for a request without a valid admin token, or None."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return _unauthorized("a bearer token from POST /api/login is required", None)
    registry = svcs.fastapi.get_registry(scope["app"])
    tokens, accounts = svcs.Container(registry).get(AdminTokens, AdminAccounts)
    try:
        tokens.read(token.strip(), accounts)
    except TokenRejected as exc:
        return _unauthorized(exc.reason, "invalid_token")
    return None


def _unauthorized(message: str, error: str | None) -> JSONResponse:
    challenge = f'Bearer realm="photochanger-admin", error="{error}"' if error else "Bearer"
    return error_response(ErrorCode.UNAUTHORIZED, message, headers={"WWW-Authenticate": challenge})
