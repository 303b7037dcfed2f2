"""Admin accounts, tokens and the password-hash helper, without a server."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from argon2 import PasswordHasher
from photochanger_api.admin import hash_password
from photochanger_api.admin.auth import (
    ALL_PERMISSIONS,
    AccountsError,
    AdminAccount,
    AdminAccounts,
    AdminTokens,
    Permission,
    TokenRejected,
    parse_accounts,
)
from photochanger_runtime.clock import ManualClock

KEY = b"k" * 32
HASH = PasswordHasher().hash("correct horse battery")


def _accounts(*permissions: Permission) -> AdminAccounts:
    return AdminAccounts(
        [
            AdminAccount(
                username="alice",
                password_hash=HASH,
                permissions=frozenset(permissions) if permissions else ALL_PERMISSIONS,
            )
        ]
    )


def test_accounts_accept_argon2_hashes_only() -> None:
    with pytest.raises(AccountsError) as caught:
        parse_accounts(json.dumps([{"username": "bob", "password_hash": "plain"}]), "env")
    assert "argon2" in str(caught.value)
    assert "plain" not in str(caught.value)  # whatever was there is not echoed


def test_accounts_file_may_wrap_the_list_and_defaults_to_all_permissions() -> None:
    text = json.dumps({"accounts": [{"username": "bob", "password_hash": HASH}]})

    (bob,) = parse_accounts(text, "file")

    assert bob.permissions == ALL_PERMISSIONS
    assert HASH not in repr(bob)


def test_duplicate_accounts_are_refused() -> None:
    account = AdminAccount(username="Bob", password_hash=HASH)
    with pytest.raises(AccountsError):
        AdminAccounts([account, account.model_copy(update={"username": "bob"})])


async def test_authenticate_checks_the_password_and_ignores_name_case() -> None:
    accounts = _accounts()

    assert await accounts.authenticate("ALICE", "correct horse battery") is not None
    assert await accounts.authenticate("alice", "wrong") is None
    assert await accounts.authenticate("mallory", "correct horse battery") is None


def test_token_round_trip_carries_the_permissions() -> None:
    accounts = _accounts()
    tokens = AdminTokens(KEY, ttl_seconds=600, clock=ManualClock(datetime.now(UTC)))
    account = accounts.get("alice")
    assert account is not None

    token = tokens.issue(account)

    claims = jwt.decode(token, KEY, algorithms=["HS256"], audience="photochanger-admin")
    assert claims["permissions"] == sorted(p.value for p in ALL_PERMISSIONS)
    principal = tokens.read(token, accounts)
    assert principal.username == "alice" and principal.permissions == ALL_PERMISSIONS


def test_expired_tampered_and_orphaned_tokens_are_rejected() -> None:
    accounts = _accounts()
    account = accounts.get("alice")
    assert account is not None
    issued_long_ago = AdminTokens(
        KEY, ttl_seconds=60, clock=ManualClock(datetime.now(UTC) - timedelta(hours=2))
    )
    tokens = AdminTokens(KEY, ttl_seconds=60, clock=ManualClock(datetime.now(UTC)))
    token = tokens.issue(account)

    with pytest.raises(TokenRejected, match="expired"):
        tokens.read(issued_long_ago.issue(account), accounts)
    with pytest.raises(TokenRejected, match="not valid"):
        AdminTokens(b"x" * 32, ttl_seconds=60, clock=tokens._clock).read(token, accounts)
    with pytest.raises(TokenRejected, match="not valid"):
        tokens.read(token[:-2] + ("AA" if not token.endswith("AA") else "BB"), accounts)
    with pytest.raises(TokenRejected, match="not valid"):
        tokens.read(token, AdminAccounts([]))  # the account is gone
    unsigned = jwt.encode(jwt.decode(token, options={"verify_signature": False}), "", "none")
    with pytest.raises(TokenRejected, match="not valid"):
        tokens.read(unsigned, accounts)


def test_a_token_grants_no_more_than_its_account_does_today() -> None:
    wide = _accounts()
    tokens = AdminTokens(KEY, ttl_seconds=600, clock=ManualClock(datetime.now(UTC)))
    account = wide.get("alice")
    assert account is not None
    token = tokens.issue(account)

    narrowed = _accounts(Permission.STATS_READ)

    assert tokens.read(token, narrowed).permissions == {Permission.STATS_READ}


def test_short_signing_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        AdminTokens(b"short", ttl_seconds=60, clock=ManualClock(datetime.now(UTC)))


def test_hash_helper_prints_an_account_entry_from_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password\n"))

    code = hash_password.main(["--username", "carol", "--permissions", "stats:read,jobs:read"])

    assert code == 0
    entry = json.loads(capsys.readouterr().out)
    (account,) = parse_accounts(json.dumps([entry]), "helper")
    assert account.permissions == {Permission.STATS_READ, Permission.JOBS_READ}
    PasswordHasher().verify(account.password_hash, "a long enough password")


def test_hash_helper_refuses_short_passwords_and_unknown_permissions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("short"))
    assert hash_password.main([]) == 2
    monkeypatch.setattr("sys.stdin", io.StringIO("a long enough password"))
    assert hash_password.main(["--permissions", "root"]) == 2


def test_hash_helper_knows_every_permission() -> None:
    assert set(hash_password._PERMISSIONS) == {p.value for p in Permission}
