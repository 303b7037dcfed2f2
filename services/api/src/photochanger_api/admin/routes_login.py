"""POST /api/login: user name and password → a short-lived admin JWT.

Attempts are counted before the password is checked, per user name from one client address
and per client address (behind an ingress, the client its trusted proxies name:
`PHOTOCHANGER_TRUSTED_PROXIES`); past the limit the answer is 429 with Retry-After, even for
the right password, until the window slides on. The argon2 check runs in the process's bounded
password checks (503 when they are all taken)."""

from __future__ import annotations

import logging
import math

from fastapi import APIRouter, Request
from photochanger_contracts import ErrorCode
from photochanger_runtime.clock import Clock
from photochanger_runtime.observability import metrics

from photochanger_api.admin.login_throttle import Attempt, LoginThrottle

from ..client_address import ClientAddresses
from ..dependencies import container
from ..errors import ApiError
from ..passwords import PasswordChecksBusy
from .auth import AdminAccounts, AdminTokens
from .login_gate import LoginGate
from .views import LoginRequest, TokenResponse, errors

router = APIRouter(prefix="/api", tags=["admin: auth"])
log = logging.getLogger(__name__)


@router.post("/login", response_model=TokenResponse, responses=errors(400, 401, 422, 429, 503))
async def login(body: LoginRequest, request: Request) -> TokenResponse:
    """Trade admin credentials for a bearer token carrying the account's permissions."""
    c = container(request)
    accounts, tokens, throttle, clock, addresses, gate = await c.aget(
        AdminAccounts, AdminTokens, LoginThrottle, Clock, ClientAddresses, LoginGate
    )
    address = addresses.of(request)
    # this process's own count first: a throttled attempt costs no database command
    wait = gate.wait(body.username, address)
    attempt = await throttle.begin(body.username, address, clock.now()) if wait is None else wait
    if not isinstance(attempt, Attempt):
        if wait is None:  # the shared count refused it: this process remembers
            gate.failed(body.username, address)
        wait = attempt
        metrics.ADMIN_LOGIN_FAILURES.labels(reason="throttled").inc()
        log.warning("admin login refused: too many failures", extra={"client": address})
        raise ApiError(
            ErrorCode.TOO_MANY_ATTEMPTS,
            "too many failed logins, try again later",
            {"retry_after_seconds": max(1, math.ceil(wait))},
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )
    try:
        account = await accounts.authenticate(body.username, body.password.get_secret_value())
    except PasswordChecksBusy:
        await throttle.take_back(attempt)
        raise ApiError(
            ErrorCode.SERVICE_UNAVAILABLE,
            "too many password checks in progress, try again shortly",
            headers={"Retry-After": "1"},
        ) from None
    if account is None:
        gate.failed(body.username, address)
        metrics.ADMIN_LOGIN_FAILURES.labels(reason="invalid_credentials").inc()
        log.warning("admin login failed", extra={"client": address})
        raise ApiError(ErrorCode.INVALID_CREDENTIALS, "unknown user or wrong password")
    await throttle.succeeded(attempt, account.username, address)
    gate.succeeded(body.username, address)
    log.info("admin logged in", extra={"admin": account.username, "client": address})
    return TokenResponse(
        access_token=tokens.issue(account),
        expires_in=tokens.ttl_seconds,
        permissions=sorted(p.value for p in account.permissions),
    )
