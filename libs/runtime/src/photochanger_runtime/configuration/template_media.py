"""Template images admins upload for slots (style references, base faces, ...).

The bytes live in the media store under `templates/{id}`; this catalogue keeps the id slot
settings reference in `template_media[].media_id`, with key, type, size, digest and who
uploaded it. Templates never change once registered, so a reference resolved once stays
valid until the template is deleted."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import uuid4

from photochanger_contracts import MediaRef
from pydantic import BaseModel, ConfigDict, Field
from pymongo import DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from ..media import MediaStore, StoredObject, template_key
from ..mongo import Document


class TemplateMedia(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    id: str = Field(alias="_id")
    key: str
    filename: str | None = None
    mime_type: str
    size_bytes: int
    sha256: str
    created_at: datetime
    created_by: str

    @property
    def ref(self) -> MediaRef:
        return MediaRef(
            key=self.key, mime_type=self.mime_type, size_bytes=self.size_bytes, sha256=self.sha256
        )


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

    @staticmethod
    def new_key() -> tuple[str, str]:
        """A fresh template id and the media key its bytes are stored under."""
        template_id = uuid4().hex
        return template_id, template_key(template_id)

    async def register(
        self,
        template_id: str,
        stored: StoredObject,
        *,
        mime_type: str,
        filename: str | None,
        by: str,
        now: datetime,
    ) -> TemplateMedia:
        """Record bytes already stored under `new_key()`'s key as a template."""
        doc: Document = {
            "_id": template_id,
            "key": stored.key,
            "filename": filename,
            "mime_type": mime_type,
            "size_bytes": stored.size_bytes,
            "sha256": stored.sha256,
            "created_at": now,
            "created_by": by,
        }
        try:
            await self._templates.insert_one(doc)
        except Exception:
            await self._media.delete(stored.key)
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
        template = await self.get(media_id)
        if template is None:
            return False
        # bytes first: a crash in between leaves a catalogue entry to delete again, not an
        # object nobody knows about
        await self._media.delete(template.key)
        res = await self._templates.delete_one({"_id": media_id})
        return res.deleted_count == 1
