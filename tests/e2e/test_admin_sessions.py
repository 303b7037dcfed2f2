"""Console sessions: a bearer token traded for an HttpOnly, SameSite=Strict session cookie
that renews the token after a reload; refused without the CSRF token; ended by sign-out, by
the idle timeout, by its longest lifetime and by a change of the account's password."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from photochanger_devstack.stack import Stack

from tests.e2e.admin_session import ALL_PERMISSIONS, bearer, login, minted_token

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

SESSION, CSRF = "photochanger_session", "photochanger_csrf"


@pytest.fixture
async def browser_like(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """A client with a cookie jar of its own, as one browser."""
    async with httpx.AsyncClient(base_url=stack.api_url, timeout=30) as client:
        yield client


async def started(client: httpx.AsyncClient, stack: Stack) -> httpx.Response:
    token = await login(client, stack)
    response = await client.post("/api/session/start", headers=bearer(token))
    assert response.status_code == 200, response.text
    return response


def cookie(client: httpx.AsyncClient, name: str) -> str:
    value = next((c.value for c in client.cookies.jar if c.name == name), None)
    assert value is not None, f"no {name} cookie"
    return value


def session_id(client: httpx.AsyncClient) -> str:
    return hashlib.sha256(cookie(client, SESSION).encode()).hexdigest()


async def refresh(client: httpx.AsyncClient, csrf: str | None = None) -> httpx.Response:
    headers = {"X-CSRF-Token": csrf if csrf is not None else cookie(client, CSRF)}
    return await client.post("/api/session/refresh", headers=headers)


async def test_a_session_cookie_renews_the_token_like_a_reload_does(
    browser_like: httpx.AsyncClient, stack: Stack, db: Any
) -> None:
    answer = await started(browser_like, stack)

    set_cookies = answer.headers.get_list("set-cookie")
    session_cookie = next(c for c in set_cookies if c.startswith(f"{SESSION}="))
    csrf_cookie = next(c for c in set_cookies if c.startswith(f"{CSRF}="))
    assert "HttpOnly" in session_cookie and "Path=/api/session" in session_cookie
    assert "samesite=strict" in session_cookie.lower()
    assert "HttpOnly" not in csrf_cookie and "Path=/admin/" in csrf_cookie
    assert "samesite=strict" in csrf_cookie.lower()
    stored = await db.admin_sessions.find_one({"_id": session_id(browser_like)})
    assert stored is not None and cookie(browser_like, SESSION) not in str(stored)

    renewed = await refresh(browser_like)

    assert renewed.status_code == 200, renewed.text
    body = renewed.json()
    assert body["username"] == stack.admin_username and body["idle_seconds"] > 0
    slots = await browser_like.get("/api/slots", headers=bearer(body["access_token"]))
    assert slots.status_code == 200


async def test_a_refresh_without_the_csrf_token_is_refused(
    browser_like: httpx.AsyncClient, stack: Stack
) -> None:
    await started(browser_like, stack)

    missing = await browser_like.post("/api/session/refresh")
    wrong = await refresh(browser_like, csrf="guessed")

    assert missing.status_code == 403 and wrong.status_code == 403
    assert (await refresh(browser_like)).status_code == 200  # the session itself is intact


async def test_no_session_without_a_valid_token(browser_like: httpx.AsyncClient) -> None:
    assert (await browser_like.post("/api/session/start")).status_code == 401
    no_cookie = await browser_like.post("/api/session/refresh", headers={"X-CSRF-Token": "x"})
    assert no_cookie.status_code == 401


async def test_signing_out_ends_the_session(
    browser_like: httpx.AsyncClient, stack: Stack, db: Any
) -> None:
    await started(browser_like, stack)
    key, csrf = session_id(browser_like), cookie(browser_like, CSRF)

    ended = await browser_like.post("/api/session/end", headers={"X-CSRF-Token": csrf})

    assert ended.status_code == 204
    assert await db.admin_sessions.find_one({"_id": key}) is None
    after = await browser_like.post("/api/session/refresh", headers={"X-CSRF-Token": csrf})
    assert after.status_code == 401


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"idle_expires_at": datetime.now(UTC) - timedelta(seconds=1)}, "idle"),
        ({"expires_at": datetime.now(UTC) - timedelta(seconds=1)}, "longest lifetime"),
        ({"password": "0" * 32}, "password has changed"),  # started under another password
    ],
)
async def test_an_idle_too_old_or_outdated_session_is_signed_out(
    browser_like: httpx.AsyncClient, stack: Stack, db: Any, change: dict[str, Any], reason: str
) -> None:
    await started(browser_like, stack)
    key = session_id(browser_like)
    csrf = cookie(browser_like, CSRF)
    await db.admin_sessions.update_one({"_id": key}, {"$set": change})

    refused = await refresh(browser_like, csrf)

    assert refused.status_code == 401
    assert reason in refused.json()["error"]["message"]
    assert await db.admin_sessions.find_one({"_id": key}) is None
    cleared = refused.headers.get_list("set-cookie")
    assert any(c.startswith(f"{SESSION}=") and "Max-Age=0" in c for c in cleared), cleared


async def test_a_token_from_before_a_password_change_is_refused(
    api: httpx.AsyncClient, stack: Stack
) -> None:
    current = await login(api, stack)
    claims = {"pwd": "0" * 32}  # the fingerprint of a password the account no longer has
    old = minted_token(stack, ALL_PERMISSIONS, extra=claims)

    assert (await api.get("/api/slots", headers=bearer(current))).status_code == 200
    refused = await api.get("/api/slots", headers=bearer(old))
    assert refused.status_code == 401
    assert "password has changed" in refused.json()["error"]["message"]
