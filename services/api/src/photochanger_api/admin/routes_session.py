"""Console sessions (admin/sessions.py): start one for a bearer token, refresh it after a
reload, end it. The refresh cookie is HttpOnly and SameSite=Strict and goes only to
`/api/session`; refresh and end also need the CSRF token (`X-CSRF-Token`) that only a page of
this origin can read from its cookie."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response
from fastapi.security import APIKeyCookie
from photochanger_contracts import ErrorCode
from photochanger_runtime.clock import Clock

from ..dependencies import container, require
from ..errors import ApiError, error_response
from .auth import AdminAccounts, AdminTokens, Permission, Principal
from .sessions import (
    CSRF_COOKIE,
    CSRF_PATH,
    REFRESH_COOKIE,
    REFRESH_PATH,
    AdminSessions,
    SessionRefused,
)
from .views import SessionResponse, errors

router = APIRouter(prefix="/api/session", tags=["admin: auth"])
log = logging.getLogger(__name__)

# any valid admin token may start a session: every account can read its slots
Signed = Annotated[Principal, Depends(require(Permission.SLOTS_READ))]
# documented as the security of refresh and end (a cookie, not the bearer token)
_session_cookie = APIKeyCookie(name=REFRESH_COOKIE, scheme_name="sessionCookie", auto_error=False)
RefreshCookie = Annotated[str | None, Depends(_session_cookie)]
CsrfHeader = Annotated[str | None, Header(alias="X-CSRF-Token")]


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _set_cookies(
    request: Request, response: Response, refresh: str, csrf: str, max_age: int
) -> None:
    secure = _secure(request)
    response.set_cookie(
        REFRESH_COOKIE, refresh, max_age=max_age, path=REFRESH_PATH, httponly=True,
        samesite="strict", secure=secure,
    )  # fmt: skip
    response.set_cookie(
        CSRF_COOKIE, csrf, max_age=max_age, path=CSRF_PATH, httponly=False,
        samesite="strict", secure=secure,
    )  # fmt: skip


def _clear_cookies(request: Request, response: Response) -> None:
    secure = _secure(request)
    response.delete_cookie(
        REFRESH_COOKIE, path=REFRESH_PATH, httponly=True, samesite="strict", secure=secure
    )
    response.delete_cookie(CSRF_COOKIE, path=CSRF_PATH, samesite="strict", secure=secure)


async def _token_answer(request: Request, username: str) -> SessionResponse:
    accounts, tokens, sessions = await container(request).aget(
        AdminAccounts, AdminTokens, AdminSessions
    )
    account = accounts.get(username)
    if account is None:
        raise ApiError(ErrorCode.UNAUTHORIZED, "the account no longer exists")
    return SessionResponse(
        access_token=tokens.issue(account),
        expires_in=tokens.ttl_seconds,
        permissions=sorted(p.value for p in account.permissions),
        username=account.username,
        idle_seconds=int(sessions.idle.total_seconds()),
    )


@router.post("/start", response_model=SessionResponse, responses=errors(401, 403))
async def start_session(request: Request, response: Response, principal: Signed) -> SessionResponse:
    """Keep the caller signed in across reloads: sets the session cookies (HttpOnly refresh
    token for `/api/session`, CSRF token for `/admin/`) and answers a fresh bearer token."""
    accounts, sessions, clock = await container(request).aget(AdminAccounts, AdminSessions, Clock)
    account = accounts.get(principal.username)
    if account is None:
        raise ApiError(ErrorCode.UNAUTHORIZED, "the account no longer exists")
    started = await sessions.start(account, clock.now())
    _set_cookies(
        request, response, started.refresh_token, started.csrf_token,
        int(sessions.lifetime.total_seconds()),
    )  # fmt: skip
    log.info("admin session started", extra={"admin": account.username})
    return await _token_answer(request, account.username)


@router.post("/refresh", response_model=SessionResponse, responses=errors(401, 403, 422))
async def refresh_session(
    request: Request, session: RefreshCookie = None, csrf: CsrfHeader = None
) -> SessionResponse | Response:
    """A fresh bearer token for the session of the cookie (after a reload, or when the last
    one is about to expire); moves the idle timeout on. 401 when the session has ended (idle,
    too old, signed out, or the account's password changed), 403 without the CSRF token."""
    accounts, sessions, clock = await container(request).aget(AdminAccounts, AdminSessions, Clock)
    try:
        account = await sessions.refresh(session, csrf, accounts, clock.now())
    except SessionRefused as exc:
        if exc.csrf:
            raise ApiError(ErrorCode.FORBIDDEN, exc.reason, {"required": "X-CSRF-Token"}) from None
        refused = error_response(ErrorCode.UNAUTHORIZED, exc.reason)
        _clear_cookies(request, refused)
        return refused
    return await _token_answer(request, account.username)


@router.post("/end", status_code=204, responses=errors(401, 403, 422))
async def end_session(
    request: Request, session: RefreshCookie = None, csrf: CsrfHeader = None
) -> Response:
    """Sign out: the session is deleted and its cookies cleared (its last bearer token lapses
    on its own). Needs the CSRF token, so another site cannot sign an operator out."""
    accounts, sessions, clock = await container(request).aget(AdminAccounts, AdminSessions, Clock)
    if not session:
        raise ApiError(ErrorCode.UNAUTHORIZED, "no session")
    try:
        await sessions.refresh(session, csrf, accounts, clock.now())
    except SessionRefused as exc:
        if exc.csrf:
            raise ApiError(ErrorCode.FORBIDDEN, exc.reason, {"required": "X-CSRF-Token"}) from None
    await sessions.end(session)
    answer = Response(status_code=204)
    _clear_cookies(request, answer)
    return answer
