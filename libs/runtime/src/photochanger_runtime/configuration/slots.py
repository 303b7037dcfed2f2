"""The 15 static slots. Seeded idempotently at start-up; never created or deleted by the API."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from photochanger_contracts import SLOT_IDS, Operation
from pydantic import BaseModel, ConfigDict, Field
from pymongo.asynchronous.database import AsyncDatabase

from ..mongo import Document
from .versioned import update_versioned


class Slot(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    id: str = Field(alias="_id")
    name: str
    provider: str
    operation: Operation
    is_active: bool
    settings: dict[str, Any]
    version: int
    created_at: datetime
    updated_at: datetime
    updated_by: str


def load_seed(path: Path) -> dict[str, dict[str, Any]]:
    """Seed definitions by slot id; slots missing from the file get an inactive default."""
    entries: dict[str, dict[str, Any]] = json.loads(path.read_text()) if path.exists() else {}
    return entries


class SlotRepository:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._slots = db["slots"]
        self._versions = db["slot_versions"]

    async def seed(self, seed: dict[str, dict[str, Any]], now: datetime) -> None:
        """Create missing slots; existing ones are left exactly as admins configured them."""
        for slot_id in SLOT_IDS:
            spec = seed.get(slot_id, {})
            await self._slots.update_one(
                {"_id": slot_id},
                {
                    "$setOnInsert": {
                        "name": spec.get("name", slot_id),
                        "provider": spec.get("provider", "gemini"),
                        "operation": spec.get("operation", Operation.IMAGE_EDIT.value),
                        "is_active": spec.get("is_active", False),
                        "settings": spec.get("settings", {}),
                        "version": 1,
                        "created_at": now,
                        "updated_at": now,
                        "updated_by": "seed",
                    }
                },
                upsert=True,
            )

    async def get(self, slot_id: str) -> Slot | None:
        doc = await self._slots.find_one({"_id": slot_id})
        return Slot.model_validate(doc) if doc else None

    async def list(self) -> Sequence[Slot]:
        return [Slot.model_validate(d) async for d in self._slots.find({}).sort("_id", 1)]

    async def update(
        self, slot_id: str, *, expected_version: int, changes: Document, by: str, now: datetime
    ) -> Slot | None:
        """Optimistic update: None when the stored version moved on (or a concurrent edit of
        the same version won)."""
        won = await update_versioned(
            self._slots,
            self._versions,
            slot_id,
            expected_version=expected_version,
            fields={**changes, "updated_at": now, "updated_by": by},
        )
        return await self.get(slot_id) if won else None
