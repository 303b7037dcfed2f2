"""Request-scoped access to the svcs container: handlers ask for what they need."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

import svcs
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from photochanger_contracts import ErrorCode

from .admin.auth import AdminAccounts, AdminTokens, Permission, Principal, TokenRejected
from .errors import ApiError
from .ingest import IngestDeps


def container(request: Request) -> svcs.Container:
    return svcs.Container(svcs.fastapi.get_registry(request.app))


async def ingest_deps(request: Request) -> IngestDeps:
    """Everything the ingest path needs, built once by the composition root."""
    deps: IngestDeps = await container(request).aget(IngestDeps)
    return deps


_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="adminToken",
    description="JWT from `POST /api/login`; its `permissions` claim decides what it may do.",
)


def _unauthorized(message: str, error: str | None = None) -> ApiError:
    challenge = f'Bearer realm="photochanger-admin", error="{error}"' if error else "Bearer"
    return ApiError(ErrorCode.UNAUTHORIZED, message, headers={"WWW-Authenticate": challenge})


def require(permission: Permission) -> Callable[..., Awaitable[Principal]]:
    """A route dependency: the caller's principal if its token grants `permission`;
    401 without a valid token, 403 without the permission."""

    async def check(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise _unauthorized("a bearer token from POST /api/login is required")
        c = container(request)
        tokens, accounts = await c.aget(AdminTokens, AdminAccounts)
        try:
            principal = tokens.read(credentials.credentials, accounts)
        except TokenRejected as exc:
            raise _unauthorized(exc.reason, "invalid_token") from None
        if permission not in principal.permissions:
            raise ApiError(
                ErrorCode.FORBIDDEN,
                "the token does not grant this permission",
                {"required": permission.value},
            )
        return principal

    check.__name__ = f"require_{permission.value.replace(':', '_')}"
    return check
