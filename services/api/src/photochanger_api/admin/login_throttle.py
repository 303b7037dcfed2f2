"""Failed admin logins, counted per user name and per client address in a sliding window.

Kept in MongoDB rather than in process memory so that every api replica sees the same
count: N replicas must not multiply the guesses an attacker gets. Only inserts and counts
are used, so FerretDB's non-atomic conditional updates (ADR-0006) do not matter here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from photochanger_runtime.mongo import Document
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

_MAX_KEY = 128


@dataclass(frozen=True, slots=True)
class ThrottleRule:
    """At most `limit` failures per key within `window_seconds`."""

    limit: int
    window_seconds: float


def seconds_until_allowed(
    recent_failures: Sequence[datetime], rule: ThrottleRule, now: datetime
) -> float | None:
    """None when another attempt is allowed now; otherwise how long until it is.

    `recent_failures` are the newest failures first. With `limit` failures inside the window
    the key is locked until the oldest of those leaves it."""
    start = now - timedelta(seconds=rule.window_seconds)
    inside = [at for at in recent_failures if at > start]
    if len(inside) < rule.limit:
        return None
    oldest_counted = sorted(inside, reverse=True)[rule.limit - 1]
    return max(0.0, (oldest_counted - start).total_seconds())


class LoginThrottle:
    def __init__(
        self, db: AsyncDatabase[Document], *, per_user: ThrottleRule, per_address: ThrottleRule
    ) -> None:
        self._failures = db["login_failures"]
        self._rules = {"user": per_user, "addr": per_address}

    async def ensure_indexes(self) -> None:
        await self._failures.create_index([("key", ASCENDING), ("at", DESCENDING)])
        await self._failures.create_index([("at", ASCENDING)])

    @staticmethod
    def _keys(username: str, address: str) -> dict[str, str]:
        return {
            "user": f"user:{username.strip().lower()[:_MAX_KEY]}",
            "addr": f"addr:{address[:_MAX_KEY]}",
        }

    async def locked_for(self, username: str, address: str, now: datetime) -> float | None:
        """Seconds until this user or address may try again, or None when it may now."""
        waits: list[float] = []
        for kind, key in self._keys(username, address).items():
            rule = self._rules[kind]
            start = now - timedelta(seconds=rule.window_seconds)
            cursor = (
                self._failures.find({"key": key, "at": {"$gt": start}}, {"at": 1, "_id": 0})
                .sort("at", DESCENDING)
                .limit(rule.limit)
            )
            wait = seconds_until_allowed([d["at"] async for d in cursor], rule, now)
            if wait is not None:
                waits.append(wait)
        return max(waits) if waits else None

    async def record_failure(self, username: str, address: str, now: datetime) -> None:
        keys = self._keys(username, address)
        await self._failures.insert_many([{"key": key, "at": now} for key in keys.values()])
        # Old failures count for nothing; dropping them here keeps the collection small.
        longest = max(rule.window_seconds for rule in self._rules.values())
        await self._failures.delete_many({"at": {"$lte": now - timedelta(seconds=longest)}})

    async def forget_user(self, username: str) -> None:
        """A successful login clears the user's failures (the address keeps its count)."""
        await self._failures.delete_many({"key": self._keys(username, "")["user"]})
