"""Console sessions that survive a reload: a refresh token in an HttpOnly cookie.

After `POST /api/login` the console trades its bearer token for a session
(`POST /api/session/start`): a random refresh token in an HttpOnly, SameSite=Strict cookie
scoped to `/api/session`, and a CSRF token in a second, script-readable cookie scoped to
`/admin/`. A reload (or a new tab) calls `POST /api/session/refresh` with the CSRF token in
`X-CSRF-Token`, and gets a fresh bearer token while the session lives:

- at most `admin_session_max_seconds` after it started, and
- at most `admin_session_idle_seconds` after its last refresh (the idle timeout; the console
  also drops its token after that long without input),
- and only while the account's password is the one it started with: a new password hash in
  the accounts signs every session of the account out, and its bearer tokens too (they carry
  the same fingerprint, `AdminTokens`).

The database keeps only the SHA-256 of each token (a read of `admin_sessions` yields no
working cookie); every lookup is by `_id`."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from photochanger_runtime.mongo import Document
from pymongo.asynchronous.database import AsyncDatabase

from .auth import AdminAccount, AdminAccounts, password_fingerprint

REFRESH_COOKIE = "photochanger_session"
CSRF_COOKIE = "photochanger_csrf"
CSRF_HEADER = "X-CSRF-Token"
REFRESH_PATH = "/api/session"
CSRF_PATH = "/admin/"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class StartedSession:
    refresh_token: str
    csrf_token: str
    expires_at: datetime


class SessionRefused(Exception):
    """Why a refresh is refused: `reason` is what the answer says (never which token)."""

    def __init__(self, reason: str, *, csrf: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.csrf = csrf


class AdminSessions:
    def __init__(self, db: AsyncDatabase[Document], *, idle_seconds: int, max_seconds: int) -> None:
        self._sessions = db["admin_sessions"]
        self.idle = timedelta(seconds=idle_seconds)
        self.lifetime = timedelta(seconds=max_seconds)

    async def start(self, account: AdminAccount, now: datetime) -> StartedSession:
        refresh, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        expires = now + self.lifetime
        # the account's ended sessions go now: the collection stays as small as its users
        await self._sessions.delete_many(
            {"username": account.username, "expires_at": {"$lte": now}}
        )
        await self._sessions.insert_one(
            {
                "_id": digest(refresh),
                "username": account.username,
                "password": password_fingerprint(account),
                "csrf_sha256": digest(csrf),
                "created_at": now,
                "refreshed_at": now,
                "idle_expires_at": now + self.idle,
                "expires_at": expires,
            }
        )
        return StartedSession(refresh, csrf, expires)

    async def refresh(
        self, refresh_token: str | None, csrf_token: str | None, accounts: AdminAccounts,
        now: datetime,
    ) -> AdminAccount:  # fmt: skip
        """The session's account, with its idle timeout moved on; SessionRefused otherwise
        (an ended session is deleted)."""
        if not refresh_token:
            raise SessionRefused("no session")
        key = digest(refresh_token)
        found = await self._sessions.find_one({"_id": key})
        if found is None:
            raise SessionRefused("no such session")
        if not csrf_token or not hmac.compare_digest(digest(csrf_token), found["csrf_sha256"]):
            raise SessionRefused("the CSRF token is missing or wrong", csrf=True)
        account = accounts.get(found["username"])
        ended = None
        if _aware(found["expires_at"]) <= now:
            ended = "the session has reached its longest lifetime"
        elif _aware(found["idle_expires_at"]) <= now:
            ended = "the session was idle too long"
        elif account is None:
            ended = "the account no longer exists"
        elif not hmac.compare_digest(found["password"], password_fingerprint(account)):
            ended = "the account's password has changed"
        if ended is not None or account is None:
            await self._sessions.delete_one({"_id": key})
            raise SessionRefused(ended or "the session has ended")
        await self._sessions.update_one(
            {"_id": key}, {"$set": {"refreshed_at": now, "idle_expires_at": now + self.idle}}
        )
        return account

    async def end(self, refresh_token: str | None) -> None:
        if refresh_token:
            await self._sessions.delete_one({"_id": digest(refresh_token)})


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
