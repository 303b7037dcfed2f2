"""Template images admins upload for slots (style references, base faces, ...).

The bytes live in the media store like every other image, so a template's id is its media
id, the one slot settings reference in `template_media[].media_id` and the dispatcher
resolves. This catalogue remembers which media are templates, with who uploaded them."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pymongo import DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from .media_store import MediaStore
from .mongo import Document


class TemplateMedia(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    id: str = Field(alias="_id")
    filename: str | None = None
    mime_type: str
    size_bytes: int
    sha256: str
    created_at: datetime
    created_by: str


def referenced_media_ids(settings: Mapping[str, Any]) -> Iterator[str]:
    """Every template media id a slot's settings use, its fallback's included."""
    for binding in settings.get("template_media") or ():
        if isinstance(binding, Mapping) and isinstance(binding.get("media_id"), str):
            yield binding["media_id"]
    fallback = settings.get("fallback")
    if isinstance(fallback, Mapping) and isinstance(fallback.get("settings"), Mapping):
        yield from referenced_media_ids(fallback["settings"])


class TemplateMediaCatalog:
    def __init__(self, db: AsyncDatabase[Document], media: MediaStore) -> None:
        self._templates = db["template_media"]
        self._media = media

    async def ensure_indexes(self) -> None:
        await self._templates.create_index([("created_at", DESCENDING)])

    async def register(
        self, data: bytes, *, mime_type: str, filename: str | None, by: str, now: datetime
    ) -> TemplateMedia:
        ref = await self._media.put(data, mime_type=mime_type, kind="template")
        doc: Document = {
            "_id": ref.media_id,
            "filename": filename,
            "mime_type": ref.mime_type,
            "size_bytes": ref.size_bytes,
            "sha256": ref.sha256,
            "created_at": now,
            "created_by": by,
        }
        try:
            await self._templates.insert_one(doc)
        except Exception:
            await self._media.delete(ref.media_id)
            raise
        return TemplateMedia.model_validate(doc)

    async def get(self, media_id: str) -> TemplateMedia | None:
        doc = await self._templates.find_one({"_id": media_id})
        return TemplateMedia.model_validate(doc) if doc else None

    async def list(self, limit: int = 500) -> Sequence[TemplateMedia]:
        cursor = self._templates.find({}).sort("created_at", DESCENDING).limit(limit)
        return [TemplateMedia.model_validate(d) async for d in cursor]

    async def delete(self, media_id: str) -> bool:
        """Forget the template and delete its bytes; False when it was not there."""
        res = await self._templates.delete_one({"_id": media_id})
        if res.deleted_count == 0:
            return False
        await self._media.delete(media_id)
        return True
