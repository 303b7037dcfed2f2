"""Admin accounts and their tokens.

Accounts are static: a JSON list from the environment or a secrets file, each with an argon2
hash (never a password) and the permissions it grants. `POST /api/login` trades a user name
and password for a short-lived HS256 JWT whose `permissions` claim every admin route checks.
A token is only as good as its account: when an account disappears or loses a permission,
its tokens lose it too on the next request, without waiting for them to expire."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

import jwt
from photochanger_runtime.clock import Clock
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

from ..passwords import PasswordChecks
from ..settings import ApiSettings

log = logging.getLogger(__name__)

_ALGORITHM = "HS256"
_ISSUER = "photochanger-api"
_AUDIENCE = "photochanger-admin"
MIN_SECRET_BYTES = 32


class Permission(StrEnum):
    SLOTS_READ = "slots:read"
    SLOTS_WRITE = "slots:write"
    SETTINGS_READ = "settings:read"
    SETTINGS_WRITE = "settings:write"
    MEDIA_WRITE = "media:write"
    JOBS_READ = "jobs:read"
    JOBS_WRITE = "jobs:write"
    STATS_READ = "stats:read"


ALL_PERMISSIONS: frozenset[Permission] = frozenset(Permission)


class AdminAccount(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    username: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._@-]+$")
    password_hash: str = Field(repr=False)
    permissions: frozenset[Permission] = ALL_PERMISSIONS

    @field_validator("password_hash")
    @classmethod
    def _argon2_only(cls, value: str) -> str:
        if not value.startswith("$argon2"):
            raise ValueError(
                "must be an argon2 hash (python -m photochanger_api.admin.hash_password)"
            )
        return value


_ACCOUNT_LIST = TypeAdapter(list[AdminAccount])


class AccountsError(ValueError):
    """The configured accounts cannot be read; the api refuses to start with them."""


def parse_accounts(text: str, source: str) -> list[AdminAccount]:
    try:
        raw: Any = json.loads(text)
        if isinstance(raw, dict) and "accounts" in raw:
            raw = raw["accounts"]
        return _ACCOUNT_LIST.validate_python(raw)
    except ValueError as exc:  # json and pydantic errors; the hash itself is never echoed
        raise AccountsError(f"admin accounts in {source} are invalid: {_safe(exc)}") from None


def _safe(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        return "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors(include_input=False)
        )
    return type(exc).__name__


class AdminAccounts:
    """The static accounts, checked in constant time whether or not the user exists, through
    the process's bounded password checks (which may refuse with `PasswordChecksBusy`)."""

    def __init__(
        self, accounts: Iterable[AdminAccount], checks: PasswordChecks | None = None
    ) -> None:
        self._checks = checks if checks is not None else PasswordChecks()
        self._accounts: dict[str, AdminAccount] = {}
        for account in accounts:
            key = account.username.lower()
            if key in self._accounts:
                raise AccountsError(f"admin account {account.username!r} is defined twice")
            self._accounts[key] = account
        # Unknown users pay for a verification too, so timing does not tell who exists.
        self._decoy = self._checks.hash(secrets.token_urlsafe(16))

    @classmethod
    def from_settings(
        cls, settings: ApiSettings, checks: PasswordChecks | None = None
    ) -> AdminAccounts:
        accounts: list[AdminAccount] = []
        if settings.admin_accounts is not None:
            accounts += parse_accounts(
                settings.admin_accounts.get_secret_value(), "PHOTOCHANGER_ADMIN_ACCOUNTS"
            )
        if settings.admin_accounts_file is not None:
            accounts += parse_accounts(
                settings.admin_accounts_file.read_text(), str(settings.admin_accounts_file)
            )
        if not accounts:
            log.warning("no admin accounts configured: every admin route answers 401")
        return cls(accounts, checks)

    def __len__(self) -> int:
        return len(self._accounts)

    def get(self, username: str) -> AdminAccount | None:
        return self._accounts.get(username.lower())

    async def authenticate(self, username: str, password: str) -> AdminAccount | None:
        account = self.get(username)
        stored = account.password_hash if account is not None else self._decoy
        if not await self._checks.verify(stored, password, purpose="admin_login"):
            return None
        return account


def password_fingerprint(account: AdminAccount) -> str:
    """Which password the account has, without saying anything about it: tokens and console
    sessions carry it, so a new password hash signs them all out (admin/sessions.py)."""
    return hashlib.sha256(account.password_hash.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling an admin route, and what they may do right now."""

    username: str
    permissions: frozenset[Permission]


class TokenRejected(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AdminTokens:
    def __init__(self, key: bytes, *, ttl_seconds: int, clock: Clock) -> None:
        if len(key) < MIN_SECRET_BYTES:
            raise ValueError(f"the JWT signing key needs at least {MIN_SECRET_BYTES} bytes")
        self._key = key
        self.ttl_seconds = ttl_seconds
        self._clock = clock

    def issue(self, account: AdminAccount) -> str:
        now = self._clock.now()
        claims = {
            "sub": account.username,
            "permissions": sorted(p.value for p in account.permissions),
            "iat": now,
            "nbf": now,
            "exp": now + timedelta(seconds=self.ttl_seconds),
            "iss": _ISSUER,
            "aud": _AUDIENCE,
            "jti": uuid.uuid4().hex,
            "pwd": password_fingerprint(account),
        }
        return jwt.encode(claims, self._key, algorithm=_ALGORITHM)

    def read(self, token: str, accounts: AdminAccounts) -> Principal:
        """The principal of a valid token, limited to what its account grants today."""
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[_ALGORITHM],
                audience=_AUDIENCE,
                issuer=_ISSUER,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
                leeway=5,
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenRejected("the token has expired") from exc
        except jwt.InvalidTokenError as exc:
            raise TokenRejected("the token is not valid") from exc
        account = accounts.get(str(claims["sub"]))
        granted = claims.get("permissions")
        if account is None or not isinstance(granted, list):
            raise TokenRejected("the token is not valid")
        # every token the api issues names the password it was issued under; one from before
        # a password change is refused (a token without the claim can only come from a holder
        # of the signing key, who could write any claim)
        issued_for = claims.get("pwd", password_fingerprint(account))
        if not isinstance(issued_for, str) or not hmac.compare_digest(
            issued_for, password_fingerprint(account)
        ):
            raise TokenRejected("the account's password has changed")
        claimed = {p for p in Permission if p.value in granted}
        return Principal(
            username=account.username, permissions=frozenset(claimed) & account.permissions
        )


def signing_key(settings: ApiSettings) -> bytes:
    """The configured HS256 key; a random one (this process only) when none is configured."""
    if settings.jwt_secret is not None:
        return settings.jwt_secret.get_secret_value().encode()
    if settings.jwt_secret_file is not None:
        return settings.jwt_secret_file.read_bytes().strip()
    log.warning(
        "PHOTOCHANGER_JWT_SECRET is not set: admin tokens are valid on this api process only"
    )
    return secrets.token_bytes(MIN_SECRET_BYTES)
