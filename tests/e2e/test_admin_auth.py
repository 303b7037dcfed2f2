"""Admin authentication on the running platform: login, tokens, permissions, throttling, and
secrets that never show up in an answer or a log line."""

from __future__ import annotations

import uuid

import httpx
import jwt
import pytest
from photochanger_devstack.stack import Stack

from tests.e2e.admin_session import ALL_PERMISSIONS, bearer, login, minted_token, platform_logs

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

# (method, path, permission it needs) for every admin route; ids need not exist, the
# permission is checked before anything is looked up.
ADMIN_ROUTES = [
    ("GET", "/api/providers", "slots:read"),
    ("GET", "/api/slots", "slots:read"),
    ("GET", "/api/slots/slot-001", "slots:read"),
    ("PUT", "/api/slots/slot-001", "slots:write"),
    ("POST", "/api/slots/slot-001/reset_stats", "slots:write"),
    ("POST", "/api/slots/slot-001/test-run", "slots:write"),
    ("GET", "/api/settings", "settings:read"),
    ("PUT", "/api/settings", "settings:write"),
    ("POST", "/api/template-media/register", "media:write"),
    ("GET", "/api/template-media", "slots:read"),
    ("DELETE", "/api/template-media/nope", "media:write"),
    ("GET", "/api/jobs", "jobs:read"),
    ("GET", "/api/jobs/nope", "jobs:read"),
    ("POST", "/api/jobs/nope/cancel", "jobs:write"),
    ("POST", "/api/media/cache/purge", "media:write"),
    ("GET", "/api/stats/global", "stats:read"),
    ("GET", "/api/stats/slot-001", "stats:read"),
    ("GET", "/api/stats/overview", "stats:read"),
    ("GET", "/api/template-media/nope/content", "slots:read"),
    ("GET", "/api/jobs/nope/images/result", "jobs:read"),
    ("POST", "/api/jobs/nope/share", "jobs:read"),
    ("POST", "/api/slots/slot-001/test-runs", "slots:write"),
    ("GET", "/api/slots/slot-001/test-runs/nope", "slots:write"),
    ("GET", "/api/slots/slot-001/test-runs/nope/result", "slots:write"),
]


def _forwarded(address: str) -> dict[str, str]:
    """The e2e api trusts X-Forwarded-For from loopback (`PHOTOCHANGER_TRUSTED_PROXIES`), as
    behind an ingress."""
    return {"X-Forwarded-For": address}


async def test_login_returns_a_bearer_token_with_the_accounts_permissions(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    response = await api.post(
        "/api/login", json={"username": stack.admin_username, "password": stack.admin_password}
    )

    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer" and body["expires_in"] > 0
    claims = jwt.decode(
        body["access_token"],
        stack.env["PHOTOCHANGER_JWT_SECRET"],
        algorithms=["HS256"],
        audience="photochanger-admin",
    )
    assert claims["sub"] == stack.admin_username
    assert sorted(claims["permissions"]) == sorted(ALL_PERMISSIONS) == body["permissions"]
    assert stack.admin_password not in response.text
    providers = await api.get("/api/providers", headers=bearer(body["access_token"]))
    assert providers.status_code == 200


@pytest.mark.parametrize(
    ("username", "password"),
    [("admin-typo", None), (None, "wrong password")],
    ids=["unknown-user", "wrong-password"],
)
async def test_bad_credentials_are_401_in_the_envelope(
    api: httpx.AsyncClient, stack: Stack, username: str | None, password: str | None
) -> None:
    response = await api.post(
        "/api/login",
        json={
            "username": username or stack.admin_username,
            "password": password or stack.admin_password,
        },
        headers=_forwarded(f"198.51.100.{uuid.uuid4().int % 250}"),
    )

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_credentials"
    assert "access_token" not in response.text


async def test_login_body_is_validated(api: httpx.AsyncClient) -> None:
    response = await api.post("/api/login", json={"username": "", "password": "x"})

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_failed"


@pytest.mark.parametrize(("method", "path", "permission"), ADMIN_ROUTES)
async def test_every_admin_route_needs_a_valid_token(
    api: httpx.AsyncClient, stack: Stack, method: str, path: str, permission: str
) -> None:
    del permission
    expired = minted_token(stack, expires_in=-60)
    foreign = minted_token(stack, key="another-key-of-enough-length-0123456789")
    no_account = minted_token(stack, subject="someone-removed")
    for headers in (
        {},
        {"Authorization": "Bearer not-a-jwt"},
        {"Authorization": f"Basic {stack.admin_password}"},
        bearer(expired),
        bearer(foreign),
        bearer(no_account),
    ):
        response = await api.request(method, path, headers=headers)
        assert response.status_code == 401, (headers, response.text)
        assert response.json()["error"]["code"] == "unauthorized"
        assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("method", "path", "permission"), ADMIN_ROUTES)
async def test_every_admin_route_needs_its_permission(
    api: httpx.AsyncClient, stack: Stack, method: str, path: str, permission: str
) -> None:
    everything_else = tuple(p for p in ALL_PERMISSIONS if p != permission)
    response = await api.request(method, path, headers=bearer(minted_token(stack, everything_else)))

    assert response.status_code == 403, response.text
    assert response.json()["error"] == {
        "code": "forbidden",
        "message": "the token does not grant this permission",
        "details": {"required": permission},
    }


async def test_expired_token_names_the_reason(api: httpx.AsyncClient, stack: Stack) -> None:
    response = await api.get("/api/slots", headers=bearer(minted_token(stack, expires_in=-60)))

    assert response.status_code == 401
    assert response.json()["error"]["message"] == "the token has expired"
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_repeated_failures_lock_the_user_out_from_that_address_with_429(
    api: httpx.AsyncClient,
) -> None:
    user = f"guesser-{uuid.uuid4().hex[:8]}"
    address = f"203.0.113.{uuid.uuid4().int % 250 + 1}"
    statuses = [
        (
            await api.post(
                "/api/login",
                json={"username": user, "password": f"guess-{n}"},
                headers=_forwarded(address),
            )
        ).status_code
        for n in range(6)
    ]

    assert statuses == [401] * 5 + [429]
    locked = await api.post(
        "/api/login", json={"username": user, "password": "guess"}, headers=_forwarded(address)
    )
    assert locked.status_code == 429
    assert locked.json()["error"]["code"] == "too_many_attempts"
    assert 0 < int(locked.headers["retry-after"]) <= 900
    # the user is not locked out from anywhere else: guessing cannot lock an admin out
    other = f"2001:db8::{uuid.uuid4().int % 65000:x}"
    elsewhere = await api.post(
        "/api/login", json={"username": user, "password": "guess"}, headers=_forwarded(other)
    )
    assert elsewhere.status_code == 401


async def test_repeated_failures_lock_the_address_out_even_for_the_right_password(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    address = f"192.0.2.{uuid.uuid4().int % 250 + 1}"
    for n in range(20):  # different user names: only the per-address count can lock
        failed = await api.post(
            "/api/login",
            json={"username": f"user-{n}-{uuid.uuid4().hex[:6]}", "password": "guess"},
            headers=_forwarded(address),
        )
        assert failed.status_code == 401
    right = {"username": stack.admin_username, "password": stack.admin_password}

    locked = await api.post("/api/login", json=right, headers=_forwarded(address))
    assert locked.status_code == 429
    assert "retry-after" in locked.headers
    elsewhere = await api.post("/api/login", json=right, headers=_forwarded("192.0.2.254"))
    assert elsewhere.status_code == 200


async def test_secrets_appear_in_no_answer_and_no_log_line(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    token = await login(api, stack)
    headers = bearer(token)
    answers = [
        await api.get("/api/settings", headers=headers),
        await api.get("/api/providers", headers=headers),
        await api.get("/api/slots", headers=headers),
    ]
    await api.post(
        "/api/login",
        json={"username": stack.admin_username, "password": "a-wrong-password-123"},
        headers=_forwarded("198.51.100.77"),
    )

    secrets = [
        stack.admin_password,
        stack.ingest_password,
        stack.env["PHOTOCHANGER_JWT_SECRET"],
        stack.env["PHOTOCHANGER_GEMINI_API_KEY"],
        stack.env["PHOTOCHANGER_TURBOTEXT_API_KEY"],
        "a-wrong-password-123",
        token,
    ]
    for answer in answers:
        assert answer.status_code == 200
        for secret in secrets:
            assert secret not in answer.text
    logs = platform_logs(stack)
    assert "admin logged in" in logs  # the log is there, only without secrets
    for secret in secrets:
        assert secret not in logs
