"""POST /api/login: user name and password → a short-lived admin JWT.

Failed attempts are counted per user name and per client address (behind a proxy, the
address uvicorn takes from X-Forwarded-For of trusted proxies); past the limit the answer
is 429 with Retry-After, even for the right password, until the window slides on."""

from __future__ import annotations

import logging
import math

from fastapi import APIRouter, Request
from photochanger_contracts import ErrorCode
from photochanger_runtime.clock import Clock

from photochanger_api.admin.login_throttle import LoginThrottle

from ..dependencies import container
from ..errors import ApiError
from .auth import AdminAccounts, AdminTokens
from .views import LoginRequest, TokenResponse, errors

router = APIRouter(prefix="/api", tags=["admin: auth"])
log = logging.getLogger(__name__)


@router.post("/login", response_model=TokenResponse, responses=errors(400, 401, 422, 429, 503))
async def login(body: LoginRequest, request: Request) -> TokenResponse:
    """Trade admin credentials for a bearer token carrying the account's permissions."""
    c = container(request)
    accounts, tokens, throttle, clock = await c.aget(
        AdminAccounts, AdminTokens, LoginThrottle, Clock
    )
    address = request.client.host if request.client else "unknown"
    wait = await throttle.locked_for(body.username, address, clock.now())
    if wait is not None:
        log.warning("admin login refused: too many failures", extra={"client": address})
        raise ApiError(
            ErrorCode.TOO_MANY_ATTEMPTS,
            "too many failed logins, try again later",
            {"retry_after_seconds": math.ceil(wait)},
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )
    account = await accounts.authenticate(body.username, body.password.get_secret_value())
    if account is None:
        await throttle.record_failure(body.username, address, clock.now())
        log.warning("admin login failed", extra={"client": address})
        raise ApiError(ErrorCode.INVALID_CREDENTIALS, "unknown user or wrong password")
    await throttle.forget_user(account.username)
    log.info("admin logged in", extra={"admin": account.username, "client": address})
    return TokenResponse(
        access_token=tokens.issue(account),
        expires_in=tokens.ttl_seconds,
        permissions=sorted(p.value for p in account.permissions),
    )
