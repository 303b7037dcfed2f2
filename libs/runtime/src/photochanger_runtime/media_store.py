"""Media bytes (ingest photos, results, templates) as chunk documents, and public links.

The layout follows GridFS (`media.files` + `media.chunks`), but every chunk is addressed by
its own `_id` (`"{file_id}/{n}"`). FerretDB answers a query by `_id` from its primary key
and every other filter by scanning the collection, so GridFS's `{files_id, n}` reads cost a
scan of all stored chunks per read (ADR-0009). Job documents only hold `MediaRef`s. Public
links are unguessable tokens with an expiry, served by the api at /public/media/{token} for
providers that need URLs (Turbotext)."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bson import Binary, ObjectId
from bson.errors import InvalidId
from photochanger_contracts import MediaRef
from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from .mongo import Document

CHUNK_SIZE = 1024 * 1024


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


def _chunk_id(file_id: ObjectId | str, n: int) -> str:
    return f"{file_id}/{n}"


class MediaStore:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._files = db["media.files"]
        self._chunks = db["media.chunks"]
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
        """Store `data`; the file document is written last, so a file is visible only whole."""
        digest = sha256 or hashlib.sha256(data).hexdigest()
        metadata: dict[str, Any] = {"kind": kind, "mime_type": mime_type, "sha256": digest}
        if job_id:
            metadata["job_id"] = job_id
        file_id = ObjectId()
        count = 0
        for count, offset in enumerate(range(0, len(data), CHUNK_SIZE), start=1):
            await self._chunks.insert_one(
                {
                    "_id": _chunk_id(file_id, count - 1),
                    "files_id": file_id,
                    "n": count - 1,
                    "data": Binary(data[offset : offset + CHUNK_SIZE]),
                }
            )
        await self._files.insert_one(
            {
                "_id": file_id,
                "length": len(data),
                "chunkSize": CHUNK_SIZE,
                "chunks": count,
                "uploadDate": file_id.generation_time,
                "filename": f"{kind}-{job_id or 'shared'}",
                "metadata": metadata,
            }
        )
        return MediaRef(
            media_id=str(file_id), mime_type=mime_type, size_bytes=len(data), sha256=digest
        )

    async def _file(self, media_id: str) -> Document:
        doc = await self._files.find_one({"_id": _object_id(media_id)})
        if doc is None:
            raise MediaNotFound(media_id)
        return doc

    async def _chunk(self, media_id: str, n: int) -> bytes:
        chunk = await self._chunks.find_one({"_id": _chunk_id(media_id, n)})
        if chunk is None:  # deleted while being read
            raise MediaNotFound(media_id)
        return bytes(chunk["data"])

    async def read(self, media_id: str) -> bytes:
        doc = await self._file(media_id)
        return b"".join([await self._chunk(media_id, n) for n in range(doc["chunks"])])

    async def stream(self, media_id: str) -> AsyncIterator[bytes]:
        """Chunks of a stored file; raises MediaNotFound before yielding anything."""
        doc = await self._file(media_id)
        first = await self._chunk(media_id, 0) if doc["chunks"] else b""

        async def chunks() -> AsyncIterator[bytes]:
            yield first
            for n in range(1, doc["chunks"]):
                yield await self._chunk(media_id, n)

        return chunks()

    async def ref(self, media_id: str) -> MediaRef:
        doc = await self._file(media_id)
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
            doc = await self._file(media_id)
        except MediaNotFound:
            return False
        removed = await self._files.delete_one({"_id": doc["_id"]})
        for n in range(doc["chunks"]):
            await self._chunks.delete_one({"_id": _chunk_id(media_id, n)})
        return removed.deleted_count == 1

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
