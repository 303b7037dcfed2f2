"""Admin login attempts, counted before the password is checked.

Two keys per attempt: the user name *from this client address*, and the client address alone.
Keying the user by address means an attacker can lock out only what it sends from its own
addresses, never an admin who logs in from elsewhere (a key per user name alone would let
anyone lock any admin out); the address key stops one address trying many user names.

An attempt is recorded first (one insert per key, unique ids) and then counted: of N
parallel attempts, each counts its own record and every record inserted before its count,
so at most `limit` of them see a count within the limit and reach the argon2 check — the
others are refused and take their records back. A failed attempt's records stay for the
window; a successful one takes them back too. Only inserts, deletes and reads are used, so
FerretDB's non-atomic conditional updates (ADR-0006) do not matter; the records live in
MongoDB so every api replica sees the same counts."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from photochanger_runtime.mongo import Document
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

_MAX_KEY = 128


@dataclass(frozen=True, slots=True)
class ThrottleRule:
    """At most `limit` attempts per key within `window_seconds`."""

    limit: int
    window_seconds: float


@dataclass(frozen=True, slots=True)
class Attempt:
    """A counted attempt: its records, to take back when it succeeds or never ran."""

    ids: tuple[str, ...]


def seconds_until_allowed(
    recent: Sequence[datetime], rule: ThrottleRule, now: datetime
) -> float | None:
    """None when another attempt is allowed now; otherwise how long until it is.

    `recent` are the other attempts' times, newest first. With `limit` of them inside the
    window the key is locked until the oldest of those leaves it."""
    start = now - timedelta(seconds=rule.window_seconds)
    inside = [at for at in recent if at > start]
    if len(inside) < rule.limit:
        return None
    oldest_counted = sorted(inside, reverse=True)[rule.limit - 1]
    return max(0.0, (oldest_counted - start).total_seconds())


class LoginThrottle:
    def __init__(
        self, db: AsyncDatabase[Document], *, per_user: ThrottleRule, per_address: ThrottleRule
    ) -> None:
        self._attempts = db["login_failures"]
        self._rules = {"user": per_user, "addr": per_address}

    async def ensure_indexes(self) -> None:
        await self._attempts.create_index([("key", ASCENDING), ("at", DESCENDING)])
        await self._attempts.create_index([("at", ASCENDING)])

    @staticmethod
    def keys(username: str, address: str) -> dict[str, str]:
        address = address[:_MAX_KEY]
        return {
            "user": f"user:{address}:{username.strip().lower()[:_MAX_KEY]}",
            "addr": f"addr:{address}",
        }

    async def begin(self, username: str, address: str, now: datetime) -> Attempt | float:
        """Record an attempt; the attempt when it may go on to the password check, else the
        seconds until this user name or address may try again (nothing stays recorded)."""
        keys = self.keys(username, address)
        records: dict[str, Document] = {
            kind: {"_id": uuid.uuid4().hex, "key": key, "at": now} for kind, key in keys.items()
        }
        await self._attempts.insert_many(list(records.values()))
        waits: list[float] = []
        for kind, record in records.items():
            rule = self._rules[kind]
            start = now - timedelta(seconds=rule.window_seconds)
            cursor = (
                self._attempts.find(
                    {"key": record["key"], "at": {"$gt": start}, "_id": {"$ne": record["_id"]}},
                    {"at": 1, "_id": 0},
                )
                .sort("at", DESCENDING)
                .limit(rule.limit)
            )
            wait = seconds_until_allowed([d["at"] async for d in cursor], rule, now)
            if wait is not None:
                waits.append(wait)
        attempt = Attempt(ids=tuple(str(r["_id"]) for r in records.values()))
        if waits:
            await self.take_back(attempt)
            return max(waits)
        # Old attempts count for nothing; dropping them here keeps the collection small.
        longest = max(rule.window_seconds for rule in self._rules.values())
        await self._attempts.delete_many({"at": {"$lte": now - timedelta(seconds=longest)}})
        return attempt

    async def take_back(self, attempt: Attempt) -> None:
        """The attempt does not count: it succeeded, or its check never ran."""
        await self._attempts.delete_many({"_id": {"$in": list(attempt.ids)}})

    async def succeeded(self, attempt: Attempt, username: str, address: str) -> None:
        """A successful login clears the user's failures from this address (the address
        keeps the count of its other failures)."""
        await self.take_back(attempt)
        await self._attempts.delete_many({"key": self.keys(username, address)["user"]})
