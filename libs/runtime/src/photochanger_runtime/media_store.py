"""Media bytes (ingest photos, results, templates) in GridFS, and public links to them.

Job documents only hold `MediaRef`s. Public links are unguessable tokens with an expiry,
served by the api at /public/media/{token} for providers that need URLs (Turbotext)."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from gridfs import AsyncGridFSBucket
from gridfs.errors import NoFile
from photochanger_contracts import MediaRef
from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from .mongo import Document

CHUNK_SIZE = 255 * 1024


class MediaNotFound(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class PublicLink:
    token: str
    media_id: str
    job_id: str | None
    expires_at: datetime


def _object_id(media_id: str) -> ObjectId:
    try:
        return ObjectId(media_id)
    except (InvalidId, TypeError) as exc:
        raise MediaNotFound(media_id) from exc


class MediaStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._bucket = AsyncGridFSBucket(db, bucket_name="media", chunk_size_bytes=CHUNK_SIZE)
        self._files = db["media.files"]
        self._links = db["media_links"]

    async def ensure_indexes(self) -> None:
        await self._files.create_index([("metadata.kind", ASCENDING)])
        await self._links.create_index([("expires_at", ASCENDING)])
        await self._links.create_index([("job_id", ASCENDING)])

    async def put(
        self,
        data: bytes,
        *,
        mime_type: str,
        kind: str,
        job_id: str | None = None,
        sha256: str | None = None,
    ) -> MediaRef:
        digest = sha256 or hashlib.sha256(data).hexdigest()
        metadata: dict[str, Any] = {"kind": kind, "mime_type": mime_type, "sha256": digest}
        if job_id:
            metadata["job_id"] = job_id
        file_id = await self._bucket.upload_from_stream(
            f"{kind}-{job_id or 'shared'}", data, metadata=metadata
        )
        return MediaRef(
            media_id=str(file_id), mime_type=mime_type, size_bytes=len(data), sha256=digest
        )

    async def read(self, media_id: str) -> bytes:
        try:
            stream = await self._bucket.open_download_stream(_object_id(media_id))
        except NoFile as exc:
            raise MediaNotFound(media_id) from exc
        return await stream.read()

    async def stream(self, media_id: str) -> AsyncIterator[bytes]:
        """Chunks of a stored file; raises MediaNotFound before yielding anything."""
        try:
            grid_out = await self._bucket.open_download_stream(_object_id(media_id))
        except NoFile as exc:
            raise MediaNotFound(media_id) from exc

        async def chunks() -> AsyncIterator[bytes]:
            while chunk := await grid_out.readchunk():
                yield chunk

        return chunks()

    async def ref(self, media_id: str) -> MediaRef:
        doc = await self._files.find_one({"_id": _object_id(media_id)})
        if doc is None:
            raise MediaNotFound(media_id)
        meta = doc.get("metadata") or {}
        return MediaRef(
            media_id=media_id,
            mime_type=meta.get("mime_type", "application/octet-stream"),
            size_bytes=int(doc["length"]),
            sha256=meta.get("sha256", ""),
        )

    async def delete(self, media_id: str) -> bool:
        """Delete a file; False when it was already gone (a second reaper got there first)."""
        try:
            await self._bucket.delete(_object_id(media_id))
        except NoFile:
            return False
        return True

    async def create_link(
        self, media_id: str, *, expires_at: datetime, job_id: str | None, now: datetime
    ) -> PublicLink:
        token = secrets.token_urlsafe(32)
        await self._links.insert_one(
            {
                "_id": token,
                "media_id": media_id,
                "job_id": job_id,
                "expires_at": expires_at,
                "created_at": now,
            }
        )
        return PublicLink(token=token, media_id=media_id, job_id=job_id, expires_at=expires_at)

    async def get_link(self, token: str) -> PublicLink | None:
        doc = await self._links.find_one({"_id": token})
        if doc is None:
            return None
        return PublicLink(
            token=token, media_id=doc["media_id"], job_id=doc.get("job_id"),
            expires_at=doc["expires_at"],
        )  # fmt: skip

    async def delete_links_for_job(self, job_id: str) -> int:
        res = await self._links.delete_many({"job_id": job_id})
        return res.deleted_count

    async def count_expired_links(self, now: datetime) -> int:
        return await self._links.count_documents({"expires_at": {"$lte": now}})

    async def delete_expired_links(self, now: datetime, limit: int) -> int:
        tokens = [
            d["_id"]
            async for d in self._links.find({"expires_at": {"$lte": now}}, {"_id": 1}).limit(limit)
        ]
        if not tokens:
            return 0
        res = await self._links.delete_many({"_id": {"$in": tokens}, "expires_at": {"$lte": now}})
        return res.deleted_count
