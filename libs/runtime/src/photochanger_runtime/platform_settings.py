"""The single platform settings document: deadline, retention, ingest password hash."""

from __future__ import annotations

from datetime import datetime

from photochanger_contracts.deadlines import (
    RESULT_RETENTION_DEFAULT_HOURS,
    SYNC_RESPONSE_DEFAULT_SECONDS,
)
from pydantic import BaseModel, ConfigDict
from pymongo.asynchronous.database import AsyncDatabase

from .mongo import Document

_ID = "platform"


class SecretStatus(BaseModel):
    model_config = ConfigDict(frozen=True)

    hash: str
    updated_at: datetime
    updated_by: str


class PlatformSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    sync_response_seconds: float = SYNC_RESPONSE_DEFAULT_SECONDS
    result_ttl_hours: float = RESULT_RETENTION_DEFAULT_HOURS
    ingest_password: SecretStatus | None = None


class PlatformSettingsRepository:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._settings = db["settings"]

    async def get(self) -> PlatformSettings:
        doc = await self._settings.find_one({"_id": _ID})
        return PlatformSettings.model_validate(doc or {})

    async def set_ingest_password_hash(self, hashed: str, *, by: str, now: datetime) -> None:
        await self._settings.update_one(
            {"_id": _ID},
            {"$set": {"ingest_password": {"hash": hashed, "updated_at": now, "updated_by": by}}},
            upsert=True,
        )

    async def update(self, changes: Document) -> PlatformSettings:
        await self._settings.update_one({"_id": _ID}, {"$set": changes}, upsert=True)
        return await self.get()
