"""Share links: a result handed to a guest for a few minutes (15 by default).

A link is an unguessable token (32 random bytes); the database keeps only its SHA-256, so a
read of the `share_links` collection gives no working link. It answers until the earlier of
its own expiry and the result's, then 410. Public requests are limited per client address
(a sliding minute, in each api process): a link is for a person to open, not for a crawler."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from photochanger_runtime.mongo import Document
from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

_KEEP_EXPIRED = timedelta(days=1)  # then a link is unknown (404) rather than expired (410)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class SharedResult:
    job_id: str
    slot_id: str
    key: str
    mime_type: str
    expires_at: datetime


class ShareLinks:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._links = db["share_links"]

    async def ensure_indexes(self) -> None:
        await self._links.create_index([("expires_at", ASCENDING)])

    async def create(self, shared: SharedResult, *, by: str, now: datetime) -> str:
        """A new link's token (returned once, never stored)."""
        token = secrets.token_urlsafe(32)
        await self._links.insert_one(
            {
                "_id": token_digest(token),
                "job_id": shared.job_id,
                "slot_id": shared.slot_id,
                "key": shared.key,
                "mime_type": shared.mime_type,
                "expires_at": shared.expires_at,
                "created_at": now,
                "created_by": by,
            }
        )
        # links are few and tiny: the creator sweeps the long-expired ones
        await self._links.delete_many({"expires_at": {"$lt": now - _KEEP_EXPIRED}})
        return token

    async def get(self, token: str) -> SharedResult | None:
        if not 20 <= len(token) <= 128:
            return None
        doc = await self._links.find_one({"_id": token_digest(token)})
        if doc is None:
            return None
        return SharedResult(
            job_id=doc["job_id"],
            slot_id=doc["slot_id"],
            key=doc["key"],
            mime_type=doc["mime_type"],
            expires_at=doc["expires_at"],
        )


class RequestRate:
    """At most `limit` requests per key in any `window` seconds (in this process)."""

    def __init__(self, limit: int, window: float = 60.0, max_keys: int = 10_000) -> None:
        self.limit, self.window, self._max_keys = limit, window, max_keys
        self._seen: dict[str, deque[float]] = {}

    def retry_after(self, key: str, now: float | None = None) -> float | None:
        """None and the request counted when it is allowed; else seconds until it would be."""
        now = time.monotonic() if now is None else now
        if key not in self._seen and len(self._seen) >= self._max_keys:
            self._forget_idle(now)
            while len(self._seen) >= self._max_keys:  # all busy: the oldest key goes
                del self._seen[next(iter(self._seen))]
        times = self._seen.setdefault(key, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        if len(times) >= self.limit:
            return max(0.001, times[0] + self.window - now)
        times.append(now)
        return None

    def _forget_idle(self, now: float) -> None:
        for key in [k for k, t in self._seen.items() if not t or t[-1] <= now - self.window]:
            del self._seen[key]
