"""Public links to media: unguessable tokens with an expiry, served by the api at
/public/media/{token} for providers that download their inputs by URL (Turbotext).
A link names a media key; the bytes stay in the media store.

Only the SHA-256 of a token is stored (`_id`): a read of `media_links` (a backup, a log of
the database, another service's role) gives no working link. Links made before this stored
the token itself; they are still found (by the token, after the hash) until they expire,
minutes later."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from ..mongo import Document


@dataclass(frozen=True, slots=True)
class PublicLink:
    token: str
    key: str
    mime_type: str
    job_id: str | None
    expires_at: datetime


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class MediaLinks:
    """Public links in MongoDB (`media_links`, addressed by token)."""

    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._links = db["media_links"]

    async def ensure_indexes(self) -> None:
        await self._links.create_index([("expires_at", ASCENDING)])
        await self._links.create_index([("job_id", ASCENDING)])

    async def create(
        self, key: str, *, mime_type: str, expires_at: datetime, job_id: str | None, now: datetime
    ) -> PublicLink:
        token = secrets.token_urlsafe(32)
        await self._links.insert_one(
            {
                "_id": token_digest(token),
                "hashed": True,
                "key": key,
                "mime_type": mime_type,
                "job_id": job_id,
                "expires_at": expires_at,
                "created_at": now,
            }
        )
        return PublicLink(
            token=token, key=key, mime_type=mime_type, job_id=job_id, expires_at=expires_at
        )

    async def get(self, token: str) -> PublicLink | None:
        if not 20 <= len(token) <= 128:
            return None
        doc = await self._links.find_one({"_id": token_digest(token)})
        if doc is None:  # a link made before tokens were hashed (lives minutes), never a hash
            doc = await self._links.find_one({"_id": token, "hashed": {"$exists": False}})
        if doc is None:
            return None
        return PublicLink(
            token=token, key=doc["key"], mime_type=doc["mime_type"], job_id=doc.get("job_id"),
            expires_at=doc["expires_at"],
        )  # fmt: skip

    async def delete_for_job(self, job_id: str) -> int:
        res = await self._links.delete_many({"job_id": job_id})
        return res.deleted_count

    async def count_expired(self, now: datetime) -> int:
        return await self._links.count_documents({"expires_at": {"$lte": now}})

    async def delete_expired(self, now: datetime, limit: int) -> int:
        tokens = [
            d["_id"]
            async for d in self._links.find({"expires_at": {"$lte": now}}, {"_id": 1}).limit(limit)
        ]
        if not tokens:
            return 0
        res = await self._links.delete_many({"_id": {"$in": tokens}, "expires_at": {"$lte": now}})
        return res.deleted_count


class InMemoryMediaLinks(MediaLinks):
    """The same links without a server, for unit tests."""

    def __init__(self) -> None:
        self.links: dict[str, PublicLink] = {}

    async def ensure_indexes(self) -> None:
        return None

    async def create(
        self, key: str, *, mime_type: str, expires_at: datetime, job_id: str | None, now: datetime
    ) -> PublicLink:
        link = PublicLink(
            token=secrets.token_urlsafe(32), key=key, mime_type=mime_type, job_id=job_id,
            expires_at=expires_at,
        )  # fmt: skip
        self.links[link.token] = link
        return link

    async def get(self, token: str) -> PublicLink | None:
        return self.links.get(token)

    async def delete_for_job(self, job_id: str) -> int:
        gone = [t for t, link in self.links.items() if link.job_id == job_id]
        for token in gone:
            del self.links[token]
        return len(gone)

    async def count_expired(self, now: datetime) -> int:
        return sum(1 for link in self.links.values() if link.expires_at <= now)

    async def delete_expired(self, now: datetime, limit: int) -> int:
        gone = [t for t, link in self.links.items() if link.expires_at <= now][:limit]
        for token in gone:
            del self.links[token]
        return len(gone)
