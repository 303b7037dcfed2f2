"""The single platform settings document: deadline, retention, ingest password hash and
provider API keys.

Readers on the job path keep it for a second or a few (`RecentPlatformSettings`), so an admin
edit applies to new jobs within that time, without restarting anything. Secrets never leave this
module in clear except through `provider_key`, for the services that call providers."""

from __future__ import annotations

import contextlib
import time
from datetime import datetime
from typing import Any

from photochanger_contracts.deadlines import (
    RESULT_RETENTION_DEFAULT_HOURS,
    SYNC_RESPONSE_DEFAULT_SECONDS,
)
from pydantic import BaseModel, ConfigDict, SecretStr
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from ..mongo import Document
from .versioned import update_versioned

_ID = "platform"


class SecretStatus(BaseModel):
    model_config = ConfigDict(frozen=True)

    hash: str
    updated_at: datetime
    updated_by: str


class ProviderKey(BaseModel):
    """A provider API key set by an admin. Stored usable (providers need the value), shown
    to nobody: reads through the admin API only say whether one is configured."""

    model_config = ConfigDict(frozen=True)

    value: SecretStr
    updated_at: datetime
    updated_by: str


class PlatformSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    sync_response_seconds: float = SYNC_RESPONSE_DEFAULT_SECONDS
    result_ttl_hours: float = RESULT_RETENTION_DEFAULT_HOURS
    ingest_password: SecretStatus | None = None
    #: None marks a key an admin removed (environment variables may still supply one)
    provider_keys: dict[str, ProviderKey | None] = {}
    version: int = 0
    updated_at: datetime | None = None
    updated_by: str | None = None

    def provider_key(self, provider_id: str) -> SecretStr | None:
        key = self.provider_keys.get(provider_id)
        return key.value if key is not None else None


class PlatformSettingsRepository:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._settings = db["settings"]
        self._versions = db["settings_versions"]

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

    async def current(self) -> PlatformSettings:
        """The document with a version, created when missing (for optimistic edits)."""
        stored = await self.get()
        if stored.version > 0:
            return stored
        with contextlib.suppress(DuplicateKeyError):
            await self._settings.insert_one({"_id": _ID, "version": 1})
        await self._settings.update_one(
            {"_id": _ID, "version": {"$exists": False}}, {"$set": {"version": 1}}
        )
        return await self.get()

    async def edit(
        self, *, expected_version: int, changes: dict[str, Any], by: str, now: datetime
    ) -> PlatformSettings | None:
        """Apply an admin edit made on `expected_version`; None when that version is stale.

        `changes` uses dotted paths (`provider_keys.gemini`) so unrelated keys stay as they
        are. A provider key given as None is removed."""
        fields: dict[str, Any] = {**changes, "updated_at": now, "updated_by": by}
        won = await update_versioned(
            self._settings,
            self._versions,
            _ID,
            expected_version=expected_version,
            fields=fields,
        )
        return await self.get() if won else None


class RecentPlatformSettings:
    """The settings document as of at most `max_age_seconds` ago: the services that need it
    for every job (deadline, retention, provider keys) read it a few times a minute, not once
    per job. `forget()` makes the next read go to the database (an edit in this process)."""

    def __init__(self, repository: PlatformSettingsRepository, *, max_age_seconds: float) -> None:
        self._repository = repository
        self._max_age = max_age_seconds
        self._read: tuple[PlatformSettings, float] | None = None

    async def get(self) -> PlatformSettings:
        now = time.monotonic()
        if self._read is not None and now - self._read[1] < self._max_age:
            return self._read[0]
        settings = await self._repository.get()
        self._read = (settings, now)
        return settings

    def forget(self) -> None:
        self._read = None
