"""Finding (c): the admin login throttle.

Before the fix the lock was read before the argon2 check and the failure recorded after it,
so N parallel guesses all got their check; failures were keyed by user name alone, so anyone
could lock any admin out; and behind an ingress every client had the ingress's address, so
20 failures from anyone locked every admin out. Now an attempt is counted before the check
(at most the limit reach argon2), keys are (user, address) and address, and the client's
address is taken from X-Forwarded-For only when a trusted proxy sent it."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from tests.security.conftest import ApiProcess

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

PER_USER = 5  # PHOTOCHANGER_LOGIN_MAX_FAILURES_PER_USER (per user name and address)
VERIFIES = 'photochanger_password_verifications_total{purpose="admin_login"}'


@pytest.fixture(scope="module")
async def direct(start_api: Any) -> ApiProcess:
    """An api whose clients connect to it directly (no proxy is trusted)."""
    api: ApiProcess = await start_api(PHOTOCHANGER_TRUSTED_PROXIES="")
    return api


@pytest.fixture(scope="module")
async def behind_proxy(start_api: Any) -> ApiProcess:
    """An api behind an ingress on 127.0.0.1 (the ingress appends X-Forwarded-For)."""
    api: ApiProcess = await start_api(PHOTOCHANGER_TRUSTED_PROXIES="127.0.0.1/32")
    return api


async def _login(api: ApiProcess, user: str, password: str, *, source: str | None = None,
                 forwarded: str | None = None) -> Any:  # fmt: skip
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    async with api.client(source=source) as client:
        return await client.post(
            "/api/login", json={"username": user, "password": password}, headers=headers
        )


async def test_thirty_parallel_guesses_get_at_most_the_limit_of_password_checks(
    direct: ApiProcess,
) -> None:
    user = direct.platform.admin_username
    before = await direct.metric(VERIFIES)
    first = await _login(direct, user, "the-first-guess", source="127.0.0.101")
    assert first.status_code == 401
    assert await direct.metric(VERIFIES) == before + 1  # each check is counted

    answers = await asyncio.gather(
        *(_login(direct, user, f"guess-{n}", source="127.0.0.101") for n in range(30))
    )

    statuses = [a.status_code for a in answers]
    checked = await direct.metric(VERIFIES) - before
    assert checked <= PER_USER, statuses
    assert statuses.count(401) <= PER_USER - 1, statuses  # a 401 is a guess that was checked
    assert set(statuses) <= {401, 429, 503}, statuses


async def test_guessing_from_one_address_does_not_lock_the_admin_out_elsewhere(
    direct: ApiProcess,
) -> None:
    platform = direct.platform
    for n in range(PER_USER):
        wrong = await _login(direct, platform.admin_username, f"wrong-{n}", source="127.0.0.102")
        assert wrong.status_code == 401
    locked = await _login(
        direct, platform.admin_username, platform.admin_password, source="127.0.0.102"
    )
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) >= 1

    admin = await _login(
        direct, platform.admin_username, platform.admin_password, source="127.0.0.103"
    )
    assert admin.status_code == 200, admin.text


async def test_forwarded_for_is_believed_from_a_trusted_proxy_only(
    direct: ApiProcess, behind_proxy: ApiProcess
) -> None:
    user = f"someone-{uuid.uuid4().hex[:6]}"
    # behind the ingress: two clients it names are two clients
    for _ in range(PER_USER):
        assert (await _login(behind_proxy, user, "x", forwarded="198.51.100.1")).status_code == 401
    assert (await _login(behind_proxy, user, "x", forwarded="198.51.100.1")).status_code == 429
    assert (await _login(behind_proxy, user, "x", forwarded="198.51.100.2")).status_code == 401
    # a client cannot pick its own address: the header of an untrusted peer is ignored
    spoofed = [
        (await _login(direct, user, "x", source="127.0.0.104", forwarded=f"203.0.113.{n}"))
        for n in range(PER_USER + 1)
    ]
    assert [s.status_code for s in spoofed] == [401] * PER_USER + [429]


async def _login_commands(api: ApiProcess) -> float:
    names = ("insert", "delete")  # what every counted attempt writes (reads happen elsewhere too)
    return sum([await api.metric(f'photochanger_database_commands_total{{command="{n}"}}')
                for n in names])  # fmt: skip


@pytest.mark.timeout(300)
async def test_a_throttled_login_costs_no_database_command(direct: ApiProcess) -> None:
    """Issue 20, finding 9: an attempt cost ~5 database commands before the throttle said no,
    even when it said no. This process's own count now refuses first."""
    user, source = f"nobody-{uuid.uuid4().hex[:6]}", "127.0.0.121"
    for n in range(PER_USER):
        assert (await _login(direct, user, f"guess-{n}", source=source)).status_code == 401
    spent = await _login_commands(direct)
    assert spent > 0  # the counted attempts did use the database
    for n in range(10):
        refused = await _login(direct, user, f"more-{n}", source=source)
        assert refused.status_code == 429
    assert await _login_commands(direct) == spent
