"""Admin credentials for the end-to-end tests: log in as the stack's local admin, or mint a
token with the stack's signing key (to test expiry, permissions and tampering)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
from photochanger_devstack.stack import SERVICES, Stack

ALL_PERMISSIONS = (
    "slots:read", "slots:write", "settings:read", "settings:write",
    "media:write", "jobs:read", "jobs:write", "stats:read",
)  # fmt: skip


async def login(api: httpx.AsyncClient, stack: Stack) -> str:
    response = await api.post(
        "/api/login", json={"username": stack.admin_username, "password": stack.admin_password}
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


async def admin_headers(api: httpx.AsyncClient, stack: Stack) -> dict[str, str]:
    return {"Authorization": f"Bearer {await login(api, stack)}"}


def minted_token(
    stack: Stack,
    permissions: tuple[str, ...] = ALL_PERMISSIONS,
    *,
    expires_in: float = 300,
    key: str | None = None,
    subject: str | None = None,
    extra: dict[str, Any] | None = None,
) -> str:
    now = datetime.now(UTC)
    claims = {
        "sub": subject or stack.admin_username,
        "permissions": list(permissions),
        "iat": now - timedelta(seconds=600) if expires_in < 0 else now,
        "exp": now + timedelta(seconds=expires_in),
        "iss": "photochanger-api",
        "aud": "photochanger-admin",
        **(extra or {}),
    }
    return jwt.encode(claims, key or stack.env["PHOTOCHANGER_JWT_SECRET"], algorithm="HS256")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def platform_logs(stack: Stack) -> str:
    """Every log line of the services so far (the emulators are not the platform)."""
    services = tuple(SERVICES)
    return "\n".join(
        (stack.state_dir / "logs" / f"{name}.log").read_text(errors="replace") for name in services
    )
